//! The OpenAPI document against the router, and schemathesis against the
//! real server.

use super::*;

#[tokio::test]
async fn the_openapi_document_lists_every_route_served() {
    let p = Portal::new(crate::harness::sqlite_env().await).await;
    let r = call(&p, Method::GET, "/api/openapi.json", Auth::None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = parsed(&r);
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let method = method.to_ascii_uppercase();
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                continue;
            }
            documented.push((method.clone(), path.clone()));
            let public = path == "/api/openapi.json";
            let responses = op["responses"].as_object().expect("responses");
            for (code, resp) in responses {
                if code.starts_with('4') || code.starts_with('5') {
                    assert!(
                        resp["content"]["application/problem+json"].is_object(),
                        "{method} {path} {code}"
                    );
                }
            }
            if !public {
                assert!(responses.contains_key("401"), "{method} {path}");
                assert!(responses.contains_key("403"), "{method} {path}");
            }
            assert!(op["operationId"].is_string(), "{method} {path}");
        }
    }
    let mut served = hisp::web::api::served();
    documented.sort();
    served.sort();
    assert_eq!(documented, served, "the document and the router agree");
    // Every reference resolves.
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = part.split('"').next().unwrap_or_default();
        assert!(schemas.contains_key(name), "dangling $ref {name}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["securitySchemes"]["session"].is_object());
}

/// schemathesis (PyPI) against the real server on every engine: no 5xx, no
/// response that contradicts the document. Skipped when the CLI is not
/// installed.
#[tokio::test]
async fn schemathesis_finds_no_5xx_and_no_schema_violation() {
    let Some(bin) = find_on_path("schemathesis") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install schemathesis (pip install schemathesis) and put it on PATH"
        );
        println!("schemathesis is not on PATH: skipped (pip install schemathesis)");
        return;
    };
    let probe = tempfile::tempdir().expect("tempdir");
    for (engine, url) in crate::harness::database_urls(probe.path()).await {
        let p = Portal::new(schemathesis_env(engine, url).await).await;
        // The data the document's examples name: jo's message 1, alert 1, bundle 1.
        p.address("jo", Role::CareManager).await;
        p.address("sam", Role::Provider).await;
        let (_, admin) = key(&p, Role::Admin, &[]).await;
        send(&p, &admin, "jo", "sam", "Seed").await;
        drain(&p).await;
        alert(&p, "jo", "V-1").await;
        bundle(&p).await;
        let out = schemathesis_against(&p, &bin, &admin).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        println!("{engine}:\n{stdout}");
        assert!(
            out.status.success(),
            "{engine}: schemathesis found problems:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Serve `p` on a port-0 listener with the real server, run schemathesis
/// against it as `admin`, stop the server.
async fn schemathesis_against(
    p: &Portal,
    bin: &std::path::Path,
    admin: &str,
) -> std::process::Output {
    let http = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let at = http.local_addr().expect("addr");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(hisp::server::run(
        p.env.hisp.clone(),
        hisp::server::Listeners {
            http,
            dns: None,
            mx: None,
            submission: None,
            mllp: None,
        },
        async move {
            let _ = stop_rx.await;
        },
    ));
    let report = p.env.dir.path().join("schemathesis-report");
    let args: Vec<String> = [
        "run".to_string(),
        format!("http://{at}/api/openapi.json"),
        "-H".into(),
        format!("Authorization: Bearer {admin}"),
        "--checks".into(),
        "not_a_server_error,response_schema_conformance".into(),
        "--max-examples".into(),
        // More for a deeper run by hand; CI keeps the run to a minute or two.
        std::env::var("HISP_TEST_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "20".into()),
        "--phases".into(),
        "examples,coverage,fuzzing".into(),
        "--seed".into(),
        std::env::var("HISP_TEST_SCHEMATHESIS_SEED").unwrap_or_else(|_| "7".into()),
        "--workers".into(),
        "2".into(),
        "--request-timeout".into(),
        "30".into(),
        "--report-dir".into(),
        report.display().to_string(),
    ]
    .into();
    // schemathesis keeps a cache in its working directory: the test's.
    let cwd = p.env.dir.path().to_path_buf();
    let bin = bin.to_path_buf();
    let out = tokio::task::spawn_blocking(move || run_bounded(&bin, &args, &cwd, 600))
        .await
        .expect("join");
    let _ = stop_tx.send(());
    serving.await.expect("join").expect("clean shutdown");
    out
}

/// Run a command to its end, or kill it after `secs` seconds (and fail).
fn run_bounded(
    bin: &std::path::Path,
    args: &[String],
    cwd: &std::path::Path,
    secs: u64,
) -> std::process::Output {
    use std::process::{Command, Stdio};
    let mut child = Command::new(bin)
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start schemathesis");
    let out_pipe = child.stdout.take().expect("stdout");
    let err_pipe = child.stderr.take().expect("stderr");
    let read = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let (out_t, err_t) = (read(Box::new(out_pipe)), read(Box::new(err_pipe)));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("schemathesis ran longer than {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    std::process::Output {
        status,
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
    }
}

fn find_on_path(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|f| f.is_file())
    })
}

/// A hisp whose certificate discovery can reach nothing: the resolver is a
/// closed port on loopback and LDAP is off, so fuzzed recipients never send
/// a packet off this machine.
async fn schemathesis_env(engine: &'static str, url: String) -> crate::harness::Env {
    use hisp::ops::setup::{self, InitOptions};
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let dir = tempfile::tempdir().expect("tempdir");
    let url = if engine == "sqlite" {
        format!(
            "sqlite://{}",
            dir.path().join("hisp-data").join("hisp.db").display()
        )
    } else {
        url
    };
    let vars: Vec<(String, String)> = [
        ("HISP_SERVER_DATABASE_URL", url),
        (
            "HISP_DISCOVERY_NAMESERVERS",
            format!("[\"127.0.0.1:{port}\"]"),
        ),
        ("HISP_DISCOVERY_LDAP", "false".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config_path = dir.path().join("hisp.toml");
    let clock = hisp::clock::FixedClock::new(hisp::clock::system().now());
    let opts = InitOptions {
        domain: hisp::direct::Domain::parse(DOMAIN).expect("domain"),
        hostname: None,
        ca: Some(crate::harness::shared_ca()),
    };
    let (hisp, report) = setup::init(&config_path, &opts, &vars, clock.clone())
        .await
        .expect("setup");
    crate::harness::Env {
        dir,
        engine,
        config_path,
        vars,
        hisp,
        clock,
        report,
    }
}

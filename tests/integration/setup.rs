//! First-time setup and `serve`, through the real binary and real processes.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use crate::harness;

/// Start `hisp serve` in `dir` and return the child and its HTTP address.
#[allow(clippy::zombie_processes)] // the caller waits; a panic here ends the test anyway
fn start_serve(dir: &std::path::Path) -> (Child, SocketAddr, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hisp"))
        .current_dir(dir)
        .arg("serve")
        .env("HISP_HTTP_LISTEN", "127.0.0.1:0")
        .env("HISP_DNS_LISTEN", "127.0.0.1:0")
        .env("HISP_SMTP_MX_LISTEN", "127.0.0.1:0")
        .env("HISP_SMTP_SUBMISSION_LISTEN", "127.0.0.1:0")
        .env("HISP_MLLP_LISTEN", "127.0.0.1:0")
        .env_remove("HISP_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        lines.push(line.clone());
        if let Some(rest) = line.trim().strip_prefix("http") {
            let url = rest.split_whitespace().next().expect("url");
            let addr = url.trim_start_matches("http://").trim_end_matches('/');
            return (child, addr.parse().expect("socket address"), lines);
        }
    }
    panic!("serve printed no URL: {lines:?}");
}

fn terminate(mut child: Child) {
    let pid = child.id().to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    assert!(exit.success(), "graceful shutdown exits 0, got {exit}");
}

/// Acceptance: from nothing, `serve` sets up, prints its URLs and answers
/// /healthz; a second start reuses the setup.
#[tokio::test]
async fn serve_sets_up_once_then_reuses_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (child, addr, lines) = start_serve(dir.path());
    let text = lines.join("\n");
    assert!(
        text.contains("setting up a development HISP for direct.localhost"),
        "{text}"
    );
    assert!(
        text.contains("admin sign-in: user 'admin', one-time password "),
        "{text}"
    );
    let (status, body) = harness::http_get(addr, "/healthz").await;
    assert_eq!((status, body.as_slice()), (200, &b"ok\n"[..]));
    terminate(child);

    let data = dir.path().join("hisp-data");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode =
            |p: &std::path::Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&data.join("master.key")), 0o600);
        assert_eq!(mode(&data.join("tls").join("key.pem")), 0o600);
        assert_eq!(mode(&data), 0o700);
    }
    assert!(data.join("hisp.db").exists(), "SQLite under the data dir");
    let config = dir.path().join("hisp.toml");
    let export = |_: ()| {
        harness::ok(&harness::run_hisp(
            dir.path(),
            &config,
            &[],
            &["ca", "export"],
            None,
        ))
    };
    let first_ca = export(());

    let (child, addr, lines) = start_serve(dir.path());
    let text = lines.join("\n");
    assert!(
        !text.contains("setting up"),
        "second start must reuse the setup: {text}"
    );
    assert!(!text.contains("one-time password"), "{text}");
    let (status, _) = harness::http_get(addr, "/healthz").await;
    assert_eq!(status, 200);
    terminate(child);
    assert_eq!(export(()), first_ca, "the CA is kept");
}

#[tokio::test]
async fn init_is_idempotent_and_adds_new_domains() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("hisp.toml");
    let run = |args: &[&str]| harness::run_hisp(dir.path(), &config, &[], args, None);
    let first = harness::ok(&run(&["init", "--domain", "direct.example.org"]));
    assert!(
        first.contains("created config") && first.contains("created CA"),
        "{first}"
    );
    assert!(first.contains("one-time password"));
    let rows = |out: String| {
        out.lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
            .count()
    };
    let audit_before = rows(harness::ok(&run(&["audit", "list", "--limit", "1000"])));

    let second = harness::ok(&run(&["init", "--domain", "direct.example.org"]));
    for kept in [
        "kept existing config",
        "kept existing master key",
        "kept existing CA",
        "domain already set up",
    ] {
        assert!(second.contains(kept), "{second}");
    }
    assert!(
        !second.contains("one-time password"),
        "no second admin: {second}"
    );
    assert_eq!(
        rows(harness::ok(&run(&["audit", "list", "--limit", "1000"]))),
        audit_before,
        "nothing changed"
    );

    let third = harness::ok(&run(&["init", "--domain", "second.example.org"]));
    assert!(third.contains("added domain"), "{third}");
    let list = harness::ok(&run(&["domain", "list", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&list).expect("json");
    let names: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|d| d["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["direct.example.org", "second.example.org"]);

    let check = harness::ok(&run(&["config", "check"]));
    assert!(
        check.contains("listen http") && check.contains("127.0.0.1:8080"),
        "{check}"
    );
    assert!(
        check.contains("master key") && check.contains("present"),
        "{check}"
    );
}

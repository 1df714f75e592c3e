//! The test harness: temp dirs, one database per engine per test, a shared CA
//! (RSA-4096 generation costs a second), a fixed clock, and helpers to run the
//! real binary and the real `openssl` command line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};

use hisp::clock::{self, FixedClock};
use hisp::direct::Domain;
use hisp::ops::Hisp;
use hisp::ops::setup::{self, InitOptions, SetupReport};
use hisp::pki::CaKeys;
use sqlx::{AnyConnection, Connection, Executor};

/// The domain every test environment serves.
pub const DOMAIN: &str = "direct.example.org";

/// One CA for the whole test binary.
pub fn shared_ca() -> CaKeys {
    static CA: OnceLock<CaKeys> = OnceLock::new();
    let ca = CA.get_or_init(|| {
        CaKeys::generate("hisp test CA", clock::system().now(), 3650).expect("generate test CA")
    });
    CaKeys {
        cert: ca.cert.clone(),
        key: ca.key.clone(),
    }
}

/// The database URLs to run a store test against: SQLite always, PostgreSQL
/// when `HISP_TEST_POSTGRES_URL` is set (a fresh database each call).
pub async fn database_urls(dir: &Path) -> Vec<(&'static str, String)> {
    let mut urls = vec![(
        "sqlite",
        format!("sqlite://{}", dir.join("hisp.db").display()),
    )];
    match std::env::var("HISP_TEST_POSTGRES_URL") {
        Ok(admin) => urls.push(("postgres", fresh_pg_database(&admin).await)),
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must set HISP_TEST_POSTGRES_URL"
            );
            eprintln!("HISP_TEST_POSTGRES_URL is not set: skipped the PostgreSQL run");
        }
    }
    urls
}

/// The engines to run a whole node on: SQLite (the node's own file, `None`)
/// always, PostgreSQL (a fresh database) when `HISP_TEST_POSTGRES_URL` is set.
pub async fn node_engines() -> Vec<(&'static str, Option<String>)> {
    let mut engines = vec![("sqlite", None)];
    match std::env::var("HISP_TEST_POSTGRES_URL") {
        Ok(admin) => engines.push(("postgres", Some(fresh_pg_database(&admin).await))),
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must set HISP_TEST_POSTGRES_URL"
            );
            eprintln!("HISP_TEST_POSTGRES_URL is not set: skipped the PostgreSQL run");
        }
    }
    engines
}

/// Create an empty database on the test server and return its URL.
pub async fn fresh_pg_database(admin_url: &str) -> String {
    sqlx::any::install_default_drivers();
    let mut conn = AnyConnection::connect(admin_url)
        .await
        .expect("connect to test PostgreSQL");
    let mut rnd = [0u8; 8];
    openssl::rand::rand_bytes(&mut rnd).expect("rand");
    let name = format!("hisp_test_{}", hisp::store::seal::hex_encode(&rnd));
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create test database");
    let base = admin_url.split('?').next().unwrap_or(admin_url);
    let (server, _) = base.rsplit_once('/').expect("URL has a database");
    format!("{server}/{name}")
}

/// A set-up hisp in a temp dir.
pub struct Env {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// Which engine.
    pub engine: &'static str,
    /// The config file.
    pub config_path: PathBuf,
    /// `HISP_*` variables the binary needs to find the same database.
    pub vars: Vec<(String, String)>,
    /// The opened hisp.
    pub hisp: Hisp,
    /// Its clock.
    pub clock: Arc<FixedClock>,
    /// What setup did.
    pub report: SetupReport,
}

impl Env {
    /// The domain served.
    pub fn domain(&self) -> Domain {
        Domain::parse(DOMAIN).expect("domain")
    }

    /// Run the real binary with this env's config and database.
    pub fn hisp(&self, args: &[&str]) -> Output {
        self.hisp_stdin(args, None)
    }

    /// Run the real binary, feeding `stdin`.
    pub fn hisp_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        run_hisp(self.dir.path(), &self.config_path, &self.vars, args, stdin)
    }
}

/// One set-up environment per engine.
pub async fn envs() -> Vec<Env> {
    let mut out = Vec::new();
    let probe = tempfile::tempdir().expect("tempdir");
    for (engine, url) in database_urls(probe.path()).await {
        out.push(env_for(engine, url).await);
    }
    out
}

/// A SQLite environment only (for tests about files on disk).
pub async fn sqlite_env() -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}",
        dir.path().join("hisp-data").join("hisp.db").display()
    );
    env_in(dir, "sqlite", url).await
}

async fn env_for(engine: &'static str, url: String) -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = if engine == "sqlite" {
        format!(
            "sqlite://{}",
            dir.path().join("hisp-data").join("hisp.db").display()
        )
    } else {
        url
    };
    env_in(dir, engine, url).await
}

async fn env_in(dir: tempfile::TempDir, engine: &'static str, url: String) -> Env {
    let config_path = dir.path().join("hisp.toml");
    let vars = vec![("HISP_SERVER_DATABASE_URL".to_string(), url)];
    let clock = FixedClock::new(clock::system().now());
    let opts = InitOptions {
        domain: Domain::parse(DOMAIN).expect("domain"),
        hostname: None,
        ca: Some(shared_ca()),
    };
    let (hisp, report) = setup::init(&config_path, &opts, &vars, clock.clone())
        .await
        .expect("setup");
    Env {
        dir,
        engine,
        config_path,
        vars,
        hisp,
        clock,
        report,
    }
}

/// Run the hisp binary in `cwd`.
pub fn run_hisp(
    cwd: &Path,
    config: &Path,
    vars: &[(String, String)],
    args: &[&str],
    stdin: Option<&str>,
) -> Output {
    use std::io::Write;
    let mut child = spawn_hisp(cwd, config, vars, args);
    if let (Some(mut sin), Some(text)) = (child.stdin.take(), stdin) {
        sin.write_all(text.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("hisp output")
}

/// Run the hisp binary in `cwd` (stdin closed), failing the test, with the
/// process killed, when it has not exited within `limit`: for commands that
/// must give up on a peer rather than hang.
pub fn run_hisp_within(
    cwd: &Path,
    config: &Path,
    vars: &[(String, String)],
    args: &[&str],
    limit: std::time::Duration,
) -> Output {
    let mut child = spawn_hisp(cwd, config, vars, args);
    drop(child.stdin.take());
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().expect("poll hisp").is_none() {
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("hisp output");
            panic!(
                "hisp {args:?} still running after {limit:?}: {}",
                stderr(&out)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().expect("hisp output")
}

/// Start the hisp binary in `cwd` with `--config config`, `vars` set and
/// stdin, stdout and stderr piped.
fn spawn_hisp(
    cwd: &Path,
    config: &Path,
    vars: &[(String, String)],
    args: &[&str],
) -> std::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hisp"));
    cmd.current_dir(cwd).arg("--config").arg(config).args(args);
    cmd.env_remove("HISP_LOG");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd.spawn().expect("run hisp")
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert success, returning stdout.
#[track_caller]
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "command failed: {}\nstdout: {}",
        stderr(o),
        stdout(o)
    );
    stdout(o)
}

/// Assert failure with `code` and a single `error:` line containing `needle`.
#[track_caller]
pub fn fails(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "stderr: {err} stdout: {}",
        stdout(o)
    );
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    if code == 1 {
        assert_eq!(lines.len(), 1, "one error line expected, got: {err}");
        assert!(lines[0].starts_with("error: "), "{err}");
    }
    assert!(err.contains(needle), "expected '{needle}' in: {err}");
}

/// Run the real `openssl` command line in `dir`.
pub fn openssl(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl")
}

/// A plain HTTP/1.1 GET over a real socket: (status, body).
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("send");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers end");
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let body = buf[split + 4..].to_vec();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(&body)
    } else {
        body
    };
    (status, body)
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = body.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&body[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[eol + 2..eol + 2 + size]);
        body = &body[eol + 2 + size + 2..];
    }
}

//! The SMTP gateway end to end: HISP nodes in one test, each with its own
//! database, CA, DNS responder, MX, submission and HTTP (CRL) listener on
//! port 0, peered through `[discovery] nameservers` and `[delivery]`.

mod cluster;
mod crash;
mod exchange;
mod failures;
pub mod listeners;

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hisp::clock;
use hisp::config::Config;
use hisp::direct::{DirectAddress, Domain};
use hisp::ops::Hisp;
use hisp::ops::address::NewAddress;
use hisp::ops::setup::{self, InitOptions};
use hisp::pki::CaKeys;
use hisp::server::{self, DnsSockets, Listeners};
use hisp::store::tracking::{self, TrackRow};
use hisp::store::users::Role;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::net::TcpListener;

use crate::harness;

/// The password every test login gets.
pub const PASSWORD: &str = "correct horse battery staple";

/// A second CA, so the two nodes trust each other only through anchors.
fn ca_b() -> CaKeys {
    static CA: OnceLock<CaKeys> = OnceLock::new();
    let ca = CA.get_or_init(|| {
        CaKeys::generate("hisp test CA B", clock::system().now(), 3650).expect("generate CA B")
    });
    CaKeys {
        cert: ca.cert.clone(),
        key: ca.key.clone(),
    }
}

/// One HISP in a test.
pub struct Node {
    /// Keeps the data alive.
    pub dir: tempfile::TempDir,
    /// The domain it serves.
    pub domain: String,
    /// Its config file.
    pub config_path: std::path::PathBuf,
    /// `HISP_*` overrides (database, public URL, peering).
    pub vars: Vec<(String, String)>,
    /// The opened hisp (re-opened by `start` with the peering overrides).
    pub hisp: Hisp,
    /// DNS, MX, submission and HTTP addresses.
    pub dns: SocketAddr,
    /// MX.
    pub mx: SocketAddr,
    /// Submission.
    pub submission: SocketAddr,
    /// HTTP (serves this node's CRL and CA certificate).
    pub http: SocketAddr,
    /// MLLP (ADT feeds).
    pub mllp: SocketAddr,
    listeners: Option<Listeners>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

async fn bind() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let a = l.local_addr().expect("addr");
    (l, a)
}

impl Node {
    /// Set up a node for `domain` on SQLite (or `database_url`), with CA `b` or the shared one.
    pub async fn new(domain: &str, second_ca: bool, database_url: Option<String>) -> Node {
        let dir = tempfile::tempdir().expect("tempdir");
        let (http_l, http) = bind().await;
        let (mx_l, mx) = bind().await;
        let (sub_l, submission) = bind().await;
        let (mllp_l, mllp) = bind().await;
        let dns_s = DnsSockets::bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("dns");
        let dns = dns_s.local_addr().expect("dns addr");
        let url = database_url.unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                dir.path().join("hisp-data").join("hisp.db").display()
            )
        });
        let vars = vec![
            ("HISP_SERVER_DATABASE_URL".to_string(), url),
            (
                "HISP_SERVER_PUBLIC_URL".to_string(),
                format!("\"http://{http}\""),
            ),
            (
                "HISP_DELIVERY_RETRY_INITIAL_SECS".to_string(),
                "1".to_string(),
            ),
            ("HISP_DELIVERY_RETRY_MAX_SECS".to_string(), "2".to_string()),
        ];
        let config_path = dir.path().join("hisp.toml");
        let opts = InitOptions {
            domain: Domain::parse(domain).expect("domain"),
            hostname: None,
            ca: Some(if second_ca {
                ca_b()
            } else {
                harness::shared_ca()
            }),
        };
        let (hisp, _) = setup::init(&config_path, &opts, &vars, clock::system())
            .await
            .expect("setup");
        Node {
            dir,
            domain: domain.to_string(),
            config_path,
            vars,
            hisp,
            dns,
            mx,
            submission,
            http,
            mllp,
            listeners: Some(Listeners {
                http: http_l,
                dns: Some(dns_s),
                mx: Some(mx_l),
                submission: Some(sub_l),
                mllp: Some(mllp_l),
            }),
            stop: None,
            task: None,
        }
    }

    /// Set a `HISP_*` override (applied at `start`).
    pub fn set(&mut self, var: &str, value: impl Into<String>) {
        self.vars.retain(|(k, _)| k != var);
        self.vars.push((var.to_string(), value.into()));
    }

    /// Find `other`'s certificates through its DNS and deliver to it: by MX
    /// lookup (`[delivery] port`) or by a static route.
    pub fn peer_with(&mut self, other: &Node, by_route: bool) {
        self.set("HISP_DISCOVERY_NAMESERVERS", format!("[\"{}\"]", other.dns));
        if by_route {
            self.set(
                "HISP_DELIVERY_ROUTES",
                format!("{{ \"{}\" = \"{}\" }}", other.domain, other.mx),
            );
        } else {
            self.set("HISP_DELIVERY_PORT", other.mx.port().to_string());
        }
    }

    /// Trust `other`'s CA for mail both ways.
    pub async fn trust(&self, other: &Node) {
        let ca = other.hisp.ca_cert().await.expect("ca");
        let d = Domain::parse(&self.domain).expect("domain");
        self.hisp
            .anchor_add(&d, &ca, true, true, "test")
            .await
            .expect("anchor");
    }

    /// Issue an address with a login (password [`PASSWORD`]).
    pub async fn address(&self, local: &str) -> DirectAddress {
        let address = DirectAddress::parse(&format!("{local}@{}", self.domain)).expect("addr");
        let req = NewAddress {
            address: address.clone(),
            name: Some(local.to_string()),
            role: Role::Provider,
            password: Some(PASSWORD.to_string()),
            single_use: None,
        };
        self.hisp.address_add(req, "test").await.expect("address");
        address
    }

    /// The config with this node's overrides.
    pub fn config(&self) -> Config {
        Config::load(&self.config_path, &self.vars).expect("config")
    }

    /// Re-open with the overrides and serve on the bound listeners.
    pub async fn start(&mut self) {
        let hisp = Hisp::open(self.config(), clock::system())
            .await
            .expect("open");
        self.hisp = hisp.clone();
        let listeners = self.listeners.take().expect("not started yet");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        self.stop = Some(tx);
        self.task = Some(tokio::spawn(server::run(hisp, listeners, async move {
            let _ = rx.await;
        })));
    }

    /// Serve everything but the MX (its port closed: peers get connection refused).
    pub async fn start_without_mx(&mut self) {
        if let Some(l) = self.listeners.as_mut() {
            l.mx = None;
        }
        self.start().await;
    }

    /// Stop serving (graceful) and keep the listeners' ports free for a restart.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("join").expect("served");
        }
    }

    /// Serve as a real `hisp serve` process on this node's ports instead of in
    /// process; returns once the listeners are announced.
    #[allow(clippy::zombie_processes)] // callers kill and wait
    pub fn spawn_process(&mut self) -> std::process::Child {
        use std::io::{BufRead, BufReader};
        self.listeners = None;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hisp"));
        cmd.current_dir(self.dir.path())
            .arg("--config")
            .arg(&self.config_path)
            .arg("serve")
            .env_remove("HISP_LOG")
            .env("HISP_HTTP_LISTEN", self.http.to_string())
            .env("HISP_DNS_LISTEN", self.dns.to_string())
            .env("HISP_SMTP_MX_LISTEN", self.mx.to_string())
            .env("HISP_SMTP_SUBMISSION_LISTEN", self.submission.to_string())
            .env("HISP_MLLP_LISTEN", self.mllp.to_string())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn hisp serve");
        let out = child.stdout.take().expect("stdout");
        let mut seen = Vec::new();
        for line in BufReader::new(out).lines() {
            let line = line.expect("line");
            if line.contains("Stop with") {
                return child;
            }
            seen.push(line);
        }
        let _ = child.kill();
        panic!("hisp serve did not start: {seen:?}");
    }

    /// Rebind the same ports and serve again.
    pub async fn restart(&mut self) {
        let http = TcpListener::bind(self.http).await.expect("rebind http");
        let mx = TcpListener::bind(self.mx).await.expect("rebind mx");
        let submission = TcpListener::bind(self.submission)
            .await
            .expect("rebind sub");
        let dns = DnsSockets::bind(self.dns).await.expect("rebind dns");
        let mllp = TcpListener::bind(self.mllp).await.expect("rebind mllp");
        self.listeners = Some(Listeners {
            http,
            dns: Some(dns),
            mx: Some(mx),
            submission: Some(submission),
            mllp: Some(mllp),
        });
        self.start().await;
    }

    /// Tracking rows of a message.
    pub async fn track(&self, message_id: &str) -> Vec<TrackRow> {
        let mut conn = self.hisp.conn().await.expect("conn");
        tracking::by_message(&mut conn, self.hisp.store.sealer(), message_id)
            .await
            .expect("tracking")
    }

    /// Run the real binary with this node's config.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        harness::run_hisp(self.dir.path(), &self.config_path, &self.vars, args, None)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Two nodes, a.test (shared CA) and b.test (CA B), trusting each other; A
/// reaches B by MX lookup in B's DNS, B reaches A by a static route.
pub async fn pair() -> (Node, Node) {
    let mut a = Node::new("a.test", false, None).await;
    let mut b = Node::new("b.test", true, None).await;
    a.trust(&b).await;
    b.trust(&a).await;
    a.peer_with(&b, false);
    b.peer_with(&a, true);
    // A insists on STARTTLS toward b.test (B's MX offers it with its setup certificate).
    a.set("HISP_DELIVERY_TLS_REQUIRED", "[\"b.test\"]");
    (a, b)
}

/// Submit `message` over SMTP submission (STARTTLS, AUTH PLAIN) like a mail client.
pub async fn submit(node: &Node, user: &DirectAddress, to: &[&DirectAddress], message: &[u8]) {
    let tls = TlsParameters::builder("localhost".into())
        .dangerous_accept_invalid_certs(true)
        .dangerous_accept_invalid_hostnames(true)
        .build()
        .expect("tls");
    let client =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(node.submission.ip().to_string())
            .port(node.submission.port())
            .tls(Tls::Required(tls))
            .credentials(Credentials::new(user.to_string(), PASSWORD.to_string()))
            .timeout(Some(Duration::from_secs(30)))
            .build();
    let envelope = Envelope::new(
        Some(user.to_string().parse().expect("from")),
        to.iter()
            .map(|t| t.to_string().parse().expect("to"))
            .collect(),
    )
    .expect("envelope");
    client
        .send_raw(&envelope, message)
        .await
        .expect("submitted");
}

/// A plain message.
pub fn message(from: &DirectAddress, to: &[&DirectAddress], subject: &str, id: &str) -> Vec<u8> {
    let to: Vec<String> = to.iter().map(|t| t.to_string()).collect();
    format!(
        "From: {from}\r\nTo: {}\r\nSubject: {subject}\r\nMessage-ID: {id}\r\nDate: Sun, 22 Nov 2026 06:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nHello from {from}.\r\n.leading dot line\r\n",
        to.join(", ")
    )
    .into_bytes()
}

/// The stdout of a successful command.
pub fn harness_ok(o: &std::process::Output) -> String {
    harness::ok(o)
}

/// Poll `check` until it returns `Some` or `secs` pass.
pub async fn wait_for<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wait for a tracked recipient's final outcome.
pub async fn final_outcome(node: &Node, message_id: &str, secs: u64) -> Vec<TrackRow> {
    wait_for(secs, "the final outcome", || async {
        let rows = node.track(message_id).await;
        (!rows.is_empty() && rows.iter().all(|r| r.final_outcome.is_some())).then_some(rows)
    })
    .await
}

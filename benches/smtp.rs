//! The full Direct exchange A→B on one machine, against the crypto bound.
//!
//! ```text
//! cargo bench --bench smtp [-- MESSAGES]        # default 200; or HISP_BENCH_MESSAGES
//! ```
//!
//! Two HISPs in this process, `a.test` and `b.test`, each on SQLite in its own
//! temp dir with its own RSA-4096 CA (generated here: no key is committed),
//! trusting each other's CA both ways. Each runs `hisp::server::run` with its
//! DNS responder, MX, submission and HTTP (CRL) listeners on loopback port 0.
//! A finds B's certificates in B's DNS (CERT) and delivers by MX lookup there;
//! B finds A's in A's DNS and delivers to A by a static route (as the
//! integration tests peer them).
//!
//! MESSAGES plain 4 KiB messages alice@a.test → bob@b.test go in through
//! `Gateway::submit` (two submitters in parallel), the outbound path SMTP
//! submission, `hisp send` and the portal share. Per message this is: sign +
//! encrypt at A, SMTP to B's MX (STARTTLS), decrypt + verify + mailbox at B,
//! processed and dispatched MDNs signed + encrypted at B and sent back over SMTP,
//! decrypted + verified at A, tracking final outcome `delivered`. The clock runs
//! from the first submit until every tracking row at A has a final outcome.
//! A warm-up of a few messages goes through first (discovery, CRL and trust
//! caches), untimed.
//!
//! The bound: six RSA-2048 private-key operations per message (sign at A,
//! decrypt at B, sign two MDNs at B, decrypt two MDNs at A) at the rate
//! `openssl speed -seconds 3 rsa2048` measures on one core, taken before and
//! after the exchange and averaged. The result is msgs/s ÷ (sign/s ÷ 6).
//!
//! Nothing here prints addresses' mail, subjects or bodies: only counts and times.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use hisp::clock;
use hisp::config::Config;
use hisp::direct::{DirectAddress, Domain};
use hisp::ops::Hisp;
use hisp::ops::address::NewAddress;
use hisp::ops::setup::{self, InitOptions};
use hisp::pki::CaKeys;
use hisp::server::{self, DnsSockets, Listeners};
use hisp::smtp::Gateway;
use hisp::smtp::submit::Submission;
use hisp::store::users::Role;
use sqlx::Row;
use tokio::net::TcpListener;

const DEFAULT_MESSAGES: usize = 200;
const WARMUP: usize = 5;
const SUBMITTERS: usize = 2;
const BODY_BYTES: usize = 4096;
/// RSA-2048 private-key operations per message, MDNs included.
const PRIVATE_OPS: f64 = 6.0;

/// One HISP (compact copy of the integration tests' `Node`).
struct Node {
    _dir: tempfile::TempDir,
    domain: String,
    config_path: PathBuf,
    vars: Vec<(String, String)>,
    hisp: Hisp,
    dns: SocketAddr,
    mx: SocketAddr,
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
    async fn new(domain: &str, ca: CaKeys) -> Node {
        let dir = tempfile::tempdir().expect("tempdir");
        let (http_l, http) = bind().await;
        let (mx_l, mx) = bind().await;
        let (sub_l, _) = bind().await;
        let dns_s = DnsSockets::bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("dns");
        let dns = dns_s.local_addr().expect("dns addr");
        let db = dir.path().join("hisp-data").join("hisp.db");
        let vars = vec![
            (
                "HISP_SERVER_DATABASE_URL".to_string(),
                format!("sqlite://{}", db.display()),
            ),
            (
                "HISP_SERVER_PUBLIC_URL".to_string(),
                format!("\"http://{http}\""),
            ),
        ];
        let config_path = dir.path().join("hisp.toml");
        let opts = InitOptions {
            domain: Domain::parse(domain).expect("domain"),
            hostname: None,
            ca: Some(ca),
        };
        let (hisp, _) = setup::init(&config_path, &opts, &vars, clock::system())
            .await
            .expect("setup");
        Node {
            _dir: dir,
            domain: domain.to_string(),
            config_path,
            vars,
            hisp,
            dns,
            mx,
            listeners: Some(Listeners {
                http: http_l,
                dns: Some(dns_s),
                mx: Some(mx_l),
                submission: Some(sub_l),
                mllp: None,
            }),
            stop: None,
            task: None,
        }
    }

    fn set(&mut self, var: &str, value: String) {
        self.vars.retain(|(k, _)| k != var);
        self.vars.push((var.to_string(), value));
    }

    /// Discover `other`'s certificates in its DNS; deliver by MX lookup there or by a route.
    fn peer_with(&mut self, other: &Node, by_route: bool) {
        self.set("HISP_DISCOVERY_NAMESERVERS", format!("[\"{}\"]", other.dns));
        if by_route {
            let route = format!("{{ \"{}\" = \"{}\" }}", other.domain, other.mx);
            self.set("HISP_DELIVERY_ROUTES", route);
        } else {
            self.set("HISP_DELIVERY_PORT", other.mx.port().to_string());
        }
    }

    /// Trust `other`'s CA both ways.
    async fn trust(&self, other: &Node) {
        let ca = other.hisp.ca_cert().await.expect("ca");
        let d = Domain::parse(&self.domain).expect("domain");
        self.hisp
            .anchor_add(&d, &ca, true, true, "bench")
            .await
            .expect("anchor");
    }

    async fn address(&self, local: &str) -> DirectAddress {
        let address = DirectAddress::parse(&format!("{local}@{}", self.domain)).expect("addr");
        let req = NewAddress {
            address: address.clone(),
            name: Some(local.to_string()),
            role: Role::Provider,
            password: Some("bench password, not secret".to_string()),
            single_use: None,
        };
        self.hisp.address_add(req, "bench").await.expect("address");
        address
    }

    /// Re-open with the overrides and serve on the bound listeners.
    async fn start(&mut self) {
        let config = Config::load(&self.config_path, &self.vars).expect("config");
        let hisp = Hisp::open(config, clock::system()).await.expect("open");
        self.hisp = hisp.clone();
        let listeners = self.listeners.take().expect("not started yet");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        self.stop = Some(tx);
        self.task = Some(tokio::spawn(server::run(hisp, listeners, async move {
            let _ = rx.await;
        })));
    }

    async fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    async fn count(&self, sql: &'static str) -> i64 {
        let mut conn = self.hisp.conn().await.expect("conn");
        sqlx::query(sql)
            .fetch_one(&mut *conn)
            .await
            .expect("count")
            .try_get::<i64, _>(0)
            .expect("count")
    }
}

/// A plain message of about `BODY_BYTES` (synthetic text, never printed).
fn message(from: &DirectAddress, to: &DirectAddress, n: usize, tag: &str) -> Vec<u8> {
    let mut m = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: bench {n}\r\nMessage-ID: <{tag}-{n}@{}>\r\n\
         Date: Sun, 22 Nov 2026 06:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n",
        from.domain()
    );
    let line = "The quick brown fox jumps over the lazy dog, bench payload 0123456789.\r\n";
    while m.len() + line.len() <= BODY_BYTES {
        m.push_str(line);
    }
    m.into_bytes()
}

/// Submit messages `range` from `from` to `to`, `SUBMITTERS` at a time.
async fn submit_all(
    gw: &Gateway,
    from: &DirectAddress,
    to: &DirectAddress,
    range: std::ops::Range<usize>,
    tag: &str,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..SUBMITTERS {
        let (gw, from, to, range) = (gw.clone(), from.clone(), to.clone(), range.clone());
        let tag = tag.to_string();
        tasks.spawn(async move {
            for n in range.skip(k).step_by(SUBMITTERS) {
                let raw = message(&from, &to, n, &tag);
                let rcpts = [to.clone()];
                let s = Submission {
                    mail_from: &from,
                    rcpts: &rcpts,
                    message: &raw,
                    actor: "bench",
                    sent_copy: true,
                    final_delivery: hisp::smtp::submit::FinalDelivery::Always,
                };
                let done = gw.submit(&s).await.expect("submit");
                assert_eq!(done.queued.len(), 1, "the recipient was refused");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("submitter");
    }
}

/// Tracking rows at A whose Message-ID starts with `tag`: (with a final outcome, delivered).
async fn finals(a: &Node, tag: &str) -> (i64, i64) {
    let mut conn = a.hisp.conn().await.expect("conn");
    let row = sqlx::query(
        "SELECT count(final), coalesce(sum(final = 'delivered'), 0) FROM tracking WHERE message_id LIKE $1",
    )
    .bind(format!("<{tag}-%"))
    .fetch_one(&mut *conn)
    .await
    .expect("count");
    (
        row.try_get::<i64, _>(0).expect("count"),
        row.try_get::<i64, _>(1).expect("count"),
    )
}

/// When the share of messages with a final outcome reached 50%, 90% and 100%.
#[derive(Debug, Default)]
struct Progress {
    half: Option<Duration>,
    most: Option<Duration>,
    all: Option<Duration>,
    finished: i64,
    delivered: i64,
}

/// Poll A until `want` messages tagged `tag` have a final outcome or `limit` passes.
async fn wait_final(
    (a, b): (&Node, &Node),
    tag: &str,
    want: i64,
    start: Instant,
    limit: Duration,
) -> Progress {
    let mut p = Progress::default();
    let depths = std::env::var_os("HISP_BENCH_DEPTHS").is_some();
    loop {
        let (finished, delivered) = finals(a, tag).await;
        let t = start.elapsed();
        if depths {
            print_depths(a, b, t, finished).await;
        }
        (p.finished, p.delivered) = (finished, delivered);
        if p.half.is_none() && 2 * finished >= want {
            p.half = Some(t);
        }
        if p.most.is_none() && 10 * finished >= 9 * want {
            p.most = Some(t);
        }
        if finished >= want {
            p.all = Some(t);
            return p;
        }
        if t > limit {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// RSA-2048 private-key operations per second on one core (`openssl speed`).
fn openssl_sign_rate() -> f64 {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "3", "rsa2048"])
        .output()
        .expect("run openssl speed");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.starts_with("rsa 2048 bits"))
        .and_then(|l| l.split_whitespace().nth(5))
        .and_then(|v| v.parse().ok())
        .expect("openssl speed printed no rsa 2048 sign/s")
}

/// User + system CPU seconds of this process so far (`/proc/self/stat`,
/// clock ticks of 1/100 s).
fn process_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the command name: state is field 0, utime 11, stime 12.
    (ticks(11) + ticks(12)) / 100.0
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn main() {
    let messages = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .or_else(|| {
            std::env::var("HISP_BENCH_MESSAGES")
                .ok()
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(DEFAULT_MESSAGES)
        .max(1);
    if std::env::var_os("HISP_LOG").is_some() {
        // hisp logs no message content above TRACE.
        hisp::telemetry::init_tracing(tracing_subscriber::filter::LevelFilter::WARN);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let load_start = loadavg();
    eprintln!("== openssl speed -seconds 3 rsa2048 (before)");
    let rsa_before = openssl_sign_rate();
    let r = rt.block_on(exchange(messages));
    eprintln!("== openssl speed -seconds 3 rsa2048 (after)");
    let rsa_after = openssl_sign_rate();
    let rsa = (rsa_before + rsa_after) / 2.0;
    let bound = rsa / PRIVATE_OPS;
    let n = messages as f64;
    let openssl = Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    println!(
        "cores {}, load average {load_start} at start, {} at end; {openssl}",
        std::thread::available_parallelism().map_or(0, usize::from),
        loadavg(),
    );
    println!(
        "openssl speed rsa2048 sign/s: before {rsa_before:.1}, after {rsa_after:.1}, mean {rsa:.1}; bound = sign/s / 6 = {bound:.1} msgs/s"
    );
    let at = |d: Option<Duration>, share: f64| match d {
        Some(d) => format!(
            "{:.2} s ({:.1} msgs/s)",
            d.as_secs_f64(),
            share * n / d.as_secs_f64()
        ),
        None => "never".into(),
    };
    println!(
        "all {messages} submitted after {:.2} s; final outcome for 50% after {}, 90% after {}, 100% after {}",
        r.submitted.as_secs_f64(),
        at(r.progress.half, 0.5),
        at(r.progress.most, 0.9),
        at(r.progress.all, 1.0),
    );
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    println!(
        "hisp CPU while timed (both nodes, user + system): {:.2} s = {:.1} ms per message; {:.0}% of {cores} cores",
        r.cpu,
        1000.0 * r.cpu / n,
        100.0 * r.cpu / (r.waited.as_secs_f64() * cores),
    );
    println!(
        "retried: inbound at A {}, at B {}; deliveries at A {}, at B {} (store errors make a row wait 30 s x attempts)",
        r.retries[0], r.retries[1], r.retries[2], r.retries[3]
    );
    match r.progress.all {
        Some(d) if r.progress.delivered == r.progress.finished => {
            let rate = n / d.as_secs_f64();
            let fraction = rate / bound;
            println!(
                "smtp exchange A->B: {messages} messages, {rate:.1} msgs/s = {:.1}% of the crypto bound ({bound:.1} msgs/s); target >= 50%: {}",
                100.0 * fraction,
                if fraction >= 0.5 { "met" } else { "NOT met" }
            );
        }
        _ => {
            println!(
                "smtp exchange A->B: {messages} messages, NOT finished: {} with a final outcome ({} delivered) after {:.0} s; target >= 50%: NOT met",
                r.progress.finished,
                r.progress.delivered,
                r.waited.as_secs_f64()
            );
            std::process::exit(1);
        }
    }
}

/// What one exchange run measured.
struct Run {
    /// CPU seconds (user + system) of this process, both nodes, while timed.
    cpu: f64,
    submitted: Duration,
    waited: Duration,
    progress: Progress,
    /// Inbound rows at A, at B, outbound rows at A, at B that took more than one attempt.
    retries: [i64; 4],
}

/// Set up both nodes, warm up, and time `messages` through the whole exchange.
async fn exchange(messages: usize) -> Run {
    eprintln!("== setting up a.test and b.test (two RSA-4096 CAs, SQLite)");
    let now = clock::system().now();
    let ca_a = CaKeys::generate("hisp bench CA A", now, 3650).expect("CA A");
    let ca_b = CaKeys::generate("hisp bench CA B", now, 3650).expect("CA B");
    let mut a = Node::new("a.test", ca_a).await;
    let mut b = Node::new("b.test", ca_b).await;
    a.trust(&b).await;
    b.trust(&a).await;
    a.peer_with(&b, false);
    b.peer_with(&a, true);
    let alice = a.address("alice").await;
    let bob = b.address("bob").await;
    a.start().await;
    b.start().await;
    let gw = Gateway::new(a.hisp.clone());
    let warm_tag = format!("bench-{now:x}-w");
    let tag = format!("bench-{now:x}-t");

    eprintln!("== warm-up: {WARMUP} messages (untimed)");
    submit_all(&gw, &alice, &bob, 0..WARMUP, &warm_tag).await;
    let warm = i64::try_from(WARMUP).expect("count");
    let p = wait_final(
        (&a, &b),
        &warm_tag,
        warm,
        Instant::now(),
        Duration::from_secs(400),
    )
    .await;
    if p.all.is_none() {
        eprintln!(
            "   warm-up: only {} of {WARMUP} finished in 400 s; going on",
            p.finished
        );
    }

    eprintln!("== {messages} messages A -> B");
    let want = i64::try_from(messages).expect("count");
    let limit = Duration::from_secs(300 + 2 * u64::try_from(messages).unwrap_or(0));
    let cpu_start = process_cpu();
    let start = Instant::now();
    submit_all(&gw, &alice, &bob, 0..messages, &tag).await;
    let submitted = start.elapsed();
    let progress = wait_final((&a, &b), &tag, want, start, limit).await;
    let waited = start.elapsed();
    let cpu = process_cpu() - cpu_start;
    let retries = [
        a.count("SELECT count(*) FROM inbound_queue WHERE attempts > 1")
            .await,
        b.count("SELECT count(*) FROM inbound_queue WHERE attempts > 1")
            .await,
        a.count("SELECT count(*) FROM outbound_queue WHERE attempts > 1")
            .await,
        b.count("SELECT count(*) FROM outbound_queue WHERE attempts > 1")
            .await,
    ];
    if progress.all.is_none() || progress.delivered != progress.finished {
        report_states(&a, &b).await;
    }
    a.shutdown().await;
    b.shutdown().await;
    Run {
        cpu,
        submitted,
        waited,
        progress,
        retries,
    }
}

/// With HISP_BENCH_DEPTHS set: each stage's backlog while the run goes on,
/// to see which stage the pipeline waits on.
async fn print_depths(a: &Node, b: &Node, t: Duration, finished: i64) {
    let count = |node: &Node, sql: &'static str| {
        let hisp = node.hisp.clone();
        async move {
            let mut conn = hisp.conn().await.expect("conn");
            sqlx::query(sql)
                .fetch_one(&mut *conn)
                .await
                .and_then(|r| r.try_get::<i64, _>(0))
                .unwrap_or(-1)
        }
    };
    let out = "SELECT count(*) FROM outbound_queue WHERE state = 'queued'";
    let inb = "SELECT count(*) FROM inbound_queue WHERE state = 'new'";
    eprintln!(
        "   {:6.2} s: A out {:4}, B in {:4}, B out {:4}, A in {:4}, final {finished}",
        t.as_secs_f64(),
        count(a, out).await,
        count(b, inb).await,
        count(b, out).await,
        count(a, inb).await,
    );
}

/// Print the queue and tracking states (counts only).
async fn report_states(a: &Node, b: &Node) {
    for (name, node) in [("A", a), ("B", b)] {
        let mut conn = node.hisp.conn().await.expect("conn");
        for sql in [
            "SELECT 'tracking ' || state || ' ' || coalesce(final, '-') || ': ' || count(*) FROM tracking GROUP BY state, final",
            "SELECT 'inbound ' || state || ': ' || count(*) FROM inbound_queue GROUP BY state",
            "SELECT 'outbound ' || state || ': ' || count(*) FROM outbound_queue GROUP BY state",
        ] {
            if let Ok(rows) = sqlx::query(sql).fetch_all(&mut *conn).await {
                for r in rows {
                    eprintln!(
                        "   {name} {}",
                        r.try_get::<String, _>(0).unwrap_or_default()
                    );
                }
            }
        }
    }
}

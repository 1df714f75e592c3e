//! MLLP ingest with durable commit, and the alert latency behind it
//! (acceptance line 2 of issue 6).
//!
//! ```text
//! cargo bench --bench mllp [-- PARALLEL_MESSAGES]   # default 10,000; or HISP_BENCH_MESSAGES
//! HISP_BENCH_SEQ=N                                 # messages on the one sequential connection (1,000)
//! bash bench/mllp-load.sh                          # the same, with the machine's load printed
//! ```
//!
//! One HISP in this process, `bench.test`, on SQLite (WAL, `synchronous=FULL`:
//! an fsync per commit) in a temp dir, set up by `hisp::ops::setup::init` and
//! served by `hisp::server::run` with its MLLP (and HTTP, DNS, MX, submission)
//! listeners on loopback port 0, so the notify worker and the outbound Direct
//! path run as in `hisp serve`. Feed `NORTHHOSP` is registered; the care manager
//! `carol@bench.test` gets a roster of `ROSTER` patients.
//!
//! The client is in the same process (same runtime, same 2 cores): one TCP
//! connection per sender, `hisp::hl7::frame` out, `hisp::hl7::Framer` in, the
//! next message only after the ACK. Every message is an ADT^A04 (ED
//! registration) with a unique MSH-10 and a unique PV1-19 visit number, so each
//! is a new encounter. One in `ROSTERED_EVERY` is for a rostered patient and must
//! produce one alert; the rest are for patients on no roster (AA, no alert).
//! Every ACK must be AA.
//!
//! Measured:
//! - (a) one connection, sequential; (b) 20 connections in parallel: messages/s
//!   (wall clock from the first send to the last ACK) and ACK latency p50/p99
//!   (send of the frame to the whole ACK frame read);
//! - (c) alert latency: from the ACK of a rostered message to the first moment
//!   a poller (its own SQLite connection, every 2 ms, reading only alerts
//!   not yet seen sent) sees the alert row for
//!   that visit ("ready": `alerts` row filed, the alert's Direct message not yet
//!   built), and to when the row has its `message_id` ("sent": signed,
//!   encrypted and delivered to the local mailbox). Taken for the rostered
//!   messages inside runs (a) and (b), i.e. under load, and for `IDLE_SAMPLE`
//!   rostered messages sent one at a time on an idle node.
//! - the notify worker's drain: time from the first send of a run until every
//!   ADT row of the run is `done`.
//!
//! - (d) ACK latency of one sequential connection while 20 MiB Direct messages
//!   go through the node's agent in two back-to-back streams (`Hisp::outgoing` from
//!   `dana@bench.test` to carol, then `Hisp::incoming`: what submission and
//!   local delivery run, without storing the message, so the phase measures the
//!   agent's CPU and not the disk), next to the same connection's latency just
//!   before, with no large message in flight. `HISP_BENCH_LARGE=N` sets the
//!   messages per connection run (2,000; 0 skips the phase).
//!
//! Targets (issue 6): 20 connections ≥ 5,000 messages/s with ACK p99 < 20 ms;
//! alert ready within 1 s (p99) of the ACK.
//!
//! Nothing here prints patient data: only counts and times.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hisp::clock;
use hisp::config::Config;
use hisp::direct::outgoing::Outcome;
use hisp::direct::{DirectAddress, Domain};
use hisp::hl7::{Framer, frame, parse_ack};
use hisp::ops::Hisp;
use hisp::ops::address::NewAddress;
use hisp::ops::agent::NoRemote;
use hisp::ops::setup::{self, InitOptions};
use hisp::server::{self, DnsSockets, Listeners};
use hisp::store::Site;
use hisp::store::users::Role;
use sqlx::{Connection, Row};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const DEFAULT_PARALLEL: usize = 10_000;
const DEFAULT_SEQ: usize = 1_000;
const CONNECTIONS: usize = 20;
const ROSTER: usize = 200;
const ROSTERED_EVERY: usize = 50;
const IDLE_SAMPLE: usize = 20;
const WARMUP: usize = 50;
const FACILITY: &str = "NORTHHOSP";
const POLL: Duration = Duration::from_millis(2);
/// Messages on the connection of each half of phase (d).
const DEFAULT_LARGE_SEQ: usize = 2_000;
/// The size of phase (d)'s Direct messages.
const LARGE: usize = 20 * 1024 * 1024;
/// Phase (d)'s concurrent streams of large messages: two, as when two
/// practices send scans at once, so that both runtime workers can be busy.
const LARGE_STREAMS: usize = 2;
/// How long the notify worker may take to finish a run before the bench gives up.
const DRAIN_LIMIT: Duration = Duration::from_secs(600);

/// One HISP with its MLLP listener (compact copy of the integration tests' `Node`).
struct Node {
    _dir: tempfile::TempDir,
    config_path: PathBuf,
    vars: Vec<(String, String)>,
    db_url: String,
    hisp: Hisp,
    mllp: SocketAddr,
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
    async fn new(domain: &str) -> Node {
        let dir = tempfile::tempdir().expect("tempdir");
        let (http_l, http) = bind().await;
        let (mx_l, _) = bind().await;
        let (sub_l, _) = bind().await;
        let (mllp_l, mllp) = bind().await;
        let dns_s = DnsSockets::bind("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("dns");
        let db_url = format!(
            "sqlite://{}",
            dir.path().join("hisp-data").join("hisp.db").display()
        );
        let vars = vec![
            ("HISP_SERVER_DATABASE_URL".to_string(), db_url.clone()),
            (
                "HISP_SERVER_PUBLIC_URL".to_string(),
                format!("\"http://{http}\""),
            ),
        ];
        let config_path = dir.path().join("hisp.toml");
        let opts = InitOptions {
            domain: Domain::parse(domain).expect("domain"),
            hostname: None,
            ca: None,
        };
        let (hisp, _) = setup::init(&config_path, &opts, &vars, clock::system())
            .await
            .expect("setup");
        Node {
            _dir: dir,
            config_path,
            vars,
            db_url,
            hisp,
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

/// The roster CSV: patients R0..R{n-1} of authority NORTH (synthetic).
fn roster_csv(n: usize) -> Vec<u8> {
    let mut s = String::from(
        "patient_id,assigning_authority,family_name,given_name,birth_date,sex,postal_code,phone,program,end_date\n",
    );
    for k in 0..n {
        s.push_str(&format!(
            "R{k},NORTH,Family{k},Given{k},1980-01-02,F,06101,,Care Transitions,\n"
        ));
    }
    s.into_bytes()
}

/// Each message's own event time (EVN-2), seconds into the day: a real feed
/// never reports two different visits at the same second for one patient, and
/// `[notify] dedup_window_secs` treats such a pair as the same event reported twice.
static EVENT_SECOND: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// An ADT^A04 as in tests/integration/notify.rs (PV1-19 = visit).
fn adt(control: &str, visit: &str, pid: &str) -> Vec<u8> {
    let t = EVENT_SECOND.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 86_400;
    let at = format!("20261122{:02}{:02}{:02}", t / 3600, t / 60 % 60, t % 60);
    format!(
        "MSH|^~\\&|EPIC|{FACILITY}|HISP|HISP|20261122060000||ADT^A04^ADT_A01|{control}|P|2.5.1\r\
         EVN|A04|{at}\r\
         {pid}\r\
         PV1|1|E|ED^12^A^{FACILITY}||||1234^Smith^Anna||||||||||||{visit}\r\
         PV2|||^Chest pain\r"
    )
    .into_bytes()
}

/// One framed message; `alert` is its visit when it must produce an alert.
struct Outgoing {
    framed: Vec<u8>,
    alert: Option<String>,
}

/// Messages `range` of run `tag`: every `ROSTERED_EVERY`th for a rostered patient.
fn messages(tag: &str, range: std::ops::Range<usize>) -> Vec<Outgoing> {
    range
        .map(|i| {
            let control = format!("{tag}-{i}");
            let visit = format!("V{tag}-{i}");
            let rostered = i % ROSTERED_EVERY == ROSTERED_EVERY - 1;
            let pid = if rostered {
                let k = (i / ROSTERED_EVERY) % ROSTER;
                format!(
                    "PID|1||R{k}^^^NORTH^MR||Family{k}^Given{k}||19800102|F|||1 Main St^^Hartford^CT^06101"
                )
            } else {
                format!("PID|1||X{tag}{i}^^^NORTH^MR||Nobody^Person{i}||19900101|M")
            };
            Outgoing {
                framed: frame(&adt(&control, &visit, &pid)),
                alert: rostered.then_some(visit),
            }
        })
        .collect()
}

/// What one sender saw.
#[derive(Default)]
struct Sent {
    /// ACK latency per message, seconds.
    latency: Vec<f64>,
    /// ACK codes other than AA.
    not_aa: usize,
    /// (visit, ACK time) for messages that must alert.
    acked: Vec<(String, Instant)>,
}

/// One connection: send each message and wait for its ACK before the next.
async fn sender(addr: SocketAddr, msgs: Vec<Outgoing>) -> Sent {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let mut framer = Framer::new(1 << 20);
    let mut buf = vec![0u8; 16 * 1024];
    let mut out = Sent::default();
    for m in msgs {
        let t0 = Instant::now();
        s.write_all(&m.framed).await.expect("send");
        let ack = loop {
            if let Some(f) = framer.next_frame() {
                break f.expect("ACK frame");
            }
            let n = s.read(&mut buf).await.expect("read ACK");
            assert!(n > 0, "connection closed before the ACK");
            framer.push(&buf[..n]);
        };
        let t1 = Instant::now();
        out.latency.push((t1 - t0).as_secs_f64());
        let (code, _) = parse_ack(&ack).expect("parse ACK");
        if code != "AA" {
            out.not_aa += 1;
        }
        if let Some(v) = m.alert {
            out.acked.push((v, t1));
        }
    }
    out
}

/// When each alert (by visit) was first seen filed, and first seen sent.
#[derive(Default)]
struct Seen {
    ready: HashMap<String, Instant>,
    sent: HashMap<String, Instant>,
}

/// Poll the alerts table on its own connection until `stop` flips.
async fn poller(url: String, seen: Arc<Mutex<Seen>>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut conn = sqlx::AnyConnection::connect(&url)
        .await
        .expect("poller conn");
    // Incremental: rows from the oldest alert not yet seen sent (the worker
    // sends them in order), so each poll reads a handful of rows.
    let mut from: i64 = 0;
    loop {
        let rows = sqlx::query(
            "SELECT a.id, e.visit, CASE WHEN a.message_id IS NULL THEN 0 ELSE 1 END \
             FROM alerts a JOIN encounters e ON e.id = a.encounter_id WHERE a.id >= $1 ORDER BY a.id",
        )
        .bind(from)
        .fetch_all(&mut conn)
        .await;
        let now = Instant::now();
        if let Ok(rows) = rows {
            let mut seen = seen.lock().expect("lock");
            let mut all_sent = true;
            for r in rows {
                let id: i64 = r.try_get(0).expect("id");
                let visit: String = r.try_get(1).expect("visit");
                let sent: i64 = r.try_get(2).expect("sent");
                seen.ready.entry(visit.clone()).or_insert(now);
                if sent == 1 {
                    seen.sent.entry(visit).or_insert(now);
                    if all_sent {
                        from = id + 1;
                    }
                } else {
                    all_sent = false;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Nearest-rank percentile of sorted seconds, in ms.
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] * 1000.0
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// A timed run: `conns` connections, `msgs` split round-robin.
struct Run {
    label: String,
    conns: usize,
    messages: usize,
    secs: f64,
    latency: Vec<f64>,
    not_aa: usize,
    acked: Vec<(String, Instant)>,
    start: Instant,
    drained: Option<f64>,
    /// Process CPU and host CPU stall at the start, then their growth until drained.
    cpu0: Cpu,
    cpu: Option<Cpu>,
    /// The SQLite writer at the start, then its growth until drained.
    writer0: Writer,
    writer: Option<Writer>,
    /// The writer lock by `Store::begin` call site at the start, then its
    /// growth until drained.
    sites0: Vec<Site>,
    sites: Vec<Site>,
}

/// The one SQLite writer's busy time and its group commits (write
/// transactions, and the COMMITs that carried them). Held most of the wall
/// clock, it is the limit, not the CPU.
#[derive(Clone, Copy, Default)]
struct Writer {
    held: Duration,
    committing: Duration,
    members: u64,
    commits: u64,
}

impl Writer {
    fn now(node: &Node) -> Writer {
        let (members, commits) = node.hisp.store.group_commits();
        let (held, committing) = node.hisp.store.writer_held();
        Writer {
            held,
            committing,
            members,
            commits,
        }
    }

    fn since(self, start: Writer) -> Writer {
        Writer {
            held: self.held.saturating_sub(start.held),
            committing: self.committing.saturating_sub(start.committing),
            members: self.members - start.members,
            commits: self.commits - start.commits,
        }
    }
}

/// This process's CPU time (all threads: server, worker and client) and the
/// host's CPU pressure (`/proc/pressure/cpu`, "some": time in which at least one
/// runnable task waited for a CPU), both in microseconds. Wall-clock rates on a
/// shared machine move with other tenants; CPU per message does much less, and the
/// stall figure says how contended the run was.
#[derive(Clone, Copy, Default)]
struct Cpu {
    process_us: Option<u64>,
    stall_us: Option<u64>,
    /// The host's CPU time split from /proc/stat's `cpu` line, in ticks:
    /// idle (idle + iowait), steal (taken by the hypervisor), and the total.
    host: Option<[u64; 3]>,
}

impl Cpu {
    fn now() -> Cpu {
        // Fields 14 and 15 of /proc/self/stat (utime, stime) in clock ticks
        // (USER_HZ, 100 on Linux); the command name before them may hold spaces,
        // so count from the closing parenthesis.
        let process_us = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| {
                let rest = &s[s.rfind(')')? + 1..];
                let f: Vec<&str> = rest.split_whitespace().collect();
                let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
                Some(ticks * 10_000)
            });
        let stall_us = std::fs::read_to_string("/proc/pressure/cpu")
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("some"))?;
                line.split_whitespace()
                    .find_map(|kv| kv.strip_prefix("total="))?
                    .parse()
                    .ok()
            });
        let host = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
            let f: Vec<u64> = s
                .lines()
                .next()?
                .split_whitespace()
                .skip(1)
                .take(8)
                .map(|v| v.parse().ok())
                .collect::<Option<_>>()?;
            (f.len() == 8).then(|| [f[3] + f[4], f[7], f.iter().sum()])
        });
        Cpu {
            process_us,
            stall_us,
            host,
        }
    }

    fn since(self, start: Cpu) -> Cpu {
        Cpu {
            process_us: self.process_us.zip(start.process_us).map(|(b, a)| b - a),
            stall_us: self.stall_us.zip(start.stall_us).map(|(b, a)| b - a),
            host: self
                .host
                .zip(start.host)
                .map(|(b, a)| [b[0] - a[0], b[1] - a[1], b[2] - a[2]]),
        }
    }
}

/// Wait until the worker has drained `r`, then record the time and CPU it took.
async fn finish(node: &Node, r: &mut Run) {
    r.drained = drain(node, r.start).await;
    r.cpu = Some(Cpu::now().since(r.cpu0));
    r.writer = Some(Writer::now(node).since(r.writer0));
    r.sites = sites_since(node.hisp.store.writer_sites(), &r.sites0);
}

/// Each call site's turns and lock time gained since `start`, longest first.
fn sites_since(now: Vec<Site>, start: &[Site]) -> Vec<Site> {
    let mut out: Vec<Site> = now
        .into_iter()
        .map(|mut s| {
            if let Some(s0) = start.iter().find(|s0| s0.site == s.site) {
                s.turns -= s0.turns;
                s.held = s.held.saturating_sub(s0.held);
            }
            s
        })
        .filter(|s| s.turns > 0)
        .collect();
    out.sort_by_key(|s| std::cmp::Reverse(s.held));
    out
}

async fn run(node: &Node, label: &str, tag: &str, conns: usize, n: usize) -> Run {
    let all = messages(tag, 0..n);
    let mut parts: Vec<Vec<Outgoing>> = (0..conns).map(|_| Vec::new()).collect();
    for (i, m) in all.into_iter().enumerate() {
        parts[i % conns].push(m);
    }
    let cpu0 = Cpu::now();
    let writer0 = Writer::now(node);
    let sites0 = node.hisp.store.writer_sites();
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for part in parts {
        tasks.spawn(sender(node.mllp, part));
    }
    let mut r = Run {
        label: label.to_string(),
        conns,
        messages: n,
        secs: 0.0,
        latency: Vec::with_capacity(n),
        not_aa: 0,
        acked: Vec::new(),
        start,
        drained: None,
        cpu0,
        cpu: None,
        writer0,
        writer: None,
        sites0,
        sites: Vec::new(),
    };
    while let Some(s) = tasks.join_next().await {
        let s = s.expect("sender");
        r.latency.extend(s.latency);
        r.not_aa += s.not_aa;
        r.acked.extend(s.acked);
    }
    r.secs = start.elapsed().as_secs_f64();
    r.latency = sorted(std::mem::take(&mut r.latency));
    r
}

/// Wait until the notify worker has finished every ADT row; seconds since `since`.
async fn drain(node: &Node, since: Instant) -> Option<f64> {
    let limit = Instant::now() + DRAIN_LIMIT;
    while Instant::now() < limit {
        if node
            .count("SELECT count(*) FROM adt_messages WHERE state <> 'done'")
            .await
            == 0
        {
            return Some(since.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Alert latencies (ready, sent) in sorted seconds, and how many never showed up.
fn alert_latency(acked: &[(String, Instant)], seen: &Seen) -> (Vec<f64>, Vec<f64>, usize) {
    let (mut ready, mut sent, mut missing) = (Vec::new(), Vec::new(), 0);
    for (visit, at) in acked {
        match seen.ready.get(visit) {
            Some(t) => ready.push(t.saturating_duration_since(*at).as_secs_f64()),
            None => missing += 1,
        }
        if let Some(t) = seen.sent.get(visit) {
            sent.push(t.saturating_duration_since(*at).as_secs_f64());
        }
    }
    (sorted(ready), sorted(sent), missing)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

fn print_alerts(label: &str, acked: &[(String, Instant)], seen: &Seen) -> Option<f64> {
    let (ready, sent, missing) = alert_latency(acked, seen);
    let p99 = pct(&ready, 99.0);
    println!(
        "alert  {label}: {} alerts; ready after the ACK p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; \
         sent (signed, encrypted, delivered) p50 {:.0} ms, p99 {:.0} ms; missing {missing}; \
         target ready p99 <= 1 s: {}",
        ready.len(),
        pct(&ready, 50.0),
        p99,
        pct(&ready, 100.0),
        pct(&sent, 50.0),
        pct(&sent, 99.0),
        verdict(missing == 0 && p99 <= 1000.0)
    );
    (missing == 0).then_some(p99)
}

fn print_run(r: &Run) {
    let rate = r.messages as f64 / r.secs;
    let (p50, p99) = (pct(&r.latency, 50.0), pct(&r.latency, 99.0));
    let mut line = format!(
        "mllp   {}: {} connection(s), {} messages in {:.2} s = {rate:.0} msgs/s; ACK p50 {p50:.2} ms, \
         p99 {p99:.2} ms, max {:.2} ms; not AA: {}; worker drained {}",
        r.label,
        r.conns,
        r.messages,
        r.secs,
        pct(&r.latency, 100.0),
        r.not_aa,
        match r.drained {
            Some(d) => format!("after {d:.2} s = {:.0} msgs/s", r.messages as f64 / d),
            None => format!("NOT within {} s", DRAIN_LIMIT.as_secs()),
        }
    );
    if let (Some(cpu), Some(d)) = (r.cpu, r.drained) {
        if let Some(us) = cpu.process_us {
            let per = us as f64 / r.messages as f64;
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
            line.push_str(&format!(
                "; CPU {per:.0} us/msg until drained (client included)"
            ));
            // Only many connections can keep every core busy; one connection
            // waits for each ACK, so its rate is bound by latency, not CPU.
            if r.conns == CONNECTIONS {
                line.push_str(&format!(
                    ", so {cores:.0} cores would ingest and drain {:.0} msgs/s",
                    cores * 1e6 / per
                ));
            }
        }
        if let Some(stall) = cpu.stall_us {
            line.push_str(&format!(
                "; host CPU stall (PSI some) {:.0}% of the time",
                stall as f64 / (d * 1e6) * 100.0
            ));
        }
        if let Some([idle, steal, total]) = cpu.host.filter(|h| h[2] > 0) {
            line.push_str(&format!(
                "; host CPUs idle {:.0}%, stolen by the hypervisor {:.0}%",
                idle as f64 / total as f64 * 100.0,
                steal as f64 / total as f64 * 100.0
            ));
        }
    }
    if let (Some(w), Some(d)) = (r.writer, r.drained) {
        line.push_str(&format!(
            "; SQLite writer held {:.0}% of the time, {:.0} us/msg (COMMIT {:.0}%, {:.2} ms each), \
             {} write transactions in {} commits",
            w.held.as_secs_f64() / d * 100.0,
            w.held.as_secs_f64() * 1e6 / r.messages as f64,
            w.committing.as_secs_f64() / d * 100.0,
            w.committing.as_secs_f64() * 1e3 / w.commits.max(1) as f64,
            w.members,
            w.commits
        ));
    }
    if r.conns == CONNECTIONS {
        line.push_str(&format!(
            "; target >= 5,000 msgs/s: {}; target p99 < 20 ms: {}",
            verdict(rate >= 5000.0),
            verdict(p99 < 20.0)
        ));
    }
    println!("{line}");
    if let Some(w) = r
        .writer
        .filter(|w| !w.held.is_zero() && r.conns == CONNECTIONS)
    {
        let mut by_site =
            String::from("  writer lock by call site (turns, us per message, share):");
        for s in &r.sites {
            by_site.push_str(&format!(
                " {} {} {:.0} {:.0}%;",
                s.site.trim_start_matches("src/"),
                s.turns,
                s.held.as_secs_f64() * 1e6 / r.messages as f64,
                s.held.as_secs_f64() / w.held.as_secs_f64() * 100.0
            ));
        }
        println!("{by_site}");
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

async fn bench(parallel: usize, seq: usize, large_seq: usize) {
    let t = Instant::now();
    let mut node = Node::new("bench.test").await;
    let carol = DirectAddress::parse("carol@bench.test").expect("addr");
    let dana = DirectAddress::parse("dana@bench.test").expect("addr");
    for (address, role) in [(&carol, Role::CareManager), (&dana, Role::Provider)] {
        node.hisp
            .address_add(
                NewAddress {
                    address: address.clone(),
                    name: None,
                    role,
                    password: Some("bench password, not secret".to_string()),
                    single_use: None,
                },
                "bench",
            )
            .await
            .expect("address");
    }
    node.start().await;
    node.hisp
        .feed_add(FACILITY, "North", false, &loopback_only(), "bench")
        .await
        .expect("feed");
    let imported = node
        .hisp
        .roster_import(&carol, &roster_csv(ROSTER), false, false, "bench")
        .await
        .expect("roster");
    assert_eq!(imported.applied, ROSTER, "roster rows applied");
    eprintln!("== node ready after {:.1} s", t.elapsed().as_secs_f64());

    let seen = Arc::new(Mutex::new(Seen::default()));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let poll = tokio::spawn(poller(node.db_url.clone(), seen.clone(), stop_rx));

    eprintln!("== warm-up: {WARMUP} messages, 1 connection (untimed)");
    let w = run(&node, "warm-up", "W", 1, WARMUP).await;
    assert_eq!(w.not_aa, 0, "warm-up ACKs");
    drain(&node, w.start).await.expect("warm-up drained");

    let load0 = loadavg();
    eprintln!("== (a) 1 connection, {seq} messages");
    let mut a = run(&node, "seq", "S", 1, seq).await;
    finish(&node, &mut a).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    eprintln!("== (b) {CONNECTIONS} connections, {parallel} messages");
    let mut b = run(&node, "par", "P", CONNECTIONS, parallel).await;
    finish(&node, &mut b).await;
    let load1 = loadavg();

    eprintln!(
        "== (c) {IDLE_SAMPLE} rostered messages, one at a time, each until its alert is sent"
    );
    let mut idle_acked = Vec::new();
    for i in 0..IDLE_SAMPLE {
        let i = i * ROSTERED_EVERY + ROSTERED_EVERY - 1;
        let r = run_one(&node, i).await;
        let limit = Instant::now() + Duration::from_secs(30);
        while Instant::now() < limit {
            if seen.lock().expect("lock").sent.contains_key(&r.0) {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        idle_acked.push(r);
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = stop_tx.send(true);
    let _ = poll.await;

    let large = if large_seq > 0 {
        eprintln!(
            "== (d) 1 connection, {large_seq} messages, then {large_seq} more beside 20 MiB Direct messages"
        );
        Some(large_phase(&node, &dana, &carol, large_seq).await)
    } else {
        None
    };

    let alerts = node.count("SELECT count(*) FROM alerts").await;
    let seen = std::mem::take(&mut *seen.lock().expect("lock"));
    println!();
    print_run(&a);
    print_run(&b);
    print_alerts("under (a) 1-connection load", &a.acked, &seen);
    print_alerts("under (b) 20-connection load", &b.acked, &seen);
    print_alerts("idle, one at a time", &idle_acked, &seen);
    let mut expected = (WARMUP / ROSTERED_EVERY) + a.acked.len() + b.acked.len() + idle_acked.len();
    if let Some(d) = &large {
        expected += d.quiet.acked.len() + d.busy.acked.len();
        print_large(d);
    }
    println!(
        "alerts filed: {alerts} (expected {expected}); load average during (a)+(b): {load0} -> {load1}; \
         {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    node.shutdown().await;
}

/// Phase (d): the same connection run with no large message in flight, then
/// beside a back-to-back stream of 20 MiB Direct messages.
struct Large {
    quiet: Run,
    busy: Run,
    /// Large messages through the agent while `busy` ran (the last may end after).
    submitted: usize,
    /// Seconds per large message's round trip through the agent, sorted.
    submit_secs: Vec<f64>,
}

async fn large_phase(node: &Node, from: &DirectAddress, to: &DirectAddress, n: usize) -> Large {
    let quiet = run(node, "quiet", "DQ", 1, n).await;
    drain(node, quiet.start).await.expect("quiet drained");
    let message = large_message(from, to, LARGE);
    let hisp = node.hisp.clone();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (from, to) = (from.clone(), to.clone());
    let message = Arc::new(message);
    let streams: Vec<_> = (0..LARGE_STREAMS)
        .map(|_| {
            tokio::spawn(large_stream(
                hisp.clone(),
                from.clone(),
                to.clone(),
                message.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();
    // Let the first large message start before the connection does.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let busy = run(node, "busy", "DB", 1, n).await;
    let _ = stop_tx.send(true);
    let mut secs = Vec::new();
    for s in streams {
        secs.extend(s.await.expect("large stream"));
    }
    let submit_secs = sorted(secs);
    drain(node, busy.start).await.expect("busy drained");
    Large {
        quiet,
        busy,
        submitted: submit_secs.len(),
        submit_secs,
    }
}

/// One stream of phase (d): the large message from `from` to `to` through the
/// agent, again and again until `stop`; seconds per round trip.
async fn large_stream(
    hisp: Hisp,
    from: DirectAddress,
    to: DirectAddress,
    message: Arc<Vec<u8>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<f64> {
    let mut secs = Vec::new();
    let rcpts = [to];
    while !*stop.borrow_and_update() {
        let t = Instant::now();
        let outcomes = hisp
            .outgoing(&message, &from, &rcpts, &NoRemote)
            .await
            .expect("large outgoing");
        let Some(Outcome::Encrypted { message: raw, .. }) = outcomes.into_iter().next() else {
            panic!("the large message was not encrypted to its recipient");
        };
        let opened = hisp
            .incoming(&raw, &rcpts)
            .await
            .expect("large incoming")
            .expect("large message opens");
        assert_eq!(opened.message.len(), message.len(), "large round trip");
        secs.push(t.elapsed().as_secs_f64());
    }
    secs
}

/// A `len`-byte message whose body is base64 of random bytes in 76-character
/// lines (a scanned document, as `benches/agent.rs` makes it).
fn large_message(from: &DirectAddress, to: &DirectAddress, len: usize) -> Vec<u8> {
    let mut m = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: bench scan\r\nMIME-Version: 1.0\r\n\
         Content-Type: application/octet-stream; name=scan.bin\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    let mut raw = vec![0u8; 57];
    while m.len() + 78 <= len {
        openssl::rand::rand_bytes(&mut raw).expect("random");
        let line = openssl::base64::encode_block(&raw);
        m.extend_from_slice(line.as_bytes());
        m.extend_from_slice(b"\r\n");
    }
    m
}

fn print_large(d: &Large) {
    let p = |r: &Run, q: f64| pct(&r.latency, q);
    println!(
        "mllp   large: 1 connection, {} messages each; ACK p50 / p99 / max with no large message \
         {:.2} / {:.2} / {:.2} ms; beside {} {} MiB Direct messages in {LARGE_STREAMS} back-to-back streams through the agent (sign, encrypt, decrypt, verify: p50 {:.0} ms each) \
         {:.2} / {:.2} / {:.2} ms; p99 ratio busy/quiet {:.2}; not AA: {}",
        d.quiet.messages,
        p(&d.quiet, 50.0),
        p(&d.quiet, 99.0),
        p(&d.quiet, 100.0),
        d.submitted,
        LARGE >> 20,
        pct(&d.submit_secs, 50.0),
        p(&d.busy, 50.0),
        p(&d.busy, 99.0),
        p(&d.busy, 100.0),
        p(&d.busy, 99.0) / p(&d.quiet, 99.0),
        d.quiet.not_aa + d.busy.not_aa,
    );
}

/// One rostered message on its own connection: (visit, ACK time).
async fn run_one(node: &Node, i: usize) -> (String, Instant) {
    let mut m = messages("I", i..i + 1);
    let s = sender(node.mllp, std::mem::take(&mut m)).await;
    assert_eq!(s.not_aa, 0, "idle ACK");
    s.acked.into_iter().next().expect("rostered")
}

fn main() {
    let parallel = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .or_else(|| {
            std::env::var("HISP_BENCH_MESSAGES")
                .ok()
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(DEFAULT_PARALLEL)
        .max(CONNECTIONS);
    let seq = std::env::var("HISP_BENCH_SEQ")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_SEQ)
        .max(1);
    if std::env::var_os("HISP_LOG").is_some() {
        hisp::telemetry::init_tracing(tracing_subscriber::filter::LevelFilter::WARN);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let large_seq = std::env::var("HISP_BENCH_LARGE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_LARGE_SEQ);
    rt.block_on(bench(parallel, seq, large_seq));
}

/// The feed's allow-list: loopback, where the bench's client is, so every
/// message passes the address check a deployed feed makes.
fn loopback_only() -> hisp::notify::allow::Allowed {
    hisp::notify::allow::Allowed::parse(&["127.0.0.0/8"]).expect("loopback prefix")
}

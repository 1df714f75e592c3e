//! Notify beyond the basic path, over real sockets: many MLLP connections at
//! once (group commit: every message durable, acknowledged once, duplicates
//! answered with the stored ACK), MLLP over TLS, the patient index (A28/A31
//! fill in what a later ADT leaves out), the daily digest (which withdraws
//! an alert whose patient opted out since it was filed), and identical
//! alerts sent once within the dedup window; and what `adt send --tls`
//! trusts, checks and waits for.

use hisp::cli::{MllpTls, notify_send_mllp as send_mllp, notify_send_mllp_tls};
use hisp::mailbox::INBOX;
use hisp::notify::Notifier;
use hisp::smtp::Gateway;

use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness;
use crate::notify::{JANE, ack_code, adt, alerts};
use crate::smtp::{Node, wait_for};
use crate::testpki::{Issued, TestPki};

pub async fn count(n: &Node, sql: &'static str) -> i64 {
    let mut conn = n.hisp.conn().await.expect("conn");
    sqlx::Row::get(
        &sqlx::query(sql).fetch_one(&mut *conn).await.expect("count"),
        0,
    )
}

/// Whether the first column of `sql`'s first row (a sealed blob) shows
/// `name` in clear.
async fn shows_in_clear(n: &Node, sql: &'static str, name: &str) -> bool {
    let mut conn = n.hisp.conn().await.expect("conn");
    let sealed: Vec<u8> = sqlx::Row::get(
        &sqlx::query(sql).fetch_one(&mut *conn).await.expect("row"),
        0,
    );
    String::from_utf8_lossy(&sealed).contains(name)
}

/// Wait until the notify worker has finished every committed ADT message.
pub async fn drained(n: &Node) {
    wait_for(60, "every ADT processed", || async {
        (count(n, "SELECT COUNT(*) FROM adt_messages WHERE state <> 'done'").await == 0)
            .then_some(())
    })
    .await;
}

/// Import `rows` (after the header) as `owner`'s roster; the CLI's report.
pub fn roster(n: &Node, owner: &str, rows: &str) -> String {
    let csv = n.dir.path().join(format!("roster-{owner}.csv"));
    std::fs::write(
        &csv,
        format!(
            "patient_id,assigning_authority,family_name,given_name,birth_date,sex,postal_code,phone,program,end_date\n{rows}"
        ),
    )
    .expect("csv");
    harness::ok(&n.cli(&[
        "roster",
        "import",
        csv.to_str().expect("p"),
        "--owner",
        owner,
    ]))
}

/// Set how `owner` gets alerts: `digest` or `realtime`.
pub fn delivery(n: &Node, owner: &str, mode: &str) {
    harness::ok(&n.cli(&["roster", "delivery", "--owner", owner, "--mode", mode]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_connections_at_once_each_message_committed_and_acknowledged_once() {
    let mut a = Node::new("a.test", false, None).await;
    a.start().await;
    harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
    let addr = a.mllp;
    let mut tasks = Vec::new();
    for c in 0..20 {
        tasks.push(tokio::spawn(async move {
            let mut acks = Vec::new();
            for m in 0..15 {
                let pid = format!("PID|1||P{c}-{m}^^^NORTH^MR||Nobody^N{c}||19900101|M");
                let msg = adt(
                    &format!("G{c}-{m}"),
                    "A04",
                    "NORTHHOSP",
                    "E",
                    &format!("V{c}-{m}"),
                    &pid,
                );
                acks.push(send_mllp(addr, &msg).await.expect("mllp"));
            }
            // Every connection also sends the same message: one row, one ACK.
            let dup = adt("SHARED", "A04", "NORTHHOSP", "E", "VS", JANE);
            acks.push(send_mllp(addr, &dup).await.expect("mllp"));
            acks
        }));
    }
    let mut shared = Vec::new();
    for t in tasks {
        let mut acks = t.await.expect("join");
        shared.push(acks.pop().expect("dup ack"));
        for ack in acks {
            let (code, _) = hisp::hl7::parse_ack(&ack).expect("ack");
            assert_eq!(code, "AA", "{}", String::from_utf8_lossy(&ack));
        }
    }
    assert!(
        shared.windows(2).all(|w| w[0] == w[1]),
        "every copy of the shared message got the same stored ACK"
    );
    assert_eq!(
        count(&a, "SELECT COUNT(*) FROM adt_messages").await,
        20 * 15 + 1
    );
    assert_eq!(
        count(
            &a,
            "SELECT COUNT(*) FROM adt_messages WHERE control_id = 'SHARED'"
        )
        .await,
        1
    );
    drained(&a).await;
    assert_eq!(
        count(
            &a,
            "SELECT COUNT(*) FROM adt_messages WHERE state = 'done' AND attempts = 1 AND result = 'no subscriber'"
        )
        .await,
        20 * 15 + 1,
        "each message processed once (claimed once, finished)"
    );
    assert_eq!(
        count(&a, "SELECT COUNT(*) FROM encounters").await,
        0,
        "no encounter kept for patients on nobody's roster"
    );
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mllp_over_tls_is_acknowledged_and_plain_mllp_is_not_spoken() {
    let a = Node::new("a.test", false, None).await;
    harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
    let acceptor = hisp::notify::mllp::Acceptor::from_config(&a.hisp.config).expect("tls");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let notifier = Notifier::new(Gateway::new(a.hisp.clone()));
    let server = tokio::spawn(hisp::notify::mllp::serve(
        notifier,
        listener,
        Some(acceptor),
        stop,
    ));
    let (cert, _) = a.hisp.config.tls_files();
    let tls = MllpTls {
        ca: Some(cert),
        ..MllpTls::default()
    };
    let msg = adt("T1", "A04", "NORTHHOSP", "E", "VT1", JANE);
    let ack = notify_send_mllp_tls(addr, &msg, &tls)
        .await
        .expect("mllp over tls");
    assert_eq!(hisp::hl7::parse_ack(&ack).expect("ack").0, "AA");
    // A CA that did not issue the server's certificate: the client refuses.
    let other = a.dir.path().join("other-ca.pem");
    std::fs::write(
        &other,
        hisp::pki::CaKeys::generate("not the issuer", hisp::clock::system().now(), 1)
            .expect("ca")
            .cert
            .to_pem()
            .expect("pem"),
    )
    .expect("write");
    let refused = MllpTls {
        ca: Some(other),
        ..MllpTls::default()
    };
    assert!(notify_send_mllp_tls(addr, &msg, &refused).await.is_err());
    // Plain MLLP to a TLS listener gets no ACK.
    assert!(send_mllp(addr, &msg).await.is_err());
    assert_eq!(
        count(
            &a,
            "SELECT COUNT(*) FROM adt_messages WHERE control_id = 'T1'"
        )
        .await,
        1
    );
    let _ = stop_tx.send(true);
    let _ = server.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn adt_send_tls_trusts_only_its_ca_and_checks_the_host_name() {
    let a = Node::new("a.test", false, None).await;
    harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
    let pki = TestPki::new("http://127.0.0.1:9", a.hisp.now());
    let dir = a.dir.path();
    let ours = TestPki::write_pem(dir, "ours.pem", &pki.root.cert);
    let ours = ours.to_str().expect("path");
    // Stands for the system's roots: OpenSSL's default file.
    let system = TestPki::write_pem(dir, "system.pem", &pki.other_root.cert);
    let local = ["localhost", "127.0.0.1"];
    let (named, _s1) = tls_listener(&a, &pki.tls_server(&pki.root, &["mllp.a.test"])).await;
    let (here, _s2) = tls_listener(&a, &pki.tls_server(&pki.root, &local)).await;
    let (elsewhere, _s3) = tls_listener(&a, &pki.tls_server(&pki.other_root, &local)).await;
    let file = dir.join("one.hl7");
    std::fs::write(&file, adt("TLS1", "A04", "NORTHHOSP", "E", "VT", JANE)).expect("file");
    let send = |to: String, args: &[&str]| adt_send_tls(&a, &file, to, args, &system);
    let accepted = |out: std::process::Output| {
        assert!(harness::ok(&out).contains("MSA|AA|TLS1"), "{out:?}");
    };

    // Our CA, and a certificate naming the host of --to: an address against
    // its SAN iPAddress, a name against its SAN dNSName.
    accepted(send(format!("127.0.0.1:{here}"), &["--ca", ours]).await);
    accepted(send(format!("localhost:{here}"), &["--ca", ours]).await);
    // Our CA, but the certificate names another host: refused, unless
    // --server-name names what the certificate does.
    for (host, why) in [
        ("127.0.0.1", "IP address mismatch"),
        ("localhost", "hostname mismatch"),
    ] {
        let to = format!("{host}:{named}");
        let out = send(to.clone(), &["--ca", ours]).await;
        harness::fails(&out, 1, why);
        accepted(send(to, &["--ca", ours, "--server-name", "mllp.a.test"]).await);
    }
    let out = send(
        format!("127.0.0.1:{here}"),
        &["--ca", ours, "--server-name", "mllp.a.test"],
    )
    .await;
    harness::fails(&out, 1, "hostname mismatch");
    // The right name from a CA the system trusts: with --ca, only --ca's
    // certificates are trusted; without it, the system's roots.
    let out = send(format!("127.0.0.1:{elsewhere}"), &["--ca", ours]).await;
    harness::fails(&out, 1, "unable to get local issuer certificate");
    accepted(send(format!("127.0.0.1:{elsewhere}"), &[]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adt_send_tls_gives_up_on_a_peer_that_never_answers() {
    let a = Node::new("a.test", false, None).await;
    let file = a.dir.path().join("one.hl7");
    std::fs::write(&file, adt("TLS2", "A04", "NORTHHOSP", "E", "VT", JANE)).expect("file");
    let (cert, _) = a.hisp.config.tls_files();
    // Accepts the connection and holds it, never saying a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let to = silent.local_addr().expect("addr").to_string();
    let held = std::thread::spawn(move || silent.accept().map(|(s, _)| s));
    let start = Instant::now();
    let out = adt_send_tls(&a, &file, to, &["--ca", cert.to_str().expect("p")], &cert).await;
    harness::fails(&out, 1, "TLS handshake timed out");
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "{:?}",
        start.elapsed()
    );
    drop(held.join().expect("join").expect("accepted"));
}

/// A self-signed engine certificate and its key, made by the `openssl`
/// command line (as a hospital's interface engine team would), and its
/// SHA-256 fingerprint as `openssl x509 -fingerprint` prints it.
fn engine_cert(dir: &Path, name: &str) -> (String, String, String) {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .arg("-subj")
        .arg(format!("/CN={name}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl req");
    assert!(made.status.success(), "{made:?}");
    let fp = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(&cert)
        .output()
        .expect("openssl x509");
    assert!(fp.status.success(), "{fp:?}");
    let fp = String::from_utf8_lossy(&fp.stdout).trim().to_string();
    let path = |p: &Path| p.to_str().expect("path").to_string();
    (path(&cert), path(&key), fp)
}

/// One MLLP message over TLS by the `openssl s_client` command line,
/// presenting `cert` and `key`, its session saved to or resumed from
/// `session` (`-sess_out`, `-sess_in`); what s_client printed.
fn s_client(
    port: u16,
    ca: &str,
    (cert, key): (&str, &str),
    session: [&str; 3],
    msg: &[u8],
) -> String {
    use std::io::{Read, Write};
    let mut child = std::process::Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-CAfile",
            ca,
        ])
        .args(["-cert", cert, "-key", key])
        .args(session)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("openssl s_client");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(&hisp::hl7::frame(msg)).expect("send");
    stdin.flush().expect("flush");
    // Read until the ACK's MSA (the session tickets came before it), or
    // s_client ends, or a minute passes; then EOF ends s_client.
    let mut stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("MSA|") {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => seen.extend(chunk),
            Err(_) => break,
        }
    }
    drop(stdin);
    let out = child.wait_with_output().expect("s_client");
    reader.join().expect("reader");
    seen.extend(rx.try_iter().flatten());
    format!(
        "{}{}",
        String::from_utf8_lossy(&seen),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_feed_that_pins_client_certificates_takes_messages_only_over_them_on_every_engine() {
    for (e, url) in harness::node_engines().await {
        let mut a = Node::new("a.test", false, url).await;
        a.start().await;
        harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
        let pki = TestPki::new("http://127.0.0.1:9", a.hisp.now());
        let dir = a.dir.path().to_owned();
        let ca = TestPki::write_pem(&dir, "ours.pem", &pki.root.cert);
        let ca = ca.to_str().expect("path").to_string();
        let local = ["localhost", "127.0.0.1"];
        let (port, _keep) = tls_listener(&a, &pki.tls_server(&pki.root, &local)).await;
        let (north, north_key, north_fp) = engine_cert(&dir, "north-engine");
        let (other, other_key, other_fp) = engine_cert(&dir, "someone-else");
        let file = |control: &str| {
            let f = dir.join(format!("{control}.hl7"));
            std::fs::write(&f, adt(control, "A04", "NORTHHOSP", "E", "VP", JANE)).expect("file");
            f
        };
        let to = format!("127.0.0.1:{port}");
        let send = async |control: &str, client: Option<(&str, &str)>| {
            let mut args = vec!["--ca", ca.as_str()];
            if let Some((cert, key)) = client {
                args.extend(["--client-cert", cert, "--client-key", key]);
            }
            adt_send_tls(&a, &file(control), to.clone(), &args, Path::new(&ca)).await
        };
        let taken = |out: std::process::Output, control: &str| {
            assert!(
                harness::ok(&out).contains(&format!("MSA|AA|{control}")),
                "{e}: {out:?}"
            );
        };
        let refused = |out: std::process::Output, control: &str| {
            harness::fails(&out, 1, "the receiver answered AR");
            let ack = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(ack.contains(&format!("MSA|AR|{control}")), "{e}: {ack}");
            // The words an unregistered facility gets.
            assert!(ack.contains("is not a registered feed"), "{e}: {ack}");
        };
        // Not pinned yet: any client, with or without a certificate.
        taken(send("P1", None).await, "P1");
        taken(send("P2", Some((&other, &other_key))).await, "P2");
        // Pinned to the engine's certificate, given as its PEM file.
        let pinned =
            harness::ok(&a.cli(&["feed", "pin", "--facility", "NORTHHOSP", "--cert", &north]));
        let shown = north_fp.split_once('=').expect("fingerprint").1;
        assert!(pinned.contains(shown), "{e}: {pinned} names {shown}");
        taken(send("P3", Some((&north, &north_key))).await, "P3");
        // No session can be resumed, so the pins judge the certificate the
        // engine holds now (before, an engine that replaced its certificate
        // and kept resuming a session made under the old one was refused):
        // no TLS 1.3 ticket, no TLS 1.2 session id or ticket, so s_client
        // has no session to save.
        let session = dir.join("session.pem");
        let session = session.to_str().expect("path").to_string();
        let runs = [
            ("R1", "-tls1_3", "-sess_out"),
            ("R3", "-tls1_2", "-sess_out"),
        ];
        for (control, version, sess) in runs {
            let (ca, north, north_key) = (ca.clone(), north.clone(), north_key.clone());
            let session = format!("{session}{version}");
            let msg = adt(control, "A04", "NORTHHOSP", "E", "VP", JANE);
            let out = tokio::task::spawn_blocking(move || {
                s_client(
                    port,
                    &ca,
                    (&north, &north_key),
                    [version, sess, &session],
                    &msg,
                )
            })
            .await
            .expect("join");
            assert!(out.contains(&format!("MSA|AA|{control}")), "{e}: {out}");
            assert!(out.contains("New, TLSv1."), "{e}: {out}");
            assert!(!out.contains("Reused"), "{e}: {out}");
        }
        for version in ["-tls1_3", "-tls1_2"] {
            assert!(
                !Path::new(&format!("{session}{version}")).exists(),
                "{e}: a {version} session to resume was handed out"
            );
        }
        refused(send("P4", None).await, "P4");
        refused(send("P5", Some((&other, &other_key))).await, "P5");
        // Plain MLLP carries no certificate.
        let plain = adt("P6", "A04", "NORTHHOSP", "E", "VP", JANE);
        assert_eq!(ack_code(&a, &plain).await.0, "AR", "{e}");
        // Replaced by a fingerprint as OpenSSL prints it, the line whole.
        harness::ok(&a.cli(&[
            "feed",
            "pin",
            "--facility",
            "NORTHHOSP",
            "--fingerprint",
            &other_fp,
        ]));
        taken(send("P7", Some((&other, &other_key))).await, "P7");
        refused(send("P8", Some((&north, &north_key))).await, "P8");
        // --none: any client again.
        harness::ok(&a.cli(&["feed", "pin", "--facility", "NORTHHOSP", "--none"]));
        taken(send("P9", None).await, "P9");
        let stored = count(
            &a,
            "SELECT COUNT(*) FROM adt_messages WHERE control_id IN ('P4', 'P5', 'P6', 'P8')",
        )
        .await;
        assert_eq!(stored, 0, "{e}: nothing refused is stored");
        assert_eq!(
            count(
                &a,
                "SELECT COUNT(*) FROM audit_log WHERE action = 'feed.pin'"
            )
            .await,
            3,
            "{e}"
        );
        // Registered pinned; listed with its fingerprint.
        harness::ok(&a.cli(&[
            "feed",
            "add",
            "--facility",
            "SOUTHHOSP",
            "--client-cert",
            &north,
        ]));
        let listed = harness::ok(&a.cli(&["feed", "list"]));
        assert!(listed.contains(shown), "{e}: {listed}");
        let json = harness::ok(&a.cli(&["feed", "list", "--json"]));
        let bare = shown.replace(':', "").to_lowercase();
        assert!(json.contains(&bare), "{e}: {json}");
        // Bad input is refused by name.
        let out = a.cli(&[
            "feed",
            "pin",
            "--facility",
            "NORTHHOSP",
            "--fingerprint",
            "AB:CD",
        ]);
        harness::fails(&out, 1, "not a SHA-256 fingerprint");
        let out = a.cli(&[
            "feed",
            "pin",
            "--facility",
            "NORTHHOSP",
            "--cert",
            &north_key,
        ]);
        harness::fails(&out, 1, "no PEM certificate");
        let out = a.cli(&["feed", "pin", "--facility", "NOWHERE", "--cert", &north]);
        harness::fails(&out, 1, "NOWHERE");
        a.stop().await;
    }
}

/// An MLLP-over-TLS listener for `n` on a port of its own, presenting
/// `server`; the port, and what keeps it serving (drop it to stop).
async fn tls_listener(n: &Node, server: &Issued) -> (u16, tokio::sync::watch::Sender<bool>) {
    use openssl::ssl::{SslAcceptor, SslMethod};
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).expect("acceptor");
    b.set_certificate(&server.cert).expect("certificate");
    b.set_private_key(&server.key).expect("key");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (keep, stop) = tokio::sync::watch::channel(false);
    let notifier = Notifier::new(Gateway::new(n.hisp.clone()));
    let tls = Some(hisp::notify::mllp::Acceptor::new(b).expect("acceptor"));
    tokio::spawn(hisp::notify::mllp::serve(notifier, listener, tls, stop));
    (port, keep)
}

/// `hisp adt send FILE --to TO --tls ARGS`, with OpenSSL's default roots
/// (the "system's") being the certificates of `system_roots`; run off the
/// runtime's threads (from the call on), failing the test if it runs for a
/// minute.
fn adt_send_tls(
    n: &Node,
    file: &Path,
    to: String,
    args: &[&str],
    system_roots: &Path,
) -> impl Future<Output = std::process::Output> + use<> {
    let (dir, config) = (n.dir.path().to_owned(), n.config_path.clone());
    let mut vars = n.vars.clone();
    vars.push(("SSL_CERT_FILE".into(), system_roots.display().to_string()));
    let file = file.to_str().expect("path");
    let argv: Vec<String> = ["adt", "send", file, "--to", &to, "--tls"]
        .iter()
        .chain(args)
        .map(|s| s.to_string())
        .collect();
    let run = tokio::task::spawn_blocking(move || {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        harness::run_hisp_within(&dir, &config, &vars, &argv, Duration::from_secs(60))
    });
    async move { run.await.expect("join") }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn patient_index_digest_and_identical_alerts() {
    let mut a = Node::new("a.test", false, None).await;
    a.address("carol").await;
    a.address("dave").await;
    a.address("erin").await;
    a.start().await;
    harness::ok(&a.cli(&[
        "feed",
        "add",
        "--facility",
        "NORTHHOSP",
        "--name",
        "North Hospital",
    ]));
    // Carol's patient is known to her only by demographics, and listed
    // under two programs: the second row is reported, not applied, so the
    // index holds one Clara (two would be twins, and reviewed, never alerted).
    let report = roster(
        &a,
        "carol@a.test",
        ",,Kent,Clara,1975-06-07,F,06103,,Transitions,\n\
         ,,KENT,Clara,06/07/1975,female,06103,,Heart failure,\n",
    );
    assert!(
        report.contains("row 3: ")
            && report.contains("the same patient as row 2")
            && report.contains("1 applied"),
        "{report}"
    );
    // Dave's roster has Jane, and he takes a daily digest. His export lists
    // her twice by MRN: one entry, not two holding one identifier (a
    // conflict, which reviews every ADT about her).
    let report = roster(
        &a,
        "dave@a.test",
        "MRN1,NORTH,Doe,Jane,1980-01-02,F,06101,,Digest,\n\
         MRN1,North,Doe,Jane,1980-01-02,F,06101,,Digest,\n",
    );
    assert!(
        report.contains("row 3: patient_id: the same patient as row 2"),
        "{report}"
    );
    delivery(&a, "dave@a.test", "digest");

    // An ED visit that names Clara only by MRN and name: too little to match.
    let thin = "PID|1||K77^^^NORTH^MR||Kent^Clara";
    assert_eq!(
        ack_code(&a, &adt("I1", "A04", "NORTHHOSP", "E", "VK1", thin))
            .await
            .0,
        "AA"
    );
    drained(&a).await;
    assert!(alerts(&a).await.is_empty(), "no match without the index");
    // A31 tells the index who K77 is; the next visit then matches Carol's entry.
    let a31 = b"MSH|^~\\&|EPIC|NORTHHOSP|HISP|HISP|20261122060000||ADT^A31^ADT_A05|I2|P|2.5.1\rEVN|A31|20261122060000\rPID|1||K77^^^NORTH^MR||Kent^Clara||19750607|F|||5 Oak St^^Hartford^CT^06103\r";
    assert_eq!(ack_code(&a, a31).await.0, "AA");
    drained(&a).await;
    assert_eq!(
        count(&a, "SELECT COUNT(*) FROM patient_index").await,
        1,
        "one person under one identifier"
    );
    let sql = "SELECT patient_sealed FROM patient_index";
    assert!(
        !shows_in_clear(&a, sql, "Kent").await,
        "the index is sealed at rest"
    );
    // Erin knows Clara by the hospital's MRN: her entry matches the thin
    // message as it is, and that must not spare the index's lookup that
    // Carol's entry, by demographics only, needs.
    roster(
        &a,
        "erin@a.test",
        "K77,NORTH,Kent,Clara,,,,,Behavioral health,\n",
    );
    assert_eq!(
        ack_code(&a, &adt("I3", "A04", "NORTHHOSP", "E", "VK2", thin))
            .await
            .0,
        "AA"
    );
    let carol = hisp::direct::DirectAddress::parse("carol@a.test").expect("addr");
    let inbox = wait_for(60, "Clara's alert for carol", || async {
        let l = a.hisp.mailbox_list(&carol, INBOX).await.expect("list");
        (!l.is_empty()).then_some(l)
    })
    .await;
    assert_eq!(inbox.len(), 1);
    let erin = hisp::direct::DirectAddress::parse("erin@a.test").expect("addr");
    wait_for(60, "Clara's alert for erin", || async {
        let l = a.hisp.mailbox_list(&erin, INBOX).await.expect("list");
        (l.len() == 1).then_some(())
    })
    .await;

    // Jane's ED visit, then the same event re-registered under another visit
    // number by the feed (same event time), then a real return visit later.
    for (control, visit, time) in [
        ("J1", "VJ1", "20261122055900"),
        ("J2", "VJ2", "20261122055900"),
        ("J3", "VJ3", "20261122115900"),
    ] {
        let msg = String::from_utf8(adt(control, "A04", "NORTHHOSP", "E", visit, JANE))
            .expect("utf8")
            .replace("EVN|A04|20261122055900", &format!("EVN|A04|{time}"));
        assert_eq!(ack_code(&a, msg.as_bytes()).await.0, "AA");
    }
    drained(&a).await;
    let dave_alerts: Vec<_> = alerts(&a)
        .await
        .into_iter()
        .filter(|x| x.subscriber == "dave@a.test")
        .collect();
    assert_eq!(
        dave_alerts.len(),
        2,
        "the duplicate report is not alerted again; the return visit is"
    );
    assert_eq!(
        count(&a, "SELECT COUNT(*) FROM match_reviews").await,
        0,
        "Clara and Jane, each listed twice, alerted: nothing held for review"
    );
    assert!(
        dave_alerts.iter().all(|x| x.message_id.is_none()),
        "digest subscribers get nothing sent in real time"
    );
    let dave = hisp::direct::DirectAddress::parse("dave@a.test").expect("addr");
    assert!(
        a.hisp
            .mailbox_list(&dave, INBOX)
            .await
            .expect("list")
            .is_empty()
    );
    // One alert per digest message: Dave's digest of two goes as two.
    a.set("HISP_NOTIFY_DIGEST_MAX_ALERTS", "1");
    let out = harness::ok(&a.cli(&["alert", "digest"]));
    a.set("HISP_NOTIFY_DIGEST_MAX_ALERTS", "500");
    assert!(out.contains("1 digest"), "{out}");
    let digest = wait_for(60, "dave's digest", || async {
        let l = a.hisp.mailbox_list(&dave, INBOX).await.expect("list");
        (l.len() >= 2).then_some(l)
    })
    .await;
    assert_eq!(digest.len(), 2, "one digest in two messages");
    let mut parts = Vec::new();
    for m in &digest {
        assert_eq!(m.subject, hisp::notify::digest::SUBJECT);
        let (shown, _) = a
            .hisp
            .mailbox_show(&dave, m.id, "test")
            .await
            .expect("show");
        let text = shown.text.expect("text");
        assert!(
            text.starts_with(
                "2 encounter notifications since your last digest, sent as 2 messages"
            ) && text.matches("Doe, Jane").count() == 1,
            "{text}"
        );
        let first = text.contains("this is message 1 of 2");
        let second = text.contains("this is message 2 of 2");
        parts.push(u8::from(first) + 2 * u8::from(second));
    }
    parts.sort();
    assert_eq!(parts, [1, 2], "message 1 of 2 and message 2 of 2");
    let sent: Vec<_> = alerts(&a)
        .await
        .into_iter()
        .filter(|x| x.subscriber == "dave@a.test")
        .collect();
    assert!(sent.iter().all(|x| x.message_id.is_some()));
    // Nothing new: no second digest.
    let out = harness::ok(&a.cli(&["alert", "digest"]));
    assert!(out.contains("0 digest"), "{out}");
    // Another visit is filed for the digest, then Jane opts out before it
    // goes: the digest withdraws it rather than sending it.
    let msg = String::from_utf8(adt("J4", "A04", "NORTHHOSP", "E", "VJ4", JANE))
        .expect("utf8")
        .replace("EVN|A04|20261122055900", "EVN|A04|20261123055900");
    assert_eq!(ack_code(&a, msg.as_bytes()).await.0, "AA");
    drained(&a).await;
    let daves = |all: Vec<hisp::store::notify::AlertRow>| {
        all.into_iter()
            .filter(|x| x.subscriber == "dave@a.test")
            .count()
    };
    assert_eq!(daves(alerts(&a).await), 3, "filed for the digest");
    // Dave's nightly upload renews the entry the alert matched (in place).
    roster(
        &a,
        "dave@a.test",
        "MRN1,NORTH,Doe,Jane,1980-01-02,F,06101,,Digest,\n",
    );
    harness::ok(&a.cli(&[
        "consent",
        "opt-out",
        "--patient-id",
        "MRN1",
        "--authority",
        "NORTH",
    ]));
    // The opt-out's sweep withdraws it at once.
    assert_eq!(daves(alerts(&a).await), 2, "withdrawn, not sent");
    let swept = count(
        &a,
        "SELECT COUNT(*) FROM audit_log WHERE action = 'consent.sweep' \
         AND detail LIKE '%1 unsent alert(s) withdrawn'",
    )
    .await;
    assert_eq!(swept, 1, "the sweep audited");
    let out = harness::ok(&a.cli(&["alert", "digest"]));
    assert!(out.contains("0 digest"), "{out}");
    assert_eq!(
        a.hisp.mailbox_list(&dave, INBOX).await.expect("list").len(),
        2
    );
    // Dave's practice knows Lois by its own number; the hospital's ADT
    // names her by its MRN, and her name, birth date, sex and ZIP match.
    // Her opt-out at the hospital, under its MRN, is recorded without a
    // sweep (as before sweeps withdrew alerts): the digest judges her alert
    // under the patient the ADT named too, and withdraws it.
    roster(
        &a,
        "dave@a.test",
        "P9,PRACTICE,Lane,Lois,1970-01-01,F,06109,,Digest,\n",
    );
    let lois = "PID|1||L55^^^NORTH^MR||Lane^Lois||19700101|F|||9 Elm St^^Hartford^CT^06109";
    let msg = adt("L1", "A04", "NORTHHOSP", "E", "VL1", lois);
    assert_eq!(ack_code(&a, &msg).await.0, "AA");
    drained(&a).await;
    assert_eq!(
        daves(alerts(&a).await),
        3,
        "Lois's alert filed for the digest"
    );
    let sql = "SELECT patient_sealed FROM alerts WHERE message_id IS NULL";
    assert!(
        !shows_in_clear(&a, sql, "Lane").await,
        "the alert's patient is sealed at rest"
    );
    let l55 = hisp::store::notify::StoredPatient {
        identifiers: vec![("L55".into(), "NORTH".into())],
        ..Default::default()
    };
    let mut conn = a.hisp.conn().await.expect("conn");
    let now = a.hisp.now();
    hisp::store::notify::insert_consent(&mut conn, a.hisp.store.sealer(), "opt-out", &l55, now)
        .await
        .expect("opt-out");
    drop(conn);
    let out = harness::ok(&a.cli(&["alert", "digest"]));
    assert!(out.contains("0 digest"), "{out}");
    assert_eq!(daves(alerts(&a).await), 2, "withdrawn, not sent");
    assert_eq!(
        count(
            &a,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'alert.withdrawn'"
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &a,
            "SELECT COUNT(*) FROM alerts WHERE patient_sealed IS NOT NULL"
        )
        .await,
        0,
        "sent alerts keep no patient"
    );

    // Mary's visit is filed for Dave's digest; then he goes back to real
    // time. The alert filed for the digest is not left unsent for good: the
    // next pass sends it, in one last digest, and a later visit goes in real
    // time.
    roster(
        &a,
        "dave@a.test",
        "P10,PRACTICE,Moss,Mary,1960-03-04,F,06110,,Digest,\n",
    );
    let mary = "PID|1||P10^^^PRACTICE^MR||Moss^Mary||19600304|F|||1 Ash St^^Hartford^CT^06110";
    assert_eq!(
        ack_code(&a, &adt("M1", "A04", "NORTHHOSP", "E", "VM1", mary))
            .await
            .0,
        "AA"
    );
    drained(&a).await;
    assert_eq!(
        daves(alerts(&a).await),
        3,
        "Mary's alert filed for the digest"
    );
    delivery(&a, "dave@a.test", "realtime");
    // The feed sends the same event again under a new control id: no
    // second alert, and nothing sent on its own.
    assert_eq!(
        ack_code(&a, &adt("M2", "A04", "NORTHHOSP", "E", "VM1", mary))
            .await
            .0,
        "AA"
    );
    drained(&a).await;
    assert_eq!(
        a.hisp.mailbox_list(&dave, INBOX).await.expect("list").len(),
        2,
        "nothing sent in real time for an alert filed for the digest"
    );
    let out = harness::ok(&a.cli(&["alert", "digest"]));
    assert!(out.contains("1 digest"), "{out}");
    let inbox = wait_for(60, "dave's last digest", || async {
        let l = a.hisp.mailbox_list(&dave, INBOX).await.expect("list");
        (l.len() == 3).then_some(l)
    })
    .await;
    assert!(
        inbox
            .iter()
            .all(|m| m.subject == hisp::notify::digest::SUBJECT)
    );
    let unsent = count(&a, "SELECT COUNT(*) FROM alerts WHERE message_id IS NULL").await;
    assert_eq!(unsent, 0, "every alert sent");
    let out = harness::ok(&a.cli(&["alert", "digest"]));
    assert!(out.contains("0 digest"), "{out}");
    // Real time again: Mary's next visit is sent on its own.
    let msg = String::from_utf8(adt("M3", "A04", "NORTHHOSP", "E", "VM2", mary))
        .expect("utf8")
        .replace("EVN|A04|20261122055900", "EVN|A04|20261124055900");
    assert_eq!(ack_code(&a, msg.as_bytes()).await.0, "AA");
    let inbox = wait_for(60, "Mary's real-time alert", || async {
        let l = a.hisp.mailbox_list(&dave, INBOX).await.expect("list");
        (l.len() == 4).then_some(l)
    })
    .await;
    assert_eq!(
        inbox
            .iter()
            .filter(|m| m.subject == hisp::notify::digest::SUBJECT)
            .count(),
        3
    );
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_may_hold_only_so_many_mllp_connections() {
    let a = Node::new("a.test", false, None).await;
    harness::ok(&a.cli(&["feed", "add", "--facility", "NORTHHOSP"]));
    let mut hisp = a.hisp.clone();
    let mut config = (*hisp.config).clone();
    config.mllp.max_connections_per_ip = 2;
    hisp.config = std::sync::Arc::new(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(hisp::notify::mllp::serve(
        Notifier::new(Gateway::new(hisp)),
        listener,
        None,
        stop,
    ));
    let first = tokio::net::TcpStream::connect(addr).await.expect("1");
    let second = tokio::net::TcpStream::connect(addr).await.expect("2");
    // A third is accepted by the kernel and closed by us without an answer.
    let msg = adt("L1", "A04", "NORTHHOSP", "E", "VL1", JANE);
    assert!(send_mllp(addr, &msg).await.is_err(), "over the cap");
    drop(first);
    // Once a slot is free, the same address is served again.
    let acked = wait_for(10, "a slot to free", || async {
        send_mllp(addr, &msg).await.ok()
    })
    .await;
    assert_eq!(hisp::hl7::parse_ack(&acked).expect("ack").0, "AA");
    drop(second);
    let _ = stop_tx.send(true);
    let _ = server.await;
}

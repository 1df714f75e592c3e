//! The authoritative DNS responder over real sockets: DCDT hosting (H1, H2)
//! read back byte-for-byte by hickory-resolver and the real `dig`, truncation
//! over UDP and whole answers over TCP, negative answers with the SOA, REFUSED
//! outside our zones, reloads, and malformed packets that never stop it.

mod client;

use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use hisp::direct::DirectAddress;
use hisp::dns::server as dns;
use hisp::server::{self, DnsSockets, Listeners};
use hisp::store::{certs, domains};

use crate::harness::{self, DOMAIN};
use client::*;

/// DCDT H1 and H2 through `server::run`: the address-bound and org-bound CERT
/// records read back byte-for-byte by hickory-resolver and dig (UDP and TCP);
/// an SRV added with the CLI appears through the serial poll.
#[tokio::test(flavor = "multi_thread")]
async fn dcdt_hosting_h1_h2_through_server_run() {
    let env = harness::sqlite_env().await;
    let jo = add(&env, "jo@direct.example.org", false).await;
    let mut conn = env.hisp.conn().await.expect("conn");
    let org = certs::list(&mut conn)
        .await
        .expect("certs")
        .into_iter()
        .find(|c| c.address_id.is_none() && c.owner == DOMAIN)
        .expect("org-bound cert");
    drop(conn);
    let http = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let sockets = DnsSockets::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind dns");
    let addr = sockets.local_addr().expect("addr");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let listeners = Listeners {
        http,
        dns: Some(sockets),
        mx: None,
        submission: None,
        mllp: None,
    };
    let serving = tokio::spawn(server::run(env.hisp.clone(), listeners, async move {
        let _ = stop_rx.await;
    }));

    assert_eq!(
        resolver_certs(addr, JO).await,
        [jo.certs[0].cert_der.clone()],
        "H1"
    );
    assert_eq!(
        resolver_certs(addr, DOMAIN).await,
        std::slice::from_ref(&org.cert_der),
        "H2"
    );
    for transport in [None, Some("+tcp")] {
        let extra: Vec<&str> = transport.into_iter().collect();
        let Some(h1) = dig(addr, &[&extra[..], &[JO, "CERT"]].concat()).await else {
            break;
        };
        assert!(h1.contains("status: NOERROR"), "{h1}");
        assert!(dig_flags(&h1).split(' ').any(|f| f == "aa"), "{h1}");
        assert_eq!(dig_certs(&h1), [jo.certs[0].cert_der.clone()], "{h1}");
        let h2 = dig(addr, &[&extra[..], &[DOMAIN, "CERT"]].concat())
            .await
            .expect("dig");
        assert_eq!(dig_certs(&h2), std::slice::from_ref(&org.cert_der), "{h2}");
    }

    let srv = "_ldap._tcp.direct.example.org";
    let added = tokio::task::spawn_blocking({
        let (dir, config, vars) = (
            env.dir.path().to_path_buf(),
            env.config_path.clone(),
            env.vars.clone(),
        );
        move || {
            harness::run_hisp(
                &dir,
                &config,
                &vars,
                &[
                    "dns",
                    "record",
                    "add",
                    srv,
                    "SRV",
                    "0 0 389 ldap.direct.example.org",
                ],
                None,
            )
        }
    })
    .await
    .expect("join");
    harness::ok(&added);
    // The reloader polls the serial every 2 s: wait for it, bounded.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let answer = loop {
        let (m, _) = udp(addr, &query(srv, RecordType::SRV, None)).await;
        if !m.answers.is_empty() || tokio::time::Instant::now() > deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    match answer.answers.first().map(|r| &r.data) {
        Some(RData::SRV(s)) => {
            assert_eq!((s.priority, s.weight, s.port), (0, 0, 389));
            assert_eq!(s.target.to_ascii(), "ldap.direct.example.org.");
        }
        other => panic!("no SRV after the serial changed: {other:?}"),
    }
    let _ = stop_tx.send(());
    serving.await.expect("join").expect("clean shutdown");
}

/// DCDT D14: a single-use pair puts two CERT records at one name, more than
/// fits in 512 bytes (or EDNS 1232): TC over UDP, the whole RRset over TCP.
#[tokio::test(flavor = "multi_thread")]
async fn large_answers_truncate_over_udp_and_come_whole_over_tcp() {
    let env = harness::sqlite_env().await;
    let sam = add(&env, "sam@direct.example.org", true).await;
    let name = "sam.direct.example.org";
    let expected = sorted(sam.certs.iter().map(|c| c.cert_der.clone()).collect());
    assert_eq!(expected.len(), 2, "a single-use pair");
    let r = start(&env).await;

    for edns in [None, Some(1232), Some(100)] {
        let (m, len) = udp(r.addr, &query(name, RecordType::CERT, edns)).await;
        assert!(m.metadata.truncation, "TC with EDNS {edns:?}");
        assert!(m.metadata.authoritative);
        assert!(
            len <= usize::from(edns.unwrap_or(512).max(512)),
            "{len} bytes"
        );
        assert_eq!(
            m.edns.is_some(),
            edns.is_some(),
            "OPT echoed only when sent (RFC 6891)"
        );
    }
    let m = tcp(r.addr, &query(name, RecordType::CERT, None)).await;
    assert!(!m.metadata.truncation && m.metadata.authoritative);
    assert_eq!(sorted(certs_of(&m)), expected, "whole RRset over TCP");
    assert_eq!(
        sorted(resolver_certs(r.addr, name).await),
        expected,
        "resolver retries over TCP"
    );

    if let Some(out) = dig(r.addr, &["+ignore", name, "CERT"]).await {
        assert_eq!(dig_flags(&out), "qr aa tc", "{out}");
        let out = dig(r.addr, &["+tcp", name, "CERT"]).await.expect("dig");
        assert_eq!(sorted(dig_certs(&out)), expected, "{out}");
        let out = dig(r.addr, &[name, "CERT"]).await.expect("dig");
        assert_eq!(
            sorted(dig_certs(&out)),
            expected,
            "dig retries over TCP: {out}"
        );
    }
    // Issued certificates (RSA-2048 keys signed by an RSA-4096 CA) never fit
    // in 512 bytes; with EDNS the client's size is honored up to 1232.
    let jo = add(&env, "jo@direct.example.org", false).await;
    let mut conn = env.hisp.conn().await.expect("conn");
    let domain = domains::list(&mut conn).await.expect("domains")[0].id;
    let txt = "txt.direct.example.org";
    for c in ["a", "b", "c"] {
        let text = format!("\"{}\"", c.repeat(200));
        hisp::store::dns::insert(&mut conn, domain, txt, "TXT", 60, &text, 0)
            .await
            .expect("insert TXT");
    }
    drop(conn);
    dns::reload_now(&env.hisp, &r.zones).await.expect("reload");
    let (m, _) = udp(r.addr, &query(JO, RecordType::CERT, None)).await;
    assert!(m.metadata.truncation && m.answers.is_empty());
    let m = tcp(r.addr, &query(JO, RecordType::CERT, None)).await;
    assert_eq!(certs_of(&m), [jo.certs[0].cert_der.clone()]);
    let (m, len) = udp(r.addr, &query(txt, RecordType::TXT, None)).await;
    assert!(
        m.metadata.truncation && len <= 512,
        "{len} bytes without EDNS"
    );
    let (m, len) = udp(r.addr, &query(txt, RecordType::TXT, Some(1232))).await;
    assert!(
        !m.metadata.truncation && len > 512,
        "{len} bytes with EDNS 1232"
    );
    assert_eq!(m.answers.len(), 3);
    r.finish().await;
}

/// Revoked certificates and disabled addresses leave DNS at the next reload.
#[tokio::test(flavor = "multi_thread")]
async fn revoked_and_disabled_certificates_disappear_after_reload() {
    let env = harness::sqlite_env().await;
    let jo = add(&env, "jo@direct.example.org", false).await;
    add(&env, "sam@direct.example.org", false).await;
    let r = start(&env).await;
    for n in [JO, "sam.direct.example.org"] {
        let m = tcp(r.addr, &query(n, RecordType::CERT, None)).await;
        assert_eq!(certs_of(&m).len(), 1, "{n}");
    }
    env.hisp
        .cert_revoke(&jo.certs[0].serial, "keyCompromise", "test")
        .await
        .expect("revoke");
    let sam = DirectAddress::parse("sam@direct.example.org").expect("address");
    env.hisp
        .address_disable(&sam, "test")
        .await
        .expect("disable");
    dns::reload_now(&env.hisp, &r.zones).await.expect("reload");
    for n in [JO, "sam.direct.example.org"] {
        let m = tcp(r.addr, &query(n, RecordType::CERT, None)).await;
        assert!(m.answers.is_empty(), "{n} still served");
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{n}");
    }
    r.finish().await;
}

/// NXDOMAIN and NODATA carry the SOA; REFUSED outside our zones whatever RD
/// says; AA; names case-insensitive with the question echoed as asked; MX, A.
#[tokio::test(flavor = "multi_thread")]
async fn answers_follow_the_rules() {
    let env = harness::sqlite_env().await;
    add(&env, "jo@direct.example.org", false).await;
    let r = start(&env).await;
    let soa_only = |m: &Message| {
        assert!(m.answers.is_empty());
        assert_eq!(m.authorities.len(), 1);
        assert!(matches!(&m.authorities[0].data, RData::SOA(_)));
        assert_eq!(m.authorities[0].name.to_ascii(), "direct.example.org.");
    };
    let (m, _) = udp(
        r.addr,
        &query("nobody.direct.example.org", RecordType::CERT, None),
    )
    .await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.metadata.authoritative);
    soa_only(&m);
    let (m, _) = udp(r.addr, &query(JO, RecordType::A, None)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    soa_only(&m);

    let (m, _) = udp(r.addr, &query("example.com", RecordType::A, None)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    assert!(m.metadata.recursion_desired, "RD copied back");
    assert!(!m.metadata.recursion_available && !m.metadata.authoritative);
    assert!(m.answers.is_empty() && m.authorities.is_empty());
    let mut no_rd = query("example.com", RecordType::A, None);
    no_rd.metadata.recursion_desired = false;
    let (m, _) = udp(r.addr, &no_rd).await;
    assert!(!m.metadata.recursion_desired && m.metadata.response_code == ResponseCode::Refused);

    let mixed = "JO.Direct.Example.ORG";
    let m = tcp(r.addr, &query(mixed, RecordType::CERT, None)).await;
    assert_eq!(certs_of(&m).len(), 1);
    assert!(m.metadata.authoritative && !m.metadata.recursion_available);
    assert_eq!(
        m.queries[0].name().to_ascii(),
        format!("{mixed}."),
        "question as asked"
    );

    let (m, _) = udp(r.addr, &query(DOMAIN, RecordType::MX, None)).await;
    match m.answers.first().map(|a| &a.data) {
        Some(RData::MX(mx)) => assert_eq!(mx.exchange.to_ascii(), "mail.direct.example.org."),
        other => panic!("MX: {other:?}"),
    }
    let (m, _) = udp(
        r.addr,
        &query("mail.direct.example.org", RecordType::A, None),
    )
    .await;
    match m.answers.first().map(|a| &a.data) {
        Some(RData::A(a)) => assert_eq!(a.0, std::net::Ipv4Addr::LOCALHOST),
        other => panic!("A: {other:?}"),
    }

    let mut notify = query(DOMAIN, RecordType::SOA, None);
    notify.metadata.op_code = OpCode::Notify;
    let (m, _) = udp(r.addr, &notify).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NotImp);
    let (m, _) = udp(r.addr, &query(DOMAIN, RecordType::AXFR, None)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    let mut v1 = query(DOMAIN, RecordType::SOA, Some(1232));
    if let Some(e) = v1.edns.as_mut() {
        e.set_version(1);
    }
    let (m, _) = udp(r.addr, &v1).await;
    // BADVERS and BADSIG share code 16; hickory decodes it as BADSIG.
    assert_eq!(
        u16::from(m.metadata.response_code),
        16,
        "BADVERS, RFC 6891 §6.1.3"
    );
    if let Some(out) = dig(r.addr, &[mixed, "CERT"]).await {
        assert!(
            out.contains("status: NOERROR") && out.contains(mixed),
            "{out}"
        );
        let out = dig(r.addr, &["example.com", "A", "+recurse"])
            .await
            .expect("dig");
        assert!(out.contains("status: REFUSED"), "{out}");
        assert_eq!(dig_flags(&out), "qr rd", "{out}");
        let out = dig(r.addr, &["nobody.direct.example.org", "CERT"])
            .await
            .expect("dig");
        assert!(
            out.contains("status: NXDOMAIN") && out.contains("AUTHORITY: 1"),
            "{out}"
        );
    }
    r.finish().await;
}

/// Garbage, a cut header, zero and two questions: FORMERR or silence, and the
/// responder keeps answering.
#[tokio::test(flavor = "multi_thread")]
async fn malformed_packets_never_stop_the_responder() {
    let env = harness::sqlite_env().await;
    let r = start(&env).await;
    let quiet = Duration::from_millis(300);
    let still_answers = || async {
        let (m, _) = udp(r.addr, &query(DOMAIN, RecordType::SOA, None)).await;
        assert_eq!(m.answers.len(), 1, "still answering");
    };
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for len in [1usize, 7, 12, 13, 40, 300, 512, 1500] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed.to_le_bytes()[0]
            })
            .collect();
        if let Some(raw) = udp_raw(r.addr, &bytes, quiet).await {
            let m = Message::from_vec(&raw).expect("a reply is a valid message");
            assert_eq!(m.metadata.message_type, MessageType::Response);
        }
        still_answers().await;
    }
    let good = query(DOMAIN, RecordType::SOA, None)
        .to_vec()
        .expect("encode");
    assert!(
        udp_raw(r.addr, &good[..5], quiet).await.is_none(),
        "cut header: silence"
    );
    still_answers().await;

    let mut none = query(DOMAIN, RecordType::SOA, None);
    none.queries.clear();
    let mut two = query(DOMAIN, RecordType::SOA, None);
    two.add_query(Query::query(
        Name::from_ascii(JO).expect("name"),
        RecordType::CERT,
    ));
    let mut cut = good.clone();
    cut.truncate(good.len() - 3);
    for (what, bytes) in [
        ("zero questions", none.to_vec().expect("encode")),
        ("two questions", two.to_vec().expect("encode")),
        ("cut question", cut),
    ] {
        match udp_raw(r.addr, &bytes, quiet).await {
            Some(raw) => {
                let m = Message::from_vec(&raw).expect("decode");
                assert_eq!(m.metadata.response_code, ResponseCode::FormErr, "{what}");
                assert!(m.answers.is_empty(), "{what}");
            }
            None => assert_eq!(what, "cut question", "{what}: no answer"),
        }
        still_answers().await;
    }
    r.finish().await;
}

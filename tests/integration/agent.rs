//! The Direct agent end to end against a test PKI made by code, a file server on
//! port 0 for AIA and CRLs, and the real `openssl cms` command line: the ETT
//! receive scenarios, trust per recipient, interop both ways, trust bundles, and
//! the operator commands.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hisp::direct::DirectAddress;
use hisp::direct::incoming::IncomingError;
use hisp::direct::outgoing::Outcome;
use hisp::direct::smime::{self, ContentCipher, KeyTransport};
use hisp::direct::trust::HttpFetcher;
use hisp::ops::Hisp;
use hisp::ops::address::NewAddress;
use hisp::ops::agent::StaticCerts;
use hisp::ops::trust::{BundleSpec, Refreshed};
use hisp::store::users::Role;
use openssl::x509::X509;

use crate::fileserver::FileServer;
use crate::harness::{self, Env, openssl, sqlite_env};
use crate::testpki::{Issued, Leaf, TestPki};

const JO: &str = "jo@direct.example.org";
const SENDER: &str = "sender@remote.example.net";

fn addr(s: &str) -> DirectAddress {
    DirectAddress::parse(s).expect("address")
}

/// A hisp with jo, a file server, and a test PKI whose root both of jo's anchor sets trust.
struct Ett {
    env: Env,
    server: FileServer,
    pki: TestPki,
    jo_cert: X509,
}

async fn ett() -> Ett {
    let env = sqlite_env().await;
    let server = FileServer::start().await;
    let pki = TestPki::new(&server.base(), env.hisp.now());
    let h = &env.hisp;
    let req = NewAddress {
        address: addr(JO),
        name: Some("Jo".into()),
        role: Role::Provider,
        password: None,
        single_use: Some(false),
    };
    let jo = h.address_add(req, "test").await.expect("jo");
    h.anchor_add(&env.domain(), &pki.root.cert, true, true, "test")
        .await
        .expect("anchor");
    let jo_cert = jo.certs[0].cert().expect("cert");
    Ett {
        env,
        server,
        pki,
        jo_cert,
    }
}

fn plain(from: &str, to: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Sender <{from}>\r\nTo: {to}\r\nSubject: Referral\r\nMessage-ID: <m1@remote.example.net>\r\n\
         Date: Sun, 22 Nov 2026 03:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// A Direct message from `leaf` to jo, made with hisp's own primitives.
fn direct_message(leaf: &Issued, jo_cert: &X509, from: &str, tamper: bool) -> Vec<u8> {
    let msg = plain(from, JO, "Patient summary attached.");
    let mut signed = smime::sign(
        &smime::wrap_rfc822(&msg),
        &leaf.cert,
        &leaf.key,
        &leaf.chain,
    )
    .expect("sign");
    if tamper {
        let at = signed
            .windows(7)
            .position(|w| w == b"Patient")
            .expect("body");
        signed[at] = b'p';
    }
    let enc = smime::encrypt(
        &signed,
        std::slice::from_ref(jo_cert),
        ContentCipher::Aes256Cbc,
        KeyTransport::Pkcs1v15,
    )
    .expect("encrypt");
    let mut out = format!("From: {from}\r\nTo: {JO}\r\nSubject: Referral\r\nMIME-Version: 1.0\r\n")
        .into_bytes();
    out.extend(enc);
    out
}

async fn open(h: &Hisp, raw: &[u8]) -> Result<hisp::direct::incoming::Opened, IncomingError> {
    h.incoming(raw, &[addr(JO)]).await.expect("store")
}

/// ETT: only GOOD is delivered; every other case is refused naming the
/// certificate or algorithm and the failed check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ett_receive_scenarios() {
    let t = ett().await;
    let leaves: Vec<(Leaf, Issued)> = [
        Leaf::Good,
        Leaf::WrongSan,
        Leaf::Expired,
        Leaf::DifferentAnchor,
        Leaf::BadAia,
        Leaf::Revoked,
        Leaf::Rsa1024,
        Leaf::Sha1Signed,
        Leaf::OrgBound,
    ]
    .into_iter()
    .map(|k| {
        let issued = t.pki.leaf(k, SENDER);
        (k, issued)
    })
    .collect();
    t.pki.publish(&t.server);
    let h = &t.env.hisp;
    for (kind, leaf) in &leaves {
        let raw = direct_message(leaf, &t.jo_cert, SENDER, false);
        let result = open(h, &raw).await;
        let serial = hisp::pki::serial_hex(&leaf.cert);
        match kind {
            Leaf::Good | Leaf::OrgBound => {
                let opened = result.unwrap_or_else(|e| panic!("{kind:?} must be delivered: {e}"));
                assert!(opened.trusted_by_all(), "{kind:?}: {:?}", opened.verdicts);
                let text = String::from_utf8_lossy(&opened.message);
                assert!(
                    text.contains("Patient summary attached.")
                        && text.contains("Subject: Referral"),
                    "{text}"
                );
            }
            Leaf::WrongSan => {
                let e = result.expect_err("INVALID must be refused").to_string();
                assert!(
                    e.contains(&serial) && e.contains("binding check") && e.contains(SENDER),
                    "{e}"
                );
            }
            Leaf::Rsa1024 => {
                let e = result.expect_err("1024-bit must be refused").to_string();
                assert!(e.contains("1024 bits"), "{e}");
            }
            Leaf::Sha1Signed => {
                let e = result
                    .expect_err("SHA-1 certificate must be refused")
                    .to_string();
                assert!(e.contains("sha1"), "{e}");
            }
            _ => {
                let opened = result.unwrap_or_else(|e| {
                    panic!("{kind:?} decrypts and verifies, but is untrusted: {e}")
                });
                let (who, verdict) = &opened.verdicts[0];
                assert_eq!(who, &addr(JO));
                let failure = verdict.as_ref().expect_err("untrusted");
                let expected = match kind {
                    Leaf::Expired => "expired",
                    Leaf::Revoked => "revoked",
                    _ => "path",
                };
                assert_eq!(failure.check, expected, "{kind:?}: {failure}");
                let text = failure.to_string();
                assert!(text.contains("serial"), "{text}");
                if *kind == Leaf::BadAia {
                    assert!(text.contains("AIA") && text.contains("404"), "{text}");
                }
                if *kind == Leaf::Revoked {
                    assert!(
                        text.contains(&serial) && text.contains("intermediate.crl"),
                        "{text}"
                    );
                }
                if *kind == Leaf::DifferentAnchor {
                    assert!(
                        text.contains("incoming anchors of direct.example.org"),
                        "{text}"
                    );
                }
            }
        }
    }
    // INVALID_DIGEST: altered after signing.
    let good = &leaves[0].1;
    let e = open(h, &direct_message(good, &t.jo_cert, SENDER, true))
        .await
        .expect_err("altered");
    assert!(matches!(e, IncomingError::Signature(_)), "{e}");
    assert!(e.to_string().contains("digest"), "{e}");
    // BAD_AIA really asked its AIA URL.
    assert!(t.server.hits("missing.cer") >= 1);
}

/// Messages made by the `openssl cms` command line are accepted; 3DES and MD5 are refused by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_cli_messages_are_judged() {
    let t = ett().await;
    let good = t.pki.leaf(Leaf::Good, SENDER);
    let org = t.pki.leaf(Leaf::OrgBound, SENDER);
    t.pki.publish(&t.server);
    let dir = t.env.dir.path();
    TestPki::write_pem(dir, "signer.pem", &good.cert);
    TestPki::write_key(dir, "signer.key", &good.key);
    TestPki::write_pem(dir, "org.pem", &org.cert);
    TestPki::write_key(dir, "org.key", &org.key);
    TestPki::write_pem(dir, "int.pem", &t.pki.intermediate.cert);
    TestPki::write_pem(dir, "jo.pem", &t.jo_cert);
    std::fs::write(
        dir.join("msg.eml"),
        smime::wrap_rfc822(&plain(SENDER, JO, "From the CLI.")),
    )
    .expect("write");
    let h = &t.env.hisp;
    /// (name, signing args, encryption args, the algorithm named when refused)
    type Case<'a> = (&'a str, &'a [&'a str], &'a [&'a str], Option<&'a str>);
    let cases: &[Case] = &[
        (
            "detached sha256 aes256",
            &["-md", "sha256"],
            &["-aes256"],
            None,
        ),
        (
            "opaque sha256 aes128",
            &["-md", "sha256", "-nodetach"],
            &["-aes128"],
            None,
        ),
        ("gcm", &["-md", "sha256"], &["-aes-256-gcm"], None),
        (
            "oaep sha256",
            &["-md", "sha256"],
            &[
                "-aes256",
                "-keyopt",
                "rsa_padding_mode:oaep",
                "-keyopt",
                "rsa_oaep_md:sha256",
            ],
            None,
        ),
        (
            "oaep sha1",
            &["-md", "sha256"],
            &["-aes128", "-keyopt", "rsa_padding_mode:oaep"],
            None,
        ),
        ("org-bound signer", &["-md", "sha256"], &["-aes256"], None),
        ("sha1 digest", &["-md", "sha1"], &["-aes256"], Some("sha1")),
        ("md5 digest", &["-md", "md5"], &["-aes256"], Some("md5")),
        (
            "3des content",
            &["-md", "sha256"],
            &["-des3"],
            Some("des-ede3-cbc"),
        ),
    ];
    for (name, sign_args, enc_args, refused) in cases {
        let (signer, key) = if *name == "org-bound signer" {
            ("org.pem", "org.key")
        } else {
            ("signer.pem", "signer.key")
        };
        let mut args = vec![
            "cms",
            "-sign",
            "-in",
            "msg.eml",
            "-signer",
            signer,
            "-inkey",
            key,
            "-certfile",
            "int.pem",
            "-binary",
            "-out",
            "signed.eml",
        ];
        args.extend_from_slice(sign_args);
        let signed = openssl(dir, &args);
        if !signed.status.success() && *name == "md5 digest" {
            eprintln!(
                "this OpenSSL refuses to sign with MD5; skipping that case: {}",
                harness::stderr(&signed)
            );
            continue;
        }
        harness::ok(&signed);
        let mut args = vec![
            "cms",
            "-encrypt",
            "-in",
            "signed.eml",
            "-out",
            "enc.eml",
            "-recip",
            "jo.pem",
            "-from",
            SENDER,
            "-to",
            JO,
            "-subject",
            "CLI",
        ];
        args.extend_from_slice(enc_args);
        harness::ok(&openssl(dir, &args));
        let raw = std::fs::read(dir.join("enc.eml")).expect("read");
        let result = open(h, &raw).await;
        match refused {
            None => {
                let opened = result.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(opened.trusted_by_all(), "{name}: {:?}", opened.verdicts);
                assert!(
                    String::from_utf8_lossy(&opened.message).contains("From the CLI."),
                    "{name}"
                );
            }
            Some(alg) => {
                let e = result.expect_err(name).to_string();
                assert!(e.contains(alg) && e.contains("refused"), "{name}: {e}");
            }
        }
    }
    // SHA-1 is accepted once the config allows it.
    let mut config = (*h.config).clone();
    config.agent.allow_sha1 = true;
    let lenient = Hisp::with_fetcher(
        config,
        h.store.clone(),
        h.clock.clone(),
        Arc::new(HttpFetcher::default()),
    );
    harness::ok(&openssl(
        dir,
        &[
            "cms",
            "-sign",
            "-in",
            "msg.eml",
            "-signer",
            "signer.pem",
            "-inkey",
            "signer.key",
            "-certfile",
            "int.pem",
            "-binary",
            "-md",
            "sha1",
            "-out",
            "signed.eml",
        ],
    ));
    harness::ok(&openssl(
        dir,
        &[
            "cms",
            "-encrypt",
            "-in",
            "signed.eml",
            "-out",
            "enc.eml",
            "-recip",
            "jo.pem",
            "-from",
            SENDER,
            "-aes256",
        ],
    ));
    let raw = std::fs::read(dir.join("enc.eml")).expect("read");
    let opened = open(&lenient, &raw).await.expect("sha1 allowed by config");
    assert_eq!(opened.digest, "sha1");
}

/// hisp's outgoing messages decrypt and verify with the `openssl cms` command line;
/// trust is per recipient (two trusted, one untrusted, one without a certificate).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_is_per_recipient_and_opens_with_openssl() {
    let t = ett().await;
    let a = t.pki.leaf(Leaf::Good, "a@remote.example.net");
    let b = t.pki.leaf(Leaf::EnciphermentOnly, "b@remote.example.net");
    let c = t.pki.leaf(Leaf::DifferentAnchor, "c@remote.example.net");
    let c_expired = t.pki.leaf(Leaf::Expired, "c@remote.example.net");
    t.pki.publish(&t.server);
    let mut certs = HashMap::new();
    certs.insert(addr("a@remote.example.net"), vec![a.cert.clone()]);
    certs.insert(
        addr("b@remote.example.net"),
        vec![
            b.cert.clone(),
            t.pki.leaf(Leaf::SigningOnly, "b@remote.example.net").cert,
        ],
    );
    certs.insert(
        addr("c@remote.example.net"),
        vec![c.cert.clone(), c_expired.cert.clone()],
    );
    let to = [
        "a@remote.example.net",
        "b@remote.example.net",
        "c@remote.example.net",
        "d@remote.example.net",
    ]
    .map(addr);
    let msg = plain(
        JO,
        "a@remote.example.net, b@remote.example.net",
        "Outbound referral.",
    );
    let h = &t.env.hisp;
    let outcomes = h
        .outgoing(&msg, &addr(JO), &to, &StaticCerts(certs))
        .await
        .expect("outgoing");
    assert_eq!(outcomes.len(), 4);
    let dir = t.env.dir.path();
    std::fs::write(
        dir.join("ca.pem"),
        harness::ok(&t.env.hisp(&["ca", "export"])),
    )
    .expect("ca");
    for (o, leaf) in outcomes.iter().take(2).zip([&a, &b]) {
        let Outcome::Encrypted {
            address,
            message,
            cert_count,
        } = o
        else {
            panic!("{o:?}")
        };
        assert_eq!(
            *cert_count, 1,
            "{address}: only the keyEncipherment certificate"
        );
        assert!(
            !message.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'),
            "CRLF throughout"
        );
        let text = String::from_utf8_lossy(message);
        assert!(
            text.contains("application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m"),
            "{text}"
        );
        assert!(
            text.contains("Message-ID: <m1@remote.example.net>")
                && text.contains("Subject: Referral")
        );
        std::fs::write(dir.join("out.eml"), message).expect("write");
        TestPki::write_pem(dir, "r.pem", &leaf.cert);
        TestPki::write_key(dir, "r.key", &leaf.key);
        harness::ok(&openssl(
            dir,
            &[
                "cms", "-decrypt", "-in", "out.eml", "-recip", "r.pem", "-inkey", "r.key", "-out",
                "dec.eml",
            ],
        ));
        let dec = std::fs::read_to_string(dir.join("dec.eml")).expect("read");
        assert!(
            dec.contains("micalg=sha-256") && dec.contains("application/pkcs7-signature"),
            "{dec}"
        );
        let verified = harness::ok(&openssl(
            dir,
            &[
                "cms", "-verify", "-in", "dec.eml", "-CAfile", "ca.pem", "-purpose", "any",
            ],
        ));
        assert!(verified.contains("Outbound referral."), "{verified}");
    }
    let Outcome::Rejected { status, cause, .. } = &outcomes[2] else {
        panic!("c must be rejected")
    };
    assert_eq!(*status, "5.7.11");
    assert!(
        cause.contains("path") && cause.contains("expired"),
        "both of c's certificates are explained: {cause}"
    );
    let Outcome::Rejected { status, cause, .. } = &outcomes[3] else {
        panic!("d must be rejected")
    };
    assert_eq!(*status, "5.7.31");
    assert!(
        cause.contains("no certificate was found for d@remote.example.net"),
        "{cause}"
    );
}

/// A local message round trip: jo → sam, both hosted here.
#[tokio::test]
async fn local_round_trip_through_the_agent() {
    let env = sqlite_env().await;
    let h = &env.hisp;
    for a in [JO, "sam@direct.example.org"] {
        let req = NewAddress {
            address: addr(a),
            name: None,
            role: Role::Provider,
            password: None,
            single_use: Some(a != JO),
        };
        h.address_add(req, "test").await.expect("add");
    }
    let msg = plain(JO, "sam@direct.example.org", "Hello Sam.");
    let out = h
        .outgoing(
            &msg,
            &addr(JO),
            &[addr("sam@direct.example.org")],
            &hisp::ops::agent::NoRemote,
        )
        .await
        .expect("out");
    let Outcome::Encrypted { message, .. } = &out[0] else {
        panic!("{out:?}")
    };
    let opened = h
        .incoming(message, &[addr("sam@direct.example.org")])
        .await
        .expect("store")
        .unwrap_or_else(|e| panic!("open: {e}"));
    assert!(opened.trusted_by_all(), "{:?}", opened.verdicts);
    assert_eq!(opened.from, Some(addr(JO)));
    assert!(String::from_utf8_lossy(&opened.message).contains("Hello Sam."));
}

/// Bundles: unsigned and signed .p7b load; an unchanged thumbprint does nothing;
/// a bad signature, a 404 and a timeout are refused with their status and the
/// old anchors stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_bundles_load_refresh_and_refuse() {
    let t = ett().await;
    let dir = t.env.dir.path();
    TestPki::write_pem(dir, "root.pem", &t.pki.root.cert);
    TestPki::write_pem(dir, "other.pem", &t.pki.other_root.cert);
    harness::ok(&openssl(
        dir,
        &[
            "crl2pkcs7",
            "-nocrl",
            "-certfile",
            "root.pem",
            "-certfile",
            "other.pem",
            "-outform",
            "DER",
            "-out",
            "b.p7b",
        ],
    ));
    harness::ok(&openssl(
        dir,
        &[
            "crl2pkcs7",
            "-nocrl",
            "-certfile",
            "root.pem",
            "-outform",
            "DER",
            "-out",
            "b1.p7b",
        ],
    ));
    let operator = t.pki.leaf(Leaf::Good, "bundles@operator.example.com");
    let stranger = t
        .pki
        .leaf(Leaf::DifferentAnchor, "bundles@operator.example.com");
    TestPki::write_pem(dir, "op.pem", &operator.cert);
    TestPki::write_key(dir, "op.key", &operator.key);
    TestPki::write_pem(dir, "st.pem", &stranger.cert);
    TestPki::write_key(dir, "st.key", &stranger.key);
    let sign = |signer: &str, key: &str, input: &str, out: &str| {
        harness::ok(&openssl(
            dir,
            &[
                "cms",
                "-sign",
                "-nodetach",
                "-binary",
                "-outform",
                "DER",
                "-in",
                input,
                "-signer",
                signer,
                "-inkey",
                key,
                "-out",
                out,
            ],
        ));
        std::fs::read(dir.join(out)).expect("read")
    };
    let signed = sign("op.pem", "op.key", "b.p7b", "signed.p7m");
    let by_stranger = sign("st.pem", "st.key", "b.p7b", "stranger.p7m");
    let mut tampered = signed.clone();
    let other_der = t.pki.other_root.cert.to_der().expect("der");
    let at = tampered
        .windows(32)
        .position(|w| w == &other_der[40..72])
        .expect("content inside");
    tampered[at] ^= 0x01;

    let h = &t.env.hisp;
    let d = t.env.domain();
    let count = |rows: &[hisp::store::anchors::AnchorRow]| {
        rows.iter().filter(|a| a.bundle_id.is_some()).count()
    };
    t.server.put(
        "plain.p7b",
        std::fs::read(dir.join("b.p7b")).expect("read"),
        "application/pkcs7-mime",
    );
    let (row, outcome) = h
        .bundle_add(
            &d,
            &BundleSpec {
                url: &t.server.url("plain.p7b"),
                incoming: true,
                outgoing: false,
                refresh_secs: 0,
                signer: None,
            },
            "test",
        )
        .await
        .expect("add");
    assert_eq!(outcome, Refreshed::Loaded(2));
    assert_eq!(row.status, "SUCCESS");
    assert_eq!(count(&h.anchor_list(Some(&d)).await.expect("list")), 2);
    assert_eq!(
        h.bundle_refresh_one(&row, false, "test")
            .await
            .expect("refresh"),
        Refreshed::Unchanged
    );
    // A forced refresh loads again, audited under whoever asked.
    assert_eq!(
        h.bundle_refresh_one(&row, true, "admin-jo")
            .await
            .expect("refresh"),
        Refreshed::Loaded(2)
    );
    let mut conn = h.conn().await.expect("conn");
    let entries = hisp::audit::page(&mut conn, 0, 10_000)
        .await
        .expect("audit");
    drop(conn);
    let last = entries
        .iter()
        .rev()
        .find(|e| e.action == "bundle.refresh")
        .expect("a bundle.refresh entry");
    assert_eq!(last.actor, "admin-jo");

    t.server.put("signed.p7m", signed, "application/pkcs7-mime");
    let (srow, outcome) = h
        .bundle_add(
            &d,
            &BundleSpec {
                url: &t.server.url("signed.p7m"),
                incoming: false,
                outgoing: true,
                refresh_secs: 3600,
                signer: Some(&operator.cert),
            },
            "test",
        )
        .await
        .expect("add signed");
    assert_eq!(outcome, Refreshed::Loaded(2), "{:?}", srow.status);
    assert_eq!(count(&h.anchor_list(Some(&d)).await.expect("list")), 4);

    let expect_fail = |r: Refreshed, status: &str| match r {
        Refreshed::Failed(e) => assert_eq!(e.status.as_str(), status, "{e}"),
        other => panic!("expected {status}, got {other:?}"),
    };
    for (body, status) in [
        (by_stranger, "INVALID_SIGNING_CERT"),
        (tampered, "UNMATCHED_SIGNATURE"),
        (b"not a bundle".to_vec(), "INVALID_BUNDLE_FORMAT"),
    ] {
        t.server.put("signed.p7m", body, "application/pkcs7-mime");
        let current = h
            .bundle_list()
            .await
            .expect("list")
            .into_iter()
            .find(|b| b.id == srow.id)
            .expect("row");
        expect_fail(
            h.bundle_refresh_one(&current, false, "test")
                .await
                .expect("refresh"),
            status,
        );
        assert_eq!(
            count(&h.anchor_list(Some(&d)).await.expect("list")),
            4,
            "{status}: the old anchors stay"
        );
        let listed = h
            .bundle_list()
            .await
            .expect("list")
            .into_iter()
            .find(|b| b.id == srow.id)
            .expect("row");
        assert_eq!(listed.status, status);
        assert!(listed.last_success.is_some() && listed.last_attempt.is_some());
    }
    t.server.remove("signed.p7m");
    expect_fail(
        h.bundle_refresh_one(&srow, false, "test")
            .await
            .expect("refresh"),
        "NOT_FOUND",
    );
    // A signer is configured but the bundle is plain: refused.
    t.server.put(
        "signed.p7m",
        std::fs::read(dir.join("b1.p7b")).expect("read"),
        "application/pkcs7-mime",
    );
    expect_fail(
        h.bundle_refresh_one(&srow, false, "test")
            .await
            .expect("refresh"),
        "INVALID_SIGNING_CERT",
    );

    // A server slower than the timeout.
    let impatient = Hisp::with_fetcher(
        (*h.config).clone(),
        h.store.clone(),
        h.clock.clone(),
        Arc::new(HttpFetcher::with_timeout(Duration::from_millis(300))),
    );
    t.server.set_delay(Duration::from_secs(2));
    expect_fail(
        impatient
            .bundle_refresh_one(&row, true, "test")
            .await
            .expect("refresh"),
        "DOWNLOAD_TIMEOUT",
    );
    t.server.set_delay(Duration::ZERO);
    assert_eq!(count(&h.anchor_list(Some(&d)).await.expect("list")), 4);

    // Through the command line.
    let listed = harness::ok(&t.env.hisp(&["bundle", "list", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(v.as_array().expect("array").len(), 2);
    let out = harness::ok(&t.env.hisp(&["bundle", "refresh"]));
    assert!(
        out.contains("unchanged") || out.contains("SUCCESS"),
        "{out}"
    );
}

/// The operator commands print a readable verdict on ETT messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smime_commands_explain_ett_messages() {
    let t = ett().await;
    let good = t.pki.leaf(Leaf::Good, SENDER);
    let expired = t.pki.leaf(Leaf::Expired, SENDER);
    t.pki.publish(&t.server);
    let dir = t.env.dir.path();
    std::fs::write(
        dir.join("good.eml"),
        direct_message(&good, &t.jo_cert, SENDER, false),
    )
    .expect("write");
    std::fs::write(
        dir.join("expired.eml"),
        direct_message(&expired, &t.jo_cert, SENDER, false),
    )
    .expect("write");
    std::fs::write(
        dir.join("digest.eml"),
        direct_message(&good, &t.jo_cert, SENDER, true),
    )
    .expect("write");
    let run = |args: &[&str]| tokio::task::block_in_place(|| t.env.hisp(args));

    let out = harness::ok(&run(&["smime", "inspect", "good.eml"]));
    assert!(
        out.contains("aes-256-cbc") && out.contains("recipient:"),
        "{out}"
    );
    let out = harness::ok(&run(&["smime", "decrypt", "good.eml", "--as", JO]));
    assert!(
        out.contains("multipart/signed") && out.contains("Patient summary"),
        "{out}"
    );
    std::fs::write(dir.join("signed.eml"), &out).expect("write");
    let out = harness::ok(&run(&["smime", "inspect", "signed.eml"]));
    assert!(
        out.contains("signer:")
            && out.contains("sha256")
            && out.contains(&format!("email:{SENDER}")),
        "{out}"
    );

    let out = harness::ok(&run(&["smime", "verify", "good.eml"]));
    for check in [
        "PASS algorithms",
        "PASS decryption",
        "PASS signature",
        "PASS binding",
        "PASS trust",
    ] {
        assert!(out.contains(check), "{out}");
    }
    let bad = run(&["smime", "verify", "expired.eml"]);
    assert_eq!(bad.status.code(), Some(1));
    let text = harness::stdout(&bad);
    assert!(
        text.contains("FAIL trust") && text.contains("expired"),
        "{text}"
    );
    let bad = run(&["smime", "verify", "digest.eml"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        harness::stdout(&bad).contains("FAIL signature"),
        "{}",
        harness::stdout(&bad)
    );
    // A signed entity (decrypted already) is verified against the only domain's anchors.
    let out = harness::ok(&run(&["smime", "verify", "signed.eml"]));
    assert!(out.contains("PASS trust"), "{out}");
}

/// When no CRL can be had: hard-fail (the default) refuses, soft-fail accepts.
/// AIA intermediates are read as DER, PEM or p7c.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crl_policy_and_aia_formats() {
    let t = ett().await;
    let good = t.pki.leaf(Leaf::Good, SENDER);
    t.pki.publish(&t.server);
    t.server.remove("intermediate.crl");
    let h = &t.env.hisp;
    let raw = direct_message(&good, &t.jo_cert, SENDER, false);
    let opened = open(h, &raw).await.expect("decrypts");
    let failure = opened.verdicts[0].1.as_ref().expect_err("hard-fail");
    assert_eq!(failure.check, "revocation unknown", "{failure}");
    assert!(
        failure.to_string().contains("intermediate.crl") && failure.to_string().contains("404"),
        "{failure}"
    );

    let mut config = (*h.config).clone();
    config.discovery.crl_policy = hisp::config::CrlPolicy::SoftFail;
    let soft = Hisp::with_fetcher(
        config,
        h.store.clone(),
        h.clock.clone(),
        Arc::new(HttpFetcher::default()),
    );
    assert!(
        open(&soft, &raw).await.expect("decrypts").trusted_by_all(),
        "soft-fail accepts"
    );

    // The intermediate only through AIA, in each format a CA may publish.
    t.pki.publish(&t.server);
    let dir = t.env.dir.path();
    TestPki::write_pem(dir, "int.pem", &t.pki.intermediate.cert);
    harness::ok(&openssl(
        dir,
        &[
            "crl2pkcs7",
            "-nocrl",
            "-certfile",
            "int.pem",
            "-outform",
            "DER",
            "-out",
            "int.p7c",
        ],
    ));
    let formats = [
        ("DER", t.pki.intermediate.cert.to_der().expect("der")),
        ("PEM", std::fs::read(dir.join("int.pem")).expect("pem")),
        ("p7c", std::fs::read(dir.join("int.p7c")).expect("p7c")),
    ];
    let bare = Issued {
        cert: good.cert.clone(),
        key: good.key.clone(),
        chain: vec![],
    };
    let raw = direct_message(&bare, &t.jo_cert, SENDER, false);
    for (name, body) in formats {
        t.server
            .put("intermediate.cer", body, "application/pkix-cert");
        // A fresh validator each time, so the AIA cache does not answer.
        let fresh = Hisp::with_fetcher(
            (*h.config).clone(),
            h.store.clone(),
            h.clock.clone(),
            Arc::new(HttpFetcher::default()),
        );
        let opened = open(&fresh, &raw).await.expect("decrypts");
        assert!(opened.trusted_by_all(), "{name}: {:?}", opened.verdicts);
    }
}

/// A revocation of our own certificate reaches a running validator within the
/// CRL cache window (one hour), even though our CRL's nextUpdate is a week away.
#[tokio::test]
async fn revoking_a_local_signer_takes_effect_within_the_cache_window() {
    let env = sqlite_env().await;
    let h = &env.hisp;
    let mut jo_serial = String::new();
    for a in [JO, "sam@direct.example.org"] {
        let req = NewAddress {
            address: addr(a),
            name: None,
            role: Role::Provider,
            password: None,
            single_use: Some(false),
        };
        let done = h.address_add(req, "test").await.expect("add");
        if a == JO {
            jo_serial = done.certs[0].serial.clone();
        }
    }
    let sam = [addr("sam@direct.example.org")];
    let out = h
        .outgoing(
            &plain(JO, "sam@direct.example.org", "Hi."),
            &addr(JO),
            &sam,
            &hisp::ops::agent::NoRemote,
        )
        .await
        .expect("out");
    let Outcome::Encrypted { message, .. } = &out[0] else {
        panic!("{out:?}")
    };
    let before = h
        .incoming(message, &sam)
        .await
        .expect("store")
        .expect("open");
    assert!(before.trusted_by_all(), "trusted before the revocation");
    // The same message, received again after the revocation.
    h.cert_revoke(&jo_serial, "keyCompromise", "test")
        .await
        .expect("revoke");
    env.clock.advance(3601);
    let opened = h
        .incoming(message, &sam)
        .await
        .expect("store")
        .expect("open");
    let failure = opened.verdicts[0].1.as_ref().expect_err("revoked signer");
    assert_eq!(failure.check, "revoked", "{failure}");
    assert!(failure.to_string().contains(&jo_serial), "{failure}");
}

//! The JSON API through `app().oneshot` on every engine: each role against
//! each route, scoping (another address's mail is 404), sessions with the
//! CSRF header, problem details, a message sent through the API and read at a
//! second local address, the OpenAPI document against the router, and
//! schemathesis against the real server.

mod access;
mod errors;
mod flows;
mod openapi;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use hisp::store::users::Role;
use hisp::store::{notify, queue, web as st};
use hisp::web::session;
use serde_json::{Value, json};

use super::{Client, Portal, Resp};
use crate::harness::DOMAIN;

/// How a request authenticates.
#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Key(&'a str),
    /// A portal session, with or without its CSRF header.
    Session(&'a Client, bool),
    /// A session with a wrong CSRF header.
    WrongCsrf(&'a Client),
}

/// A request body: media type and bytes.
type Payload = Option<(&'static str, Vec<u8>)>;

fn json_body(v: Value) -> Payload {
    Some(("application/json", v.to_string().into_bytes()))
}

async fn call(p: &Portal, method: Method, path: &str, auth: Auth<'_>, body: Payload) -> Resp {
    let mut req = Request::builder().method(method).uri(path);
    match auth {
        Auth::None => {}
        Auth::Key(k) => req = req.header(header::AUTHORIZATION, format!("Bearer {k}")),
        Auth::Session(c, with_csrf) => {
            req = req.header(header::COOKIE, &c.cookie);
            if with_csrf {
                req = req.header("x-csrf-token", &c.csrf);
            }
        }
        Auth::WrongCsrf(c) => {
            req = req
                .header(header::COOKIE, &c.cookie)
                .header("x-csrf-token", "0".repeat(64));
        }
    }
    let body = match body {
        Some((ctype, bytes)) => {
            req = req.header(header::CONTENT_TYPE, ctype);
            Body::from(bytes)
        }
        None => Body::empty(),
    };
    p.send(req.body(body).expect("request")).await
}

fn parsed(r: &Resp) -> Value {
    serde_json::from_slice(&r.bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body))
}

/// The response is an RFC 9457 problem of this type and status.
fn assert_problem(r: &Resp, status: StatusCode, slug: &str, ctx: &str) {
    assert_eq!(r.status, status, "{ctx}: {}", r.body);
    assert_eq!(
        r.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "{ctx}"
    );
    let v = parsed(r);
    assert_eq!(
        v["type"],
        format!("https://hisp.example/problems/{slug}"),
        "{ctx}: {v}"
    );
    assert_eq!(v["status"], status.as_u16(), "{ctx}");
    assert!(v["title"].as_str().is_some_and(|t| !t.is_empty()), "{ctx}");
    assert!(v["detail"].as_str().is_some_and(|t| !t.is_empty()), "{ctx}");
    if status == StatusCode::UNAUTHORIZED {
        let www = r
            .headers
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(www.starts_with("Bearer"), "{ctx}: {www}");
    }
}

/// A key made the way an admin makes one; returns (id, key).
async fn key(p: &Portal, role: Role, addresses: &[&str]) -> (i64, String) {
    let (key, hash) = session::new_api_key().expect("key");
    let mut conn = p.env.hisp.conn().await.expect("conn");
    let listed: Vec<String> = addresses.iter().map(|a| (*a).to_string()).collect();
    let row = st::insert_api_key(
        &mut conn,
        &hash,
        "test",
        role,
        &listed,
        "test",
        p.env.hisp.now(),
    )
    .await
    .expect("insert key");
    (row.id, key)
}

/// Run the inbound worker's step until the queue is empty (local delivery,
/// then the MDNs it sends back).
async fn drain(p: &Portal) {
    let gw = &p.state.gw;
    for _ in 0..20 {
        let mut tx = p.env.hisp.store.begin().await.expect("begin");
        let rows = queue::claim_inbound(&mut tx, p.env.hisp.store.sealer(), gw.claim(16))
            .await
            .expect("claim");
        tx.commit().await.expect("commit");
        if rows.is_empty() {
            return;
        }
        for row in rows {
            gw.process_inbound(&row).await.expect("process");
        }
    }
    panic!("the inbound queue never emptied");
}

/// The audit log's (actor, action, subject) rows.
async fn audit(p: &Portal) -> Vec<(String, String, String)> {
    let mut conn = p.env.hisp.conn().await.expect("conn");
    hisp::audit::page(&mut conn, 0, 100_000)
        .await
        .expect("audit")
        .into_iter()
        .map(|r| (r.actor, r.action, r.subject))
        .collect()
}

fn addr(local: &str) -> String {
    format!("{local}@{DOMAIN}")
}

fn enc(s: &str) -> String {
    super::enc(s)
}

/// A self-signed CA certificate, PEM (a hand-added anchor).
fn anchor_pem() -> String {
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::extension::BasicConstraints;
    use openssl::x509::{X509Builder, X509NameBuilder};
    let key = PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey");
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", "API test anchor")
        .expect("cn");
    let name = name.build();
    let mut b = X509Builder::new().expect("builder");
    b.set_version(2).expect("version");
    b.set_serial_number(
        &BigNum::from_u32(7)
            .expect("bn")
            .to_asn1_integer()
            .expect("serial"),
    )
    .expect("serial");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(&key).expect("pubkey");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("t"))
        .expect("nb");
    b.set_not_after(&Asn1Time::days_from_now(365).expect("t"))
        .expect("na");
    b.append_extension(BasicConstraints::new().critical().ca().build().expect("bc"))
        .expect("ext");
    b.sign(&key, MessageDigest::sha256()).expect("sign");
    String::from_utf8(b.build().to_pem().expect("pem")).expect("utf8")
}

/// What every test starts from: two providers (`prov` and `other`, another
/// practice), a care manager, keys for each and an admin key, a revoked key,
/// a message each way between `prov` and `other`, and an alert each for
/// `care` and `care2`.
struct World {
    prov: (i64, String),
    other: (i64, String),
    care: (i64, String),
    admin: (i64, String),
    revoked: (i64, String),
    /// `prov`'s inbox message from `other`.
    inbox_id: i64,
    /// The Message-ID of what `prov` sent to `other`.
    sent_mid: String,
    /// `other`'s inbox message from `prov`.
    other_inbox_id: i64,
    /// `care`'s alert and `care2`'s.
    alert: i64,
    other_alert: i64,
}

async fn world(p: &Portal) -> World {
    for (local, role) in [
        ("prov", Role::Provider),
        ("other", Role::Provider),
        ("care", Role::CareManager),
        ("care2", Role::CareManager),
    ] {
        p.address(local, role).await;
    }
    let prov = key(p, Role::Provider, &[&addr("prov")]).await;
    let other = key(p, Role::Provider, &[&addr("other")]).await;
    let care = key(p, Role::CareManager, &[&addr("care")]).await;
    let admin = key(p, Role::Admin, &[]).await;
    let revoked = key(p, Role::Provider, &[&addr("prov")]).await;
    {
        let mut conn = p.env.hisp.conn().await.expect("conn");
        assert!(
            st::revoke_api_key(&mut conn, revoked.0, p.env.hisp.now())
                .await
                .expect("revoke")
        );
    }
    let sent = send(p, &prov.1, "prov", "other", "Referral for A. Patient").await;
    send(p, &other.1, "other", "prov", "Re: your referral").await;
    drain(p).await;
    let inbox_id = first_inbox(p, &prov.1, "prov").await;
    let other_inbox_id = first_inbox(p, &other.1, "other").await;
    World {
        prov,
        other,
        care,
        admin,
        revoked,
        inbox_id,
        sent_mid: sent["message_id"].as_str().expect("message_id").to_string(),
        other_inbox_id,
        alert: alert(p, "care", "ADMIT-1").await,
        other_alert: alert(p, "care2", "ADMIT-2").await,
    }
}

async fn send(p: &Portal, key: &str, from: &str, to: &str, subject: &str) -> Value {
    let r = call(
        p,
        Method::POST,
        "/api/v1/messages",
        Auth::Key(key),
        json_body(json!({
            "from": addr(from), "to": [addr(to)], "subject": subject,
            "body": "Please see the attached summary.",
            "attachments": [{"name": "ccd.xml", "data_base64": "PENsaW5pY2FsRG9jdW1lbnQvPg=="}],
        })),
    )
    .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}: {}", p.engine(), r.body);
    parsed(&r)
}

async fn first_inbox(p: &Portal, key: &str, local: &str) -> i64 {
    let r = call(
        p,
        Method::GET,
        &format!("/api/v1/messages?address={}", enc(&addr(local))),
        Auth::Key(key),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    parsed(&r)[0]["id"]
        .as_i64()
        .expect("a message in the inbox")
}

/// File an alert for `local` (as the notify worker would).
async fn alert(p: &Portal, local: &str, visit: &str) -> i64 {
    let h = &p.env.hisp;
    let mut tx = h.store.begin().await.expect("begin");
    let enc = notify::encounter(&mut tx, "GENERAL", visit, None, h.now())
        .await
        .expect("encounter");
    let a = notify::NewAlert {
        subscriber: &addr(local),
        encounter_id: enc.id,
        change_key: "admit",
        event: "admit",
        program: Some("CHF"),
        facility: "GENERAL",
        summary: "DOE, JANE (1950-01-01) admitted to General",
        roster_entry_id: Some(0),
        event_time: "20261122140500",
        patient: None,
        withholding: None,
        record: None,
    };
    let id = notify::insert_alert(&mut tx, h.store.sealer(), &a, h.now())
        .await
        .expect("alert")
        .expect("new alert");
    tx.commit().await.expect("commit");
    id
}

/// A bundle to refresh: a file that is not there, so a refresh fails (and
/// says so) without any network.
async fn bundle(p: &Portal) -> i64 {
    let mut tx = p.env.hisp.store.begin().await.expect("begin");
    let d = hisp::store::domains::get(&mut tx, &p.env.domain())
        .await
        .expect("domain");
    let url = p
        .env
        .dir
        .path()
        .join("missing-bundle.p7b")
        .display()
        .to_string();
    let b = hisp::store::anchors::NewBundle {
        domain_id: d.id,
        url: &url,
        incoming: true,
        outgoing: true,
        refresh_secs: 0,
        signer_der: None,
    };
    let row = hisp::store::anchors::insert_bundle(&mut tx, &b, p.env.hisp.now())
        .await
        .expect("bundle");
    tx.commit().await.expect("commit");
    row.id
}

const CSV: &str = "patient_id,assigning_authority,family_name,given_name,birth_date,sex\n\
                   MRN-1,GENERAL,Doe,Jane,19500101,F\n\
                   MRN-2,GENERAL,Roe,Rick,notadate,M\n";

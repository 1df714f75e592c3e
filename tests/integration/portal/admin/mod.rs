//! The admin's pages: every route refuses providers and care managers and
//! forms without the session's token; an admin issues addresses and the new
//! users exchange a message through the portal alone; the dashboard's counts
//! match the store; the audit page verifies the chain (and notices a forged
//! row) and filters and pages the log; API keys are shown once and stored
//! hashed; password and two-factor resets end sessions; trust anchors and
//! bundles, feeds and consent are managed through the pages.

mod access;
mod accounts;
mod operations;

use std::sync::Arc;

use axum::http::StatusCode;
use hisp::direct::{DirectAddress, Domain};
use hisp::ops::agent::NoRemote;
use hisp::ops::trust::BundleSpec;
use hisp::smtp::Gateway;
use hisp::smtp::submit::{Submission, Submitted};
use hisp::store::queue;
use hisp::store::users::Role;
use hisp::store::{addresses, stats, users, web as st};
use hisp::telemetry::Metrics;
use hisp::web::AppState;
use openssl::x509::X509;
use sqlx::Row;

use super::{Client, Portal, Resp, set_cookie};
use crate::harness::{self, DOMAIN};

/// The admin every test signs in as.
const ADMIN: &str = "root";
/// The password new users choose after their one-time one.
const CHOSEN: &str = "a long chosen passphrase";
/// What a refused role sees.
const FORBIDDEN: &str = "You do not have access";
/// What a form without the session's token gets.
const STALE_FORM: &str = "reload the page";

/// A portal whose gateway finds no certificate for any remote recipient, so
/// a message to another HISP fails at once (5.7.31) without touching DNS.
async fn portal(env: harness::Env) -> Portal {
    let gw = Gateway::with_remote(env.hisp.clone(), Arc::new(NoRemote));
    let state = AppState::new(gw, Arc::new(Metrics::default()));
    Portal { env, state }
}

/// One such portal per engine.
async fn portals() -> Vec<Portal> {
    let mut out = Vec::new();
    for env in harness::envs().await {
        out.push(portal(env).await);
    }
    out
}

/// Sign the admin in (enrolling TOTP the first time).
async fn admin(p: &Portal) -> Client {
    p.user(ADMIN, Role::Admin).await;
    p.sign_in(ADMIN).await
}

fn addr(local: &str) -> DirectAddress {
    DirectAddress::parse(&format!("{local}@{DOMAIN}")).expect("address")
}

async fn audit_rows(p: &Portal) -> i64 {
    count(p, "SELECT COUNT(*) FROM audit_log").await
}

/// A self-signed EC certificate (a stand-in trust anchor).
fn anchor_cert(cn: &str) -> X509 {
    use openssl::asn1::Asn1Time;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::X509NameBuilder;
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("group");
    let key = PKey::from_ec_key(EcKey::generate(&group).expect("ec")).expect("key");
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", cn).expect("cn");
    let name = name.build();
    let mut b = X509::builder().expect("builder");
    b.set_version(2).expect("version");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(&key).expect("pubkey");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("t"))
        .expect("nb");
    b.set_not_after(&Asn1Time::days_from_now(365).expect("t"))
        .expect("na");
    b.sign(&key, MessageDigest::sha256()).expect("sign");
    b.build()
}

/// Sign in with a one-time password: the portal sends the user to choose
/// their own, and after that lets them in.
async fn first_sign_in(p: &Portal, username: &str, otp: &str) -> Client {
    let page = p.get(None, "/signin").await;
    let pre = set_cookie(&page.headers, "hisp_pre").expect("pre cookie");
    let anon = Client {
        cookie: format!("hisp_pre={pre}"),
        csrf: page.input("csrf").expect("csrf"),
        totp: None,
    };
    let r = p
        .post(
            Some(&anon),
            "/signin",
            &[("username", username), ("password", otp)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let token = set_cookie(&r.headers, "hisp_session").expect("session");
    let mut c = Client {
        cookie: format!("hisp_session={token}"),
        ..Client::default()
    };
    let home = p.get(Some(&c), r.location()).await;
    assert_eq!(
        (home.status, home.location()),
        (StatusCode::SEE_OTHER, "/password"),
        "a one-time password must be changed first"
    );
    assert_eq!(p.get(Some(&c), "/mail").await.location(), "/password");
    let form = p.get(Some(&c), "/password").await;
    assert!(form.body.contains("one-time password"), "{}", form.body);
    c.csrf = form.input("csrf").expect("csrf");
    let done = p
        .post(
            Some(&c),
            "/password",
            &[("current", otp), ("new", CHOSEN), ("confirm", CHOSEN)],
        )
        .await;
    assert_eq!(done.location(), "/", "{}", done.body);
    c
}

/// Run the inbound worker's step until the queue is empty.
async fn deliver(p: &Portal) {
    let gw = &p.state.gw;
    for _ in 0..10 {
        let mut conn = p.env.hisp.conn().await.expect("conn");
        let rows = queue::claim_inbound(&mut conn, p.env.hisp.store.sealer(), gw.claim(16))
            .await
            .expect("claim");
        drop(conn);
        if rows.is_empty() {
            return;
        }
        for r in &rows {
            gw.process_inbound(r).await.expect("processed");
        }
    }
    panic!("the inbound queue never emptied");
}

/// Send a plain message from `from` to `to` through the gateway.
async fn send(p: &Portal, from: &DirectAddress, to: &DirectAddress, n: u32) -> Submitted {
    let msg = crate::smtp::message(from, &[to], "Counts", &format!("<c{n}@{DOMAIN}>"));
    p.state
        .gw
        .submit(&Submission {
            mail_from: from,
            rcpts: std::slice::from_ref(to),
            message: &msg,
            actor: "test",
            sent_copy: true,
            final_delivery: hisp::smtp::submit::FinalDelivery::Always,
        })
        .await
        .expect("submitted")
}

/// One `COUNT(*)`, straight from the store.
async fn count(p: &Portal, sql: &'static str) -> i64 {
    let mut conn = p.env.hisp.conn().await.expect("conn");
    sqlx::query(sql)
        .fetch_one(&mut *conn)
        .await
        .expect("count")
        .try_get(0)
        .expect("n")
}

/// The id of the user `name`.
async fn user_id(p: &Portal, name: &str) -> i64 {
    let mut conn = p.env.hisp.conn().await.expect("conn");
    users::find(&mut conn, name)
        .await
        .expect("query")
        .expect("user")
        .id
}

/// The "Older entries" link of an audit page.
fn older_link(page: &Resp) -> Option<String> {
    let end = page.body.find("\" rel=\"next\"")?;
    let start = page.body[..end].rfind("href=\"")? + 6;
    Some(
        page.body[start..end]
            .replace("&#x2f;", "/")
            .replace("&amp;", "&"),
    )
}

/// The number in `<dd id="{id}">` on the dashboard.
fn number(page: &Resp, id: &str) -> i64 {
    let at = page
        .body
        .find(&format!("id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no {id} on the page"));
    let rest = &page.body[at + id.len() + 6..];
    let digits: String = rest
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().expect("a number")
}

/// The `aria-label` of the chart titled `title`.
fn chart_label(page: &Resp, title: &str) -> String {
    let needle = format!("aria-label=\"{title}: ");
    let at = page
        .body
        .find(&needle)
        .unwrap_or_else(|| panic!("no chart '{title}'"));
    let rest = &page.body[at + 12..];
    rest[..rest.find('"').expect("end")].to_string()
}

/// The label the charts give the day of `t`.
fn day_label(t: i64) -> String {
    let (_, m, d, _, _) = hisp::web::templates::civil(t);
    format!("{m:02}-{d:02}")
}

/// The chart label for 14 days ending at `now` with `counts` on the last days.
fn expected_label(title: &str, now: i64, last: &[u64]) -> String {
    let days: Vec<String> = (0..14)
        .map(|i| {
            let back = 13 - i;
            let n = if back < last.len() {
                last[last.len() - 1 - back]
            } else {
                0
            };
            format!(
                "{} {n}",
                day_label(now - i64::try_from(back).expect("i") * 86_400)
            )
        })
        .collect();
    format!("{title}: {}", days.join(", "))
}

//! The care manager's pages on every engine: access (a provider is refused
//! everywhere; one care manager never sees another's alerts or roster), CSRF
//! on every form, the roster upload's row-level report, and real ADT
//! messages from the shared corpus becoming alerts in the worklist, with the
//! patient's timeline, a status change and the audit trail.

use axum::http::StatusCode;
use hisp::direct::DirectAddress;
use hisp::notify::Notifier;
use hisp::store::users::{self, Role};
use hisp::store::{addresses, domains, notify};

use super::{Client, Portal, Resp};
use crate::smtp::wait_for;

const HEADER: &str = "patient_id,assigning_authority,family_name,given_name,birth_date,sex,postal_code,phone,program,end_date\n";

/// Donald Duck as the corpus's ADT messages name him (PID-3 `10006579^^^1`).
const DUCK: &str = "10006579,1,Duck,Donald,1924-10-10,M,,,Care Transitions,\n";

/// A care manager with their own address, signed in.
async fn care_manager(p: &Portal, local: &str) -> (DirectAddress, Client) {
    let addr = p.address(local, Role::CareManager).await;
    let c = p.sign_in(&addr.to_string()).await;
    (addr, c)
}

/// A file of the shared HL7 corpus, read in place (never copied).
fn corpus(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/hl7")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Receive ADT messages as the MLLP listener would, then run the notify
/// worker until every one is processed.
async fn process(p: &Portal, messages: &[Vec<u8>]) {
    receive(p, messages).await;
    drain(p).await;
}

/// Receive ADT messages as the MLLP listener would (each ACKed AA), with
/// no worker running: a backlog.
async fn receive(p: &Portal, messages: &[Vec<u8>]) {
    let n = Notifier::new(p.state.gw.clone());
    for m in messages {
        let ack = n
            .receive(m, std::net::IpAddr::from(std::net::Ipv4Addr::LOCALHOST))
            .await;
        assert!(ack.contains("MSA|AA"), "{}: {ack}", p.engine());
    }
}

/// Run the notify worker until every received message is processed.
async fn drain(p: &Portal) {
    let n = Notifier::new(p.state.gw.clone());
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(hisp::notify::process::run(n, stop));
    wait_for(60, "every ADT message processed", || async {
        let mut conn = p.env.hisp.conn().await.expect("conn");
        let left: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM adt_messages WHERE state <> 'done'")
                .fetch_one(&mut *conn)
                .await
                .expect("count");
        (left == 0).then_some(())
    })
    .await;
    let _ = stop_tx.send(true);
    worker.await.expect("worker");
}

async fn audited(p: &Portal, actor: &str, action: &str, subject: &str) -> bool {
    let mut conn = p.env.hisp.conn().await.expect("conn");
    hisp::audit::page(&mut conn, 0, 100_000)
        .await
        .expect("audit")
        .iter()
        .any(|r| r.actor == actor && r.action == action && r.subject == subject)
}

async fn entries(p: &Portal, owner: &DirectAddress) -> Vec<notify::RosterEntry> {
    let mut conn = p.env.hisp.conn().await.expect("conn");
    notify::entries(
        &mut conn,
        p.env.hisp.store.sealer(),
        Some(&owner.to_string()),
        p.env.hisp.now(),
    )
    .await
    .expect("entries")
}

async fn upload(
    p: &Portal,
    c: &Client,
    owner: &DirectAddress,
    csv: &str,
    extra: &[(&str, &str)],
) -> Resp {
    let owner = owner.to_string();
    let mut fields = vec![("owner", owner.as_str())];
    fields.extend_from_slice(extra);
    p.post_multipart(
        c,
        "/rosters",
        &fields,
        &[("file", "panel.csv", csv.as_bytes())],
    )
    .await
}

/// The ids of the alert links on a worklist page.
fn alert_ids(page: &str) -> Vec<i64> {
    page.match_indices("href=\"/alerts/")
        .filter_map(|(at, m)| {
            let rest = &page[at + m.len()..];
            rest[..rest.find('"')?].parse().ok()
        })
        .collect()
}

#[tokio::test]
async fn providers_are_refused_and_care_managers_see_only_their_own_on_every_engine() {
    for p in Portal::all().await {
        let e = p.engine();
        let (a, ca) = care_manager(&p, "anna").await;
        let (b, cb) = care_manager(&p, "bert").await;
        let prov = p.address("pat", Role::Provider).await;
        let cp = p.sign_in(&prov.to_string()).await;

        // A's roster, and an alert for A filed the way the worker files one.
        let r = upload(&p, &ca, &a, &format!("{HEADER}{DUCK}"), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
        let entry = entries(&p, &a).await.pop().expect("A's entry");
        let mut conn = p.env.hisp.conn().await.expect("conn");
        let id = notify::insert_alert(
            &mut conn,
            p.env.hisp.store.sealer(),
            &notify::NewAlert {
                subscriber: &a.to_string(),
                encounter_id: 1,
                change_key: "ed#1",
                event: "ed",
                program: Some("Care Transitions"),
                facility: "northhosp",
                summary: "Encounter notification: ED visit\n\nPatient: Duck, Donald\nBorn: 19241010  Sex: M\n",
                roster_entry_id: Some(entry.id),
                event_time: "20261122055900",
                patient: None,
                withholding: None,
                record: None,
            },
            p.env.hisp.now(),
        )
        .await
        .expect("insert")
        .expect("new alert");
        drop(conn);
        let detail = format!("/alerts/{id}");
        let status_url = format!("{detail}/status");

        // A provider is refused on every route, forms included.
        let owner = a.to_string();
        let refused = [
            p.get(Some(&cp), "/alerts").await,
            p.get(Some(&cp), &detail).await,
            p.post(Some(&cp), &status_url, &[("status", "completed")])
                .await,
            p.get(Some(&cp), "/rosters").await,
            upload(&p, &cp, &a, &format!("{HEADER}{DUCK}"), &[]).await,
            p.post(
                Some(&cp),
                "/subscription",
                &[("owner", &owner), ("mode", "digest")],
            )
            .await,
        ];
        for (i, r) in refused.iter().enumerate() {
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{e} route {i}: {}", r.body);
            assert!(r.body.contains("do not have access"), "{e} route {i}");
            assert!(!r.body.contains("Duck"), "{e} route {i}");
        }

        // A sees the alert and the roster.
        let list = p.get(Some(&ca), "/alerts").await;
        assert_eq!(list.status, StatusCode::OK, "{e}: {}", list.body);
        assert_eq!(alert_ids(&list.body), vec![id], "{e}");
        assert!(list.body.contains("Duck, Donald"), "{e}");
        assert_eq!(
            list.headers.get("cache-control").map(|v| v.to_str().ok()),
            Some(Some("no-store")),
            "{e}"
        );
        assert_eq!(
            p.get(Some(&ca), &detail).await.status,
            StatusCode::OK,
            "{e}"
        );

        // B sees none of it: an empty worklist, "not found" for the alert
        // and for a change to it, and only B's own (empty) roster.
        for status in ["new", "in-progress", "completed", "all"] {
            let l = p.get(Some(&cb), &format!("/alerts?status={status}")).await;
            assert_eq!(l.status, StatusCode::OK, "{e}");
            assert!(alert_ids(&l.body).is_empty(), "{e} {status}: {}", l.body);
            assert!(!l.body.contains("Duck"), "{e} {status}");
        }
        let peek = p.get(Some(&cb), &detail).await;
        assert_eq!(peek.status, StatusCode::NOT_FOUND, "{e}");
        assert!(!peek.body.contains("Duck"), "{e}");
        let change = p
            .post(Some(&cb), &status_url, &[("status", "completed")])
            .await;
        assert_eq!(change.status, StatusCode::NOT_FOUND, "{e}");
        let rosters = p.get(Some(&cb), "/rosters").await;
        assert_eq!(rosters.status, StatusCode::OK, "{e}");
        assert!(rosters.body.contains(&b.to_string()), "{e}");
        assert!(
            !rosters.body.contains(&a.to_string()),
            "{e}: {}",
            rosters.body
        );
        assert!(!rosters.body.contains("Duck"), "{e}");
        // B cannot upload to A's roster nor change A's delivery.
        let into_a = upload(
            &p,
            &cb,
            &a,
            &format!("{HEADER}{DUCK}"),
            &[("replace", "on")],
        )
        .await;
        assert_eq!(into_a.status, StatusCode::NOT_FOUND, "{e}");
        let delivery = p
            .post(
                Some(&cb),
                "/subscription",
                &[("owner", &owner), ("mode", "digest")],
            )
            .await;
        assert_eq!(delivery.status, StatusCode::NOT_FOUND, "{e}");
        assert_eq!(entries(&p, &a).await.len(), 1, "{e}");

        // CSRF: every form refused without the session's token, nothing changed.
        let bad = "0".repeat(64);
        let forged = p
            .post(
                Some(&ca),
                &status_url,
                &[("csrf", &bad), ("status", "completed")],
            )
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{e}");
        assert!(forged.body.contains("reload the page"), "{e}");
        let forged = upload(&p, &ca, &a, HEADER, &[("csrf", &bad), ("replace", "on")]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{e}");
        assert!(forged.body.contains("reload the page"), "{e}");
        let forged = p
            .post(
                Some(&ca),
                "/subscription",
                &[("csrf", ""), ("owner", &owner), ("mode", "digest")],
            )
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{e}");
        let mut conn = p.env.hisp.conn().await.expect("conn");
        let rows = notify::alerts(&mut conn, Some(&owner))
            .await
            .expect("alerts");
        assert_eq!(rows[0].status, "new", "{e}: no forged change");
        assert!(
            notify::digest_subscribers(&mut conn)
                .await
                .expect("subs")
                .is_empty(),
            "{e}"
        );
        drop(conn);
        assert_eq!(entries(&p, &a).await.len(), 1, "{e}: no forged replace");

        // With the token, the delivery choice is saved and shown.
        let saved = p
            .post(
                Some(&ca),
                "/subscription",
                &[("owner", &owner), ("mode", "digest")],
            )
            .await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{e}: {}", saved.body);
        let page = p.get(Some(&ca), saved.location()).await;
        assert!(page.body.contains("Alert delivery saved"), "{e}");
        assert!(
            page.body.contains("value=\"digest\" checked"),
            "{e}: {}",
            page.body
        );
        let mut conn = p.env.hisp.conn().await.expect("conn");
        assert_eq!(
            notify::digest_subscribers(&mut conn).await.expect("subs"),
            vec![owner.clone()],
            "{e}"
        );
        drop(conn);
        assert!(
            audited(&p, &owner, "subscription.mode", &owner).await,
            "{e}"
        );
    }
}

#[tokio::test]
async fn roster_upload_reports_bad_rows_and_applies_the_good_ones_on_every_engine() {
    for p in Portal::all().await {
        let e = p.engine();
        let (a, ca) = care_manager(&p, "anna").await;
        let csv = format!(
            "{HEADER}{DUCK}MRN2,NORTH,Roe,John,1970-03-04,M,06102,,Care Transitions,\n\
             MRN3,NORTH,Poe,Sam,1965-05-05,Q,,,Care Transitions,\n"
        );
        let r = upload(&p, &ca, &a, &csv, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
        assert!(r.body.contains("2 of 3 rows applied"), "{e}: {}", r.body);
        assert!(
            r.body.contains("<tr><td>4</td><td>sex must be")
                && r.body.contains("</td><td>sex</td></tr>"),
            "{e}: the report names row 4 and its column: {}",
            r.body
        );
        assert_eq!(entries(&p, &a).await.len(), 2, "{e}");
        // The roster is on the same page, with its expiry dates.
        assert!(r.body.contains("Roe, John"), "{e}");
        assert!(
            !r.body.contains("Poe, Sam"),
            "{e}: the bad row was not applied"
        );

        // All or nothing: the same file applies no row.
        let strict = upload(&p, &ca, &a, &csv, &[("replace", "on"), ("strict", "on")]).await;
        assert_eq!(strict.status, StatusCode::OK, "{e}");
        assert!(
            strict.body.contains("Nothing was applied"),
            "{e}: {}",
            strict.body
        );
        assert_eq!(entries(&p, &a).await.len(), 2, "{e}");
        // A patient listed twice is a row problem like any other: the
        // later row is reported, and with strict nothing is applied.
        let twice = format!(
            "{HEADER}MRN4,NORTH,Lee,Ann,1990-01-01,F,,,CHF,\n\
             MRN4,NORTH,Lee,Ann,1990-01-01,F,,,COPD,\n"
        );
        let strict = upload(&p, &ca, &a, &twice, &[("strict", "on")]).await;
        assert!(
            strict.body.contains("Nothing was applied")
                && strict.body.contains("the same patient as row 2"),
            "{e}: {}",
            strict.body
        );
        assert_eq!(entries(&p, &a).await.len(), 2, "{e}");

        // Files that are no roster get a sentence saying what to do.
        let owner = a.to_string();
        let pdf = p
            .post_multipart(
                &ca,
                "/rosters",
                &[("owner", &owner)],
                &[("file", "panel.pdf", b"%PDF-1.7\n\0\x01binary")],
            )
            .await;
        assert_eq!(pdf.status, StatusCode::BAD_REQUEST, "{e}");
        assert!(pdf.body.contains("is not a CSV file"), "{e}: {}", pdf.body);
        assert!(pdf.body.contains("role=\"alert\""), "{e}");
        let empty = p
            .post_multipart(
                &ca,
                "/rosters",
                &[("owner", &owner)],
                &[("file", "panel.csv", b"")],
            )
            .await;
        assert_eq!(empty.status, StatusCode::BAD_REQUEST, "{e}");
        assert!(empty.body.contains("is empty"), "{e}: {}", empty.body);
        let none = p
            .post_multipart(&ca, "/rosters", &[("owner", &owner)], &[])
            .await;
        assert_eq!(none.status, StatusCode::BAD_REQUEST, "{e}");
        assert!(none.body.contains("Choose a CSV file"), "{e}");
        // A first row naming none of the columns is answered without
        // echoing it (without a header it is the first patient).
        let headless = upload(&p, &ca, &a, "name,dob\nDoe,1980\n", &[]).await;
        assert_eq!(headless.status, StatusCode::BAD_REQUEST, "{e}");
        assert!(
            headless.body.contains("names none of the columns") && !headless.body.contains("dob"),
            "{e}: {}",
            headless.body
        );
        let misspelt = upload(
            &p,
            &ca,
            &a,
            "patient_id,assigning_authority,family_name,given_name,dob,sex\n",
            &[],
        )
        .await;
        assert_eq!(misspelt.status, StatusCode::BAD_REQUEST, "{e}");
        assert!(
            misspelt.body.contains("unknown column"),
            "{e}: {}",
            misspelt.body
        );
        assert_eq!(entries(&p, &a).await.len(), 2, "{e}");
        assert!(audited(&p, &owner, "roster.import", &owner).await, "{e}");
        assert!(audited(&p, &owner, "roster.view", &owner).await, "{e}");

        // Close to ageing out: marked on the page (signed in again, since
        // the session idled out while the clock moved).
        p.env
            .clock
            .advance(i64::from(p.env.hisp.config.notify.roster_expiry_days - 10) * 86_400);
        let ca = p.sign_in(&owner).await;
        let page = p.get(Some(&ca), "/rosters").await;
        assert!(page.body.contains("2 expiring soon"), "{e}: {}", page.body);
        assert!(
            page.body.contains("expires in 10 days"),
            "{e}: {}",
            page.body
        );

        // Expired entries are kept for `roster_archive_days`, then an
        // import (or the daily sweep) deletes them.
        let all = || async {
            let mut conn = p.env.hisp.conn().await.expect("conn");
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM roster_entries")
                .fetch_one(&mut *conn)
                .await
                .expect("count")
        };
        let more = format!("{HEADER}N1,NORTH,Nash,Nia,1990-01-01,F,,,,\n");
        p.env.clock.advance(11 * 86_400);
        let ca = p.sign_in(&owner).await;
        let r = upload(&p, &ca, &a, &more, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
        assert_eq!(all().await, 3, "{e}: the two expired ones are archived");
        let archive = p.env.hisp.config.notify.roster_archive_days;
        p.env.clock.advance(i64::from(archive) * 86_400);
        let ca = p.sign_in(&owner).await;
        let r = upload(&p, &ca, &a, &more, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
        assert_eq!(
            all().await,
            2,
            "{e}: the first two are gone; Nia's first entry, expired 90 days ago, is \
             archived beside her new one"
        );
        assert!(audited(&p, &owner, "roster.purge", "rosters").await, "{e}");
    }
}

#[tokio::test]
async fn a_disabled_address_takes_no_roster_upload_on_every_engine() {
    for p in Portal::all().await {
        let e = p.engine();
        let (a, ca) = care_manager(&p, "anna").await;
        // Anna also manages a second practice's address, since disabled
        // (her login stays: it owns another address).
        let second =
            DirectAddress::parse(&format!("anna.two@{}", crate::harness::DOMAIN)).expect("address");
        {
            let mut conn = p.env.hisp.conn().await.expect("conn");
            let user = users::find(&mut conn, &a.to_string())
                .await
                .expect("user")
                .expect("anna");
            let domain = domains::find(&mut conn, second.domain())
                .await
                .expect("domain")
                .expect("served");
            let now = p.env.hisp.now();
            addresses::insert(&mut conn, &second, domain.id, None, Some(user.id), now)
                .await
                .expect("second address");
        }
        let csv = format!("{HEADER}{DUCK}");
        let r = upload(&p, &ca, &second, &csv, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
        p.env
            .hisp
            .address_disable(&second, "test")
            .await
            .expect("disable");
        let more = format!("{HEADER}MRN2,NORTH,Roe,John,1970-03-04,M,06102,,,\n");
        let r = upload(&p, &ca, &second, &more, &[]).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{e}: {}", r.body);
        assert!(
            r.body.contains("role=\"alert\"") && r.body.contains("anna.two@"),
            "{e}: {}",
            r.body
        );
        assert!(r.body.contains("is disabled"), "{e}: {}", r.body);
        assert_eq!(entries(&p, &second).await.len(), 1, "{e}: kept, unchanged");
        // Her enabled address still takes one.
        let r = upload(&p, &ca, &a, &more, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
        assert_eq!(entries(&p, &a).await.len(), 1, "{e}");
        // Her last enabled address disabled: her login goes with it, so she
        // no longer reads either practice's alerts or rosters.
        p.env
            .hisp
            .address_disable(&a, "test")
            .await
            .expect("disable");
        let mut conn = p.env.hisp.conn().await.expect("conn");
        let user = users::find(&mut conn, &a.to_string())
            .await
            .expect("user")
            .expect("anna");
        assert!(!user.enabled, "{e}: the login is disabled");
    }
}

#[tokio::test]
async fn a_corpus_adt_becomes_an_alert_in_the_worklist_with_its_timeline_on_every_engine() {
    for p in Portal::all().await {
        let e = p.engine();
        let (a, ca) = care_manager(&p, "anna").await;
        let (_, cb) = care_manager(&p, "bert").await;
        let owner = a.to_string();
        good_health_feed(&p).await;
        let r = upload(&p, &ca, &a, &format!("{HEADER}{DUCK}"), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);

        // The corpus's admission, then its discharge of the same visit.
        process(
            &p,
            &[
                corpus("hl7-parser/sample_adt_a01.hl7"),
                corpus("hl7-parser/sample_adt_a03.hl7"),
            ],
        )
        .await;
        let list = p.get(Some(&ca), "/alerts").await;
        assert_eq!(list.status, StatusCode::OK, "{e}: {}", list.body);
        let ids = alert_ids(&list.body);
        assert_eq!(ids.len(), 2, "{e}: admission and discharge: {}", list.body);
        assert!(list.body.contains("DUCK, DONALD"), "{e}: {}", list.body);
        assert!(list.body.contains("Good Health Hospital"), "{e}");
        assert!(
            list.body.contains("New <span class=\"badge\">2</span>"),
            "{e}"
        );
        // Newest first: the discharge is listed before the admission.
        let (discharge, admit) = (ids[0], ids[1]);

        // Filters: by event, facility and program, and a date range.
        let only = p.get(Some(&ca), "/alerts?status=all&event=discharge").await;
        assert_eq!(alert_ids(&only.body), vec![discharge], "{e}");
        let only = p
            .get(
                Some(&ca),
                "/alerts?status=all&facility=1&program=Care+Transitions",
            )
            .await;
        assert_eq!(alert_ids(&only.body).len(), 2, "{e}");
        let only = p.get(Some(&ca), "/alerts?status=all&program=Other").await;
        assert!(alert_ids(&only.body).is_empty(), "{e}");
        let only = p
            .get(Some(&ca), "/alerts?status=all&until=2000-01-01")
            .await;
        assert!(
            alert_ids(&only.body).is_empty(),
            "{e}: filed today, not before 2000"
        );
        let bad = p.get(Some(&ca), "/alerts?status=all&since=yesterday").await;
        assert!(bad.body.contains("Use the format 2026-11-22"), "{e}");

        // The detail: the summary, the event, and the patient's timeline in
        // event order (admission, then discharge).
        let page = p.get(Some(&ca), &format!("/alerts/{admit}")).await;
        assert_eq!(page.status, StatusCode::OK, "{e}: {}", page.body);
        assert!(
            page.body.contains("Patient: DUCK, DONALD"),
            "{e}: {}",
            page.body
        );
        assert!(page.body.contains("Admission"), "{e}");
        assert!(page.body.contains("2005-01-10 04:55"), "{e}: event time");
        let timeline = &page.body[page.body.find("Encounter timeline").expect("timeline")..];
        let (first, second) = (
            timeline.find("Admission").expect("admission in timeline"),
            timeline
                .find(&format!("href=\"/alerts/{discharge}\""))
                .expect("discharge linked"),
        );
        assert!(first < second, "{e}: oldest event first: {timeline}");
        assert!(
            audited(&p, &owner, "alert.view", &format!("alert {admit}")).await,
            "{e}"
        );
        assert!(audited(&p, &owner, "alert.list", &owner).await, "{e}");
        // The listing's audit names the alerts it showed, and the detail's
        // the timeline's too (the page shows their summaries).
        let mut conn = p.env.hisp.conn().await.expect("conn");
        let rows = hisp::audit::page(&mut conn, 0, 100_000)
            .await
            .expect("audit");
        drop(conn);
        let details = |action: &str, subject: &str| -> Vec<String> {
            rows.iter()
                .filter(|r| r.action == action && r.subject == subject)
                .map(|r| r.detail.clone())
                .collect()
        };
        let listed = details("alert.list", &owner);
        let viewed = details("alert.view", &format!("alert {admit}"));
        let names = |d: &str, id: i64| {
            d.split_once(": ")
                .is_some_and(|(_, ids)| ids.split(", ").any(|x| x == id.to_string()))
        };
        for audited in [&listed, &viewed] {
            assert!(
                audited
                    .iter()
                    .any(|d| names(d, admit) && names(d, discharge)),
                "{e}: {audited:?}"
            );
        }
        // Another care manager cannot open it.
        assert_eq!(
            p.get(Some(&cb), &format!("/alerts/{admit}")).await.status,
            StatusCode::NOT_FOUND,
            "{e}"
        );

        // Status: in progress, and the worklist's tabs follow.
        let moved = p
            .post(
                Some(&ca),
                &format!("/alerts/{admit}/status"),
                &[("status", "in-progress")],
            )
            .await;
        assert_eq!(moved.status, StatusCode::SEE_OTHER, "{e}: {}", moved.body);
        let page = p.get(Some(&ca), moved.location()).await;
        assert!(
            page.body.contains("Status saved: In progress"),
            "{e}: {}",
            page.body
        );
        let doing = p.get(Some(&ca), "/alerts?status=in-progress").await;
        assert_eq!(alert_ids(&doing.body), vec![admit], "{e}");
        assert_eq!(
            alert_ids(&p.get(Some(&ca), "/alerts").await.body),
            vec![discharge],
            "{e}"
        );
        let unknown = p
            .post(
                Some(&ca),
                &format!("/alerts/{admit}/status"),
                &[("status", "lost")],
            )
            .await;
        assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{e}");
        // The form says which status its page showed. A page loaded before
        // the change above (it showed New) cannot undo it: the change is
        // refused and the page says what the alert is now.
        let page = p.get(Some(&ca), &format!("/alerts/{admit}")).await;
        assert!(
            page.body
                .contains(r#"<input type="hidden" name="was" value="in-progress">"#),
            "{e}: {}",
            page.body
        );
        let stale = p
            .post(
                Some(&ca),
                &format!("/alerts/{admit}/status"),
                &[("status", "new"), ("was", "new")],
            )
            .await;
        assert_eq!(stale.status, StatusCode::SEE_OTHER, "{e}: {}", stale.body);
        let told = p.get(Some(&ca), stale.location()).await;
        assert!(
            told.body
                .contains("Someone else changed this alert to In progress"),
            "{e}: {}",
            told.body
        );
        assert!(!told.body.contains("Status saved"), "{e}");
        assert_eq!(
            alert_ids(&p.get(Some(&ca), "/alerts?status=in-progress").await.body),
            vec![admit],
            "{e}: the stale form changed nothing"
        );
        // A stale page that asks for what the alert already is loses
        // nothing, so it is saved.
        let same = p
            .post(
                Some(&ca),
                &format!("/alerts/{admit}/status"),
                &[("status", "in-progress"), ("was", "new")],
            )
            .await;
        assert!(same.location().ends_with("?saved=1"), "{e}");
        let mut conn = p.env.hisp.conn().await.expect("conn");
        let stored = notify::alerts(&mut conn, Some(&owner))
            .await
            .expect("alerts");
        let row = stored.iter().find(|x| x.id == admit).expect("row");
        assert_eq!(row.status, "in-progress", "{e}");
        drop(conn);
        assert!(
            audited(&p, &owner, "alert.status", &format!("alert {admit}")).await,
            "{e}"
        );
    }
}

/// The corpus's sending facility (MSH-4 `1`) registered as a feed.
async fn good_health_feed(p: &Portal) {
    p.env
        .hisp
        .feed_add(
            "1",
            "Good Health Hospital",
            false,
            &hisp::notify::allow::Allowed::any(),
            "test",
        )
        .await
        .expect("feed");
}

/// A late enrolment gets no retroactive alerts (STANDARDS.md §7): an
/// admission received before a care manager enrolled the patient, and
/// processed after (a backlog: the worker was behind or stopped), alerts
/// only the care manager whose entry was there when it came; the visit's
/// discharge, received after the enrolment, alerts both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_enrolled_after_a_message_came_is_not_alerted_about_it_on_every_engine() {
    for p in Portal::all().await {
        let e = p.engine();
        let (early, ce) = care_manager(&p, "early").await;
        let (late, cl) = care_manager(&p, "late").await;
        good_health_feed(&p).await;
        let r = upload(&p, &ce, &early, &format!("{HEADER}{DUCK}"), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
        p.env.clock.advance(60);
        receive(&p, &[corpus("hl7-parser/sample_adt_a01.hl7")]).await;
        p.env.clock.advance(60);
        let r = upload(&p, &cl, &late, &format!("{HEADER}{DUCK}"), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
        p.env.clock.advance(60);
        drain(&p).await;
        let events = |owner: &DirectAddress| {
            let owner = owner.to_string();
            let env = &p.env;
            async move {
                let mut conn = env.hisp.conn().await.expect("conn");
                let mut out: Vec<String> = notify::alerts(&mut conn, Some(&owner))
                    .await
                    .expect("alerts")
                    .into_iter()
                    .map(|a| a.event)
                    .collect();
                out.sort();
                out
            }
        };
        assert_eq!(events(&early).await, ["admit"], "{e}");
        assert!(
            events(&late).await.is_empty(),
            "{e}: enrolled after the admission came"
        );

        // The discharge came after both enrolments: news to both.
        process(&p, &[corpus("hl7-parser/sample_adt_a03.hl7")]).await;
        assert_eq!(events(&early).await, ["admit", "discharge"], "{e}");
        assert_eq!(events(&late).await, ["discharge"], "{e}");
    }
}

/// A care manager's re-import correcting a patient's MRN (without
/// `--replace`) adds a second entry for them, which the message's MRN now
/// names. Added after the admission came, it is a late enrolment's; the
/// entry the roster had when it came still matches, and is alerted.
#[tokio::test]
async fn an_entry_added_after_a_message_came_does_not_hide_the_one_it_matched_on_every_engine() {
    for p in Portal::all().await {
        let e = p.engine();
        let (owner, c) = care_manager(&p, "fix").await;
        good_health_feed(&p).await;
        // Known by name, birth date, sex, ZIP and phone; the MRN mistyped.
        let typo = "10006570,1,Duck,Donald,1924-10-10,M,99999,8885551212,Care Transitions,\n";
        let r = upload(&p, &c, &owner, &format!("{HEADER}{typo}"), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
        p.env.clock.advance(60);
        receive(&p, &[corpus("hl7-parser/sample_adt_a01.hl7")]).await;
        p.env.clock.advance(60);
        let r = upload(&p, &c, &owner, &format!("{HEADER}{DUCK}"), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
        p.env.clock.advance(60);
        drain(&p).await;
        let mut conn = p.env.hisp.conn().await.expect("conn");
        let alerts = notify::alerts(&mut conn, Some(&owner.to_string()))
            .await
            .expect("alerts");
        let events: Vec<&str> = alerts.iter().map(|a| a.event.as_str()).collect();
        assert_eq!(events, ["admit"], "{e}: the entry the roster had matched");
        // Filed under the entry the roster had (the MRN mistyped), not
        // under the one added since.
        let first: i64 = sqlx::query_scalar("SELECT MIN(id) FROM roster_entries WHERE owner = $1")
            .bind(owner.to_string())
            .fetch_one(&mut *conn)
            .await
            .expect("entry");
        let filed: Vec<i64> =
            sqlx::query_scalar("SELECT roster_entry_id FROM alerts WHERE subscriber = $1")
                .bind(owner.to_string())
                .fetch_all(&mut *conn)
                .await
                .expect("alerts");
        assert_eq!(filed, [first], "{e}");
    }
}

/// File `n` alerts for `subscriber` in one transaction, alternating ED
/// visits and admissions; returns their ids in filing order.
async fn file_alerts(p: &Portal, subscriber: &DirectAddress, n: usize, tag: &str) -> Vec<i64> {
    let h = &p.env.hisp;
    let mut tx = h.store.begin().await.expect("begin");
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let event = if i % 2 == 0 { "ed" } else { "admit" };
        let change_key = format!("{tag}#{i}");
        let a = notify::NewAlert {
            subscriber: &subscriber.to_string(),
            encounter_id: 1,
            change_key: &change_key,
            event,
            program: Some("Care Transitions"),
            facility: "northhosp",
            summary: "Encounter notification\n\nPatient: Duck, Donald\n",
            roster_entry_id: Some(0),
            event_time: "20261122055900",
            patient: None,
            withholding: None,
            record: None,
        };
        let id = notify::insert_alert(&mut tx, h.store.sealer(), &a, h.now())
            .await
            .expect("insert")
            .expect("new alert");
        ids.push(id);
    }
    tx.commit().await.expect("commit");
    ids
}

/// The "Older alerts" link of a worklist page, unescaped, if it has one.
fn older_link(page: &str) -> Option<String> {
    let end = page.find("\" rel=\"next\">Older alerts</a>")?;
    let start = page[..end].rfind("href=\"")? + "href=\"".len();
    Some(page[start..end].replace("&amp;", "&"))
}

#[tokio::test]
async fn the_worklist_is_listed_a_page_at_a_time_on_every_engine() {
    for p in Portal::all().await {
        let e = p.engine();
        let (a, ca) = care_manager(&p, "anna").await;
        let (b, _) = care_manager(&p, "bert").await;
        // 200 of A's, with 40 of B's filed in between: never shown.
        let first = file_alerts(&p, &a, 120, "first").await;
        file_alerts(&p, &b, 40, "other").await;
        let second = file_alerts(&p, &a, 80, "second").await;
        let mut mine = [first.as_slice(), &second].concat();
        mine.reverse();
        // The admissions (odd positions of each batch), newest first.
        let mut admits: Vec<i64> = [first, second]
            .iter()
            .flat_map(|batch| batch.iter().skip(1).step_by(2).copied())
            .collect();
        admits.reverse();

        // Every status, exactly two pages of 100 (the second with no "Older"
        // link to an empty page), newest first, the filter kept throughout.
        let mut url = "/alerts?status=all&facility=northhosp".to_string();
        let mut pages = Vec::new();
        loop {
            let r = p.get(Some(&ca), &url).await;
            assert_eq!(r.status, StatusCode::OK, "{e}: {url}: {}", r.body);
            // The tabs count every page, not this one.
            assert!(
                r.body.contains("New <span class=\"badge\">200</span>"),
                "{e}"
            );
            pages.push(alert_ids(&r.body));
            match older_link(&r.body) {
                Some(next) => url = next,
                None => break,
            }
            assert!(url.contains("&facility=northhosp&"), "{e}: {url}");
        }
        let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
        assert_eq!(sizes, [100, 100], "{e}");
        assert_eq!(
            pages.concat(),
            mine,
            "{e}: A's alerts, newest first, each once"
        );

        // A cursor and a filter together: the admissions older than the tenth.
        let cursor = admits[9];
        let r = p
            .get(
                Some(&ca),
                &format!("/alerts?status=all&event=admit&before={cursor}"),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
        assert_eq!(alert_ids(&r.body), admits[10..], "{e}");
        assert!(older_link(&r.body).is_none(), "{e}: the last page");
        assert!(
            r.body
                .contains("href=\"/alerts?status=all&amp;event=admit\">Newest alerts</a>"),
            "{e}: a way back to the first page, filters kept"
        );

        // Past the oldest: an empty page that says so; a bad cursor: 400.
        let oldest = mine.last().copied().expect("alerts");
        let r = p
            .get(Some(&ca), &format!("/alerts?status=all&before={oldest}"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{e}");
        assert!(
            alert_ids(&r.body).is_empty() && r.body.contains("No older alerts"),
            "{e}"
        );
        for bad in ["0", "-4", "x"] {
            let r = p
                .get(Some(&ca), &format!("/alerts?status=all&before={bad}"))
                .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{e}: before={bad}");
        }
    }
}

/// The worklist follows each alert's Direct message: "no receipt yet" until
/// one comes, then, when none came by the deadline, "Not delivered" with the
/// reason, on the list, the alert's page and in the API. Before, an alert
/// whose message never arrived read as sent everywhere.
#[tokio::test]
async fn an_alert_whose_direct_message_was_not_delivered_says_so_on_every_engine() {
    for p in Portal::all().await {
        let e = p.engine();
        let (a, ca) = care_manager(&p, "anna").await;
        good_health_feed(&p).await;
        let r = upload(&p, &ca, &a, &format!("{HEADER}{DUCK}"), &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
        // Filed and sent; its copy waits in the local queue (no inbound
        // worker runs here), so no receipt comes.
        process(&p, &[corpus("hl7-parser/sample_adt_a01.hl7")]).await;
        let list = p.get(Some(&ca), "/alerts").await;
        let ids = alert_ids(&list.body);
        assert_eq!(ids.len(), 1, "{e}: {}", list.body);
        assert!(
            !list.body.contains("Not delivered:") && !list.body.contains("not delivered to"),
            "{e}: {}",
            list.body
        );
        let page = p.get(Some(&ca), &format!("/alerts/{}", ids[0])).await;
        assert!(
            page.body.contains("Sent; no receipt yet"),
            "{e}: {}",
            page.body
        );
        assert!(!page.body.contains("Not delivered"), "{e}");

        // The deadline for its receipt passes.
        let timeout = i64::try_from(p.env.hisp.config.delivery.mdn_timeout_secs).expect("secs");
        p.env.clock.advance(timeout + 1);
        assert_eq!(p.state.gw.expire_overdue().await.expect("expire"), 1, "{e}");
        // The session timed out meanwhile.
        let ca = p.sign_in(&a.to_string()).await;
        let list = p.get(Some(&ca), "/alerts").await;
        assert!(
            list.body.contains("Not delivered: no receipt came in time"),
            "{e}: {}",
            list.body
        );
        let page = p.get(Some(&ca), &format!("/alerts/{}", ids[0])).await;
        assert!(
            page.body.contains("Not delivered: no receipt came in time")
                && page
                    .body
                    .contains("5.4.71 no processed MDN arrived in time"),
            "{e}: {}",
            page.body
        );
        // The API says so too, in the list and for the alert.
        let api = p.get(Some(&ca), "/api/v1/alerts").await;
        assert_eq!(api.status, StatusCode::OK, "{e}: {}", api.body);
        let listed: serde_json::Value = serde_json::from_slice(&api.bytes).expect("json");
        assert_eq!(listed[0]["delivery"], "expired", "{e}: {listed}");
        let one = p
            .get(Some(&ca), &format!("/api/v1/alerts/{}", ids[0]))
            .await;
        let one: serde_json::Value = serde_json::from_slice(&one.bytes).expect("json");
        assert!(
            one["delivery_detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("5.4.71")),
            "{e}: {one}"
        );

        // A discharge follows; its message waits for a receipt in time.
        process(&p, &[corpus("hl7-parser/sample_adt_a03.hl7")]).await;
        let list = p.get(Some(&ca), "/alerts?status=all").await;
        let both = alert_ids(&list.body);
        assert_eq!(both.len(), 2, "{e}: {}", list.body);
        // The worklist counts the undelivered one and offers it alone.
        assert!(
            list.body
                .contains("1 of these alerts was not delivered to your Direct address"),
            "{e}: {}",
            list.body
        );
        assert!(
            list.body
                .contains("href=\"/alerts?status=all&amp;delivery=undelivered\""),
            "{e}: {}",
            list.body
        );
        let only = p
            .get(Some(&ca), "/alerts?status=all&delivery=undelivered")
            .await;
        assert_eq!(only.status, StatusCode::OK, "{e}: {}", only.body);
        assert_eq!(alert_ids(&only.body), ids, "{e}: {}", only.body);
        // The filter holds with the others, and none of a filter matches.
        let none = p
            .get(
                Some(&ca),
                "/alerts?status=all&event=discharge&delivery=undelivered",
            )
            .await;
        assert!(alert_ids(&none.body).is_empty(), "{e}: {}", none.body);
        assert!(
            none.body.contains("No alert matches these filters"),
            "{e}: {}",
            none.body
        );
        let bad = p.get(Some(&ca), "/alerts?delivery=lost").await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{e}: {}", bad.body);
        // The API's filter, and the CLI's.
        let api = p
            .get(Some(&ca), "/api/v1/alerts?delivery=undelivered")
            .await;
        assert_eq!(api.status, StatusCode::OK, "{e}: {}", api.body);
        let id_list = |json: &[u8]| -> Vec<i64> {
            let listed: serde_json::Value = serde_json::from_slice(json).expect("json");
            let listed = listed.as_array().expect("array");
            listed
                .iter()
                .map(|a| a["id"].as_i64().expect("id"))
                .collect()
        };
        assert_eq!(id_list(&api.bytes), ids, "{e}");
        let cli = p.env.hisp(&["alert", "list", "--undelivered", "--json"]);
        assert_eq!(id_list(crate::harness::ok(&cli).as_bytes()), ids, "{e}");
    }
}

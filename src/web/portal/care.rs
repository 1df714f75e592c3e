//! The care manager's pages: alert worklist, alert detail with the patient's
//! encounter timeline, roster upload and view, subscription settings.
//!
//! - `GET /alerts`: the worklist, one tab per status with its count, filters
//!   by event, facility, program and filing date; newest first.
//! - `GET /alerts/{id}`, `POST /alerts/{id}/status`: one alert (its summary,
//!   as the Direct alert carried it) and every alert about the same patient.
//! - `GET /rosters`, `POST /rosters`, `POST /subscription` (in `rosters.rs`):
//!   each owned address's roster, entries close to ageing out marked; CSV
//!   upload through `Hisp::roster_import` (the code path of `hisp roster
//!   import`) with its row-level report; real-time alerts or a daily digest.
//!
//! Every page needs the care manager's role (admins have it too) and shows
//! only the addresses the viewer owns: another subscriber's alert is "not
//! found". Pages that show patients are audited (`alert.list`, `alert.view`,
//! `roster.view`) and sent with `Cache-Control: no-store`; URLs carry alert
//! ids and filters, never a patient.

mod rosters;

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::{NO_STORE, page_cursor};
use crate::notify::roster::MAX_ROSTER_BYTES;
use crate::ops::OpsError;
use crate::store::StoreError;
use crate::store::notify;
use crate::store::users::Role;
use crate::store::worklist::{self, Delivery, Filter, Item};
use crate::web::session::Viewer;
use crate::web::templates::{page, render};
use crate::web::urlencode;
use crate::web::{AppState, WebError};

/// This area's templates (name, source).
pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "care_alerts.html",
        include_str!("../../../templates/portal/care_alerts.html"),
    ),
    (
        "care_alert.html",
        include_str!("../../../templates/portal/care_alert.html"),
    ),
    (
        "care_rosters.html",
        include_str!("../../../templates/portal/care_rosters.html"),
    ),
];

/// This area's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/rosters", get(rosters::rosters).post(rosters::upload))
        .layer(DefaultBodyLimit::max(MAX_ROSTER_BYTES + 64 * 1024))
        .route("/alerts", get(worklist))
        .route("/alerts/{id}", get(detail))
        .route("/alerts/{id}/status", post(set_status))
        .route("/subscription", post(rosters::subscription))
}

/// The worklist's states, as stored and as shown.
const STATUSES: [(&str, &str); 3] = [
    ("new", "New"),
    ("in-progress", "In progress"),
    ("completed", "Completed"),
];

/// The events an alert can be about, as stored and as shown.
const EVENTS: [(&str, &str); 5] = [
    ("admit", "Admission"),
    ("ed", "ED visit"),
    ("discharge", "Discharge"),
    ("transfer", "Transfer"),
    ("retraction", "Retraction"),
];

/// The most rows one worklist page lists; older ones are a link away.
const PAGE: usize = 100;
/// How many of the viewer's newest alerts the timeline looks through.
const TIMELINE_SCAN: i64 = 5_000;

fn label(table: &[(&'static str, &'static str)], key: &str) -> String {
    table
        .iter()
        .find(|(k, _)| *k == key)
        .map_or_else(|| key.to_string(), |(_, l)| (*l).to_string())
}

/// The viewer's addresses as the notify tables name subscribers.
fn subscribers(v: &Viewer) -> Vec<String> {
    v.addresses.iter().map(|a| a.address.to_string()).collect()
}

/// The worklist's filters, as the form sends them (empty means "any").
#[derive(Debug, Default, Deserialize)]
pub struct WorklistQuery {
    status: Option<String>,
    event: Option<String>,
    facility: Option<String>,
    program: Option<String>,
    /// `YYYY-MM-DD`, inclusive.
    since: Option<String>,
    /// `YYYY-MM-DD`, inclusive.
    until: Option<String>,
    /// The next page: alerts older than this one (an alert id).
    before: Option<String>,
    /// `undelivered`: only alerts whose Direct message was not delivered.
    delivery: Option<String>,
}

/// A non-empty, trimmed filter value.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Unix seconds of the start of a `YYYY-MM-DD` day (UTC).
fn day_start(s: &str) -> Option<i64> {
    Some(crate::clock::days_from_iso_date(s)? * 86_400)
}

/// A worklist row as the page shows it.
#[derive(Debug, Serialize)]
struct Row {
    #[serde(flatten)]
    item: Item,
    /// "Family, Given" from the alert's summary.
    patient: Option<String>,
    event_label: String,
    status_label: String,
    facility_name: String,
    /// EVN-2 readable, when it parses.
    when: Option<String>,
    /// Where its Direct message stands, in words (`delivery_label`).
    delivery_label: &'static str,
    /// Its Direct message failed or was never confirmed.
    undelivered: bool,
}

/// Where an alert's Direct message stands (`Item::delivery`, and for an
/// expiry the status its `delivery_detail` starts with), as the pages say
/// it, and whether it is flagged as not delivered; `sent` is whether it has
/// a Message-ID.
fn delivery_label(
    delivery: Option<&str>,
    detail: Option<&str>,
    sent: bool,
) -> (&'static str, bool) {
    let status = detail.and_then(|d| d.split_whitespace().next());
    match delivery {
        None if sent => ("Sent", false),
        None => (
            "Not yet: it goes out with the daily digest, or is still being sent",
            false,
        ),
        Some("queued") => ("Queued for delivery", false),
        Some("sent") => ("Sent; no receipt yet", false),
        Some("processed") => ("Received by the recipient's system", false),
        Some("dispatched" | "delivered") => ("Delivered", false),
        Some("failed") => ("Not delivered", true),
        // `smtp::tracking::expire_overdue` and the outbound queue's give-up.
        Some("expired") => match status {
            Some("5.4.71") => ("Not delivered: no receipt came in time", true),
            Some("5.4.72") => (
                "Received by the recipient's system, but delivery was not confirmed in time",
                true,
            ),
            Some("5.4.7") => (
                "Not delivered: it could not be handed to the recipient's system in time",
                true,
            ),
            _ => ("Not delivered in time", true),
        },
        Some(_) => ("Sent", false),
    }
}

/// Rows for `items`, with feed names and the patient each summary names.
fn rows(items: Vec<(Item, String)>, feeds: &BTreeMap<String, String>) -> Vec<Row> {
    items
        .into_iter()
        .map(|(item, summary)| {
            let (delivery_label, undelivered) = delivery_label(
                item.delivery.as_deref(),
                item.delivery_detail.as_deref(),
                item.message_id.is_some(),
            );
            Row {
                delivery_label,
                undelivered,
                patient: patient_of(&summary).name,
                event_label: label(&EVENTS, &item.event),
                status_label: label(&STATUSES, &item.status),
                facility_name: feeds
                    .get(&item.facility)
                    .cloned()
                    .unwrap_or_else(|| item.facility.clone()),
                when: item
                    .event_time
                    .as_deref()
                    .and_then(crate::hl7::timestamp)
                    .map(|t| t.0),
                item,
            }
        })
        .collect()
}

/// Feed display names by facility.
async fn feed_names(state: &AppState) -> Result<BTreeMap<String, String>, WebError> {
    let mut conn = state.hisp.conn().await?;
    Ok(notify::feeds(&mut conn)
        .await?
        .into_iter()
        .map(|f| (f.facility, f.name))
        .collect())
}

async fn worklist(
    State(state): State<AppState>,
    v: Viewer,
    Query(q): Query<WorklistQuery>,
) -> Result<Response, WebError> {
    v.require(Role::CareManager)?;
    let status = status_tab(given(&q.status))?;
    let before = page_cursor(q.before.as_deref(), "the worklist")?;
    let undelivered = match given(&q.delivery) {
        None => false,
        Some("undelivered") => true,
        Some(_) => {
            return Err(WebError::BadRequest(
                "Unknown delivery filter. Choose Any or Not delivered.".into(),
            ));
        }
    };
    let (since, until) = (given(&q.since), given(&q.until));
    let bad_date = since.is_some_and(|s| day_start(s).is_none())
        || until.is_some_and(|s| day_start(s).is_none());
    let subs = subscribers(&v);
    // Feeds are stored in lower case.
    let facility = given(&q.facility).map(str::to_ascii_lowercase);
    let filter = Filter {
        subscribers: &subs,
        status,
        event: given(&q.event),
        facility: facility.as_deref(),
        program: given(&q.program),
        since: since.and_then(day_start),
        until: until.and_then(day_start).map(|d| d + 86_400),
        before,
        undelivered,
    };
    let mut l = listing(&state, &filter).await?;
    // One row more than a page was read: it says whether there is an older page.
    let older = if l.items.len() > PAGE {
        l.items.truncate(PAGE);
        l.items.last().map(|(i, _)| i.id)
    } else {
        None
    };
    if !l.items.is_empty() {
        // Which alerts were shown, so an accounting of who saw a patient's
        // alert finds this listing (a page holds at most `PAGE`).
        let ids: Vec<String> = l.items.iter().map(|(i, _)| i.id.to_string()).collect();
        let detail = format!("{} alerts listed: {}", l.items.len(), ids.join(", "));
        audit(&state, &v, "alert.list", &subs.join(", "), &detail).await?;
    }
    let feeds = feed_names(&state).await?;
    let query = filter_query(&[
        ("event", filter.event),
        ("facility", filter.facility),
        ("program", filter.program),
        ("since", since),
        ("until", until),
        ("delivery", undelivered.then_some("undelivered")),
    ]);
    let page = render(
        "care_alerts.html",
        page! {
            nav => v.nav(),
            no_address => subs.is_empty(),
            rows => rows(l.items, &feeds),
            older => older,
            paged => before.is_some(),
            tabs => tabs(&l.counts),
            status => status.unwrap_or("all"),
            events => EVENTS,
            event => filter.event.unwrap_or(""),
            facilities => named(l.facilities, &feeds),
            facility => filter.facility.unwrap_or(""),
            programs => l.programs,
            program => filter.program.unwrap_or(""),
            since => since.unwrap_or(""),
            until => until.unwrap_or(""),
            bad_date => bad_date,
            query => query,
            undelivered => undelivered,
            undelivered_count => l.undelivered,
        },
    )?;
    Ok((NO_STORE, page).into_response())
}

/// The status a worklist tab shows: `new` by default, `None` for all.
fn status_tab(given: Option<&str>) -> Result<Option<&str>, WebError> {
    match given {
        None => Ok(Some("new")),
        Some("all") => Ok(None),
        Some(s) if STATUSES.iter().any(|(k, _)| *k == s) => Ok(Some(s)),
        Some(_) => Err(WebError::BadRequest(
            "Unknown alert status. Choose New, In progress, Completed or All.".into(),
        )),
    }
}

/// What one worklist page reads.
struct Listing {
    items: Vec<(Item, String)>,
    counts: BTreeMap<String, i64>,
    /// How many of the filter's alerts (this tab's) were not delivered.
    undelivered: i64,
    facilities: Vec<String>,
    programs: Vec<String>,
}

async fn listing(state: &AppState, filter: &Filter<'_>) -> Result<Listing, WebError> {
    let mut conn = state.hisp.conn().await?;
    let read = i64::try_from(PAGE + 1).unwrap_or(i64::MAX);
    let sealer = state.hisp.store.sealer();
    let items = worklist::alerts(&mut conn, sealer, filter, read, Delivery::Read).await?;
    let counts = worklist::counts(&mut conn, filter).await?;
    let undelivered = worklist::undelivered(&mut conn, filter).await?;
    let (facilities, programs) = worklist::choices(&mut conn, filter.subscribers).await?;
    Ok(Listing {
        items,
        counts: counts.into_iter().collect(),
        undelivered,
        facilities,
        programs,
    })
}

/// One tab per status with its count, then "All".
fn tabs(counts: &BTreeMap<String, i64>) -> Vec<Tab> {
    let all = Tab {
        key: "all",
        label: "All",
        count: counts.values().sum(),
    };
    STATUSES
        .iter()
        .map(|(k, l)| Tab {
            key: k,
            label: l,
            count: counts.get(*k).copied().unwrap_or(0),
        })
        .chain(std::iter::once(all))
        .collect()
}

/// Facilities with their feeds' display names.
fn named(facilities: Vec<String>, feeds: &BTreeMap<String, String>) -> Vec<(String, String)> {
    facilities
        .into_iter()
        .map(|f| {
            let name = feeds.get(&f).cloned().unwrap_or_else(|| f.clone());
            (f, name)
        })
        .collect()
}

/// The filters given, as `&key=value…` for the tabs' links.
fn filter_query(pairs: &[(&str, Option<&str>)]) -> String {
    pairs
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("&{k}={}", urlencode(v))))
        .collect()
}

/// Record a view of PHI (its own short transaction, after the reads, so a
/// page never holds the writer while it reads).
async fn audit(
    state: &AppState,
    v: &Viewer,
    action: &str,
    subject: &str,
    detail: &str,
) -> Result<(), WebError> {
    let mut tx = state.hisp.store.begin().await?;
    state
        .hisp
        .audit(&mut tx, &v.user.username, action, subject, detail)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A status tab.
#[derive(Debug, Serialize)]
struct Tab {
    key: &'static str,
    label: &'static str,
    count: i64,
}

/// Set after a status change, to confirm it.
#[derive(Debug, Default, Deserialize)]
pub struct Saved {
    saved: Option<String>,
    /// Set when a status change was refused because someone else changed
    /// the alert first.
    changed: Option<String>,
}

async fn detail(
    State(state): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<Saved>,
) -> Result<Response, WebError> {
    v.require(Role::CareManager)?;
    let subs = subscribers(&v);
    let sealer = state.hisp.store.sealer();
    let mut conn = state.hisp.conn().await?;
    let (item, summary) = worklist::alert(&mut conn, sealer, &subs, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let everything = Filter {
        subscribers: &subs,
        ..Filter::default()
    };
    let mine = worklist::alerts(
        &mut conn,
        sealer,
        &everything,
        TIMELINE_SCAN,
        Delivery::Skip,
    )
    .await?;
    let current =
        crate::store::notify::current_entry_ids(&mut conn, &subs, state.hisp.now()).await?;
    drop(conn);
    let timeline = timeline(&item, &summary, mine, &current);
    // The page shows each timeline alert's summary: the audit names them
    // all, as the listing's does.
    let shown: Vec<String> = timeline.iter().map(|(i, _)| i.id.to_string()).collect();
    let detail = format!(
        "{}; timeline of {}: {}",
        item.subscriber,
        shown.len(),
        shown.join(", ")
    );
    audit(&state, &v, "alert.view", &format!("alert {id}"), &detail).await?;
    let feeds = feed_names(&state).await?;
    let mut shown = rows(vec![(item, summary.clone())], &feeds);
    let page = render(
        "care_alert.html",
        page! {
            nav => v.nav(),
            a => shown.pop(),
            summary => summary,
            timeline => rows(timeline, &feeds),
            statuses => STATUSES,
            saved => q.saved.is_some(),
            changed => q.changed.is_some(),
        },
    )?;
    Ok((NO_STORE, page).into_response())
}

/// The patient's alerts among `mine`, oldest event first: those from the
/// same roster entry, and those whose summary names the same patient,
/// unless the two came from different roster entries that are both still
/// `current`: the roster keeps namesakes (John Smith born the same day
/// under MRNs 111 and 222) as two entries, so they are two people. An
/// entry ended since (a `--replace` upload that listed the patient anew)
/// or an alert from before entries were recorded may be the same patient.
fn timeline(
    item: &Item,
    summary: &str,
    mine: Vec<(Item, String)>,
    current: &std::collections::HashSet<i64>,
) -> Vec<(Item, String)> {
    let who = patient_of(summary);
    // Two entries of one roster: the same patient on two of the viewer's
    // rosters (two practices) is one patient.
    let two_entries = |other: &Item| match (item.roster_entry_id, other.roster_entry_id) {
        (Some(a), Some(b)) => {
            other.subscriber == item.subscriber
                && a != b
                && current.contains(&a)
                && current.contains(&b)
        }
        _ => false,
    };
    let mut out: Vec<(Item, String)> = mine
        .into_iter()
        .filter(|(i, s)| {
            (i.roster_entry_id.is_some() && i.roster_entry_id == item.roster_entry_id)
                || i.id == item.id
                || (!two_entries(i) && who.same_as(&patient_of(s)))
        })
        .collect();
    // The alert opened is on its own timeline even when it is older than
    // the newest alerts looked through (`TIMELINE_SCAN`).
    if !out.iter().any(|(i, _)| i.id == item.id) {
        out.push((item.clone(), summary.to_string()));
    }
    out.sort_by_key(|(i, _)| {
        let at = i
            .event_time
            .as_deref()
            .and_then(crate::hl7::timestamp)
            .map(|t| t.1);
        (at.unwrap_or(i.created_at), i.created_at, i.id)
    });
    out
}

/// What an alert summary (`notify::alert::summary`) says about the patient.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Named {
    /// "Family, Given".
    name: Option<String>,
    /// YYYYMMDD.
    born: Option<String>,
}

impl Named {
    /// The same person: the same name (any case, any spacing) and the same
    /// birth date, both known.
    fn same_as(&self, other: &Named) -> bool {
        let norm = |s: &str| {
            s.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase()
        };
        match (&self.name, &self.born, &other.name, &other.born) {
            (Some(n1), Some(b1), Some(n2), Some(b2)) => norm(n1) == norm(n2) && b1 == b2,
            _ => false,
        }
    }
}

/// Read the "Patient: Family, Given" and "Born: YYYYMMDD  Sex: …" lines.
fn patient_of(summary: &str) -> Named {
    let line = |prefix: &str| {
        summary
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
    };
    let name = line("Patient:").filter(|n| !n.trim_matches([',', ' ']).is_empty());
    let born = line("Born:")
        .and_then(|b| b.split_whitespace().next())
        .filter(|b| b.len() >= 8 && b.bytes().all(|c| c.is_ascii_digit()));
    Named {
        name: name.map(str::to_string),
        born: born.map(str::to_string),
    }
}

/// A status change.
#[derive(Debug, Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
    /// The status the page showed; a form without it (an old page) is
    /// applied as before.
    #[serde(default)]
    was: String,
}

async fn set_status(
    State(state): State<AppState>,
    v: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<StatusForm>,
) -> Result<Response, WebError> {
    v.require(Role::CareManager)?;
    v.check_csrf(&f.csrf)?;
    if !STATUSES.iter().any(|(k, _)| *k == f.status) {
        return Err(WebError::BadRequest(
            "Choose New, In progress or Completed, then save.".into(),
        ));
    }
    let subs = subscribers(&v);
    let mut tx = state.hisp.store.begin().await?;
    if worklist::alert(&mut tx, state.hisp.store.sealer(), &subs, id)
        .await?
        .is_none()
    {
        return Err(WebError::NotFound);
    }
    let was = Some(f.was.as_str()).filter(|w| !w.is_empty());
    match state
        .hisp
        .alert_status(&mut tx, id, &f.status, was, &v.user.username)
        .await
    {
        Ok(()) => {}
        // Someone changed it since this page was loaded: show them what it
        // is now rather than undo their change.
        Err(OpsError::Store(StoreError::Conflict(_))) => {
            return Ok(Redirect::to(&format!("/alerts/{id}?changed=1")).into_response());
        }
        Err(e) => return Err(e.into()),
    }
    tx.commit().await?;
    Ok(Redirect::to(&format!("/alerts/{id}?saved=1")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The summary is read back from what `notify::alert::summary` writes.
    #[test]
    fn the_patient_is_read_from_a_real_alert_summary() {
        let adt =
            b"MSH|^~\\&|EPIC|NORTHHOSP|HISP|HISP|20261122060000||ADT^A04^ADT_A01|C1|P|2.5.1\r\
EVN|A04|20261122055900\r\
PID|1||MRN1^^^NORTH^MR||Doe^Jane||19800102|F\r\
PV1|1|E|ED^12^A^NORTHHOSP||||1234^Smith^Anna||||||||||||V100\r";
        let msg = crate::hl7::parse(adt).expect("parse");
        let ev = crate::notify::adt::read(&msg).expect("event");
        let addr = crate::direct::DirectAddress::parse("c@d.test").expect("addr");
        let ctx = crate::notify::alert::AlertContext {
            from: &addr,
            to: &addr,
            event: "ed",
            facility_name: "North",
            program: None,
            adt,
            now: 0,
            id: "x",
            withheld: false,
            retracts: None,
        };
        let summary = crate::notify::alert::summary(&ev, &ctx);
        let who = patient_of(&summary);
        assert_eq!(who.name.as_deref(), Some("Doe, Jane"));
        assert_eq!(who.born.as_deref(), Some("19800102"));
        let twin = patient_of("Patient: DOE,  JANE\nBorn: 19800102  Sex: F\n");
        assert!(who.same_as(&twin));
        let unknown = patient_of("Patient: Doe, Jane\nBorn: unknown  Sex: F\n");
        assert!(
            !who.same_as(&unknown),
            "an unknown birth date matches no one"
        );
    }

    #[test]
    fn every_delivery_state_has_words_and_only_failures_read_as_undelivered() {
        let d = |state: &str, detail: Option<&str>| delivery_label(Some(state), detail, true);
        assert_eq!(delivery_label(None, None, true), ("Sent", false));
        assert!(delivery_label(None, None, false).0.starts_with("Not yet"));
        for (state, words) in [
            ("queued", "Queued for delivery"),
            ("sent", "Sent; no receipt yet"),
            ("processed", "Received by the recipient's system"),
            ("dispatched", "Delivered"),
            ("delivered", "Delivered"),
        ] {
            assert_eq!(d(state, None), (words, false), "{state}");
        }
        assert_eq!(
            d("failed", Some("5.7.31 no certificate")),
            ("Not delivered", true)
        );
        // Each way a message expires says what is known.
        let expired = |detail| d("expired", Some(detail));
        assert_eq!(
            expired("5.4.71 no processed MDN arrived in time").0,
            "Not delivered: no receipt came in time"
        );
        assert!(
            expired("5.4.72 no dispatched MDN arrived in time")
                .0
                .starts_with("Received")
        );
        assert!(
            expired("5.4.7 delivery time expired; last error: refused")
                .0
                .contains("could not be handed")
        );
        assert_eq!(d("expired", None), ("Not delivered in time", true));
        for detail in ["5.4.71 x", "5.4.72 x", "5.4.7 x"] {
            assert!(expired(detail).1, "{detail} is flagged");
        }
    }

    #[test]
    fn namesakes_on_two_current_entries_have_two_timelines() {
        let item = |id: i64, entry: Option<i64>| Item {
            id,
            subscriber: "c@d.test".into(),
            event: "ed".into(),
            status: "new".into(),
            program: None,
            facility: "NORTHHOSP".into(),
            event_time: None,
            roster_entry_id: entry,
            message_id: None,
            delivery: None,
            delivery_detail: None,
            created_at: id,
        };
        let smith = "Patient: Smith, John\nBorn: 19700101  Sex: M\n".to_string();
        let mut other_practice = item(4, Some(40));
        other_practice.subscriber = "c@e.test".into();
        let mine = vec![
            (item(1, Some(10)), smith.clone()),
            (item(2, Some(20)), smith.clone()),
            (item(3, None), smith.clone()),
            (other_practice, smith.clone()),
        ];
        let ids = |t: Vec<(Item, String)>| t.iter().map(|(i, _)| i.id).collect::<Vec<_>>();
        // Entries 10 and 20 are both current: two John Smiths, as the roster keeps them.
        let first = item(1, Some(10));
        // The same name on the viewer's other practice's roster is one patient.
        let current: std::collections::HashSet<i64> = [10, 20, 40].into();
        assert_eq!(
            ids(timeline(&first, &smith, mine.clone(), &current)),
            [1, 3, 4]
        );
        // Entry 10 ended (the patient listed anew under 20): one patient.
        let current: std::collections::HashSet<i64> = [20, 40].into();
        assert_eq!(
            ids(timeline(&first, &smith, mine.clone(), &current)),
            [1, 2, 3, 4]
        );
        // An alert older than those looked through is on its own timeline,
        // in its place.
        let old = item(0, Some(20));
        assert_eq!(ids(timeline(&old, &smith, mine, &current)), [0, 1, 2, 3, 4]);
    }
}

//! `/admin/audit`: the audit log, newest first, 50 entries a page, filtered
//! by actor, action, subject and date range, under the chain's verification
//! status (`audit::verify` recomputes every row's hash on each visit).

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::{Admin, day_of, respond};
use crate::audit::{self, Verdict};
use crate::store::stats::{self, AuditQuery, DAY};
use crate::web::templates::page;
use crate::web::urlencode;
use crate::web::{AppState, WebError};

/// Entries per page.
const PAGE: i64 = 50;

/// The audit route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/admin/audit", get(log))
}

/// The filters and the page.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Filters {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    subject: String,
    /// `YYYY-MM-DD`, inclusive.
    #[serde(default)]
    since: String,
    /// `YYYY-MM-DD`, inclusive.
    #[serde(default)]
    until: String,
    /// Show entries before this position (the next, older page).
    #[serde(default)]
    before: Option<i64>,
}

impl Filters {
    /// The filters as a query string (without `before`), for paging links.
    fn query(&self) -> String {
        [
            ("actor", &self.actor),
            ("action", &self.action),
            ("subject", &self.subject),
            ("since", &self.since),
            ("until", &self.until),
        ]
        .iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", urlencode(v.trim())))
        .collect::<Vec<_>>()
        .join("&")
    }
}

/// The chain's status as shown.
#[derive(Debug, Serialize)]
struct Chain {
    intact: bool,
    rows: i64,
    broken_at: Option<i64>,
    why: Option<String>,
}

/// A date field as the first second of its day, `Err` when it is not a date.
fn day_start(text: &str) -> Result<Option<i64>, ()> {
    match text.trim() {
        "" => Ok(None),
        t => day_of(t).map(|d| Some(d * DAY)).ok_or(()),
    }
}

async fn log(
    State(state): State<AppState>,
    Admin(v): Admin,
    Query(f): Query<Filters>,
) -> Result<Response, WebError> {
    let since = day_start(&f.since);
    let until = day_start(&f.until);
    let bad_date = since.is_err() || until.is_err();
    let q = AuditQuery {
        actor: &f.actor,
        action: &f.action,
        subject: &f.subject,
        since: since.unwrap_or(None),
        until: until.unwrap_or(None).map(|t| t + DAY),
        before_seq: f.before,
    };
    let mut conn = state.hisp.conn().await?;
    let chain = match audit::verify(&mut conn).await? {
        Verdict::Intact { rows } => Chain {
            intact: true,
            rows,
            broken_at: None,
            why: None,
        },
        Verdict::Broken { seq, why } => {
            tracing::error!(seq, why = %why, "the audit chain does not verify");
            Chain {
                intact: false,
                rows: 0,
                broken_at: Some(seq),
                why: Some(why),
            }
        }
    };
    let mut rows = stats::audit_search(&mut conn, &q, PAGE + 1).await?;
    let more = rows.len() > usize::try_from(PAGE).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(PAGE).unwrap_or(usize::MAX));
    let older = more
        .then(|| rows.last().map(|r| r.seq))
        .flatten()
        .map(|seq| {
            let q = f.query();
            if q.is_empty() {
                format!("/admin/audit?before={seq}")
            } else {
                format!("/admin/audit?{q}&before={seq}")
            }
        });
    let newest = f.before.map(|_| format!("/admin/audit?{}", f.query()));
    let status = if bad_date {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    respond(
        status,
        "admin_audit.html",
        page! {
            nav => v.nav(),
            section => "audit",
            chain => chain,
            rows => rows,
            f => &f,
            bad_date => bad_date,
            older => older,
            newest => newest,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_links_keep_the_filters() {
        let f = Filters {
            actor: "admin".into(),
            subject: "a b&c".into(),
            ..Filters::default()
        };
        assert_eq!(f.query(), "actor=admin&subject=a%20b%26c");
        assert_eq!(Filters::default().query(), "");
    }

    #[test]
    fn dates_bound_whole_days() {
        assert_eq!(day_start(""), Ok(None));
        assert_eq!(day_start("1970-01-02"), Ok(Some(DAY)));
        assert!(day_start("2026-02-30x").is_err());
    }
}

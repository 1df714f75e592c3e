//! `/admin/audit`: the audit log, newest first, 50 entries a page, filtered
//! by actor, action, subject and date range, under the chain's verification
//! status. A visit recomputes the entries added since the last visit, from the
//! last verified entry (whose hash must not have changed); every entry is
//! recomputed again when the last full check is an hour old, or after the
//! chain failed. A visit then costs the new entries, not the whole log, which
//! grows by a few entries per message. `hisp audit verify` always checks all.

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
use crate::web::{AppState, AuditSeen, WebError};

/// Entries per page.
const PAGE: i64 = 50;

/// How often a visit recomputes every entry, not only those added since.
const FULL_CHECK_EVERY: i64 = 3600;

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
    /// When every entry was last recomputed (Unix seconds).
    full_at: i64,
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

/// The chain's status, recomputing only what the last visit did not (see the
/// module docs).
async fn verify(state: &AppState, conn: &mut sqlx::AnyConnection) -> Result<Chain, WebError> {
    let now = state.hisp.now();
    let seen = match state.audit_seen.lock() {
        Ok(s) => s.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    };
    let (from, full_at) = match seen {
        Some(s) if now - s.full_at < FULL_CHECK_EVERY => (Some(s.checkpoint), s.full_at),
        _ => (None, now),
    };
    let (verdict, checkpoint) = audit::verify_since(conn, from.as_ref()).await?;
    let next = checkpoint.map(|checkpoint| AuditSeen {
        checkpoint,
        full_at,
    });
    match state.audit_seen.lock() {
        Ok(mut s) => *s = next,
        Err(poisoned) => *poisoned.into_inner() = next,
    }
    Ok(match verdict {
        Verdict::Intact { rows } => Chain {
            intact: true,
            rows,
            full_at,
            broken_at: None,
            why: None,
        },
        Verdict::Broken { seq, why } => {
            tracing::error!(seq, why = %why, "the audit chain does not verify");
            Chain {
                intact: false,
                rows: 0,
                full_at,
                broken_at: Some(seq),
                why: Some(why),
            }
        }
    })
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
    let chain = verify(&state, &mut conn).await?;
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

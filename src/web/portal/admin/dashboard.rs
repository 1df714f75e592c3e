//! `/admin`: the dashboard. Messages in and out, alerts and delivery
//! failures per day for the last 14 days as server-rendered SVG bar charts,
//! and the numbers of right now: queue depths (inbound, outbound, ADT),
//! failures, quarantine, certificates about to expire. Counts only: nothing
//! here names a patient, a subject or a message.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Serialize;

use super::{Admin, respond};
use crate::store::stats::{self, DAY, Daily};
use crate::web::chart::{Series, bar_chart};
use crate::web::templates::{civil, page};
use crate::web::{AppState, WebError};

/// Days the charts cover, today included.
pub const DAYS: i64 = 14;
/// Certificates expiring within this many days are flagged.
pub const EXPIRY_WARNING_DAYS: i64 = 30;
/// Chart size in px: wide enough that 14 day labels ("11-22") do not
/// overlap. The CSS scales a chart to its card; the page puts two cards in
/// a row, so on a wide screen a chart is drawn near this size.
const CHART: (u32, u32) = (520, 170);

/// The dashboard's route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/admin", get(dashboard))
}

/// One chart as the template shows it.
#[derive(Debug, Serialize)]
struct Chart {
    /// Names the chart's heading on the page.
    id: &'static str,
    /// The heading.
    title: &'static str,
    /// What is counted, one line.
    hint: &'static str,
    /// The SVG.
    svg: minijinja::Value,
    /// Sum over the days shown.
    total: i64,
    /// Today's count.
    today: i64,
}

async fn chart(
    conn: &mut sqlx::AnyConnection,
    series: Daily,
    title: &'static str,
    hint: &'static str,
    now: i64,
) -> Result<Chart, WebError> {
    let days = stats::per_day(conn, series, now, DAYS).await?;
    let points: Vec<(String, u64)> = days
        .iter()
        .map(|(day, n)| {
            let (_, m, d, _, _) = civil(day * DAY);
            (format!("{m:02}-{d:02}"), u64::try_from(*n).unwrap_or(0))
        })
        .collect();
    let svg = bar_chart(
        &Series {
            title,
            points: &points,
        },
        CHART.0,
        CHART.1,
    );
    let id = match series {
        Daily::MessagesIn => "in",
        Daily::MessagesOut => "out",
        Daily::Alerts => "alerts",
        Daily::Failures => "failures",
    };
    Ok(Chart {
        id,
        title,
        hint,
        svg: minijinja::Value::from_safe_string(svg),
        total: days.iter().map(|(_, n)| n).sum(),
        today: days.last().map_or(0, |(_, n)| *n),
    })
}

async fn dashboard(State(state): State<AppState>, Admin(v): Admin) -> Result<Response, WebError> {
    let now = state.hisp.now();
    let since = (now.div_euclid(DAY) - DAYS + 1) * DAY;
    let mut conn = state.hisp.conn().await?;
    let charts = vec![
        chart(
            &mut conn,
            Daily::MessagesIn,
            "Messages in per day",
            "Filed in a mailbox here, one per recipient; notices not counted.",
            now,
        )
        .await?,
        chart(
            &mut conn,
            Daily::MessagesOut,
            "Messages out per day",
            "Sent from a mailbox here, one per message; alerts included.",
            now,
        )
        .await?,
        chart(
            &mut conn,
            Daily::Alerts,
            "Alerts per day",
            "Encounter alerts, one per subscriber and change.",
            now,
        )
        .await?,
        chart(
            &mut conn,
            Daily::Failures,
            "Delivery failures per day",
            "Recipients whose delivery failed or whose notices never came.",
            now,
        )
        .await?,
    ];
    let counts = stats::now(&mut conn, now, since, EXPIRY_WARNING_DAYS * DAY).await?;
    respond(
        StatusCode::OK,
        "admin_dashboard.html",
        page! {
            nav => v.nav(),
            section => "dashboard",
            charts => charts,
            n => counts,
            days => DAYS,
            warn_days => EXPIRY_WARNING_DAYS,
            at => now,
        },
    )
}

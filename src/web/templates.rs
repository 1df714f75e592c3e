//! The portal's templates (`templates/portal/`), compiled into the binary so
//! `hisp serve` needs no files beside it. minijinja escapes every value in an
//! `.html` template; nothing is marked safe except markup we build ourselves
//! (sanitized mail HTML, SVG charts and QR codes).

use std::sync::LazyLock;

use axum::response::Html;
use minijinja::Environment;

use super::WebError;
use crate::ops::OpsError;

/// Templates as (name, source).
type Sources = &'static [(&'static str, &'static str)];

macro_rules! portal {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/portal/", $name)))),*]
    };
}

/// The layout, sign-in and the mailbox.
const CORE: Sources = portal![
    "base.html",
    "error.html",
    "signin.html",
    "mfa.html",
    "mfa_enroll.html",
    "password.html",
    "mail_list.html",
    "mail_show.html",
    "compose.html",
    "contacts.html",
];

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for set in [
        CORE,
        super::portal::care::TEMPLATES,
        super::portal::admin::TEMPLATES,
    ] {
        for (name, source) in set {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "template does not compile");
            }
        }
    }
    env.add_filter("datetime", datetime);
    env.add_filter("date", date);
    env.add_filter("bytes", bytes);
    env
});

/// A template context: `page! { key => expr, … }`, each value serialized with
/// serde (minijinja's own `context!` wants `Into<Value>`, which our structs are not).
macro_rules! page {
    ($($key:ident => $value:expr),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut m = ::std::collections::BTreeMap::<&'static str, ::minijinja::Value>::new();
        $( m.insert(stringify!($key), ::minijinja::Value::from(::minijinja::value::Serde(&$value))); )*
        ::minijinja::Value::from(m)
    }};
}
pub(crate) use page;

/// Render a template with `ctx`.
pub fn render(name: &str, ctx: impl Into<minijinja::Value>) -> Result<Html<String>, WebError> {
    let tmpl = ENV
        .get_template(name)
        .map_err(|e| OpsError::Invalid(format!("template {name}: {e}")))?;
    tmpl.render(ctx)
        .map(Html)
        .map_err(|e| WebError::Internal(OpsError::Invalid(format!("template {name}: {e:#}"))))
}

/// Every template compiles (checked by a test, so a typo fails CI rather than a page).
pub fn check_all() -> Result<usize, String> {
    let mut n = 0;
    for set in [
        CORE,
        super::portal::care::TEMPLATES,
        super::portal::admin::TEMPLATES,
    ] {
        for (name, _) in set {
            ENV.get_template(name)
                .map_err(|e| format!("{name}: {e:#}"))?;
            n += 1;
        }
    }
    Ok(n)
}

/// Unix seconds as `2026-11-22 14:05 UTC`.
fn datetime(t: i64) -> String {
    let (y, m, d, hh, mm) = civil(t);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02} UTC")
}

/// Unix seconds as `2026-11-22`.
fn date(t: i64) -> String {
    let (y, m, d, _, _) = civil(t);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A byte count as `12 KB`.
fn bytes(n: i64) -> String {
    match n {
        n if n < 1024 => format!("{n} bytes"),
        n if n < 1024 * 1024 => format!("{} KB", (n + 1023) / 1024),
        n => format!("{:.1} MB", n as f64 / (1024.0 * 1024.0)),
    }
}

/// (year, month, day, hour, minute) in UTC.
pub fn civil(t: i64) -> (i64, i64, i64, i64, i64) {
    let (y, m, d) = crate::clock::civil_from_days(t.div_euclid(86_400));
    let secs = t.rem_euclid(86_400);
    (y, m, d, secs / 3600, (secs % 3600) / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        assert!(check_all().expect("templates") >= 10);
    }

    #[test]
    fn dates_are_utc_civil() {
        assert_eq!(datetime(0), "1970-01-01 00:00 UTC");
        assert_eq!(datetime(1_795_381_500), "2026-11-22 21:05 UTC");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(bytes(2048), "2 KB");
    }
}

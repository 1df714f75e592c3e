//! Logging (tracing to stderr) and Prometheus metrics.
//!
//! `HISP_LOG` (or `RUST_LOG`) takes a tracing target list such as `info` or
//! `hisp=debug,sqlx=warn`. Nothing logged above TRACE carries PHI.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// Install the global subscriber; `default` applies when no env variable is set.
pub fn init_tracing(default: LevelFilter) {
    let spec = std::env::var("HISP_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok();
    let filter = spec
        .and_then(|s| s.parse::<Targets>().ok())
        .unwrap_or_else(|| {
            Targets::new()
                .with_default(default)
                .with_target("sqlx", LevelFilter::WARN)
                // hickory-server logs two INFO lines per DNS query.
                .with_target("hickory_server", LevelFilter::WARN)
        });
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .with(filter)
        .try_init();
}

/// Counters the HTTP layer updates; gauges are read from the store at scrape
/// time, and live gauges from the running listeners (`Metrics::live`).
#[derive(Default)]
pub struct Metrics {
    /// Requests by (route, status code).
    http_requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// Gauges read from memory at scrape time, in registration order.
    live: Mutex<Vec<Live>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// A gauge whose value a running part of the server reads on demand.
struct Live {
    name: &'static str,
    help: &'static str,
    read: Box<dyn Fn() -> i64 + Send + Sync>,
}

/// A gauge sample: name, help, labels, value.
#[derive(Debug)]
pub struct Gauge {
    /// Metric name.
    pub name: &'static str,
    /// HELP text.
    pub help: &'static str,
    /// `key="value"` pairs, already formatted, or empty.
    pub labels: String,
    /// The value.
    pub value: i64,
}

impl Metrics {
    /// Count one HTTP request.
    /// `route` is the matched route pattern (`/mail/{id}`), never a raw path,
    /// so the label set stays small and holds no identifiers.
    pub fn http_request(&self, route: &str, status: u16) {
        if let Ok(mut m) = self.http_requests.lock() {
            *m.entry((route.to_string(), status)).or_insert(0) += 1;
        }
    }

    /// Register a gauge read by `read` at every scrape (a queue's length,
    /// say). Registering a name again replaces the earlier reader, so a
    /// restarted listener does not leave a stale one behind.
    pub fn live(
        &self,
        name: &'static str,
        help: &'static str,
        read: impl Fn() -> i64 + Send + Sync + 'static,
    ) {
        let live = Live {
            name,
            help,
            read: Box::new(read),
        };
        let mut all = match self.live.lock() {
            Ok(all) => all,
            Err(poisoned) => poisoned.into_inner(),
        };
        match all.iter_mut().find(|l| l.name == name) {
            Some(l) => *l = live,
            None => all.push(live),
        }
    }

    /// The Prometheus text exposition of the counters, the live gauges and
    /// `gauges`.
    pub fn render(&self, gauges: &[Gauge]) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP hisp_build_info The running hisp version.\n# TYPE hisp_build_info gauge\n",
        );
        let _ = writeln!(
            out,
            "hisp_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out.push_str("# HELP hisp_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE hisp_http_requests_total counter\n");
        if let Ok(m) = self.http_requests.lock() {
            for ((route, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "hisp_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        if let Ok(all) = self.live.lock() {
            for l in all.iter() {
                let _ = writeln!(
                    out,
                    "# HELP {} {}\n# TYPE {} gauge\n{} {}",
                    l.name,
                    l.help,
                    l.name,
                    l.name,
                    (l.read)()
                );
            }
        }
        let mut last = "";
        for g in gauges {
            if g.name != last {
                let _ = writeln!(out, "# HELP {} {}\n# TYPE {} gauge", g.name, g.help, g.name);
                last = g.name;
            }
            if g.labels.is_empty() {
                let _ = writeln!(out, "{} {}", g.name, g.value);
            } else {
                let _ = writeln!(out, "{}{{{}}} {}", g.name, g.labels, g.value);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.http_request("/healthz", 200);
        m.http_request("/healthz", 200);
        let text = m.render(&[
            Gauge {
                name: "hisp_domains",
                help: "Domains served.",
                labels: String::new(),
                value: 2,
            },
            Gauge {
                name: "hisp_certificates",
                help: "Certificates.",
                labels: "status=\"valid\"".into(),
                value: 3,
            },
            Gauge {
                name: "hisp_certificates",
                help: "Certificates.",
                labels: "status=\"revoked\"".into(),
                value: 1,
            },
        ]);
        assert!(text.contains("hisp_http_requests_total{route=\"/healthz\",status=\"200\"} 2\n"));
        assert!(text.contains("# TYPE hisp_domains gauge\nhisp_domains 2\n"));
        assert_eq!(text.matches("# TYPE hisp_certificates gauge").count(), 1);
        assert!(text.contains("hisp_certificates{status=\"revoked\"} 1\n"));
    }

    #[test]
    fn live_gauges_are_read_at_each_scrape_and_replaced_by_name() {
        let m = Metrics::default();
        let n = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(3));
        let seen = n.clone();
        m.live("hisp_queue", "Waiting.", move || {
            seen.load(std::sync::atomic::Ordering::Relaxed)
        });
        assert!(
            m.render(&[])
                .contains("# TYPE hisp_queue gauge\nhisp_queue 3\n")
        );
        n.store(7, std::sync::atomic::Ordering::Relaxed);
        assert!(m.render(&[]).contains("hisp_queue 7\n"));
        m.live("hisp_queue", "Waiting.", || 1);
        let text = m.render(&[]);
        assert_eq!(text.matches("# TYPE hisp_queue gauge").count(), 1);
        assert!(text.contains("hisp_queue 1\n"));
    }
}

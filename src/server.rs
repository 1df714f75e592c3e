//! `hisp serve`: starts every listener and background worker on listeners and a
//! shutdown signal the caller gives (so tests bind port 0), and stops gracefully.
//! So far: the HTTP listener, the authoritative DNS responder (UDP and TCP), the
//! SMTP MX and submission listeners with the gateway's workers (inbound,
//! delivery, tracking), the CRL refresher and the trust-bundle refresher.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;

use crate::dns;
use crate::notify::{self, Notifier};
use crate::ops::Hisp;
use crate::smtp::mx::MxBackend;
use crate::smtp::outbound::Outbound;
use crate::smtp::session::{self, Mode};
use crate::smtp::submission::SubmissionBackend;
use crate::smtp::{self, Gateway};
use crate::telemetry::Metrics;
use crate::web::{self, AppState};

/// How often the CRL refresher looks at the CRL's nextUpdate.
const CRL_CHECK_EVERY: Duration = Duration::from_secs(3600);
/// How often the bundle refresher looks for bundles that are due.
const BUNDLE_CHECK_EVERY: Duration = Duration::from_secs(60);

/// How many times to look for a port free for both UDP and TCP when `[dns] listen` has port 0.
const DNS_BIND_TRIES: usize = 10;

/// The sockets `serve` answers on, bound by the caller.
#[derive(Debug)]
pub struct Listeners {
    /// HTTP: portal, API, /healthz, /metrics, /pki.
    pub http: TcpListener,
    /// The authoritative DNS responder; `None` runs without it (tests of other listeners).
    pub dns: Option<DnsSockets>,
    /// The MX listener (other HISPs deliver here); `None` runs without it.
    pub mx: Option<TcpListener>,
    /// The submission listener (users' mail clients); `None` runs without it.
    pub submission: Option<TcpListener>,
    /// The MLLP listener (hospitals' ADT feeds); `None` runs without it.
    pub mllp: Option<TcpListener>,
}

/// The DNS responder's sockets: UDP and TCP on the same port.
#[derive(Debug)]
pub struct DnsSockets {
    /// UDP.
    pub udp: UdpSocket,
    /// TCP (RFC 7766: every authoritative server answers over TCP too).
    pub tcp: TcpListener,
}

impl DnsSockets {
    /// Bind UDP and TCP on `addr`; with port 0, TCP picks a port and UDP takes
    /// the same number (retried when another socket holds it for UDP).
    pub async fn bind(addr: std::net::SocketAddr) -> std::io::Result<Self> {
        let named = |e: std::io::Error| {
            std::io::Error::new(e.kind(), format!("cannot listen on {addr} (dns): {e}"))
        };
        let mut tries = 0;
        loop {
            let tcp = TcpListener::bind(addr).await.map_err(named)?;
            let port = tcp.local_addr().map_err(named)?.port();
            match UdpSocket::bind((addr.ip(), port)).await {
                Ok(udp) => return Ok(Self { udp, tcp }),
                Err(e) if addr.port() == 0 && tries < DNS_BIND_TRIES => {
                    tries += 1;
                    tracing::debug!(port, error = %e, "UDP port taken; picking another");
                }
                Err(e) => return Err(named(e)),
            }
        }
    }

    /// The port both sockets listen on.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.udp.local_addr()
    }
}

impl Listeners {
    /// Bind every configured listener.
    pub async fn bind(hisp: &Hisp) -> std::io::Result<Self> {
        let addr = hisp.config.http.listen;
        let http = TcpListener::bind(addr).await.map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot listen on {addr} (http): {e}"))
        })?;
        let dns = DnsSockets::bind(hisp.config.dns.listen).await?;
        let mx = bind_tcp(hisp.config.smtp.mx_listen, "smtp mx").await?;
        let submission = bind_tcp(hisp.config.smtp.submission_listen, "smtp submission").await?;
        let mllp = bind_tcp(hisp.config.mllp.listen, "mllp").await?;
        Ok(Self {
            http,
            dns: Some(dns),
            mx: Some(mx),
            submission: Some(submission),
            mllp: Some(mllp),
        })
    }
}

/// Bind a TCP listener, naming it in the error.
async fn bind_tcp(addr: std::net::SocketAddr, what: &str) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen on {addr} ({what}): {e}"))
    })
}

/// Start the SMTP listeners and the gateway's workers.
fn start_smtp(
    gw: &Gateway,
    mx: Option<TcpListener>,
    submission: Option<TcpListener>,
    stop: &watch::Receiver<bool>,
) -> std::io::Result<Vec<tokio::task::JoinHandle<()>>> {
    let hisp = &gw.hisp;
    let outbound = Outbound::new(smtp::outbound_config(&hisp.config))
        .map_err(|e| std::io::Error::other(format!("[delivery]: {e}")))?;
    let tls = match smtp::tls_acceptor(&hisp.config) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!(error = %e, "no TLS certificate: STARTTLS is off (and submission refuses AUTH)");
            None
        }
    };
    let per_ip = hisp.config.smtp.max_connections_per_ip;
    let mut tasks = smtp::worker::spawn(gw, outbound, stop);
    if let Some(l) = mx {
        let config = Arc::new(smtp::session_config(&hisp.config, Mode::Mx, tls.clone()));
        let backend = Arc::new(MxBackend { gw: gw.clone() });
        tasks.push(tokio::spawn(session::serve(
            l,
            config,
            backend,
            per_ip,
            stop.clone(),
        )));
    }
    if let Some(l) = submission {
        let config = Arc::new(smtp::session_config(&hisp.config, Mode::Submission, tls));
        let backend = Arc::new(SubmissionBackend::new(gw.clone()));
        tasks.push(tokio::spawn(session::serve(
            l,
            config,
            backend,
            per_ip,
            stop.clone(),
        )));
    }
    Ok(tasks)
}

/// Serve until `shutdown` resolves, then drain and return.
pub async fn run(
    hisp: Hisp,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let gw = Gateway::new(hisp.clone());
    let metrics = Arc::new(Metrics::default());
    let notifier = Notifier::new(gw.clone());
    {
        let n = notifier.clone();
        metrics.live(
            "hisp_mllp_intake_pending",
            "ADT messages received over MLLP and waiting for a commit turn (not those in the commit under way).",
            move || i64::try_from(n.intake_pending()).unwrap_or(i64::MAX),
        );
        let store = hisp.store.clone();
        metrics.live(
            "hisp_store_writers_queued",
            "Write transactions in the queue for SQLite's one writer (0 on PostgreSQL).",
            move || i64::try_from(store.writers_queued()).unwrap_or(i64::MAX),
        );
    }
    let state = AppState::new(gw.clone(), metrics);
    if let Err(e) = smtp::worker::release_stale_leases(&gw).await {
        tracing::warn!(error = %e, "cannot release stale queue leases");
    }
    let mut smtp_tasks = start_smtp(&gw, listeners.mx, listeners.submission, &stop_rx)?;
    smtp_tasks.push(tokio::spawn(notify::process::run(
        notifier.clone(),
        stop_rx.clone(),
    )));
    smtp_tasks.push(tokio::spawn(notify::digest::run(
        notifier.clone(),
        stop_rx.clone(),
    )));
    if let Some(l) = listeners.mllp {
        let tls = if hisp.config.mllp.tls {
            let acceptor = notify::mllp::Acceptor::from_config(&hisp.config)
                .map_err(|e| std::io::Error::other(format!("[mllp] tls: {e}")))?;
            Some(acceptor)
        } else {
            None
        };
        if let Ok(listen) = l.local_addr() {
            match hisp.feed_list().await {
                Ok(feeds) => {
                    for facility in notify::mllp::open_feeds(listen, &feeds) {
                        tracing::warn!(
                            facility,
                            %listen,
                            "feed takes ADT from any address that reaches the MLLP port: give \
                             it its engine's addresses (`hisp feed allow --facility … --from …`) \
                             or, over `[mllp] tls`, its engine's certificate (`hisp feed pin`)"
                        );
                    }
                    let tls = hisp.config.mllp.tls;
                    for facility in notify::mllp::pinned_without_tls(tls, &feeds) {
                        tracing::warn!(
                            facility,
                            "feed pins client certificates but `[mllp] tls` is off: every \
                             message of it is refused (set `tls = true`, or `hisp feed pin \
                             --facility … --none`)"
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot list feeds"),
            }
        }
        smtp_tasks.push(tokio::spawn(notify::mllp::serve(
            notifier,
            l,
            tls,
            stop_rx.clone(),
        )));
    }
    let crl = tokio::spawn(refresh_crl(hisp.clone(), stop_rx.clone()));
    let bundles = tokio::spawn(refresh_bundles(hisp.clone(), stop_rx.clone()));
    let mut http_stop = stop_rx.clone();
    let http = axum::serve(
        listeners.http,
        web::app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = http_stop.wait_for(|s| *s).await;
    });
    let http = tokio::spawn(async move { http.await });
    let dns = listeners.dns.map(|d| {
        let (hisp, stop) = (hisp.clone(), stop_rx.clone());
        tokio::spawn(async move {
            if let Err(e) = dns::server::serve(hisp, d.udp, d.tcp, stop).await {
                tracing::error!(error = %e, "DNS responder stopped");
            }
        })
    });
    shutdown.await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    let served = http.await.map_err(std::io::Error::other)?;
    if let Some(dns) = dns {
        let _ = dns.await;
    }
    let _ = crl.await;
    let _ = bundles.await;
    for t in smtp_tasks {
        let _ = t.await;
    }
    hisp.store.close().await;
    served
}

/// Keep the published CRL fresh (re-signed a day before its nextUpdate).
async fn refresh_crl(hisp: Hisp, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(e) = hisp.current_crl().await {
            tracing::warn!(error = %e, "CRL refresh failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(CRL_CHECK_EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Refresh trust bundles whose interval has passed (checked every minute).
async fn refresh_bundles(hisp: Hisp, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(BUNDLE_CHECK_EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        match hisp.bundle_refresh(true, "system").await {
            Ok(done) => {
                for (b, outcome) in done {
                    tracing::info!(bundle = %b.url, ?outcome, "bundle refresh");
                }
            }
            Err(e) => tracing::warn!(error = %e, "bundle refresh failed"),
        }
    }
}

/// A future that resolves on Ctrl-C (SIGINT) or SIGTERM. The handlers are
/// registered when this is called, not when the future is first polled, so a
/// signal that arrives right after the listeners are announced is still a
/// graceful shutdown.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

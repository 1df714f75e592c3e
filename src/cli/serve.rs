//! `hisp serve`, `hisp init` and `hisp config check`.

use std::path::Path;

use super::{CliError, Output};
use crate::clock;
use crate::config::{self, Config};
use crate::direct::Domain;
use crate::ops::setup::{self, InitOptions, SetupReport};
use crate::ops::{Hisp, OpsError};
use crate::server::{self, Listeners};
use crate::store::redact;

/// Serve, running first-time setup when the config does not exist.
pub async fn serve(config_path: &Path, out: &mut Output) -> Result<(), CliError> {
    let hisp = if config_path.exists() {
        let config = Config::load(config_path, &config::process_env())?;
        Hisp::open(config, clock::system()).await?
    } else {
        out.line(format!(
            "No config at {}: setting up a development HISP for {}",
            config_path.display(),
            setup::DEV_DOMAIN
        ));
        let opts = InitOptions {
            domain: Domain::parse(setup::DEV_DOMAIN)?,
            hostname: None,
            ca: None,
        };
        let (hisp, report) =
            setup::init(config_path, &opts, &config::process_env(), clock::system()).await?;
        print_report(&report, &hisp, out);
        hisp
    };
    // Signal handlers first, so a SIGTERM right after the URLs are printed is graceful.
    let shutdown = server::shutdown_signal()
        .map_err(|e| OpsError::Invalid(format!("cannot install signal handlers: {e}")))?;
    let listeners = Listeners::bind(&hisp)
        .await
        .map_err(|e| OpsError::Invalid(e.to_string()))?;
    let http = listeners
        .http
        .local_addr()
        .map_err(|e| OpsError::Invalid(e.to_string()))?;
    out.line(format!("hisp {} serving", env!("CARGO_PKG_VERSION")));
    out.line(format!(
        "  http     http://{http}/   (the portal; /api/v1, /healthz, /metrics, /pki/…)"
    ));
    if let Some(dns) = &listeners.dns {
        let dns = dns
            .local_addr()
            .map_err(|e| OpsError::Invalid(e.to_string()))?;
        out.line(format!("  dns      {dns} (UDP and TCP, authoritative)"));
    }
    for (name, l) in [
        ("smtp mx ", &listeners.mx),
        ("submit  ", &listeners.submission),
    ] {
        if let Some(l) = l {
            let a = l
                .local_addr()
                .map_err(|e| OpsError::Invalid(e.to_string()))?;
            out.line(format!("  {name} {a}"));
        }
    }
    out.line(format!(
        "  database {}",
        redact(&hisp.config.database_url()?)
    ));
    out.line("Stop with Ctrl-C or SIGTERM.");
    tracing::info!(%http, "listening");
    server::run(hisp, listeners, shutdown)
        .await
        .map_err(|e| OpsError::Invalid(format!("server failed: {e}")))?;
    out.line("hisp stopped");
    Ok(())
}

/// `hisp init --domain D`.
pub async fn init(
    config_path: &Path,
    domain: &str,
    hostname: Option<String>,
    out: &mut Output,
) -> Result<(), CliError> {
    let opts = InitOptions {
        domain: Domain::parse(domain)?,
        hostname,
        ca: None,
    };
    let (hisp, report) =
        setup::init(config_path, &opts, &config::process_env(), clock::system()).await?;
    print_report(&report, &hisp, out);
    hisp.store.close().await;
    Ok(())
}

fn print_report(r: &SetupReport, hisp: &Hisp, out: &mut Output) {
    let done = |b: bool, what: &str| {
        if b {
            format!("created {what}")
        } else {
            format!("kept existing {what}")
        }
    };
    out.line(format!(
        "{} {}",
        done(r.wrote_config, "config"),
        r.config_path.display()
    ));
    out.line(format!(
        "{} {}",
        done(r.created_master_key, "master key"),
        hisp.config.master_key_file().display()
    ));
    out.line(done(r.created_ca, "CA"));
    out.line(format!(
        "{} {}",
        done(r.created_tls, "TLS certificate for"),
        hisp.config.server.hostname
    ));
    if r.added_domain {
        out.line("added domain and its organization-bound certificate");
    } else {
        out.line("domain already set up");
    }
    if let Some((user, password)) = &r.admin {
        out.line(format!(
            "admin sign-in: user '{user}', one-time password {password}  (shown once; choose a new one at first sign-in, or `hisp user passwd {user}`)"
        ));
    }
}

/// `hisp config check`.
pub fn check(config_path: &Path, out: &mut Output) -> Result<(), CliError> {
    let config = Config::load(config_path, &config::process_env())?;
    out.line(format!("{}: ok", config_path.display()));
    for (name, addr) in config.listeners() {
        out.line(format!("  listen {name:<8} {addr}"));
    }
    out.line(format!("  hostname        {}", config.server.hostname));
    out.line(format!(
        "  database        {}",
        redact(&config.database_url()?)
    ));
    out.line(format!("  data dir        {}", config.data_dir().display()));
    let key = config.master_key_file();
    let state = if key.exists() {
        "present"
    } else {
        "missing (run `hisp init`)"
    };
    out.line(format!("  master key      {} ({state})", key.display()));
    out.line(format!("  public url      {}", config.public_url()));
    Ok(())
}

//! `hisp anchor add|list|remove` and `hisp bundle add|list|refresh|remove`.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{Value, json};

use super::{CLI_ACTOR, CliError, Output};
use crate::clock::rfc3339;
use crate::direct::Domain;
use crate::ops::trust::{BundleSpec, Refreshed, read_cert};
use crate::ops::{Hisp, OpsError};

/// `hisp anchor …`
#[derive(Debug, Subcommand)]
pub enum AnchorCmd {
    /// Trust a CA certificate (PEM or DER) for a domain; both directions unless one is given.
    Add {
        /// The certificate file.
        file: PathBuf,
        /// The local domain whose trust it is.
        #[arg(long)]
        domain: String,
        /// Trust it for senders whose mail we receive.
        #[arg(long)]
        incoming: bool,
        /// Trust it for recipients we send to.
        #[arg(long)]
        outgoing: bool,
    },
    /// List anchors.
    List {
        /// Only this domain's.
        #[arg(long)]
        domain: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a hand-added anchor by SHA-256 fingerprint (prefix).
    Remove {
        /// Fingerprint or prefix.
        fingerprint: String,
        /// The domain.
        #[arg(long)]
        domain: String,
    },
}

/// `hisp bundle …`
#[derive(Debug, Subcommand)]
pub enum BundleCmd {
    /// Add a trust bundle (.p7b, optionally CMS-signed) from a URL or file, and load it.
    Add {
        /// http(s) URL or file path.
        source: String,
        /// The local domain whose trust it feeds.
        #[arg(long)]
        domain: String,
        /// Its anchors join the incoming set.
        #[arg(long)]
        incoming: bool,
        /// Its anchors join the outgoing set.
        #[arg(long)]
        outgoing: bool,
        /// Refresh interval in seconds (0 = manual only).
        #[arg(long, default_value_t = 86_400)]
        refresh: i64,
        /// The certificate the bundle must be signed by.
        #[arg(long)]
        signer: Option<PathBuf>,
    },
    /// List bundles with last attempt, last success and status.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Refresh every bundle now (unchanged thumbprints are skipped).
    Refresh,
    /// Remove a bundle and its anchors.
    Remove {
        /// The bundle's id (from `bundle list`).
        id: i64,
    },
}

/// Both directions when neither flag is given.
fn directions(incoming: bool, outgoing: bool) -> (bool, bool) {
    if incoming || outgoing {
        (incoming, outgoing)
    } else {
        (true, true)
    }
}

fn describe(r: &Refreshed) -> String {
    match r {
        Refreshed::Loaded(n) => format!("SUCCESS: {n} anchor(s) loaded"),
        Refreshed::Unchanged => "SUCCESS: unchanged (same thumbprint)".into(),
        Refreshed::Failed(e) => format!("{e}; previous anchors kept"),
    }
}

/// Run an anchor command.
pub async fn run_anchor(hisp: Hisp, cmd: AnchorCmd, out: &mut Output) -> Result<(), CliError> {
    match cmd {
        AnchorCmd::Add {
            file,
            domain,
            incoming,
            outgoing,
        } => {
            let (i, o) = directions(incoming, outgoing);
            let row = hisp
                .anchor_add(
                    &Domain::parse(&domain)?,
                    &read_cert(&file)?,
                    i,
                    o,
                    CLI_ACTOR,
                )
                .await?;
            out.line(format!(
                "anchor {} for {} (incoming={}, outgoing={}) fingerprint {}",
                row.subject, row.domain, row.incoming, row.outgoing, row.fingerprint
            ));
        }
        AnchorCmd::List { domain, json } => {
            let d = domain.as_deref().map(Domain::parse).transpose()?;
            let rows = hisp.anchor_list(d.as_ref()).await?;
            let now = hisp.now();
            let expiry = |der: &[u8]| {
                openssl::x509::X509::from_der(der)
                    .ok()
                    .and_then(|c| crate::pki::info(&c).ok())
                    .map(|i| i.not_after)
            };
            if json {
                out.json(&Value::Array(rows.iter().map(|a| json!({
                    "domain": a.domain, "subject": a.subject, "fingerprint": a.fingerprint,
                    "incoming": a.incoming, "outgoing": a.outgoing, "bundle_id": a.bundle_id,
                    "not_after": expiry(&a.cert_der).map(rfc3339),
                })).collect()));
            } else {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|a| {
                        let dirs = match (a.incoming, a.outgoing) {
                            (true, true) => "both",
                            (true, false) => "incoming",
                            (false, true) => "outgoing",
                            _ => "none",
                        };
                        let exp = expiry(&a.cert_der).map_or("?".into(), |t| {
                            if t < now {
                                format!("EXPIRED {}", rfc3339(t))
                            } else {
                                rfc3339(t)
                            }
                        });
                        vec![
                            a.domain.clone(),
                            a.subject.clone(),
                            dirs.into(),
                            a.bundle_id
                                .map_or("manual".into(), |b| format!("bundle {b}")),
                            exp,
                            a.fingerprint[..16].to_string(),
                        ]
                    })
                    .collect();
                out.table(
                    &[
                        "DOMAIN",
                        "SUBJECT",
                        "DIRECTION",
                        "SOURCE",
                        "NOT AFTER",
                        "FINGERPRINT",
                    ],
                    &table,
                );
            }
        }
        AnchorCmd::Remove {
            fingerprint,
            domain,
        } => {
            let row = hisp
                .anchor_remove(&Domain::parse(&domain)?, &fingerprint, CLI_ACTOR)
                .await?;
            out.line(format!(
                "removed anchor {} from {}",
                row.subject, row.domain
            ));
        }
    }
    hisp.store.close().await;
    Ok(())
}

/// Run a bundle command.
pub async fn run_bundle(hisp: Hisp, cmd: BundleCmd, out: &mut Output) -> Result<(), CliError> {
    match cmd {
        BundleCmd::Add {
            source,
            domain,
            incoming,
            outgoing,
            refresh,
            signer,
        } => {
            let (i, o) = directions(incoming, outgoing);
            let signer = signer.as_deref().map(read_cert).transpose()?;
            let url = if source.starts_with("http://") || source.starts_with("https://") {
                source
            } else {
                std::fs::canonicalize(&source)
                    .map_err(|e| CliError::Ops(OpsError::io(std::path::Path::new(&source), e)))?
                    .display()
                    .to_string()
            };
            let spec = BundleSpec {
                url: &url,
                incoming: i,
                outgoing: o,
                refresh_secs: refresh.max(0),
                signer: signer.as_ref(),
            };
            let (row, outcome) = hisp
                .bundle_add(&Domain::parse(&domain)?, &spec, CLI_ACTOR)
                .await?;
            out.line(format!(
                "bundle {} added for {}: {}",
                row.id,
                row.domain,
                describe(&outcome)
            ));
        }
        BundleCmd::List { json } => {
            let rows = hisp.bundle_list().await?;
            let t = |v: Option<i64>| v.map_or("-".to_string(), rfc3339);
            if json {
                out.json(&Value::Array(rows.iter().map(|b| json!({
                    "id": b.id, "domain": b.domain, "url": b.url, "incoming": b.incoming, "outgoing": b.outgoing,
                    "refresh_secs": b.refresh_secs, "signed": b.signer_der.is_some(), "status": b.status,
                    "last_attempt": b.last_attempt.map(rfc3339), "last_success": b.last_success.map(rfc3339),
                })).collect()));
            } else {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|b| {
                        vec![
                            b.id.to_string(),
                            b.domain.clone(),
                            b.url.clone(),
                            b.status.clone(),
                            t(b.last_attempt),
                            t(b.last_success),
                            b.refresh_secs.to_string(),
                        ]
                    })
                    .collect();
                out.table(
                    &[
                        "ID",
                        "DOMAIN",
                        "SOURCE",
                        "STATUS",
                        "LAST ATTEMPT",
                        "LAST SUCCESS",
                        "REFRESH S",
                    ],
                    &table,
                );
            }
        }
        BundleCmd::Refresh => {
            for (b, outcome) in hisp.bundle_refresh(false, CLI_ACTOR).await? {
                out.line(format!(
                    "bundle {} ({}): {}",
                    b.id,
                    b.url,
                    describe(&outcome)
                ));
            }
        }
        BundleCmd::Remove { id } => {
            let b = hisp.bundle_remove(id, CLI_ACTOR).await?;
            out.line(format!(
                "removed bundle {} ({}) and its anchors",
                b.id, b.url
            ));
        }
    }
    hisp.store.close().await;
    Ok(())
}

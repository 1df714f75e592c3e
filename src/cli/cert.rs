//! `hisp cert list|show|export|revoke|renew|import` and `hisp ca export`.

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{Value, json};

use super::{CLI_ACTOR, CliError, Output, read_password_stdin};
use crate::clock::rfc3339;
use crate::ops::{Hisp, OpsError, Owner};
use crate::pki;
use crate::store::certs::CertRow;

/// `hisp cert …`
#[derive(Debug, Subcommand)]
pub enum CertCmd {
    /// List certificates.
    List {
        /// Only this address's or domain's.
        #[arg(long)]
        owner: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one certificate (by serial or fingerprint prefix).
    Show {
        /// Serial (hex) or SHA-256 fingerprint prefix.
        cert: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a certificate (never its key), PEM unless --der.
    Export {
        /// Serial (hex) or SHA-256 fingerprint prefix.
        cert: String,
        /// DER instead of PEM.
        #[arg(long)]
        der: bool,
    },
    /// Revoke a certificate; our CA's CRL is re-signed at once.
    Revoke {
        /// Serial (hex) or SHA-256 fingerprint prefix.
        cert: String,
        /// RFC 5280 reason, e.g. keyCompromise, superseded, cessationOfOperation.
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
    /// Issue fresh certificate(s) for an address or domain; old ones stay until they expire.
    Renew {
        /// The address or domain.
        owner: String,
    },
    /// Import an externally issued certificate and key (PKCS#12, or PEM files).
    Import {
        /// The address or domain it binds.
        owner: String,
        /// A PKCS#12 (.p12/.pfx) file; its password is read from stdin with --password-stdin.
        #[arg(long, conflicts_with_all = ["cert", "key"])]
        p12: Option<PathBuf>,
        /// Read the PKCS#12 password from standard input.
        #[arg(long, requires = "p12")]
        password_stdin: bool,
        /// A PEM certificate (with any intermediates after it).
        #[arg(long, requires = "key")]
        cert: Option<PathBuf>,
        /// Its PEM private key.
        #[arg(long, requires = "cert")]
        key: Option<PathBuf>,
    },
}

/// `hisp ca …`
#[derive(Debug, Subcommand)]
pub enum CaCmd {
    /// Print the CA certificate (the trust anchor peers need), PEM unless --der.
    Export {
        /// DER instead of PEM.
        #[arg(long)]
        der: bool,
    },
}

/// A certificate row as JSON.
pub fn cert_json(c: &CertRow, now: i64) -> Value {
    json!({
        "owner": c.owner,
        "serial": c.serial,
        "fingerprint": c.fingerprint,
        "subject": c.subject,
        "usage": c.usage,
        "source": c.source,
        "not_before": rfc3339(c.not_before),
        "not_after": rfc3339(c.not_after),
        "status": c.status(now),
        "revoked_at": c.revoked_at.map(rfc3339),
        "revocation_reason": c.revocation_reason,
    })
}

fn read(path: &PathBuf) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::Ops(OpsError::io(path, e)))
}

/// Run a cert command.
pub async fn run(hisp: Hisp, cmd: CertCmd, out: &mut Output) -> Result<(), CliError> {
    let now = hisp.now();
    match cmd {
        CertCmd::List { owner, json } => {
            let rows = match owner {
                Some(o) => hisp.certs_of(&Owner::parse(&o)?).await?,
                None => hisp.cert_list().await?,
            };
            if json {
                out.json(&Value::Array(
                    rows.iter().map(|c| cert_json(c, now)).collect(),
                ));
            } else {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|c| {
                        vec![
                            c.owner.clone(),
                            c.serial.clone(),
                            c.usage.clone(),
                            c.source.clone(),
                            rfc3339(c.not_after),
                            c.status(now).to_string(),
                        ]
                    })
                    .collect();
                out.table(
                    &["OWNER", "SERIAL", "USAGE", "SOURCE", "NOT AFTER", "STATUS"],
                    &table,
                );
            }
        }
        CertCmd::Show { cert, json } => {
            let c = hisp.cert_find(&cert).await?;
            let cert = c.cert()?;
            let info = pki::info(&cert).map_err(OpsError::from)?;
            let mut v = cert_json(&c, now);
            v["issuer"] = json!(info.issuer);
            v["rfc822_names"] = json!(info.rfc822_names);
            v["dns_names"] = json!(info.dns_names);
            v["key_bits"] = json!(info.key_bits);
            if json {
                out.json(&v);
            } else if let Value::Object(map) = v {
                for (k, val) in map {
                    let text = match val {
                        Value::String(s) => s,
                        Value::Null => "-".into(),
                        other => other.to_string(),
                    };
                    out.line(format!("{k:<18} {text}"));
                }
            }
        }
        CertCmd::Export { cert, der } => {
            let c = hisp.cert_find(&cert).await?;
            if der {
                out.bytes(&c.cert_der);
            } else {
                let cert = c.cert()?;
                out.bytes(pki::cert_pem(&cert).map_err(OpsError::from)?.as_bytes());
            }
        }
        CertCmd::Revoke { cert, reason } => {
            let c = hisp.cert_revoke(&cert, &reason, CLI_ACTOR).await?;
            out.line(format!(
                "revoked {} ({}); the CRL is updated",
                c.serial, c.owner
            ));
        }
        CertCmd::Renew { owner } => {
            for c in hisp.cert_renew(&Owner::parse(&owner)?, CLI_ACTOR).await? {
                out.line(format!(
                    "issued {} for {} ({}, until {})",
                    c.serial,
                    c.owner,
                    c.usage,
                    rfc3339(c.not_after)
                ));
            }
        }
        CertCmd::Import {
            owner,
            p12,
            password_stdin,
            cert,
            key,
        } => {
            let owner = Owner::parse(&owner)?;
            let imported = match (p12, cert, key) {
                (Some(p12), None, None) => {
                    let password = if password_stdin {
                        read_password_stdin()?
                    } else {
                        String::new()
                    };
                    pki::import_p12(&read(&p12)?, &password).map_err(OpsError::from)?
                }
                (None, Some(cert), Some(key)) => {
                    pki::import_pem(&read(&cert)?, &read(&key)?).map_err(OpsError::from)?
                }
                _ => {
                    return Err(CliError::Usage(
                        "give --p12 FILE, or --cert FILE and --key FILE".into(),
                    ));
                }
            };
            let c = hisp.cert_import(&owner, imported, CLI_ACTOR).await?;
            out.line(format!(
                "imported {} for {} ({}, until {})",
                c.serial,
                c.owner,
                c.usage,
                rfc3339(c.not_after)
            ));
        }
    }
    hisp.store.close().await;
    Ok(())
}

/// Run a CA command.
pub async fn run_ca(hisp: Hisp, cmd: CaCmd, out: &mut Output) -> Result<(), CliError> {
    let CaCmd::Export { der } = cmd;
    let cert = hisp.ca_cert().await?;
    if der {
        out.bytes(
            &cert
                .to_der()
                .map_err(|e| OpsError::Invalid(e.to_string()))?,
        );
    } else {
        out.bytes(pki::cert_pem(&cert).map_err(OpsError::from)?.as_bytes());
    }
    hisp.store.close().await;
    Ok(())
}

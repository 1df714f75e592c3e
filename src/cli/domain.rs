//! `hisp domain add|list|remove`.

use clap::Subcommand;
use serde_json::json;

use super::{CLI_ACTOR, CliError, Output};
use crate::clock::rfc3339;
use crate::direct::Domain;
use crate::ops::Hisp;

/// `hisp domain …`
#[derive(Debug, Subcommand)]
pub enum DomainCmd {
    /// Serve a domain; issues its organization-bound certificate.
    Add {
        /// The domain.
        domain: String,
    },
    /// List domains.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop serving a domain that has no addresses left; revokes its certificates.
    Remove {
        /// The domain.
        domain: String,
    },
}

/// Run a domain command.
pub async fn run(hisp: Hisp, cmd: DomainCmd, out: &mut Output) -> Result<(), CliError> {
    match cmd {
        DomainCmd::Add { domain } => {
            let (row, certs) = hisp.domain_add(&Domain::parse(&domain)?, CLI_ACTOR).await?;
            out.line(format!("added domain {}", row.name));
            for c in certs {
                out.line(format!(
                    "  organization-bound certificate {} ({})",
                    c.serial, c.usage
                ));
            }
        }
        DomainCmd::List { json } => {
            let rows = hisp.domain_list().await?;
            if json {
                out.json(&json!(rows
                    .iter()
                    .map(|d| json!({"name": d.name.as_str(), "created_at": rfc3339(d.created_at)}))
                    .collect::<Vec<_>>()));
            } else {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|d| vec![d.name.to_string(), rfc3339(d.created_at)])
                    .collect();
                out.table(&["DOMAIN", "CREATED"], &table);
            }
        }
        DomainCmd::Remove { domain } => {
            let d = Domain::parse(&domain)?;
            hisp.domain_remove(&d, CLI_ACTOR).await?;
            out.line(format!("removed domain {d}; its certificates are revoked"));
        }
    }
    hisp.store.close().await;
    Ok(())
}

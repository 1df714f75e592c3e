//! `hisp audit verify|list`.

use clap::Subcommand;
use serde_json::json;

use super::{CliError, Output};
use crate::audit::{self, Verdict};
use crate::clock::rfc3339;
use crate::ops::{Hisp, OpsError};

/// `hisp audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Recompute the hash chain; exits 1 naming the first broken row.
    Verify,
    /// Show the most recent entries.
    List {
        /// How many.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Run an audit command.
pub async fn run(hisp: Hisp, cmd: AuditCmd, out: &mut Output) -> Result<(), CliError> {
    let mut conn = hisp.conn().await?;
    let result = match cmd {
        AuditCmd::Verify => match audit::verify(&mut conn).await.map_err(OpsError::from)? {
            Verdict::Intact { rows } => {
                out.line(format!(
                    "audit log intact: {rows} rows, hash chain verified"
                ));
                Ok(())
            }
            Verdict::Broken { seq, why } => Err(CliError::Ops(OpsError::Invalid(format!(
                "audit log broken at row {seq}: {why}"
            )))),
        },
        AuditCmd::List { limit, json } => {
            let total: i64 = sqlx::query_scalar("SELECT seq FROM audit_head WHERE id = 1")
                .fetch_one(&mut *conn)
                .await
                .map_err(OpsError::from)?;
            let rows = audit::page(&mut conn, (total - limit).max(0), limit)
                .await
                .map_err(OpsError::from)?;
            if json {
                out.json(&json!(rows));
            } else {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.seq.to_string(),
                            rfc3339(r.at),
                            r.actor.clone(),
                            r.action.clone(),
                            r.subject.clone(),
                            r.detail.clone(),
                        ]
                    })
                    .collect();
                out.table(
                    &["SEQ", "AT", "ACTOR", "ACTION", "SUBJECT", "DETAIL"],
                    &table,
                );
            }
            Ok(())
        }
    };
    drop(conn);
    hisp.store.close().await;
    result
}

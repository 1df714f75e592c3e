//! `hisp user add|passwd|list`.

use clap::Subcommand;
use serde_json::json;

use super::{CLI_ACTOR, CliError, Output, read_password_stdin};
use crate::clock::rfc3339;
use crate::ops::Hisp;
use crate::store::users::Role;

/// `hisp user …`
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add a login that owns no address (an admin, say).
    Add {
        /// The login name.
        username: String,
        /// provider, care-manager or admin.
        #[arg(long, default_value = "admin")]
        role: String,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a password (generated one-time password unless --password-stdin).
    Passwd {
        /// The login name.
        username: String,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List logins.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Run a user command.
pub async fn run(hisp: Hisp, cmd: UserCmd, out: &mut Output) -> Result<(), CliError> {
    match cmd {
        UserCmd::Add {
            username,
            role,
            password_stdin,
        } => {
            let role: Role = role.parse().map_err(CliError::Usage)?;
            let pw = if password_stdin {
                Some(read_password_stdin()?)
            } else {
                None
            };
            let (user, generated) = hisp.user_add(&username, role, pw, CLI_ACTOR).await?;
            out.line(format!("added user {} ({})", user.username, user.role));
            if let Some(pw) = generated {
                out.line(format!("  one-time password: {pw}  (shown once)"));
            }
        }
        UserCmd::Passwd {
            username,
            password_stdin,
        } => {
            let pw = if password_stdin {
                Some(read_password_stdin()?)
            } else {
                None
            };
            match hisp.user_passwd(&username, pw, CLI_ACTOR).await? {
                Some(generated) => out.line(format!(
                    "one-time password for {username}: {generated}  (shown once)"
                )),
                None => out.line(format!("password changed for {username}")),
            }
        }
        UserCmd::List { json } => {
            let mut conn = hisp.conn().await?;
            let users = crate::store::users::list(&mut conn)
                .await
                .map_err(crate::ops::OpsError::from)?;
            drop(conn);
            if json {
                out.json(&json!(users));
            } else {
                let rows: Vec<Vec<String>> = users
                    .iter()
                    .map(|u| {
                        vec![
                            u.username.clone(),
                            u.role.to_string(),
                            if u.enabled { "enabled" } else { "disabled" }.into(),
                            rfc3339(u.created_at),
                        ]
                    })
                    .collect();
                out.table(&["USER", "ROLE", "STATE", "CREATED"], &rows);
            }
        }
    }
    hisp.store.close().await;
    Ok(())
}

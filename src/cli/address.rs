//! `hisp address add|list|show|disable|enable|remove`.

use clap::Subcommand;
use serde_json::{Value, json};

use super::{CLI_ACTOR, CliError, Output, cert::cert_json, read_password_stdin};
use crate::clock::rfc3339;
use crate::direct::{DirectAddress, Domain};
use crate::ops::Hisp;
use crate::ops::address::NewAddress;
use crate::store::addresses::AddressRow;
use crate::store::users::Role;

/// `hisp address …`
#[derive(Debug, Subcommand)]
pub enum AddressCmd {
    /// Issue a Direct address: mailbox, login and certificate(s).
    Add {
        /// The address (local@domain); its domain must be served here.
        address: String,
        /// The person's or service's name, used as the certificate's CN.
        #[arg(long)]
        name: Option<String>,
        /// provider, care-manager or admin.
        #[arg(long, default_value = "provider")]
        role: String,
        /// Read the login's password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
        /// Issue a signing-only and an encipherment-only certificate instead of one dual-use.
        #[arg(long)]
        single_use_certs: bool,
    },
    /// List addresses.
    List {
        /// Only this domain's.
        #[arg(long)]
        domain: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show an address, its login and its certificates.
    Show {
        /// The address.
        address: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable an address (and its login): no mail, no published certificate.
    Disable {
        /// The address.
        address: String,
    },
    /// Enable a disabled address (and its login) again.
    Enable {
        /// The address.
        address: String,
    },
    /// Remove an address; revokes its certificates.
    Remove {
        /// The address.
        address: String,
    },
}

fn address_json(a: &AddressRow) -> Value {
    json!({
        "address": a.address.to_string(),
        "name": a.display_name,
        "enabled": a.enabled,
        "created_at": rfc3339(a.created_at),
    })
}

/// Run an address command.
pub async fn run(hisp: Hisp, cmd: AddressCmd, out: &mut Output) -> Result<(), CliError> {
    match cmd {
        AddressCmd::Add {
            address,
            name,
            role,
            password_stdin,
            single_use_certs,
        } => {
            let role: Role = role.parse().map_err(CliError::Usage)?;
            let req = NewAddress {
                address: DirectAddress::parse(&address)?,
                name,
                role,
                password: if password_stdin {
                    Some(read_password_stdin()?)
                } else {
                    None
                },
                single_use: single_use_certs.then_some(true),
            };
            let done = hisp.address_add(req, CLI_ACTOR).await?;
            out.line(format!(
                "issued {} (login {}, role {})",
                done.address.address, done.user.username, done.user.role
            ));
            for c in &done.certs {
                out.line(format!(
                    "  certificate {} ({}, valid until {})",
                    c.serial,
                    c.usage,
                    rfc3339(c.not_after)
                ));
            }
            if let Some(pw) = done.generated_password {
                out.line(format!(
                    "  one-time password: {pw}  (shown once; it must be changed at first sign-in)"
                ));
            }
        }
        AddressCmd::List { domain, json } => {
            let domain = domain.as_deref().map(Domain::parse).transpose()?;
            let rows = hisp.address_list(domain.as_ref()).await?;
            if json {
                out.json(&Value::Array(rows.iter().map(address_json).collect()));
            } else {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|a| {
                        vec![
                            a.address.to_string(),
                            a.display_name.clone().unwrap_or_default(),
                            if a.enabled { "enabled" } else { "disabled" }.into(),
                            rfc3339(a.created_at),
                        ]
                    })
                    .collect();
                out.table(&["ADDRESS", "NAME", "STATE", "CREATED"], &table);
            }
        }
        AddressCmd::Show { address, json } => {
            let d = hisp.address_show(&DirectAddress::parse(&address)?).await?;
            let now = hisp.now();
            if json {
                let mut v = address_json(&d.address);
                v["login"] = json!(d.user.as_ref().map(
                    |u| json!({"username": u.username, "role": u.role, "enabled": u.enabled})
                ));
                v["certificates"] =
                    Value::Array(d.certs.iter().map(|c| cert_json(c, now)).collect());
                out.json(&v);
            } else {
                out.line(format!("address   {}", d.address.address));
                out.line(format!(
                    "name      {}",
                    d.address.display_name.as_deref().unwrap_or("-")
                ));
                out.line(format!(
                    "state     {}",
                    if d.address.enabled {
                        "enabled"
                    } else {
                        "disabled"
                    }
                ));
                if let Some(u) = &d.user {
                    out.line(format!(
                        "login     {} ({}{})",
                        u.username,
                        u.role,
                        if u.enabled { "" } else { ", disabled" }
                    ));
                }
                for c in &d.certs {
                    out.line(format!(
                        "cert      {} {} {} until {} [{}]",
                        c.serial,
                        c.usage,
                        c.source,
                        rfc3339(c.not_after),
                        c.status(now)
                    ));
                }
            }
        }
        AddressCmd::Disable { address } => {
            let a = DirectAddress::parse(&address)?;
            hisp.address_disable(&a, CLI_ACTOR).await?;
            out.line(format!("disabled {a}"));
        }
        AddressCmd::Enable { address } => {
            let a = DirectAddress::parse(&address)?;
            hisp.address_enable(&a, CLI_ACTOR).await?;
            out.line(format!("enabled {a}"));
        }
        AddressCmd::Remove { address } => {
            let a = DirectAddress::parse(&address)?;
            hisp.address_remove(&a, CLI_ACTOR).await?;
            out.line(format!("removed {a}; its certificates are revoked"));
        }
    }
    hisp.store.close().await;
    Ok(())
}

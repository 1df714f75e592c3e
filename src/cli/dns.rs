//! `hisp dns records` and `hisp dns record add|remove`.

use clap::Subcommand;
use serde_json::{Value, json};

use super::{CLI_ACTOR, CliError, Output};
use crate::dns::zone::{self, Data};
use crate::ops::{Hisp, OpsError};
use crate::store::{dns, domains};

/// `hisp dns …`
#[derive(Debug, Subcommand)]
pub enum DnsCmd {
    /// List every record the responder serves.
    Records {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Extra records beside the generated ones.
    #[command(subcommand)]
    Record(RecordCmd),
}

/// `hisp dns record …`
#[derive(Debug, Subcommand)]
pub enum RecordCmd {
    /// Add a record, e.g. `_ldap._tcp.d.org SRV "0 0 389 ldap.d.org"`.
    Add {
        /// Owner name inside one of our domains.
        name: String,
        /// A, AAAA, NS, MX, SRV, TXT, or CERT (an IPKIX URL).
        rtype: String,
        /// The data in presentation form.
        data: String,
        /// TTL in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
    },
    /// Remove added records of a name and type (only those with DATA, when given).
    Remove {
        /// Owner name.
        name: String,
        /// Record type.
        rtype: String,
        /// Only records with exactly this data.
        data: Option<String>,
    },
}

/// One line of presentation data for a record.
pub fn present(d: &Data) -> String {
    match d {
        Data::Soa {
            mname,
            rname,
            serial,
            refresh,
            retry,
            expire,
            minimum,
        } => format!("{mname}. {rname}. {serial} {refresh} {retry} {expire} {minimum}"),
        Data::Ns(h) => format!("{h}."),
        Data::A(ip) => ip.to_string(),
        Data::Aaaa(ip) => ip.to_string(),
        Data::Mx {
            preference,
            exchange,
        } => format!("{preference} {exchange}."),
        Data::CertPkix(der) => {
            let subject = openssl::x509::X509::from_der(der)
                .ok()
                .and_then(|c| crate::pki::info(&c).ok())
                .map_or("?".into(), |i| i.subject);
            format!("PKIX 0 0 ({} bytes, {subject})", der.len())
        }
        Data::CertIpkix(url) => format!("IPKIX 0 0 {url}"),
        Data::Txt(t) => t
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(" "),
        Data::Srv {
            priority,
            weight,
            port,
            target,
        } => format!("{priority} {weight} {port} {target}."),
    }
}

fn type_name(t: u16) -> &'static str {
    use zone::rtype::*;
    match t {
        A => "A",
        NS => "NS",
        SOA => "SOA",
        MX => "MX",
        TXT => "TXT",
        AAAA => "AAAA",
        SRV => "SRV",
        CERT => "CERT",
        _ => "?",
    }
}

/// Run a dns command.
pub async fn run(hisp: Hisp, cmd: DnsCmd, out: &mut Output) -> Result<(), CliError> {
    match cmd {
        DnsCmd::Records { json } => {
            let zones = zone::load(&hisp).await?;
            if json {
                out.json(&Value::Array(zones.all().map(|r| json!({
                    "name": r.name, "type": type_name(r.data.rtype()), "ttl": r.ttl, "data": present(&r.data),
                })).collect()));
            } else {
                let rows: Vec<Vec<String>> = zones
                    .all()
                    .map(|r| {
                        vec![
                            format!("{}.", r.name),
                            r.ttl.to_string(),
                            type_name(r.data.rtype()).into(),
                            present(&r.data),
                        ]
                    })
                    .collect();
                out.table(&["NAME", "TTL", "TYPE", "DATA"], &rows);
            }
        }
        DnsCmd::Record(RecordCmd::Add {
            name,
            rtype,
            data,
            ttl,
        }) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let rtype = rtype.to_ascii_uppercase();
            zone::parse_data(&rtype, &data).map_err(OpsError::Invalid)?;
            let mut tx = hisp.store.begin().await.map_err(OpsError::from)?;
            let owner = domains::list(&mut tx)
                .await?
                .into_iter()
                .filter(|d| name == d.name.as_str() || name.ends_with(&format!(".{}", d.name)))
                .max_by_key(|d| d.name.as_str().len())
                .ok_or_else(|| {
                    OpsError::Invalid(format!("{name} is not inside any domain served here"))
                })?;
            zone::check_owner(&name).map_err(OpsError::Invalid)?;
            dns::insert(
                &mut tx,
                owner.id,
                &name,
                &rtype,
                ttl.clamp(0, i64::from(i32::MAX)),
                &data,
                hisp.now(),
            )
            .await?;
            hisp.audit(
                &mut tx,
                CLI_ACTOR,
                "dns.record.add",
                &name,
                &format!("{rtype} {data}"),
            )
            .await?;
            tx.commit().await.map_err(OpsError::from)?;
            out.line(format!("added {name}. {ttl} {rtype} {data}"));
        }
        DnsCmd::Record(RecordCmd::Remove { name, rtype, data }) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let rtype = rtype.to_ascii_uppercase();
            let mut tx = hisp.store.begin().await.map_err(OpsError::from)?;
            let n = dns::delete(&mut tx, &name, &rtype, data.as_deref()).await?;
            if n == 0 {
                return Err(CliError::Ops(OpsError::Invalid(format!(
                    "no added {rtype} record at {name}"
                ))));
            }
            hisp.audit(&mut tx, CLI_ACTOR, "dns.record.remove", &name, &rtype)
                .await?;
            tx.commit().await.map_err(OpsError::from)?;
            out.line(format!("removed {n} {rtype} record(s) at {name}"));
        }
    }
    hisp.store.close().await;
    Ok(())
}

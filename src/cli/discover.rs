//! `hisp discover ADDR [--domain LOCAL]`: run certificate discovery for a
//! remote address exactly as sending would (AS §5: DNS CERT, then LDAP), print
//! every step, and say which certificates the local domain's outgoing anchors
//! accept. Exit 0 when one is usable, 1 when none is.

use clap::Args;

use super::{CliError, Output};
use crate::direct::discovery::Discoverer;
use crate::direct::{DirectAddress, Domain};
use crate::ops::{Hisp, OpsError};
use crate::store::domains;

/// `hisp discover …`
#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// The remote Direct address, e.g. jo@hisp.example.net.
    pub address: String,
    /// The local domain whose outgoing anchors judge trust (default: the only one).
    #[arg(long)]
    pub domain: Option<String>,
}

/// Discover, print the report, and fail when no certificate is usable.
pub async fn run(hisp: Hisp, args: DiscoverArgs, out: &mut Output) -> Result<(), CliError> {
    let address = DirectAddress::parse(&args.address)?;
    let local = match &args.domain {
        Some(d) => Domain::parse(d)?,
        None => only_domain(&hisp).await?,
    };
    let report = Discoverer::new(&hisp).discover(&address, &local).await?;
    for line in report.lines() {
        out.line(line);
    }
    if report.usable().is_empty() {
        return Err(CliError::Ops(OpsError::Invalid(format!(
            "no usable certificate for {address}"
        ))));
    }
    Ok(())
}

/// The local domain when there is exactly one.
async fn only_domain(hisp: &Hisp) -> Result<Domain, CliError> {
    let mut conn = hisp.conn().await?;
    let mut all = domains::list(&mut conn).await?;
    match all.len() {
        1 => Ok(all.remove(0).name),
        0 => Err(CliError::Usage(
            "no local domain: add one (hisp domain add) or pass --domain".into(),
        )),
        _ => Err(CliError::Usage(format!(
            "several local domains ({}): say whose outgoing anchors judge with --domain",
            all.iter()
                .map(|d| d.name.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

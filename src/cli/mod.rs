//! The command line: `hisp [--config FILE] COMMAND`. One file per noun. Exit
//! codes: 0 success, 1 error (one line naming what failed and why), 2 bad usage.

mod address;
mod audit;
mod cert;
mod discover;
mod dns;
mod domain;
mod mail;
mod notify;
mod output;
mod serve;
mod smime;
mod trust;
mod user;

use std::io::BufRead;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::clock;
use crate::config::{self, Config};
use crate::ops::{Hisp, OpsError};

pub use notify::send_mllp as notify_send_mllp;
pub use notify::{MllpTls, send_mllp_tls as notify_send_mllp_tls};
pub use output::Output;

/// hisp: a Direct HISP and encounter-notification gateway.
#[derive(Debug, Parser)]
#[command(name = "hisp", version, about)]
pub struct Cli {
    /// The config file.
    #[arg(long, global = true, default_value = "hisp.toml", env = "HISP_CONFIG")]
    pub config: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start every listener; sets up a development domain first when no config exists.
    Serve,
    /// Write the config, data dir, master key and CA, and add a domain (idempotent).
    Init {
        /// The Direct domain to serve.
        #[arg(long)]
        domain: String,
        /// Host name for EHLO, MX and TLS (default mail.<domain>); used when writing a new config.
        #[arg(long)]
        hostname: Option<String>,
    },
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Domains served.
    #[command(subcommand)]
    Domain(domain::DomainCmd),
    /// Direct addresses.
    #[command(subcommand)]
    Address(address::AddressCmd),
    /// Certificates.
    #[command(subcommand)]
    Cert(cert::CertCmd),
    /// The built-in CA.
    #[command(subcommand)]
    Ca(cert::CaCmd),
    /// What the DNS responder serves.
    #[command(subcommand)]
    Dns(dns::DnsCmd),
    /// Find a remote address's certificates (DNS CERT, then LDAP) and judge them.
    Discover(discover::DiscoverArgs),
    /// Trust anchors per domain.
    #[command(subcommand)]
    Anchor(trust::AnchorCmd),
    /// Trust bundles per domain.
    #[command(subcommand)]
    Bundle(trust::BundleCmd),
    /// Debug other HISPs' S/MIME messages.
    #[command(subcommand)]
    Smime(smime::SmimeCmd),
    /// Logins.
    #[command(subcommand)]
    User(user::UserCmd),
    /// The audit log.
    #[command(subcommand)]
    Audit(audit::AuditCmd),
    /// Send a Direct message through the outbound path (queued; `serve` delivers).
    Send(mail::SendArgs),
    /// Read delivered mail.
    #[command(subcommand)]
    Mailbox(mail::MailboxCmd),
    /// A sent message's delivery state per recipient.
    Track(mail::TrackArgs),
    /// Messages held because they failed their checks.
    #[command(subcommand)]
    Quarantine(mail::QuarantineCmd),
    /// ADT feeds (sending facilities) accepted over MLLP.
    #[command(subcommand)]
    Feed(notify::FeedCmd),
    /// Subscribers' patient rosters.
    #[command(subcommand)]
    Roster(notify::RosterCmd),
    /// Patients' notification consent.
    #[command(subcommand)]
    Consent(notify::ConsentCmd),
    /// The encounter alert worklist.
    #[command(subcommand)]
    Alert(notify::AlertCmd),
    /// Send HL7 v2 over MLLP.
    #[command(subcommand)]
    Adt(notify::AdtCmd),
}

/// `hisp config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Validate the config and print what `serve` would listen on.
    Check,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// An operation failed (exit 1).
    #[error(transparent)]
    Ops(#[from] OpsError),
    /// The command was used wrongly (exit 2).
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Ops(_) => 1,
            CliError::Usage(_) => 2,
        }
    }
}

impl From<crate::config::ConfigError> for CliError {
    fn from(e: crate::config::ConfigError) -> Self {
        CliError::Ops(e.into())
    }
}

impl From<crate::store::StoreError> for CliError {
    fn from(e: crate::store::StoreError) -> Self {
        CliError::Ops(e.into())
    }
}

impl From<crate::direct::AddressError> for CliError {
    fn from(e: crate::direct::AddressError) -> Self {
        CliError::Ops(e.into())
    }
}

/// Who the audit log names for console actions.
pub const CLI_ACTOR: &str = "cli";

/// Run a parsed command, writing results to `out`.
pub async fn run(cli: Cli, out: &mut Output) -> Result<(), CliError> {
    match cli.command {
        Command::Serve => serve::serve(&cli.config, out).await,
        Command::Init { domain, hostname } => {
            serve::init(&cli.config, &domain, hostname, out).await
        }
        Command::Config(ConfigCmd::Check) => serve::check(&cli.config, out),
        Command::Domain(c) => domain::run(open(&cli.config).await?, c, out).await,
        Command::Address(c) => address::run(open(&cli.config).await?, c, out).await,
        Command::Cert(c) => cert::run(open(&cli.config).await?, c, out).await,
        Command::Ca(c) => cert::run_ca(open(&cli.config).await?, c, out).await,
        Command::Dns(c) => dns::run(open(&cli.config).await?, c, out).await,
        Command::Discover(a) => discover::run(open(&cli.config).await?, a, out).await,
        Command::Anchor(c) => trust::run_anchor(open(&cli.config).await?, c, out).await,
        Command::Bundle(c) => trust::run_bundle(open(&cli.config).await?, c, out).await,
        Command::Smime(c) => smime::run(open(&cli.config).await?, c, out).await,
        Command::User(c) => user::run(open(&cli.config).await?, c, out).await,
        Command::Audit(c) => audit::run(open(&cli.config).await?, c, out).await,
        Command::Send(a) => mail::send(open(&cli.config).await?, a, out).await,
        Command::Mailbox(c) => mail::mailbox(open(&cli.config).await?, c, out).await,
        Command::Track(a) => mail::track(open(&cli.config).await?, a, out).await,
        Command::Quarantine(c) => mail::quarantine(open(&cli.config).await?, c, out).await,
        Command::Feed(c) => notify::feed(open(&cli.config).await?, c, out).await,
        Command::Roster(c) => notify::roster(open(&cli.config).await?, c, out).await,
        Command::Consent(c) => notify::consent(open(&cli.config).await?, c, out).await,
        Command::Alert(c) => notify::alert(open(&cli.config).await?, c, out).await,
        Command::Adt(c) => notify::adt_send(c, out).await,
    }
}

/// Load the config and open the store.
async fn open(config_path: &std::path::Path) -> Result<Hisp, CliError> {
    if !config_path.exists() {
        return Err(CliError::Ops(OpsError::Invalid(format!(
            "no config at {}: run `hisp init --domain D` (or `hisp serve`) first",
            config_path.display()
        ))));
    }
    let config = Config::load(config_path, &config::process_env())?;
    Ok(Hisp::open(config, clock::system()).await?)
}

/// Read one password line from standard input.
fn read_password_stdin() -> Result<String, CliError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Usage(format!("cannot read the password from stdin: {e}")))?;
    let pw = line.trim_end_matches(['\r', '\n']).to_string();
    if pw.is_empty() {
        return Err(CliError::Usage(
            "--password-stdin: standard input held no password".into(),
        ));
    }
    Ok(pw)
}

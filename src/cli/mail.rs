//! `hisp send`, `hisp mailbox list|show`, `hisp track` and `hisp quarantine list`:
//! the mail a HISP moves, from the console. `send` goes through the same
//! outbound Direct path as SMTP submission and queues; a running `hisp serve`
//! delivers.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;

use super::{CLI_ACTOR, CliError, Output};
use crate::clock::rfc3339;
use crate::direct::DirectAddress;
use crate::mailbox::compose::{self, Draft, FileAttachment};
use crate::mailbox::{INBOX, SENT};
use crate::ops::{Hisp, OpsError};
use crate::smtp::Gateway;
use crate::smtp::submit::{FinalDelivery, Submission};
use crate::store::{queue, tracking};

/// `hisp send …`
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The sender: a Direct address hosted here.
    #[arg(long)]
    pub from: String,
    /// A recipient (repeat for several).
    #[arg(long, required = true)]
    pub to: Vec<String>,
    /// The subject.
    #[arg(long, default_value = "")]
    pub subject: String,
    /// The text body from a file (default: empty).
    #[arg(long)]
    pub body_file: Option<PathBuf>,
    /// Attach a file (repeat for several).
    #[arg(long)]
    pub attach: Vec<PathBuf>,
}

/// `hisp mailbox …`
#[derive(Debug, Subcommand)]
pub enum MailboxCmd {
    /// List an address's messages.
    List {
        /// The address.
        address: String,
        /// The sent folder instead of the inbox.
        #[arg(long)]
        sent: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one message (headers, text, attachments); marks it read.
    Show {
        /// The address.
        address: String,
        /// The message id from `mailbox list`.
        id: i64,
    },
}

/// `hisp quarantine …`
#[derive(Debug, Subcommand)]
pub enum QuarantineCmd {
    /// List held messages and why.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `hisp track MESSAGE-ID [--json]`
#[derive(Debug, Args)]
pub struct TrackArgs {
    /// The Message-ID `hisp send` printed (with or without angle brackets).
    pub message_id: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Compose, submit and print the Message-ID.
pub async fn send(hisp: Hisp, a: SendArgs, out: &mut Output) -> Result<(), CliError> {
    let from = DirectAddress::parse(&a.from)?;
    let to =
        a.to.iter()
            .map(|t| DirectAddress::parse(t))
            .collect::<Result<Vec<_>, _>>()?;
    let body = match &a.body_file {
        Some(p) => String::from_utf8_lossy(&read(p)?).into_owned(),
        None => String::new(),
    };
    let mut attachments = Vec::new();
    for p in &a.attach {
        let name = p
            .file_name()
            .map_or_else(|| "attachment".into(), |n| n.to_string_lossy().into_owned());
        attachments.push(FileAttachment::from_file(&name, read(p)?));
    }
    let draft = Draft {
        from: from.clone(),
        to: to.clone(),
        subject: a.subject,
        body,
        attachments,
    };
    let seed = crate::direct::notice::new_message_id(from.domain(), hisp.now())
        .map_err(|e| OpsError::Invalid(e.to_string()))?;
    let message = compose::compose(&draft, hisp.now(), &seed);
    let gw = Gateway::new(hisp);
    let done = gw
        .submit(&Submission {
            mail_from: &from,
            rcpts: &to,
            message: &message,
            actor: CLI_ACTOR,
            sent_copy: true,
            final_delivery: FinalDelivery::Always,
        })
        .await?;
    out.line(&done.message_id);
    for (addr, status, cause) in &done.rejected {
        out.line(format!("  refused {addr}: {status} {cause}"));
    }
    gw.hisp.store.close().await;
    Ok(())
}

fn read(p: &std::path::Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(p).map_err(|e| CliError::Ops(OpsError::io(p, e)))
}

/// Run a mailbox command.
pub async fn mailbox(hisp: Hisp, cmd: MailboxCmd, out: &mut Output) -> Result<(), CliError> {
    match cmd {
        MailboxCmd::List {
            address,
            sent,
            json,
        } => {
            let addr = DirectAddress::parse(&address)?;
            let rows = hisp
                .mailbox_list(&addr, if sent { SENT } else { INBOX })
                .await?;
            if json {
                out.json(&json!(rows.iter().map(|m| json!({
                    "id": m.id, "date": rfc3339(m.date), "from": m.from, "subject": m.subject,
                    "read": m.seen, "size": m.size, "message_id": m.message_id,
                })).collect::<Vec<_>>()));
            } else {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|m| {
                        vec![
                            m.id.to_string(),
                            rfc3339(m.date),
                            m.from.clone(),
                            if m.seen { "read" } else { "new" }.into(),
                            m.subject.clone(),
                        ]
                    })
                    .collect();
                out.table(&["ID", "DATE", "FROM", "STATE", "SUBJECT"], &table);
            }
        }
        MailboxCmd::Show { address, id } => {
            let addr = DirectAddress::parse(&address)?;
            let (shown, _) = hisp.mailbox_show(&addr, id, CLI_ACTOR).await?;
            for (name, value) in &shown.headers {
                out.line(format!("{name}: {value}"));
            }
            out.line("");
            if let Some(text) = &shown.text {
                out.line(text.trim_end());
            }
            for a in &shown.attachments {
                out.line(format!(
                    "[attachment] {} ({}, {} bytes)",
                    a.name, a.content_type, a.size
                ));
            }
        }
    }
    Ok(())
}

/// Print each recipient's tracking state.
pub async fn track(hisp: Hisp, a: TrackArgs, out: &mut Output) -> Result<(), CliError> {
    let id = crate::direct::notice::normalize_message_id(&a.message_id)
        .ok_or_else(|| CliError::Usage("the Message-ID is empty".into()))?;
    let mut conn = hisp.conn().await?;
    let rows = tracking::by_message(&mut conn, hisp.store.sealer(), &id).await?;
    if rows.is_empty() {
        return Err(CliError::Ops(OpsError::Invalid(format!(
            "no message {id} is tracked"
        ))));
    }
    let mut all = Vec::new();
    for r in &rows {
        all.push((r, tracking::events(&mut conn, r.id).await?));
    }
    if a.json {
        out.json(&json!(all.iter().map(|(r, ev)| json!({
            "message_id": r.message_id, "recipient": r.recipient, "state": r.state,
            "final": r.final_outcome, "detail": r.detail,
            "queued_at": rfc3339(r.created_at),
            "sent_at": r.sent_at.map(rfc3339), "processed_at": r.processed_at.map(rfc3339),
            "dispatched_at": r.dispatched_at.map(rfc3339), "final_at": r.final_at.map(rfc3339),
            "dispatched_requested": r.wants_dispatched,
            "events": ev.iter().map(|e| json!({"at": rfc3339(e.at), "event": e.event, "detail": e.detail, "suppressed": e.suppressed})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>()));
        return Ok(());
    }
    for (r, ev) in &all {
        let outcome = r.final_outcome.as_deref().unwrap_or("pending");
        out.line(format!("{}  {}  ({outcome})", r.recipient, r.state));
        if let Some(d) = &r.detail {
            out.line(format!("  {d}"));
        }
        for e in ev {
            let note = if e.suppressed { " [suppressed]" } else { "" };
            out.line(format!(
                "  {}  {}{note}  {}",
                rfc3339(e.at),
                e.event,
                e.detail.as_deref().unwrap_or("")
            ));
        }
    }
    Ok(())
}

/// Run a quarantine command.
pub async fn quarantine(hisp: Hisp, cmd: QuarantineCmd, out: &mut Output) -> Result<(), CliError> {
    let QuarantineCmd::List { json } = cmd;
    let mut conn = hisp.conn().await?;
    let rows = queue::quarantined(&mut conn).await?;
    if json {
        out.json(&json!(rows));
        return Ok(());
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|q| {
            vec![
                q.id.to_string(),
                rfc3339(q.received_at),
                q.mail_from.clone(),
                q.rcpts.replace('\n', ","),
                q.reason.clone(),
            ]
        })
        .collect();
    out.table(&["ID", "RECEIVED", "FROM", "TO", "REASON"], &table);
    Ok(())
}

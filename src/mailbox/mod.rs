//! Local delivery and retrieval: filing messages into an address's `inbox` or
//! `sent` folder, listing and showing them, and composing plain messages for
//! `hisp send` (and later the portal and the API). Every view of a message's
//! content is audited. Shared by the inbound worker, the CLI, the portal, IMAP
//! and the API.

pub mod compose;
pub mod info;

use sqlx::AnyConnection;

use crate::direct::DirectAddress;
use crate::ops::{Hisp, OpsError};
use crate::store::addresses;
use crate::store::mailbox::{self, MailSummary, NewMail};

pub use info::MessageInfo;

/// Which folder.
pub const INBOX: &str = "inbox";
/// Copies of what the address sent.
pub const SENT: &str = "sent";

/// A message opened for reading.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Shown {
    /// What the list shows.
    pub summary: MailSummary,
    /// Every header field, in order (unfolded).
    pub headers: Vec<(String, String)>,
    /// The text body (the first text/plain part), if any.
    pub text: Option<String>,
    /// Attachments: name, content type, bytes.
    pub attachments: Vec<Attachment>,
}

/// An attachment as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Attachment {
    /// File name, or `part-N`.
    pub name: String,
    /// Its content type.
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: usize,
}

/// Where a filed message came from, for idempotent filing.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// `inbound`, `submission` or `notice`.
    pub kind: &'a str,
    /// The row id within that origin; `None` when filing need not be idempotent.
    pub id: Option<i64>,
}

impl Hisp {
    /// File `raw` in `folder` of `address` (in the caller's transaction).
    /// `None` when this origin was filed there already.
    pub async fn file(
        &self,
        conn: &mut AnyConnection,
        address: &DirectAddress,
        folder: &str,
        raw: &[u8],
        origin: Origin<'_>,
    ) -> Result<Option<i64>, OpsError> {
        let row = addresses::get(conn, address).await?;
        self.file_in(conn, row.id, folder, raw, origin).await
    }

    /// [`Hisp::file`] for an address row looked up already (before the
    /// write transaction, so the transaction holds the writer for less).
    pub async fn file_in(
        &self,
        conn: &mut AnyConnection,
        address_id: i64,
        folder: &str,
        raw: &[u8],
        origin: Origin<'_>,
    ) -> Result<Option<i64>, OpsError> {
        let info = MessageInfo::read(raw);
        let from = info
            .from
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let mail = NewMail {
            address_id,
            folder,
            message_id: info.message_id.as_deref(),
            from_addr: &from,
            subject: &info.subject,
            raw,
            date: info.date.unwrap_or_else(|| self.now()),
            origin: origin.kind,
            origin_id: origin.id,
        };
        Ok(mailbox::insert(conn, self.store.sealer(), &mail, self.now()).await?)
    }

    /// The messages of a folder, newest first.
    pub async fn mailbox_list(
        &self,
        address: &DirectAddress,
        folder: &str,
    ) -> Result<Vec<MailSummary>, OpsError> {
        self.mailbox_page(address, folder, mailbox::Page::default())
            .await
    }

    /// One page of a folder, newest first (see [`mailbox::Page`]).
    pub async fn mailbox_page(
        &self,
        address: &DirectAddress,
        folder: &str,
        page: mailbox::Page,
    ) -> Result<Vec<MailSummary>, OpsError> {
        let mut conn = self.conn().await?;
        let row = addresses::get(&mut conn, address).await?;
        Ok(mailbox::list(&mut conn, self.store.sealer(), row.id, folder, page).await?)
    }

    /// Open one message (marking it read), audited as a view of PHI by `actor`.
    pub async fn mailbox_show(
        &self,
        address: &DirectAddress,
        id: i64,
        actor: &str,
    ) -> Result<(Shown, Vec<u8>), OpsError> {
        let mut tx = self.store.begin().await?;
        let row = addresses::get(&mut tx, address).await?;
        let (summary, raw) = mailbox::get(&mut tx, self.store.sealer(), row.id, id).await?;
        mailbox::set_seen(&mut tx, row.id, id, true).await?;
        self.audit(
            &mut tx,
            actor,
            "mailbox.view",
            &address.to_string(),
            &format!("message {id}"),
        )
        .await?;
        tx.commit().await?;
        let shown = info::show(summary, &raw);
        Ok((shown, raw))
    }
}

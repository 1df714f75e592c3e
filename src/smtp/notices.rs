//! The notices the gateway writes: failure DSNs filed straight into a local
//! sender's inbox (the sender always lives on this HISP), and the processed,
//! dispatched and failed MDNs a recipient's HISP sends back, which travel the
//! outbound Direct path signed and encrypted like any message.

use sqlx::AnyConnection;

use super::Gateway;
use crate::direct::DirectAddress;
use crate::direct::dsn::{self, DsnRecipient, DsnRequest};
use crate::direct::mdn::{self, Disposition, MdnRequest};
use crate::direct::notice;
use crate::mailbox::{INBOX, Origin};
use crate::ops::OpsError;

/// What a failure DSN reports.
#[derive(Debug, Clone)]
pub struct Failure<'a> {
    /// The local sender who gets the DSN.
    pub sender: &'a DirectAddress,
    /// The original Message-ID.
    pub message_id: &'a str,
    /// The original subject.
    pub subject: &'a str,
    /// The recipient that failed.
    pub recipient: &'a str,
    /// RFC 3463 status, e.g. `5.7.31`.
    pub status: &'a str,
    /// The exact cause.
    pub diagnostic: &'a str,
}

impl Gateway {
    /// Write a failure DSN and file it in the sender's inbox (caller's transaction).
    pub async fn file_failure_dsn(
        &self,
        conn: &mut AnyConnection,
        f: &Failure<'_>,
    ) -> Result<(), OpsError> {
        let now = self.hisp.now();
        let from = format!("mailer-daemon@{}", f.sender.domain());
        let req = DsnRequest {
            reporting_host: &self.hisp.config.server.hostname,
            from: &from,
            to: f.sender,
            original_message_id: Some(f.message_id),
            original_headers: None,
            original_subject: Some(f.subject),
            recipients: vec![DsnRecipient {
                address: f.recipient.to_string(),
                status: f.status.to_string(),
                action: "failed".into(),
                diagnostic: Some(f.diagnostic.to_string()),
            }],
            message_id: notice::new_message_id(f.sender.domain(), now)
                .map_err(|e| OpsError::Invalid(e.to_string()))?,
            date: now,
        };
        let bytes = dsn::build_dsn(&req);
        self.file_notice(conn, f.sender, &bytes).await
    }

    /// File a notice (a DSN we wrote, or an MDN we received) in a local inbox.
    pub async fn file_notice(
        &self,
        conn: &mut AnyConnection,
        to: &DirectAddress,
        bytes: &[u8],
    ) -> Result<(), OpsError> {
        let origin = Origin {
            kind: "notice",
            id: None,
        };
        self.hisp.file(conn, to, INBOX, bytes, origin).await?;
        Ok(())
    }

    /// The plain MDN `recipient` sends `sender` about `original_id`.
    pub fn build_mdn(
        &self,
        recipient: &DirectAddress,
        sender: &DirectAddress,
        original_id: &str,
        subject: &str,
        disposition: Disposition,
        failure: Option<&str>,
    ) -> Result<Vec<u8>, OpsError> {
        let now = self.hisp.now();
        let req = MdnRequest {
            reporting_host: &self.hisp.config.server.hostname,
            from: recipient,
            to: sender,
            original_recipient: None,
            original_message_id: original_id,
            original_subject: Some(subject),
            disposition,
            disposition_modifiers: &[],
            final_destination_delivery: disposition == Disposition::Dispatched,
            failure,
            message_id: notice::new_message_id(recipient.domain(), now)
                .map_err(|e| OpsError::Invalid(e.to_string()))?,
            date: now,
        };
        Ok(mdn::build_mdn(&req))
    }
}

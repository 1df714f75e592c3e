//! DATA: the `354` go-ahead, and the end of the message, where the backend
//! commits it and the one INFO line of the transaction is logged.
//!
//! The 354 reply is written by hand (smtp-proto's prints "354 0.0.0").
//! RFC 5321 §4.1.1.4: "the receiver ... MUST send a 354 response"; then, at
//! the end of the data, a 250 means the message is ours: the backend only
//! returns Ok once it is durably committed.

use tracing::info;

use super::backend::{Backend, Envelope};
use super::dot::{Body, DotDecoder};
use super::reply::{Reply, canned};
use super::state::{DataState, Next, Session, State, Transaction};

impl<B: Backend> Session<'_, B> {
    /// DATA: needs an open transaction with at least one accepted recipient.
    pub(super) fn data(&mut self) -> Next {
        let txn = match std::mem::replace(&mut self.state, State::Ready) {
            State::Mail(txn) if !txn.envelope.rcpts.is_empty() => txn,
            State::Mail(txn) => {
                self.state = State::Mail(txn);
                return self.error(canned::bad_sequence(
                    "No valid recipients, need RCPT before DATA",
                ));
            }
            other => {
                self.state = other;
                return self.error(canned::bad_sequence("Need MAIL and RCPT before DATA"));
            }
        };
        let decoder = DotDecoder::new(self.config.limits.max_message_size);
        self.state = State::Data(Box::new(DataState { txn, decoder }));
        self.reply(Reply::new(
            354,
            "",
            "Start mail input; end with <CRLF>.<CRLF>",
        ));
        Next::Continue
    }

    /// The end-of-data marker arrived: commit or refuse, then reset.
    /// RFC 5321 §4.1.1.4: after the end of data the transaction is cleared.
    pub(super) async fn end_of_data(&mut self) -> Next {
        let State::Data(data) = std::mem::replace(&mut self.state, State::Ready) else {
            return Next::Continue;
        };
        let DataState { txn, decoder } = *data;
        let size = decoder.size();
        let reply = match decoder.finish() {
            Body::Message(message) => self.commit(&txn, message).await,
            Body::TooBig { .. } => canned::too_big(),
        };
        self.log_transaction(&txn.envelope, size, &reply);
        self.reply(reply);
        Next::Continue
    }

    /// Hand the message to the backend; its answer becomes the reply.
    async fn commit(&self, txn: &Transaction, message: Vec<u8>) -> Reply {
        match self.backend.data(&self.info, &txn.envelope, message).await {
            Ok(id) => Reply::new(250, "2.0.0", format!("Ok: queued as {id}")),
            Err(reply) => reply,
        }
    }

    /// The one INFO line per transaction: no addresses beyond the sender's
    /// domain, never the body.
    fn log_transaction(&self, envelope: &Envelope, size: u64, reply: &Reply) {
        info!(
            peer = %self.info.peer,
            from_domain = envelope.from_domain(),
            rcpts = envelope.rcpts.len(),
            size,
            code = reply.code,
            status = reply.status,
            "transaction {}",
            if reply.code == 250 { "accepted" } else { "refused" },
        );
    }

    /// The peer vanished mid-DATA: nothing reaches the backend; log it.
    pub(super) fn peer_closed(&mut self) {
        if let State::Data(data) = &self.state {
            info!(
                peer = %self.info.peer,
                from_domain = data.txn.envelope.from_domain(),
                rcpts = data.txn.envelope.rcpts.len(),
                size = data.decoder.size(),
                "transaction aborted: peer closed during DATA",
            );
        }
    }
}

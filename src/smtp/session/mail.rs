//! MAIL FROM: opens a transaction, checks its parameters, asks the backend.
//!
//! Parameters we advertise are accepted: SIZE (RFC 1870), BODY=7BIT or
//! 8BITMIME (RFC 6152), RET and ENVID (RFC 3461), AUTH (RFC 4954 §5).
//! Anything else the parser understands but we did not advertise is
//! refused like an unknown one. RFC 5321 §4.1.1.11: "555 MAIL FROM/RCPT TO
//! parameters not recognized or not implemented".

use std::borrow::Cow;

use smtp_proto::{
    MAIL_BODY_8BITMIME, MAIL_BODY_BINARYMIME, MAIL_BY_NOTIFY, MAIL_BY_RETURN, MAIL_BY_TRACE,
    MAIL_CONPERM, MAIL_REQUIRETLS, MAIL_RET_FULL, MAIL_RET_HDRS, MAIL_SMTPUTF8, MailFrom,
};
use tracing::debug;

use super::backend::{Backend, Envelope, Ret};
use super::config::Mode;
use super::reply::{Reply, canned};
use super::state::{Next, Session, State, Transaction, unsupported_parameter};

/// Flags smtp-proto can set that name extensions we do not offer.
const UNOFFERED_FLAGS: &[(u64, &str)] = &[
    (MAIL_BODY_BINARYMIME, "BODY=BINARYMIME"),
    (MAIL_SMTPUTF8, "SMTPUTF8"),
    (MAIL_REQUIRETLS, "REQUIRETLS"),
    (MAIL_CONPERM, "CONPERM"),
    (MAIL_BY_NOTIFY | MAIL_BY_RETURN | MAIL_BY_TRACE, "BY"),
];

impl<B: Backend> Session<'_, B> {
    /// MAIL FROM:<reverse-path> [parameters].
    pub(super) async fn mail(&mut self, from: MailFrom<Cow<'_, str>>, raw: &[u8]) -> Next {
        match self.state {
            State::Ready => {}
            State::Connected => return self.error(canned::bad_sequence("Send EHLO or HELO first")),
            State::Mail(_) => return self.error(canned::bad_sequence("Nested MAIL command")),
            State::Data(_) | State::Auth(_) => {
                return self.error(canned::bad_sequence("Bad sequence"));
            }
        }
        if self.config.mode == Mode::Submission && self.info.user.is_none() {
            return self.error(Reply::new(530, "5.7.0", "Authentication required"));
        }
        let envelope = match envelope(&from, raw) {
            Ok(envelope) => envelope,
            Err(reply) => return self.error(reply),
        };
        if from.size as u64 > self.config.limits.max_message_size {
            // RFC 1870 §6.1: the declared size exceeds the fixed maximum.
            self.reply(canned::too_big());
            return Next::Continue;
        }
        self.open_transaction(envelope).await
    }

    /// Ask the backend; on success the transaction begins.
    async fn open_transaction(&mut self, envelope: Envelope) -> Next {
        match self
            .backend
            .mail_from(&self.info, &envelope.mail_from)
            .await
        {
            Ok(()) => {
                debug!(from = %envelope.mail_from, "sender accepted");
                self.state = State::Mail(Transaction { envelope });
                self.reply(Reply::new(250, "2.1.0", "Sender ok"));
            }
            Err(reply) => self.reply(reply),
        }
        Next::Continue
    }
}

/// The envelope a MAIL command opens, or the reply refusing it.
fn envelope(from: &MailFrom<Cow<'_, str>>, raw: &[u8]) -> Result<Envelope, Reply> {
    check_unoffered(from)?;
    if from.address.is_empty() && !path_is_null(raw) {
        // smtp-proto maps <postmaster> to "", which is no reverse-path.
        return Err(Reply::new(501, "5.1.7", "Bad sender address syntax"));
    }
    let ret = if from.flags & MAIL_RET_FULL != 0 {
        Some(Ret::Full)
    } else if from.flags & MAIL_RET_HDRS != 0 {
        Some(Ret::Hdrs)
    } else {
        None
    };
    Ok(Envelope {
        mail_from: from.address.to_string(),
        ret,
        envid: from.env_id.as_ref().map(|e| e.to_string()),
        body_8bit: from.flags & MAIL_BODY_8BITMIME != 0,
        ..Envelope::default()
    })
}

/// Refuse parameters smtp-proto parsed for extensions we do not advertise.
fn check_unoffered(from: &MailFrom<Cow<'_, str>>) -> Result<(), Reply> {
    if let Some((_, name)) = UNOFFERED_FLAGS.iter().find(|(f, _)| from.flags & f != 0) {
        return Err(unsupported_parameter(name));
    }
    let named = [
        (from.by != 0, "BY"),
        (from.trans_id.is_some(), "TRANSID"),
        (from.solicit.is_some(), "SOLICIT"),
        (from.mtrk.is_some(), "MTRK"),
        (from.hold_for != 0, "HOLDFOR"),
        (from.hold_until != 0, "HOLDUNTIL"),
        (from.mt_priority != 0, "MT-PRIORITY"),
    ];
    match named.iter().find(|(present, _)| *present) {
        Some((_, name)) => Err(unsupported_parameter(name)),
        None => Ok(()),
    }
}

/// Whether the path in a MAIL/RCPT line is literally `<>`.
pub(super) fn path_is_null(raw: &[u8]) -> bool {
    let Some(colon) = raw.iter().position(|&b| b == b':') else {
        return false;
    };
    let rest = raw.get(colon + 1..).unwrap_or_default();
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    rest.get(start..).is_some_and(|r| r.starts_with(b"<>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Envelope, Reply> {
        match smtp_proto::Request::parse(&mut line.as_bytes().iter()) {
            Ok(smtp_proto::Request::Mail { from }) => envelope(&from, line.as_bytes()),
            other => panic!("not a MAIL: {other:?}"),
        }
    }

    #[test]
    fn parameters_we_offer() {
        let e =
            parse("MAIL FROM:<a@b.example> SIZE=10 BODY=8BITMIME RET=HDRS ENVID=x+2By AUTH=<>\r\n")
                .expect("accepted");
        assert_eq!(e.mail_from, "a@b.example");
        assert_eq!(e.ret, Some(Ret::Hdrs));
        assert_eq!(e.envid.as_deref(), Some("x+y"));
        assert!(e.body_8bit);
    }

    #[test]
    fn parameters_we_do_not_offer() {
        for line in [
            "MAIL FROM:<a@b.example> SMTPUTF8\r\n",
            "MAIL FROM:<a@b.example> BODY=BINARYMIME\r\n",
            "MAIL FROM:<a@b.example> REQUIRETLS\r\n",
            "MAIL FROM:<a@b.example> HOLDFOR=10\r\n",
        ] {
            assert_eq!(parse(line).map_err(|r| r.code), Err(555), "{line}");
        }
    }

    #[test]
    fn null_sender_and_postmaster() {
        assert_eq!(
            parse("MAIL FROM:<>\r\n").map(|e| e.mail_from),
            Ok(String::new())
        );
        assert_eq!(
            parse("MAIL FROM: <>\r\n").map(|e| e.mail_from),
            Ok(String::new())
        );
        assert_eq!(
            parse("MAIL FROM:<postmaster>\r\n").map_err(|r| r.code),
            Err(501)
        );
    }
}

//! RCPT TO: adds a recipient to the open transaction, within the cap, if
//! the backend accepts it. NOTIFY and ORCPT (RFC 3461) are kept per
//! recipient; other parameters are refused with `555 5.5.4`.

use std::borrow::Cow;

use smtp_proto::{
    RCPT_CONNEG, RCPT_NOTIFY_DELAY, RCPT_NOTIFY_FAILURE, RCPT_NOTIFY_NEVER, RCPT_NOTIFY_SUCCESS,
    RCPT_RRVS_CONTINUE, RCPT_RRVS_REJECT, RcptTo,
};
use tracing::debug;

use super::backend::Backend;
use super::mail::path_is_null;
use super::reply::{Reply, canned};
use super::state::{Next, Session, State, unsupported_parameter};

/// A recipient that passed the session's own checks.
struct Recipient {
    address: String,
    notify: Option<String>,
    orcpt: Option<String>,
}

impl<B: Backend> Session<'_, B> {
    /// RCPT TO:<forward-path> [parameters].
    pub(super) async fn rcpt(&mut self, to: RcptTo<Cow<'_, str>>, raw: &[u8]) -> Next {
        let State::Mail(txn) = &self.state else {
            return self.error(canned::bad_sequence("Need MAIL before RCPT"));
        };
        // RFC 5321 §4.5.3.1.8: "servers MAY reject ... 452 ... too many recipients".
        if txn.envelope.rcpts.len() >= self.config.limits.max_recipients {
            self.reply(Reply::new(452, "4.5.3", "Too many recipients"));
            return Next::Continue;
        }
        let from = txn.envelope.mail_from.clone();
        let recipient = match recipient(&to, raw) {
            Ok(recipient) => recipient,
            Err(reply) => return self.error(reply),
        };
        match self
            .backend
            .rcpt_to(&self.info, &from, &recipient.address)
            .await
        {
            Ok(()) => self.add(recipient),
            Err(reply) => self.reply(reply),
        }
        Next::Continue
    }

    /// Record an accepted recipient in the transaction.
    fn add(&mut self, recipient: Recipient) {
        if let State::Mail(txn) = &mut self.state {
            debug!(to = %recipient.address, "recipient accepted");
            let envelope = &mut txn.envelope;
            envelope.rcpts.push(recipient.address);
            envelope.notify.push(recipient.notify);
            envelope.orcpt.push(recipient.orcpt);
            self.reply(Reply::new(250, "2.1.5", "Recipient ok"));
        }
    }
}

/// The recipient a RCPT line names, or the reply refusing it.
fn recipient(to: &RcptTo<Cow<'_, str>>, raw: &[u8]) -> Result<Recipient, Reply> {
    if to.flags & (RCPT_CONNEG | RCPT_RRVS_REJECT | RCPT_RRVS_CONTINUE) != 0 || to.rrvs != 0 {
        let name = if to.flags & RCPT_CONNEG != 0 {
            "CONNEG"
        } else {
            "RRVS"
        };
        return Err(unsupported_parameter(name));
    }
    let address = if !to.address.is_empty() {
        to.address.to_string()
    } else if path_is_null(raw) {
        return Err(Reply::new(501, "5.1.3", "Null forward-path not allowed"));
    } else {
        // smtp-proto maps <Postmaster> to ""; RFC 5321 §4.5.1 requires it.
        "postmaster".to_string()
    };
    Ok(Recipient {
        address,
        notify: notify(to.flags),
        orcpt: to.orcpt.as_ref().map(|o| o.to_string()),
    })
}

/// The NOTIFY value in its RFC 3461 §4.1 spelling, rebuilt from the flags.
fn notify(flags: u64) -> Option<String> {
    if flags & RCPT_NOTIFY_NEVER != 0 {
        return Some("NEVER".to_string());
    }
    let words: Vec<&str> = [
        (RCPT_NOTIFY_SUCCESS, "SUCCESS"),
        (RCPT_NOTIFY_FAILURE, "FAILURE"),
        (RCPT_NOTIFY_DELAY, "DELAY"),
    ]
    .iter()
    .filter(|(flag, _)| flags & flag != 0)
    .map(|(_, word)| *word)
    .collect();
    (!words.is_empty()).then(|| words.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Recipient, Reply> {
        match smtp_proto::Request::parse(&mut line.as_bytes().iter()) {
            Ok(smtp_proto::Request::Rcpt { to }) => recipient(&to, line.as_bytes()),
            other => panic!("not a RCPT: {other:?}"),
        }
    }

    #[test]
    fn notify_and_orcpt() {
        let r =
            parse("RCPT TO:<b@d.example> NOTIFY=FAILURE,SUCCESS ORCPT=rfc822;b+40d.example\r\n")
                .map_err(|r| r.code)
                .expect("accepted");
        assert_eq!(r.address, "b@d.example");
        assert_eq!(r.notify.as_deref(), Some("SUCCESS,FAILURE"));
        assert_eq!(r.orcpt.as_deref(), Some("b@d.example"));
        let never = parse("RCPT TO:<b@d.example> NOTIFY=NEVER\r\n").map_err(|r| r.code);
        assert_eq!(never.map(|r| r.notify), Ok(Some("NEVER".to_string())));
    }

    #[test]
    fn postmaster_null_and_unoffered() {
        let pm = parse("RCPT TO:<Postmaster>\r\n").map_err(|r| r.code);
        assert_eq!(pm.map(|r| r.address), Ok("postmaster".to_string()));
        assert_eq!(
            parse("RCPT TO:<>\r\n").map(|_| ()).map_err(|r| r.code),
            Err(501)
        );
        let conneg = parse("RCPT TO:<b@d.example> CONNEG\r\n").map(|_| ());
        assert_eq!(conneg.map_err(|r| r.code), Err(555));
    }
}

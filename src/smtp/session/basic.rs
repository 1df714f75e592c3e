//! The one-line commands: RSET, NOOP, QUIT, VRFY, EXPN and HELP.
//! Each answers at once and, except RSET and QUIT, changes nothing.

use super::backend::Backend;
use super::reply::{Reply, canned};
use super::state::{Next, Session};

impl<B: Backend> Session<'_, B> {
    /// RFC 5321 §4.1.1.5: RSET aborts the transaction; "any stored sender,
    /// recipients, and mail data MUST be discarded".
    pub(super) fn rset(&mut self) -> Next {
        self.reset_transaction();
        self.reply(canned::ok());
        Next::Continue
    }

    /// RFC 5321 §4.1.1.9: NOOP "has no effect on any of the reverse-path
    /// buffer, the forward-path buffer, or the mail data buffer".
    pub(super) fn noop(&mut self) -> Next {
        self.reply(canned::ok());
        Next::Continue
    }

    /// RFC 5321 §4.1.1.10: QUIT gets 221 and the connection closes.
    pub(super) fn quit(&mut self) -> Next {
        let text = format!(
            "{} Service closing transmission channel",
            self.config.hostname
        );
        self.reply(Reply::new(221, "2.0.0", text));
        Next::Close
    }

    /// RFC 5321 §3.5.3: 252 "Cannot VRFY user, but will accept message and
    /// attempt delivery" — we never confirm who exists.
    pub(super) fn vrfy(&mut self) -> Next {
        let text = "Cannot VRFY user, but will accept message and attempt delivery";
        self.reply(Reply::new(252, "2.5.0", text));
        Next::Continue
    }

    /// EXPN would disclose list membership; not implemented.
    pub(super) fn expn(&mut self) -> Next {
        self.error(canned::not_implemented())
    }

    /// HELP: a pointer to the RFC, nothing more.
    pub(super) fn help(&mut self) -> Next {
        self.reply(Reply::new(
            214,
            "2.0.0",
            "See RFC 5321 (https://www.rfc-editor.org/rfc/rfc5321)",
        ));
        Next::Continue
    }
}

//! EHLO and HELO: the greeting exchange and the extension list.
//!
//! The EHLO reply is written by hand (smtp-proto's writer adds a joke line).
//! RFC 2034 §3: enhanced status codes are not sent on EHLO/HELO replies.

use super::backend::Backend;
use super::config::Mode;
use super::reply::Reply;
use super::state::{Next, Session, State};

impl<B: Backend> Session<'_, B> {
    /// EHLO: reset any transaction and list our extensions.
    ///
    /// RFC 5321 §4.1.4: "An EHLO command MAY be issued by a client later in
    /// the session. If it is issued after the session begins and the EHLO
    /// command is acceptable to the SMTP server, the SMTP server MUST clear
    /// all buffers and reset the state exactly as if a RSET command had been
    /// issued."
    pub(super) fn ehlo(&mut self, host: &str) -> Next {
        self.greeted(host);
        let text = self.extensions().join("\n");
        self.reply(Reply::new(250, "", text));
        Next::Continue
    }

    /// HELO: like EHLO, without extensions.
    pub(super) fn helo(&mut self, host: &str) -> Next {
        self.greeted(host);
        let text = self.config.hostname.clone();
        self.reply(Reply::new(250, "", text));
        Next::Continue
    }

    fn greeted(&mut self, host: &str) {
        self.info.helo = host.to_string();
        self.state = State::Ready;
    }

    /// The EHLO reply lines: our name, then one extension per line.
    fn extensions(&self) -> Vec<String> {
        let limits = &self.config.limits;
        let mut lines = vec![
            self.config.hostname.clone(),
            "PIPELINING".to_string(),
            format!("SIZE {}", limits.max_message_size),
            "8BITMIME".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
        ];
        if self.config.tls.is_some() && !self.info.tls {
            lines.push("STARTTLS".to_string());
        }
        lines.push("DSN".to_string());
        if self.auth_offered() {
            lines.push("AUTH PLAIN LOGIN".to_string());
        }
        lines
    }

    /// AUTH is offered only on Submission and only inside TLS: credentials
    /// never cross the wire in clear.
    pub(super) fn auth_offered(&self) -> bool {
        self.config.mode == Mode::Submission && self.info.tls
    }
}

//! The session's state enum and the dispatcher that routes each command
//! line to its handler file. Nothing here touches a socket: input comes in
//! as bytes, replies go out into `Session::out`.

use std::borrow::Cow;

use smtp_proto::{Error as ParseError, Request};
use tracing::debug;

use super::auth::AuthStep;
use super::backend::{Backend, Envelope, SessionInfo};
use super::config::{Limits, SessionConfig};
use super::dot::DotDecoder;
use super::error::SessionError;
use super::input::{Input, Line};
use super::reply::{Reply, canned};

/// Where the conversation is (RFC 5321 §4.1.4 sequencing).
#[derive(Debug)]
pub(super) enum State {
    /// Before EHLO/HELO (and again right after STARTTLS).
    Connected,
    /// Greeted; no mail transaction.
    Ready,
    /// MAIL accepted; collecting recipients.
    Mail(Transaction),
    /// After `354`; the input is message content.
    Data(Box<DataState>),
    /// Inside an AUTH exchange; the next line is a SASL response.
    Auth(AuthStep),
}

/// A mail transaction in progress.
#[derive(Debug, Default)]
pub(super) struct Transaction {
    /// What the backend will receive with the message.
    pub envelope: Envelope,
}

/// A transaction whose message is being received.
#[derive(Debug)]
pub(super) struct DataState {
    /// The envelope being delivered.
    pub txn: Transaction,
    /// Unstuffs and sizes the content.
    pub decoder: DotDecoder,
}

/// What a command handler wants to happen next.
#[derive(Debug)]
pub(super) enum Next {
    /// Keep reading commands.
    Continue,
    /// Flush replies and close normally (QUIT).
    Close,
    /// Flush replies, drop buffered input, run the TLS handshake.
    UpgradeTls,
    /// Flush replies and end the session with this error.
    Abort(SessionError),
}

/// One SMTP conversation, without its stream.
pub(super) struct Session<'a, B> {
    /// Hostname, mode, limits, TLS.
    pub config: &'a SessionConfig,
    /// Policy and commit.
    pub backend: &'a B,
    /// What the backend may see about this connection.
    pub info: SessionInfo,
    /// Where the conversation is.
    pub state: State,
    /// Replies not yet written to the peer.
    pub out: Vec<u8>,
    /// Protocol errors so far (see `Limits::max_errors`).
    errors: usize,
}

impl<'a, B: Backend> Session<'a, B> {
    /// A session for a fresh connection.
    pub fn new(config: &'a SessionConfig, backend: &'a B, info: SessionInfo) -> Self {
        Self {
            config,
            backend,
            info,
            state: State::Connected,
            out: Vec::new(),
            errors: 0,
        }
    }

    /// Queue the greeting (RFC 5321 §4.3.1: no enhanced code on 220).
    pub fn greet(&mut self) {
        let text = format!("{} ESMTP hisp", self.config.hostname);
        self.reply(Reply::new(220, "", text));
    }

    /// Process the next complete unit of buffered input: one command line,
    /// one SASL response, or the rest of a message. `None`: need more bytes.
    pub async fn ingest(&mut self, input: &mut Input) -> Option<Next> {
        if let State::Data(data) = &mut self.state {
            let (used, done) = data.decoder.feed(input.buffered());
            input.consume(used);
            return if done {
                Some(self.end_of_data().await)
            } else {
                None
            };
        }
        let limit = match self.state {
            State::Auth(_) => Limits::AUTH_LINE,
            _ => self.config.limits.max_line,
        };
        let next = match input.next_line(limit)? {
            Line::Complete(line) => self.line(&line).await,
            Line::TooLong => self.line_too_long(),
        };
        Some(self.check_errors(next))
    }

    /// Whether we are waiting for message content (decides the timeout).
    pub fn in_data(&self) -> bool {
        matches!(self.state, State::Data(_))
    }

    /// Queue a reply.
    pub fn reply(&mut self, reply: Reply) {
        reply.write_to(&mut self.out);
    }

    /// Queue a reply to a bad command and count it against `max_errors`.
    pub fn error(&mut self, reply: Reply) -> Next {
        self.errors = self.errors.saturating_add(1);
        self.reply(reply);
        Next::Continue
    }

    /// Back to the greeted state, dropping any transaction (RSET, EHLO, after DATA).
    pub fn reset_transaction(&mut self) {
        if !matches!(self.state, State::Connected) {
            self.state = State::Ready;
        }
    }

    /// RFC 3207 §4.2: "The server MUST discard any knowledge obtained from
    /// the client, such as the argument to the EHLO command, which was not
    /// obtained from the TLS negotiation itself."
    pub fn tls_started(&mut self) {
        self.state = State::Connected;
        self.info.helo.clear();
        self.info.user = None;
        self.info.tls = true;
    }

    /// The peer went quiet: say so before the connection is closed.
    pub fn timed_out(&mut self) {
        let reply = canned::timeout(&self.config.hostname);
        self.reply(reply);
    }

    /// Route one line by state: a SASL response or a command.
    async fn line(&mut self, line: &[u8]) -> Next {
        if let State::Auth(_) = self.state {
            return self.auth_response(line).await;
        }
        match Request::parse(&mut line.iter()) {
            Ok(request) => self.command(request, line).await,
            Err(e) => self.parse_error(e),
        }
    }

    /// The dispatcher: one handler (and file) per command.
    async fn command(&mut self, request: Request<Cow<'_, str>>, raw: &[u8]) -> Next {
        debug!(command = request.name(), "command");
        match request {
            Request::Ehlo { host } => self.ehlo(&host),
            Request::Helo { host } => self.helo(&host),
            Request::Mail { from } => self.mail(from, raw).await,
            Request::Rcpt { to } => self.rcpt(to, raw).await,
            Request::Data => self.data(),
            Request::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, &initial_response).await,
            Request::StartTls => self.starttls(raw),
            Request::Rset => self.rset(),
            Request::Noop { .. } => self.noop(),
            Request::Quit => self.quit(),
            Request::Vrfy { .. } => self.vrfy(),
            Request::Expn { .. } => self.expn(),
            Request::Help { .. } => self.help(),
            Request::Lhlo { .. } => self.unknown(),
            Request::Bdat { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => self.error(canned::not_implemented()),
        }
    }

    /// The parser refused the line.
    fn parse_error(&mut self, e: ParseError) -> Next {
        let reply = match e {
            ParseError::UnknownCommand => return self.unknown(),
            ParseError::InvalidSenderAddress => {
                Reply::new(501, "5.1.7", "Bad sender address syntax")
            }
            ParseError::InvalidRecipientAddress => {
                Reply::new(501, "5.1.3", "Bad recipient address syntax")
            }
            ParseError::SyntaxError { syntax } => canned::syntax(&format!("Syntax: {syntax}")),
            ParseError::InvalidParameter { param } => {
                canned::syntax(&format!("Invalid {param} parameter"))
            }
            ParseError::UnsupportedParameter { param } => unsupported_parameter(&param),
            _ => canned::syntax("Syntax error"),
        };
        self.error(reply)
    }

    /// `500 5.5.2` for a command we do not know.
    fn unknown(&mut self) -> Next {
        self.error(Reply::new(500, "5.5.2", "Command unrecognized"))
    }

    /// `500 5.5.6`; an AUTH exchange in progress is abandoned.
    fn line_too_long(&mut self) -> Next {
        if let State::Auth(_) = self.state {
            self.state = State::Ready;
        }
        self.error(Reply::new(500, "5.5.6", "Line too long"))
    }

    /// After `max_errors` protocol errors: `421 4.7.0` and close.
    fn check_errors(&mut self, next: Next) -> Next {
        if self.errors < self.config.limits.max_errors.max(1) {
            return next;
        }
        let reply = canned::too_many_errors(&self.config.hostname);
        self.reply(reply);
        Next::Abort(SessionError::TooManyErrors)
    }
}

/// `555 5.5.4` naming the parameter (RFC 5321 §4.1.1.11), kept short.
pub(super) fn unsupported_parameter(param: &str) -> Reply {
    let param: String = param.chars().take(32).collect();
    Reply::new(555, "5.5.4", format!("Unsupported parameter {param}"))
}

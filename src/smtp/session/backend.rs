//! The seam between the SMTP session and the rest of the HISP: policy
//! decisions (sender, recipients), credentials, and the durable commit.

use std::future::Future;
use std::net::SocketAddr;

use super::reply::Reply;

/// What the backend may know about the connection.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The peer's address, for policy and logs.
    pub peer: SocketAddr,
    /// The EHLO/HELO argument ("" before the greeting).
    pub helo: String,
    /// Whether STARTTLS has completed.
    pub tls: bool,
    /// The authenticated user (Submission only).
    pub user: Option<String>,
}

/// DSN `RET` (RFC 3461 §4.3): how much of the message a bounce returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    /// Return the whole message.
    Full,
    /// Return the headers only.
    Hdrs,
}

/// The SMTP envelope of one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    /// Reverse-path without `<>`; "" for the null sender.
    pub mail_from: String,
    /// Forward-paths the backend accepted, in order.
    pub rcpts: Vec<String>,
    /// DSN `RET`.
    pub ret: Option<Ret>,
    /// DSN `ENVID`, xtext-decoded.
    pub envid: Option<String>,
    /// Per recipient, the `NOTIFY` value (e.g. "SUCCESS,FAILURE"); parallel to `rcpts`.
    pub notify: Vec<Option<String>>,
    /// Per recipient, the `ORCPT` address (xtext-decoded, without "rfc822;"); parallel to `rcpts`.
    pub orcpt: Vec<Option<String>>,
    /// `BODY=8BITMIME` was given.
    pub body_8bit: bool,
}

impl Envelope {
    /// The domain of the reverse-path, the only part of it logged at INFO.
    pub fn from_domain(&self) -> &str {
        self.mail_from
            .rsplit_once('@')
            .map_or("<>", |(_, domain)| domain)
    }
}

/// The result of checking AUTH credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Good credentials; the user's canonical name.
    Ok(String),
    /// Bad credentials (`535 5.7.8`).
    Failed,
    /// Too many attempts; try later (`454 4.7.0`).
    Throttled,
}

/// Everything the session asks of the outside world.
pub trait Backend: Send + Sync {
    /// MAIL FROM (after the session's own syntax/sequence checks). Err → that reply.
    fn mail_from(
        &self,
        s: &SessionInfo,
        from: &str,
    ) -> impl Future<Output = Result<(), Reply>> + Send;

    /// RCPT TO. Err → that reply (e.g. 550 5.1.1, 550 5.7.1 relay denied).
    fn rcpt_to(
        &self,
        s: &SessionInfo,
        from: &str,
        to: &str,
    ) -> impl Future<Output = Result<(), Reply>> + Send;

    /// AUTH PLAIN/LOGIN credentials (Submission only).
    fn authenticate(
        &self,
        s: &SessionInfo,
        user: &str,
        password: &str,
    ) -> impl Future<Output = AuthOutcome> + Send;

    /// The whole message after DATA (dot-unstuffed, CRLF line endings as
    /// received, without the final ".\r\n"). Ok(id) → "250 2.0.0 Ok: queued
    /// as {id}". MUST only return Ok after the message is durably committed.
    fn data(
        &self,
        s: &SessionInfo,
        envelope: &Envelope,
        message: Vec<u8>,
    ) -> impl Future<Output = Result<String, Reply>> + Send;
}

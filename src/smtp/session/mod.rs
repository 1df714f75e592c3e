//! The inbound SMTP server session: one connection from greeting to QUIT.
//!
//! This module owns the SMTP conversation of the HISP's MX (port 25) and
//! Submission (port 587) listeners. Commands are parsed by `smtp-proto`; the
//! state machine, the replies and the I/O loop are ours.
//!
//! # Layout
//!
//! - [`config`]: [`Mode`], [`Limits`] and [`SessionConfig`].
//! - [`backend`]: the [`Backend`] seam (policy, authentication, commit) and
//!   the types it sees ([`SessionInfo`], [`Envelope`], [`AuthOutcome`]).
//! - [`reply`]: [`Reply`], the one way a line is written back to the peer.
//! - [`error`]: [`SessionError`], how a session ended abnormally.
//! - `run`: the I/O loop ([`run`]): reads, timeouts, flushing, STARTTLS.
//! - `stream`: the plain-or-TLS stream the loop reads and writes.
//! - `input`: sans-I/O framing of command lines (length cap, swallowing).
//! - `dot`: sans-I/O DATA decoding (dot-unstuffing, end marker, size cap).
//! - `state`: the session's state enum and the command dispatcher.
//! - One file per command: `ehlo` (EHLO/HELO), `mail`, `rcpt`, `data`,
//!   `auth`, `starttls`, and `basic` for the one-line commands (RSET, NOOP,
//!   QUIT, VRFY, EXPN, HELP and the unimplemented ones).
//! - `base64`: the strict decoder AUTH needs.
//! - [`listener`]: the accept loop with a per-IP connection cap.
//! - [`testing`]: an in-memory backend and a fuzz entry point (hidden).

pub mod backend;
pub mod config;
pub mod error;
pub mod listener;
pub mod reply;
#[doc(hidden)]
pub mod testing;

mod auth;
mod base64;
mod basic;
mod data;
mod dot;
mod ehlo;
mod input;
mod mail;
mod rcpt;
mod run;
mod starttls;
mod state;
mod stream;

#[cfg(test)]
mod tests;

pub use backend::{AuthOutcome, Backend, Envelope, Ret, SessionInfo};
pub use config::{Limits, Mode, SessionConfig};
pub use error::SessionError;
pub use listener::serve;
pub use reply::Reply;
pub use run::run;

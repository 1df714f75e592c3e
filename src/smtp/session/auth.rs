//! AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN mechanisms, on
//! Submission only and only inside TLS. Owns the SASL exchange state and
//! the decoding of credentials; the backend checks them.
//!
//! Passwords are never logged and never kept beyond the backend call.

use smtp_proto::{AUTH_LOGIN, AUTH_PLAIN};
use tracing::debug;

use super::backend::{AuthOutcome, Backend};
use super::base64;
use super::config::Mode;
use super::reply::{Reply, canned};
use super::state::{Next, Session, State};

/// Which client response the exchange is waiting for.
pub(super) enum AuthStep {
    /// The PLAIN message after an empty `334 `.
    Plain,
    /// The LOGIN user name.
    LoginUser,
    /// The LOGIN password for this user.
    LoginPassword {
        /// Decoded user name from the previous step.
        user: String,
    },
}

impl std::fmt::Debug for AuthStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuthStep::Plain => "Plain",
            AuthStep::LoginUser => "LoginUser",
            AuthStep::LoginPassword { .. } => "LoginPassword",
        })
    }
}

/// RFC 4954 §4: `334` challenges are base64; LOGIN's are fixed.
const LOGIN_USERNAME: &str = "VXNlcm5hbWU6";
const LOGIN_PASSWORD: &str = "UGFzc3dvcmQ6";

impl<B: Backend> Session<'_, B> {
    /// AUTH mechanism [initial-response].
    pub(super) async fn auth(&mut self, mechanism: u64, initial: &str) -> Next {
        if let Err(reply) = self.auth_allowed() {
            return self.error(reply);
        }
        let initial = initial.trim();
        match mechanism {
            AUTH_PLAIN if initial.is_empty() => self.challenge(AuthStep::Plain, ""),
            AUTH_PLAIN => self.plain(initial.as_bytes()).await,
            AUTH_LOGIN if initial.is_empty() => self.challenge(AuthStep::LoginUser, LOGIN_USERNAME),
            AUTH_LOGIN => self.login_user(initial.as_bytes()),
            _ => self.error(Reply::new(504, "5.5.4", "Unrecognized authentication type")),
        }
    }

    /// A client response line while in `State::Auth`.
    pub(super) async fn auth_response(&mut self, line: &[u8]) -> Next {
        let State::Auth(step) = std::mem::replace(&mut self.state, State::Ready) else {
            return Next::Continue;
        };
        let response = line.trim_ascii();
        // RFC 4954 §4: "If the client wishes to cancel the authentication
        // exchange, it issues a line with a single "*". If the server
        // receives such a response, it MUST reject the AUTH command by
        // sending a 501 reply."
        if response == b"*" {
            return self.error(Reply::new(501, "5.0.0", "Authentication cancelled"));
        }
        match step {
            AuthStep::Plain => self.plain(response).await,
            AuthStep::LoginUser => self.login_user(response),
            AuthStep::LoginPassword { user } => self.login_password(user, response).await,
        }
    }

    /// Refuse AUTH where it is not offered or out of sequence.
    fn auth_allowed(&self) -> Result<(), Reply> {
        if !self.auth_offered() {
            return Err(match self.config.mode {
                // RFC 4954 §6: 538 "Encryption required for requested
                // authentication mechanism".
                Mode::Submission => Reply::new(538, "5.7.11", "Encryption required, use STARTTLS"),
                Mode::Mx => canned::not_implemented(),
            });
        }
        match self.state {
            State::Connected => Err(canned::bad_sequence("Send EHLO first")),
            State::Ready if self.info.user.is_some() => {
                // RFC 4954 §4: "After a successful AUTH command completes, a
                // server MUST reject any further AUTH commands with a 503".
                Err(canned::bad_sequence("Already authenticated"))
            }
            State::Ready => Ok(()),
            _ => Err(canned::bad_sequence(
                "AUTH not allowed during a mail transaction",
            )),
        }
    }

    fn challenge(&mut self, step: AuthStep, text: &str) -> Next {
        self.state = State::Auth(step);
        self.reply(Reply::new(334, "", text));
        Next::Continue
    }

    /// PLAIN: `[authzid] NUL authcid NUL passwd`, base64.
    async fn plain(&mut self, response: &[u8]) -> Next {
        let Some(decoded) = decode(response) else {
            return self.error(bad_base64());
        };
        match parse_plain(&decoded) {
            Some((user, password)) => self.verify(&user, &password).await,
            None => self.error(Reply::new(501, "5.5.2", "Malformed PLAIN response")),
        }
    }

    /// LOGIN, first response: the user name.
    fn login_user(&mut self, response: &[u8]) -> Next {
        match decode(response).and_then(|u| String::from_utf8(u).ok()) {
            Some(user) => self.challenge(AuthStep::LoginPassword { user }, LOGIN_PASSWORD),
            None => self.error(bad_base64()),
        }
    }

    /// LOGIN, second response: the password.
    async fn login_password(&mut self, user: String, response: &[u8]) -> Next {
        match decode(response).and_then(|p| String::from_utf8(p).ok()) {
            Some(password) => self.verify(&user, &password).await,
            None => self.error(bad_base64()),
        }
    }

    /// Ask the backend. Failures count against `max_errors`, which bounds
    /// password guessing per connection.
    async fn verify(&mut self, user: &str, password: &str) -> Next {
        match self.backend.authenticate(&self.info, user, password).await {
            AuthOutcome::Ok(name) => {
                debug!(user = %name, "authenticated");
                self.info.user = Some(name);
                self.reply(Reply::new(235, "2.7.0", "Authentication successful"));
                Next::Continue
            }
            AuthOutcome::Failed => {
                debug!("authentication failed");
                self.error(Reply::new(
                    535,
                    "5.7.8",
                    "Authentication credentials invalid",
                ))
            }
            AuthOutcome::Throttled => {
                self.reply(Reply::new(
                    454,
                    "4.7.0",
                    "Temporary authentication failure, try later",
                ));
                Next::Continue
            }
        }
    }
}

/// Base64 of a SASL response; RFC 4954 §4: "=" is an empty response.
fn decode(response: &[u8]) -> Option<Vec<u8>> {
    if response == b"=" {
        return Some(Vec::new());
    }
    base64::decode(response)
}

fn bad_base64() -> Reply {
    Reply::new(501, "5.5.2", "Cannot decode response")
}

/// RFC 4616 §2: `message = [authzid] UTF8NUL authcid UTF8NUL passwd`.
/// We act only as ourselves: the authzid must be empty or the authcid.
fn parse_plain(decoded: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(decoded).ok()?;
    let mut parts = text.split('\0');
    let (authzid, authcid, passwd) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || authcid.is_empty() {
        return None;
    }
    if !authzid.is_empty() && authzid != authcid {
        return None;
    }
    Some((authcid.to_string(), passwd.to_string()))
}

#[cfg(test)]
mod tests {
    use super::parse_plain;

    #[test]
    fn plain_messages() {
        let ok = Some(("alice".to_string(), "secret".to_string()));
        assert_eq!(parse_plain(b"\0alice\0secret"), ok);
        assert_eq!(parse_plain(b"alice\0alice\0secret"), ok);
        assert_eq!(parse_plain(b"bob\0alice\0secret"), None);
        assert_eq!(parse_plain(b"alice\0secret"), None);
        assert_eq!(parse_plain(b"\0\0secret"), None);
        assert_eq!(parse_plain(b"\0a\0b\0c"), None);
        assert_eq!(parse_plain(b"\0a\xff\0b"), None);
    }
}

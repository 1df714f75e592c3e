//! The MX listener's backend: RCPT only for enabled addresses of domains we
//! serve (550 5.1.1 unknown user, 550 5.7.1 relay denied: never an open
//! relay), and DATA answered 250 only after the raw message, with a Received
//! field added, is committed to the inbound queue.

use super::Gateway;
use super::session::{AuthOutcome, Backend, Envelope, Reply, SessionInfo};
use crate::direct::DirectAddress;
use crate::direct::notice::rfc5322_date;
use crate::ops::OpsError;
use crate::store::queue::{self, NewInbound};

/// The MX backend.
#[derive(Debug, Clone)]
pub struct MxBackend {
    /// Store, agent and queues.
    pub gw: Gateway,
}

/// 451 for trouble on our side: the peer keeps the message and retries.
pub(crate) fn local_error(e: &OpsError) -> Reply {
    tracing::error!(error = %e, "SMTP transaction failed on our side");
    Reply::new(451, "4.3.0", "Local error; please try again later")
}

impl MxBackend {
    async fn check_rcpt(&self, to: &str) -> Result<Result<(), Reply>, OpsError> {
        let Ok(addr) = DirectAddress::parse(to) else {
            return Ok(Err(Reply::new(
                501,
                "5.1.3",
                "Bad recipient address syntax",
            )));
        };
        let mut look = self.gw.hisp.lookup().await?;
        if look.domain(addr.domain()).await?.is_none() {
            return Ok(Err(Reply::new(550, "5.7.1", "Relay access denied")));
        }
        match look.address(&addr).await? {
            Some(a) if a.enabled => Ok(Ok(())),
            _ => Ok(Err(Reply::new(550, "5.1.1", "No such user here"))),
        }
    }

    async fn commit(
        &self,
        s: &SessionInfo,
        env: &Envelope,
        message: &[u8],
    ) -> Result<i64, OpsError> {
        let now = self.gw.hisp.now();
        let received = received_field(s, &self.gw.hisp.config.server.hostname, now);
        let mut raw = Vec::with_capacity(received.len() + message.len());
        raw.extend_from_slice(received.as_bytes());
        raw.extend_from_slice(message);
        let peer = s.peer.ip().to_string();
        let m = NewInbound {
            source: "mx",
            peer: &peer,
            mail_from: &env.mail_from,
            rcpts: &env.rcpts,
            raw: &raw,
        };
        // A queued write transaction (see `Store::begin`), not an autocommit
        // insert that would poll SQLite's lock behind the workers' writes.
        let mut tx = self.gw.hisp.store.begin().await?;
        let id = queue::insert_inbound(&mut tx, self.gw.hisp.store.sealer(), &m, now).await?;
        tx.commit().await?;
        self.gw.inbound_ready.notify_one();
        Ok(id)
    }
}

/// The RFC 5321 §4.4 trace field.
fn received_field(s: &SessionInfo, host: &str, now: i64) -> String {
    let with = if s.tls { "ESMTPS" } else { "ESMTP" };
    let helo = crate::direct::compose::ascii_line(&s.helo);
    format!(
        "Received: from {helo} ([{}])\r\n\tby {host} (hisp) with {with};\r\n\t{}\r\n",
        s.peer.ip(),
        rfc5322_date(now)
    )
}

impl Backend for MxBackend {
    async fn mail_from(&self, _s: &SessionInfo, _from: &str) -> Result<(), Reply> {
        Ok(())
    }

    async fn rcpt_to(&self, _s: &SessionInfo, _from: &str, to: &str) -> Result<(), Reply> {
        self.check_rcpt(to)
            .await
            .unwrap_or_else(|e| Err(local_error(&e)))
    }

    async fn authenticate(&self, _s: &SessionInfo, _user: &str, _password: &str) -> AuthOutcome {
        AuthOutcome::Failed
    }

    async fn data(
        &self,
        s: &SessionInfo,
        env: &Envelope,
        message: Vec<u8>,
    ) -> Result<String, Reply> {
        match self.commit(s, env, &message).await {
            Ok(id) => Ok(id.to_string()),
            Err(e) => Err(local_error(&e)),
        }
    }
}

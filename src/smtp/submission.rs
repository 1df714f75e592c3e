//! The submission listener's backend: AUTH PLAIN and LOGIN against hisp users
//! with a failure throttle per client IP and per user name; MAIL FROM and the
//! header From must be addresses the authenticated user owns (550 5.7.1
//! otherwise); DATA goes through the shared outbound Direct path and is
//! answered 250 only once the message is queued.

use std::collections::HashMap;
use std::sync::Mutex;

use super::Gateway;
use super::mx::local_error;
use super::session::{AuthOutcome, Backend, Envelope, Reply, SessionInfo};
use super::submit::{FinalDelivery, Submission};
use crate::direct::DirectAddress;
use crate::mailbox::MessageInfo;
use crate::ops::OpsError;
use crate::store::{addresses, users};

/// Failed sign-ins counted per key within a window.
#[derive(Debug, Default)]
pub struct Throttle {
    /// key → (failures, window start).
    failures: HashMap<String, (u32, i64)>,
}

/// Size at which expired throttle entries are swept.
const THROTTLE_PRUNE_AT: usize = 4096;

impl Throttle {
    /// Is `key` locked out at `now`?
    pub fn blocked(&self, key: &str, now: i64, max: u32, window: i64) -> bool {
        self.failures
            .get(key)
            .is_some_and(|(n, start)| *n >= max && now - start < window)
    }

    /// Count a failure. Entries whose window has passed are dropped first
    /// when the map is large, so a stream of failures from many addresses
    /// or names cannot grow it without bound.
    pub fn fail(&mut self, key: &str, now: i64, window: i64) {
        if self.failures.len() >= THROTTLE_PRUNE_AT {
            self.failures.retain(|_, (_, start)| now - *start < window);
        }
        let e = self.failures.entry(key.to_string()).or_insert((0, now));
        if now - e.1 >= window {
            *e = (0, now);
        }
        e.0 += 1;
    }

    /// Forget `key` after a success.
    pub fn clear(&mut self, key: &str) {
        self.failures.remove(key);
    }
}

/// The submission backend.
#[derive(Debug)]
pub struct SubmissionBackend {
    /// Store, agent and queues.
    pub gw: Gateway,
    /// Sign-in failures by `ip:<addr>` and `user:<name>`.
    pub throttle: Mutex<Throttle>,
}

impl SubmissionBackend {
    /// A backend over `gw`.
    pub fn new(gw: Gateway) -> Self {
        Self {
            gw,
            throttle: Mutex::new(Throttle::default()),
        }
    }

    /// Does the signed-in user own `addr` (enabled)?
    async fn owns(&self, user: Option<&str>, addr: &str) -> Result<bool, OpsError> {
        let (Some(user), Ok(addr)) = (user, DirectAddress::parse(addr)) else {
            return Ok(false);
        };
        let mut conn = self.gw.hisp.conn().await?;
        let Some(u) = users::find(&mut conn, user).await? else {
            return Ok(false);
        };
        Ok(addresses::find(&mut conn, &addr)
            .await?
            .is_some_and(|a| a.enabled && a.owner_user_id == Some(u.id)))
    }

    fn keys(s: &SessionInfo, user: &str) -> [String; 2] {
        [
            format!("ip:{}", s.peer.ip()),
            format!("user:{}", user.to_lowercase()),
        ]
    }

    async fn send(&self, s: &SessionInfo, env: &Envelope, message: &[u8]) -> Result<String, Reply> {
        let not_yours = || Reply::new(550, "5.7.1", "The From address is not one of yours");
        let info = MessageInfo::read(message);
        if info.from_count != 1 {
            return Err(Reply::new(
                550,
                "5.7.1",
                "The message must have exactly one From address",
            ));
        }
        let from = info.from.ok_or_else(not_yours)?;
        if !self
            .owns(s.user.as_deref(), &from.to_string())
            .await
            .map_err(|e| local_error(&e))?
        {
            return Err(not_yours());
        }
        let mail_from = DirectAddress::parse(&env.mail_from).map_err(|_| not_yours())?;
        let rcpts: Vec<DirectAddress> = env
            .rcpts
            .iter()
            .filter_map(|r| DirectAddress::parse(r).ok())
            .collect();
        let actor = s.user.clone().unwrap_or_default();
        let sub = Submission {
            mail_from: &mail_from,
            rcpts: &rcpts,
            message,
            actor: &actor,
            sent_copy: true,
            final_delivery: FinalDelivery::Always,
        };
        match self.gw.submit(&sub).await {
            Ok(done) => Ok(done.message_id),
            Err(OpsError::Invalid(why)) => Err(Reply::new(554, "5.6.0", &why)),
            Err(e) => Err(local_error(&e)),
        }
    }
}

impl Backend for SubmissionBackend {
    async fn mail_from(&self, s: &SessionInfo, from: &str) -> Result<(), Reply> {
        match self.owns(s.user.as_deref(), from).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Reply::new(
                550,
                "5.7.1",
                "Sender address is not one of yours",
            )),
            Err(e) => Err(local_error(&e)),
        }
    }

    async fn rcpt_to(&self, _s: &SessionInfo, _from: &str, to: &str) -> Result<(), Reply> {
        match DirectAddress::parse(to) {
            Ok(_) => Ok(()),
            Err(_) => Err(Reply::new(501, "5.1.3", "Bad recipient address syntax")),
        }
    }

    async fn authenticate(&self, s: &SessionInfo, user: &str, password: &str) -> AuthOutcome {
        let cfg = &self.gw.hisp.config.smtp;
        let (max, window) = (
            cfg.auth_max_failures,
            i64::try_from(cfg.auth_lockout_secs).unwrap_or(900),
        );
        let now = self.gw.hisp.now();
        let keys = Self::keys(s, user);
        let blocked = self
            .throttle
            .lock()
            .map(|t| keys.iter().any(|k| t.blocked(k, now, max, window)))
            .unwrap_or(true);
        if blocked {
            tracing::warn!(peer = %s.peer.ip(), "submission sign-in throttled");
            return AuthOutcome::Throttled;
        }
        let ok = matches!(self.gw.hisp.authenticate(user, password).await, Ok(Some(_)));
        if let Ok(mut t) = self.throttle.lock() {
            for k in &keys {
                if ok {
                    t.clear(k);
                } else {
                    t.fail(k, now, window);
                }
            }
        }
        if ok {
            AuthOutcome::Ok(user.to_string())
        } else {
            tracing::info!(peer = %s.peer.ip(), "submission sign-in failed");
            AuthOutcome::Failed
        }
    }

    async fn data(
        &self,
        s: &SessionInfo,
        env: &Envelope,
        message: Vec<u8>,
    ) -> Result<String, Reply> {
        self.send(s, env, &message).await
    }
}

#[cfg(test)]
mod tests {
    use super::Throttle;

    #[test]
    fn throttle_locks_after_max_and_forgets_after_the_window() {
        let mut t = Throttle::default();
        for _ in 0..3 {
            assert!(!t.blocked("ip:1", 100, 3, 60));
            t.fail("ip:1", 100, 60);
        }
        assert!(t.blocked("ip:1", 120, 3, 60));
        assert!(!t.blocked("ip:1", 161, 3, 60));
        t.clear("ip:1");
        assert!(!t.blocked("ip:1", 120, 3, 60));
    }

    #[test]
    fn expired_throttle_entries_are_swept_when_the_map_is_large() {
        let mut t = Throttle::default();
        for n in 0..super::THROTTLE_PRUNE_AT {
            t.fail(&format!("ip:{n}"), 100, 60);
        }
        t.fail("ip:recent", 150, 60);
        assert_eq!(
            t.failures.len(),
            super::THROTTLE_PRUNE_AT + 1,
            "all still in window"
        );
        t.fail("ip:late", 200, 60);
        assert_eq!(
            t.failures.len(),
            2,
            "only the entries still in their window stay"
        );
        for _ in 0..3 {
            t.fail("ip:late", 200, 60);
        }
        assert!(t.blocked("ip:late", 201, 3, 60), "sweeping keeps counting");
    }
}

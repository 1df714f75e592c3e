//! The accept loop: one task per connection, a cap on concurrent
//! connections per client IP, and a stop signal.
//!
//! Stopping only stops accepting. Sessions already running finish on their
//! own, so a message in DATA either reaches its 250 (after the backend has
//! committed it) or the peer never sees a 250.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::backend::Backend;
use super::config::SessionConfig;
use super::run::run;

/// Sent to a client that already has `max_per_ip` connections open.
const TOO_MANY: &[u8] = b"421 4.7.0 Too many connections from your address\r\n";

/// Accept connections until `stop` becomes true (or its sender is dropped).
pub async fn serve<B: Backend + 'static>(
    listener: TcpListener,
    config: Arc<SessionConfig>,
    backend: Arc<B>,
    max_per_ip: usize,
    mut stop: watch::Receiver<bool>,
) {
    let counts = ConnectionCounts::default();
    loop {
        if *stop.borrow_and_update() {
            break;
        }
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            changed = stop.changed() => match changed {
                Ok(()) => continue,
                Err(_) => break,
            },
        };
        match accepted {
            Ok((socket, peer)) => spawn(socket, peer, &config, &backend, &counts, max_per_ip),
            Err(e) => {
                // EMFILE and friends: back off briefly rather than spin.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    info!("smtp listener stopped accepting");
}

/// Start a session task, or turn the client away if it is over its cap.
fn spawn<B: Backend + 'static>(
    socket: TcpStream,
    peer: SocketAddr,
    config: &Arc<SessionConfig>,
    backend: &Arc<B>,
    counts: &ConnectionCounts,
    max_per_ip: usize,
) {
    let Some(slot) = counts.acquire(peer.ip(), max_per_ip) else {
        debug!(%peer, "per-IP connection cap reached");
        tokio::spawn(turn_away(socket));
        return;
    };
    // Each reply goes out whole in one write; without this, a reply written
    // while the client's last segment is unacknowledged waits for the
    // client's delayed ACK (40 ms on Linux).
    let _ = socket.set_nodelay(true);
    let config = Arc::clone(config);
    let backend = Arc::clone(backend);
    tokio::spawn(async move {
        let _slot = slot;
        if let Err(e) = run(socket, peer, &config, backend.as_ref()).await {
            debug!(%peer, error = %e, "session ended with error");
        }
    });
}

/// Write the 421 (bounded in time) and drop the socket.
async fn turn_away(mut socket: TcpStream) {
    let wait = Duration::from_secs(5);
    let _ = tokio::time::timeout(wait, socket.write_all(TOO_MANY)).await;
    let _ = tokio::time::timeout(wait, socket.shutdown()).await;
}

/// Open connections per client address.
#[derive(Clone, Default)]
pub struct ConnectionCounts(Arc<Mutex<HashMap<IpAddr, usize>>>);

impl ConnectionCounts {
    /// Take a slot for `ip` if it has fewer than `max` open.
    pub fn acquire(&self, ip: IpAddr, max: usize) -> Option<Slot> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = map.entry(ip).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Slot {
            counts: self.clone(),
            ip,
        })
    }
}

/// One open connection; gives its slot back when dropped.
pub struct Slot {
    counts: ConnectionCounts,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.counts.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = map.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_capped_and_returned() {
        let counts = ConnectionCounts::default();
        let ip: IpAddr = [192, 0, 2, 1].into();
        let a = counts.acquire(ip, 2);
        let b = counts.acquire(ip, 2);
        assert!(a.is_some() && b.is_some());
        assert!(counts.acquire(ip, 2).is_none());
        assert!(counts.acquire([192, 0, 2, 2].into(), 2).is_some());
        drop(a);
        assert!(counts.acquire(ip, 2).is_some());
    }
}

//! The authoritative responder's moving parts: the hickory `RequestHandler`
//! answering from a snapshot of the zones (the rules are in [`super::wire`]),
//! the reloader that keeps the snapshot current, and the UDP + TCP server.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use hickory_proto::op::{Header, HeaderCounts, Metadata, Query};
use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;

use super::wire::reply;
use super::zone::{self, Zones};
use crate::ops::{Hisp, OpsError};
use crate::store;

/// The snapshot every request reads; the reloader swaps the inner `Arc`.
pub type SharedZones = Arc<RwLock<Arc<Zones>>>;

/// How often the reloader looks at `dns_state.serial`.
const SERIAL_POLL: Duration = Duration::from_secs(2);
/// Rebuild at least this often: certificates expire without a serial change.
const MAX_AGE: Duration = Duration::from_secs(60);
/// Idle TCP connections are closed after this.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Responses queued per TCP connection.
const TCP_RESPONSE_BUFFER: usize = 32;

/// Answers every request from the current snapshot.
#[derive(Debug, Clone)]
pub struct Responder {
    zones: SharedZones,
}

impl Responder {
    /// A responder reading `zones`.
    pub fn new(zones: SharedZones) -> Self {
        Self { zones }
    }

    async fn handle<R: ResponseHandler>(&self, request: &Request, mut handle: R) -> ResponseInfo {
        let zones = snapshot(&self.zones);
        let queries: Vec<&Query> = request
            .queries
            .queries()
            .iter()
            .map(|q| q.original())
            .collect();
        let failed = |m: Metadata| {
            ResponseInfo::from(Header {
                metadata: m,
                counts: HeaderCounts::default(),
            })
        };
        let Some(r) = reply(&zones, &request.metadata, &queries, request.edns.as_ref()) else {
            return failed(request.metadata);
        };
        if let [q] = queries.as_slice() {
            tracing::debug!(qname = %q.name(), qtype = %q.query_type(), rcode = %r.metadata.response_code, "dns query");
        } else {
            tracing::debug!(questions = queries.len(), rcode = %r.metadata.response_code, "dns query");
        }
        // Over UDP hickory encodes at most the OPT's payload size (512 without
        // one) and sets TC when records were left out; over TCP up to 65535.
        let builder = MessageResponseBuilder::new(&request.queries, r.edns.as_ref());
        let response = builder.build(r.metadata, r.answers.iter(), r.authorities.iter(), [], []);
        match handle.send_response(response).await {
            Ok(info) => info,
            Err(e) => {
                tracing::debug!(error = %e, "dns response not sent");
                failed(r.metadata)
            }
        }
    }
}

impl RequestHandler for Responder {
    fn handle_request<'life0, 'life1, 'async_trait, R, T>(
        &'life0 self,
        request: &'life1 Request,
        response_handle: R,
    ) -> Pin<Box<dyn Future<Output = ResponseInfo> + Send + 'async_trait>>
    where
        R: ResponseHandler + 'async_trait,
        T: Time + 'async_trait,
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.handle(request, response_handle))
    }
}

/// The current snapshot (a poisoned lock still holds a whole snapshot).
pub fn snapshot(zones: &SharedZones) -> Arc<Zones> {
    match zones.read() {
        Ok(g) => Arc::clone(&g),
        Err(p) => Arc::clone(&p.into_inner()),
    }
}

/// Load the zones from the store into a new shared snapshot.
pub async fn load_shared(hisp: &Hisp) -> Result<SharedZones, OpsError> {
    Ok(Arc::new(RwLock::new(Arc::new(zone::load(hisp).await?))))
}

/// Rebuild the snapshot from the store now.
pub async fn reload_now(hisp: &Hisp, zones: &SharedZones) -> Result<(), OpsError> {
    let fresh = Arc::new(zone::load(hisp).await?);
    match zones.write() {
        Ok(mut g) => *g = fresh,
        Err(p) => *p.into_inner() = fresh,
    }
    Ok(())
}

/// Keep `zones` current until `stop`: rebuild when `dns_state.serial` changes
/// (polled every 2 s) and at least every 60 s (certificates expire silently).
pub async fn spawn_reloader(hisp: Hisp, zones: SharedZones, mut stop: watch::Receiver<bool>) {
    let mut built = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(SERIAL_POLL) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let serial = match hisp.conn().await {
            Ok(mut c) => store::dns::serial(&mut c).await.ok(),
            Err(_) => None,
        };
        let stale = serial.is_some_and(|s| s != snapshot(&zones).serial);
        if stale || built.elapsed() >= MAX_AGE {
            match reload_now(&hisp, &zones).await {
                Ok(()) => built = Instant::now(),
                Err(e) => {
                    tracing::warn!(error = %e, "DNS zone reload failed; still serving the previous snapshot")
                }
            }
        }
    }
}

/// Serve the store's zones on `udp` and `tcp` until `stop`, reloading as it changes.
pub async fn serve(
    hisp: Hisp,
    udp: UdpSocket,
    tcp: TcpListener,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let zones = load_shared(&hisp).await.map_err(std::io::Error::other)?;
    serve_zones(hisp, zones, udp, tcp, stop).await
}

/// Serve `zones` (kept current from `hisp`'s store) until `stop`.
pub async fn serve_zones(
    hisp: Hisp,
    zones: SharedZones,
    udp: UdpSocket,
    tcp: TcpListener,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let reloader = tokio::spawn(spawn_reloader(hisp, zones.clone(), stop.clone()));
    let mut server = Server::new(Responder::new(zones));
    server.register_socket(udp);
    server.register_listener(tcp, TCP_IDLE, TCP_RESPONSE_BUFFER);
    let _ = stop.wait_for(|s| *s).await;
    let done = server
        .shutdown_gracefully()
        .await
        .map_err(std::io::Error::other);
    let _ = reloader.await;
    done
}

//! A test double for a REMOTE HISP's DNS: an authoritative answerer on
//! 127.0.0.1 (UDP and TCP on one port the OS chose) serving the CERT, SRV and A
//! records a test puts in. It truncates a UDP answer larger than the client
//! offered (EDNS(0) payload size, else 512 bytes: TC set, no answers), so
//! clients must ask again over TCP (AS §5.4); told to, it plays a server that
//! refuses EDNS with FORMERR. It counts the TCP questions per name. Dropping it
//! stops it.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use hickory_proto::op::{Edns, Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::cert::{Algorithm, CertType};
use hickory_proto::rr::rdata::{A, CERT, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;

/// Records by (lower-case name without the final dot, type).
type Zone = Arc<Mutex<HashMap<(String, RecordType), Vec<RData>>>>;
/// TCP questions by name.
type Hits = Arc<Mutex<HashMap<String, usize>>>;

/// What the serving tasks share with the test.
#[derive(Clone, Default)]
struct Shared {
    zone: Zone,
    tcp_hits: Hits,
    /// Answer FORMERR to queries with EDNS, as servers from before RFC 2671.
    refuse_edns: Arc<AtomicBool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The running double.
pub struct DnsDouble {
    /// Where it answers, over UDP and TCP.
    pub addr: SocketAddr,
    shared: Shared,
    tasks: Vec<JoinHandle<()>>,
}

impl DnsDouble {
    /// Bind UDP and TCP on one free port of 127.0.0.1 and answer until dropped.
    pub async fn start() -> DnsDouble {
        let (udp, tcp) = loop {
            let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind UDP");
            let addr = udp.local_addr().expect("UDP address");
            if let Ok(tcp) = TcpListener::bind(addr).await {
                break (udp, tcp);
            }
        };
        let addr = udp.local_addr().expect("UDP address");
        let shared = Shared::default();
        let udp_task = tokio::spawn(serve_udp(udp, shared.clone()));
        let tcp_task = tokio::spawn(serve_tcp(tcp, shared.clone()));
        DnsDouble {
            addr,
            shared,
            tasks: vec![udp_task, tcp_task],
        }
    }

    fn add(&self, name: &str, rtype: RecordType, data: RData) {
        lock(&self.shared.zone)
            .entry((key(name), rtype))
            .or_default()
            .push(data);
    }

    /// A CERT type PKIX (1) record holding `der`.
    pub fn cert(&self, name: &str, der: Vec<u8>) {
        let c = CERT::new(CertType::PKIX, 0, Algorithm::from(0), der);
        self.add(name, RecordType::CERT, RData::CERT(c));
    }

    /// A CERT type IPKIX (4) record holding `url`.
    pub fn ipkix(&self, name: &str, url: &str) {
        let c = CERT::new(
            CertType::IPKIX,
            0,
            Algorithm::from(0),
            url.as_bytes().to_vec(),
        );
        self.add(name, RecordType::CERT, RData::CERT(c));
    }

    /// An SRV record.
    pub fn srv(&self, name: &str, priority: u16, weight: u16, port: u16, target: &str) {
        let target = Name::from_ascii(format!("{}.", key(target))).expect("target name");
        let s = SRV::new(priority, weight, port, target);
        self.add(name, RecordType::SRV, RData::SRV(s));
    }

    /// An A record.
    pub fn a(&self, name: &str, ip: Ipv4Addr) {
        self.add(name, RecordType::A, RData::A(A(ip)));
    }

    /// Remove every record of `name`.
    pub fn clear(&self, name: &str) {
        lock(&self.shared.zone).retain(|(n, _), _| *n != key(name));
    }

    /// From now on, answer FORMERR to queries that carry EDNS.
    pub fn refuse_edns(&self) {
        self.shared.refuse_edns.store(true, Ordering::SeqCst);
    }

    /// How many TCP questions `name` got.
    pub fn tcp_queries(&self, name: &str) -> usize {
        lock(&self.shared.tcp_hits)
            .get(&key(name))
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for DnsDouble {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn serve_udp(socket: UdpSocket, shared: Shared) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let Some((reply, _, limit)) = answer(&buf[..n], &shared) else {
            continue;
        };
        let mut wire = reply.to_vec().expect("encode");
        if wire.len() > limit {
            // RFC 1035 §4.2.1 (512 bytes) or the EDNS payload size: set TC.
            let mut cut = reply.clone();
            cut.answers.clear();
            cut.metadata.truncation = true;
            wire = cut.to_vec().expect("encode");
        }
        let _ = socket.send_to(&wire, peer).await;
    }
}

async fn serve_tcp(listener: TcpListener, shared: Shared) {
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut len = [0u8; 2];
            if s.read_exact(&mut len).await.is_err() {
                return;
            }
            let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
            if s.read_exact(&mut body).await.is_err() {
                return;
            }
            let Some((reply, name, _)) = answer(&body, &shared) else {
                return;
            };
            *lock(&shared.tcp_hits).entry(name).or_insert(0) += 1;
            let wire = reply.to_vec().expect("encode");
            let mut framed = u16::try_from(wire.len())
                .expect("fits")
                .to_be_bytes()
                .to_vec();
            framed.extend(wire);
            let _ = s.write_all(&framed).await;
        });
    }
}

/// The answer to a query, the name asked, and the UDP size limit.
fn answer(bytes: &[u8], shared: &Shared) -> Option<(Message, String, usize)> {
    let query = Message::from_vec(bytes).ok()?;
    if query.metadata.message_type != MessageType::Query {
        return None;
    }
    let q = query.queries.first()?.clone();
    let name = key(&q.name.to_ascii());
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata.authoritative = true;
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.add_query(q.clone());
    let limit = usize::from(query.max_payload());
    if let Some(asked) = &query.edns {
        if shared.refuse_edns.load(Ordering::SeqCst) {
            reply.metadata.response_code = ResponseCode::FormErr;
            return Some((reply, name, 512));
        }
        let mut e = Edns::new();
        e.set_max_payload(asked.max_payload().max(512));
        reply.set_edns(e);
    }
    let zone = lock(&shared.zone);
    let known = zone.keys().any(|(n, _)| *n == name);
    if !known {
        reply.metadata.response_code = ResponseCode::NXDomain;
    }
    for data in zone
        .get(&(name.clone(), q.query_type))
        .into_iter()
        .flatten()
    {
        reply.add_answer(Record::from_rdata(q.name.clone(), 300, data.clone()));
    }
    Some((reply, name, limit))
}

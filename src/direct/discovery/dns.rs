//! The DNS side of discovery: a small stub resolver that asks the configured
//! name servers (`[discovery] nameservers`, else those of /etc/resolv.conf) one
//! question, over UDP first and again over TCP when the answer comes back
//! truncated, and reads the CERT (RFC 4398), SRV (RFC 2782) and A/AAAA answers.
//!
//! AS 1.2 §5.4: a CERT answer too large for UDP comes back truncated and must
//! be asked again over TCP. The query offers EDNS(0) with a 1232-byte UDP
//! payload (the DNS Flag Day 2020 size), so an RSA-2048 certificate fits in
//! UDP and a larger one (DCDT D14) is truncated and fetched over TCP; a server
//! that refuses EDNS (FORMERR) is asked again without it (RFC 6891 §7), and
//! then the classic 512-byte limit applies. The report says when TCP was used.
//! Answers are parsed by hickory-proto: a malformed or mismatched answer is an
//! error for that server, never a panic.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How long one server gets for one question over one transport.
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);
/// The UDP payload size offered with EDNS(0).
const UDP_PAYLOAD: u16 = 1232;

/// One CERT record's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertRecord {
    /// Type 1 (PKIX): an X.509 certificate, DER.
    Pkix(Vec<u8>),
    /// Type 4 (IPKIX): the URL of an X.509 data object.
    Ipkix(String),
    /// Any other type (PGP, SPKI, …): not for Direct.
    Other(u16),
}

/// One SRV record (RFC 2782).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvRecord {
    /// Lower is tried first.
    pub priority: u16,
    /// Relative share among equal priorities.
    pub weight: u16,
    /// The service's port.
    pub port: u16,
    /// The host, without the trailing dot.
    pub target: String,
}

/// Records of one type for one name, and how they were had.
#[derive(Debug, Clone)]
pub struct Answer<T> {
    /// The records (empty for NXDOMAIN or no data).
    pub records: Vec<T>,
    /// True when the UDP answer was truncated and TCP was asked again.
    pub over_tcp: bool,
}

/// Why a question got no usable answer from any server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// Neither `[discovery] nameservers` nor /etc/resolv.conf names a server.
    #[error("no name servers: set [discovery] nameservers or fix /etc/resolv.conf ({0})")]
    NoServers(String),
    /// The name cannot be a DNS name.
    #[error("'{0}' is not a valid DNS name")]
    BadName(String),
    /// Every server failed; one reason per server.
    #[error("{}", .0.join("; "))]
    Failed(Vec<String>),
}

/// The stub resolver.
#[derive(Debug, Clone)]
pub struct Stub {
    /// Servers asked in order; empty when none could be found.
    servers: Vec<SocketAddr>,
    /// Why `servers` is empty, when it is.
    no_servers: String,
}

impl Stub {
    /// Ask `configured`, or the system's servers when it is empty.
    pub fn new(configured: &[SocketAddr]) -> Self {
        if !configured.is_empty() {
            return Self {
                servers: configured.to_vec(),
                no_servers: String::new(),
            };
        }
        match hickory_resolver::system_conf::read_system_conf() {
            Ok((conf, _)) => {
                let servers: Vec<SocketAddr> = conf
                    .name_servers()
                    .iter()
                    .map(|ns| {
                        let port = ns.connections.first().map_or(53, |c| c.port);
                        SocketAddr::new(ns.ip, port)
                    })
                    .collect();
                Self {
                    no_servers: "/etc/resolv.conf lists none".into(),
                    servers,
                }
            }
            Err(e) => Self {
                servers: Vec::new(),
                no_servers: format!("cannot read the system configuration: {e}"),
            },
        }
    }

    /// The CERT records at `name`.
    pub async fn certs(&self, name: &str) -> Result<Answer<CertRecord>, DnsError> {
        self.ask(name, RecordType::CERT, |data| match data {
            RData::CERT(c) => Some(match u16::from(c.cert_type) {
                1 => CertRecord::Pkix(c.cert_data.clone()),
                4 => CertRecord::Ipkix(String::from_utf8_lossy(&c.cert_data).trim().to_string()),
                other => CertRecord::Other(other),
            }),
            _ => None,
        })
        .await
    }

    /// The SRV records at `name`.
    pub async fn srv(&self, name: &str) -> Result<Answer<SrvRecord>, DnsError> {
        self.ask(name, RecordType::SRV, |data| match data {
            RData::SRV(s) => Some(SrvRecord {
                priority: s.priority,
                weight: s.weight,
                port: s.port,
                target: s.target.to_ascii().trim_end_matches('.').to_string(),
            }),
            _ => None,
        })
        .await
    }

    /// The addresses of `host`: A records, then AAAA records.
    pub async fn ips(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let mut ips = self
            .ask(host, RecordType::A, |d| match d {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                _ => None,
            })
            .await?
            .records;
        let v6 = self
            .ask(host, RecordType::AAAA, |d| match d {
                RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                _ => None,
            })
            .await;
        ips.extend(v6.map(|a| a.records).unwrap_or_default());
        Ok(ips)
    }

    /// Ask each server in turn until one answers; keep the records `pick` maps.
    async fn ask<T>(
        &self,
        name: &str,
        rtype: RecordType,
        pick: impl Fn(&RData) -> Option<T>,
    ) -> Result<Answer<T>, DnsError> {
        if self.servers.is_empty() {
            return Err(DnsError::NoServers(self.no_servers.clone()));
        }
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        let qname = Name::from_ascii(&fqdn).map_err(|_| DnsError::BadName(name.to_string()))?;
        let mut reasons = Vec::new();
        for server in &self.servers {
            match exchange(*server, &qname, rtype).await {
                Ok((reply, over_tcp)) => {
                    let records = reply
                        .answers
                        .iter()
                        .filter(|r| r.record_type() == rtype)
                        .filter_map(|r| pick(&r.data))
                        .collect();
                    return Ok(Answer { records, over_tcp });
                }
                Err(why) => reasons.push(format!("{server}: {why}")),
            }
        }
        Err(DnsError::Failed(reasons))
    }
}

/// One question to one server: UDP (with EDNS, and again without it if the
/// server answers FORMERR), then TCP if the UDP answer was truncated. NXDOMAIN
/// comes back as an empty answer; other error codes are errors.
async fn exchange(
    server: SocketAddr,
    qname: &Name,
    rtype: RecordType,
) -> Result<(Message, bool), String> {
    let mut result = once(server, qname, rtype, true).await;
    if matches!(&result, Ok((m, _)) if m.metadata.response_code == ResponseCode::FormErr) {
        result = once(server, qname, rtype, false).await;
    }
    let (reply, over_tcp) = result?;
    match reply.metadata.response_code {
        ResponseCode::NoError => Ok((reply, over_tcp)),
        ResponseCode::NXDomain => Ok((
            Message::response(reply.metadata.id, reply.metadata.op_code),
            over_tcp,
        )),
        code => Err(format!("answered {code}")),
    }
}

async fn once(
    server: SocketAddr,
    qname: &Name,
    rtype: RecordType,
    edns: bool,
) -> Result<(Message, bool), String> {
    let mut query = Message::query();
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(qname.clone(), rtype));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(UDP_PAYLOAD);
        query.set_edns(e);
    }
    let wire = query
        .to_vec()
        .map_err(|e| format!("cannot encode the query: {e}"))?;
    let id = query.metadata.id;
    let udp = within(udp_exchange(server, &wire, id)).await?;
    if udp.metadata.truncation {
        Ok((within(tcp_exchange(server, &wire, id)).await?, true))
    } else {
        Ok((udp, false))
    }
}

async fn within<T>(f: impl std::future::Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::time::timeout(QUERY_TIMEOUT, f)
        .await
        .map_err(|_| format!("no answer within {} s", QUERY_TIMEOUT.as_secs()))?
}

async fn udp_exchange(server: SocketAddr, wire: &[u8], id: u16) -> Result<Message, String> {
    let local: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = UdpSocket::bind(local).await.map_err(|e| e.to_string())?;
    socket.connect(server).await.map_err(|e| e.to_string())?;
    socket.send(wire).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65_535];
    loop {
        let n = socket.recv(&mut buf).await.map_err(|e| e.to_string())?;
        // A datagram that is not the answer to this query (wrong id, garbage) is ignored.
        if let Some(reply) = buf.get(..n).and_then(|b| answer_to(b, id)) {
            return Ok(reply);
        }
    }
}

async fn tcp_exchange(server: SocketAddr, wire: &[u8], id: u16) -> Result<Message, String> {
    let mut tcp = TcpStream::connect(server)
        .await
        .map_err(|e| format!("TCP: {e}"))?;
    let len = u16::try_from(wire.len()).map_err(|_| "query too long".to_string())?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(wire);
    tcp.write_all(&framed)
        .await
        .map_err(|e| format!("TCP: {e}"))?;
    let mut len = [0u8; 2];
    tcp.read_exact(&mut len)
        .await
        .map_err(|e| format!("TCP: {e}"))?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    tcp.read_exact(&mut body)
        .await
        .map_err(|e| format!("TCP: {e}"))?;
    answer_to(&body, id).ok_or_else(|| "TCP: the answer is malformed or not ours".to_string())
}

/// `bytes` parsed, when it is a response to query `id`.
fn answer_to(bytes: &[u8], id: u16) -> Option<Message> {
    let m = Message::from_vec(bytes).ok()?;
    (m.metadata.id == id && m.metadata.message_type == MessageType::Response).then_some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_not_an_answer() {
        for bytes in [&b""[..], b"\x00", b"\xff\xff\xff"] {
            assert!(answer_to(bytes, 0).is_none());
        }
        let q = Message::query();
        let wire = q.to_vec().expect("encode");
        assert!(
            answer_to(&wire, q.metadata.id).is_none(),
            "a query is not a response"
        );
        let r = Message::response(7, q.metadata.op_code);
        let wire = r.to_vec().expect("encode");
        assert!(answer_to(&wire, 7).is_some());
        assert!(answer_to(&wire, 8).is_none(), "another query's answer");
    }

    #[tokio::test]
    async fn no_servers_and_bad_names_are_errors() {
        let stub = Stub {
            servers: Vec::new(),
            no_servers: "none".into(),
        };
        assert!(matches!(
            stub.certs("a.b").await,
            Err(DnsError::NoServers(_))
        ));
        let stub = Stub::new(&[([127, 0, 0, 1], 9).into()]);
        let long = "a".repeat(70);
        assert!(matches!(
            stub.certs(&format!("{long}.org")).await,
            Err(DnsError::BadName(_))
        ));
        assert_eq!(
            stub.ips("127.0.0.2").await,
            Ok(vec![IpAddr::from([127, 0, 0, 2])])
        );
    }
}

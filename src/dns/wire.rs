//! The request → response rules on the wire, as pure functions: flags, response
//! codes, the SOA in negative answers, EDNS and the UDP size limit, mapped from
//! [`Zones::answer`]. The hickory handler in `server` and the fuzz target both
//! run them.

use hickory_proto::op::{
    Edns, Header, HeaderCounts, Message, MessageType, Metadata, OpCode, Query, ResponseCode,
};
use hickory_proto::rr::rdata::cert::{Algorithm, CertType};
use hickory_proto::rr::rdata::{A, AAAA, CERT, MX, NS, SOA, SRV, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};

use super::zone::{Answer, Data, Zones};

/// The largest UDP payload we send, whatever the client offers (the DNS Flag
/// Day 2020 value, which avoids IP fragmentation).
pub const MAX_UDP_PAYLOAD: u16 = 1232;

/// A response before encoding: header, answer and authority sections, OPT.
#[derive(Debug)]
pub struct Reply {
    /// The response header (flags and code).
    pub metadata: Metadata,
    /// Answer section.
    pub answers: Vec<Record>,
    /// Authority section.
    pub authorities: Vec<Record>,
    /// The OPT record to send, when the request had one.
    pub edns: Option<Edns>,
}

/// The largest UDP response for a request with `edns`.
///
/// RFC 1035 §4.2.1: "Messages carried by UDP are restricted to 512 bytes (not
/// counting the IP or UDP headers)." RFC 6891 §6.2.5: "Values lower than 512
/// MUST be treated as equal to 512."
pub fn udp_payload_limit(edns: Option<&Edns>) -> u16 {
    edns.map_or(512, |e| e.max_payload().clamp(512, MAX_UDP_PAYLOAD))
}

/// Decide the response to a request: `None` means send nothing (it was itself a response).
pub fn reply(
    zones: &Zones,
    request: &Metadata,
    queries: &[&Query],
    edns: Option<&Edns>,
) -> Option<Reply> {
    if request.message_type != MessageType::Query {
        return None;
    }
    let mut metadata = Metadata::response_from_request(request);
    // RFC 1035 §4.1.1: RD "is copied into the response"; RA stays clear: we never recurse.
    metadata.recursion_available = false;
    // RFC 6891 §6.1.1: "If an OPT record is present in a received request,
    // compliant responders MUST include an OPT record in their respective responses."
    let edns_out = edns.map(|_| {
        let mut e = Edns::new();
        e.set_max_payload(udp_payload_limit(edns));
        e
    });
    let mut out = Reply {
        metadata,
        answers: Vec::new(),
        authorities: Vec::new(),
        edns: edns_out,
    };
    let code = |mut r: Reply, c: ResponseCode| {
        r.metadata.response_code = c;
        Some(r)
    };
    if request.op_code != OpCode::Query {
        return code(out, ResponseCode::NotImp);
    }
    // RFC 6891 §6.1.3: "If a responder does not implement the VERSION level of
    // the request, then it MUST respond with RCODE=BADVERS."
    if edns.is_some_and(|e| e.version() > 0) {
        return code(out, ResponseCode::BADVERS);
    }
    // RFC 9619 §3: "a DNS message with OPCODE = 0 (QUERY) MUST NOT include a
    // QDCOUNT parameter whose value is greater than 1"; none is malformed too.
    let [q] = queries else {
        return code(out, ResponseCode::FormErr);
    };
    let qtype = q.query_type();
    let in_class = matches!(q.query_class(), DNSClass::IN | DNSClass::ANY);
    let transfer = matches!(qtype, RecordType::AXFR | RecordType::IXFR);
    if !in_class || transfer {
        return code(out, ResponseCode::Refused);
    }
    let (soa, rcode) = match zones.answer(&q.name().to_ascii(), u16::from(qtype)) {
        // We are authoritative only, never a resolver, whatever RD says.
        Answer::Refused => return code(out, ResponseCode::Refused),
        Answer::Records(records) => {
            out.metadata.authoritative = true;
            out.answers = records
                .iter()
                .filter_map(|r| wire_record(q.name(), r.ttl, &r.data))
                .collect();
            return Some(out);
        }
        Answer::NxDomain { soa } => (soa, ResponseCode::NXDomain),
        Answer::NoData { soa } => (soa, ResponseCode::NoError),
    };
    out.metadata.authoritative = true;
    // RFC 2308 §3: "Name servers authoritative for a zone MUST include the
    // SOA record of the zone in the authority section of the response when
    // reporting an NXDOMAIN or indicating that no data of the requested
    // type exists." §5: the TTL is "the minimum of the MINIMUM field of the
    // SOA record and the TTL of the SOA itself".
    let ttl = match soa.data {
        Data::Soa { minimum, .. } => soa.ttl.min(minimum),
        _ => soa.ttl,
    };
    out.authorities = name(&soa.name)
        .and_then(|n| wire_record(&n, ttl, &soa.data))
        .into_iter()
        .collect();
    code(out, rcode)
}

/// The response to a whole parsed message (`None`: drop it). The fuzz target's entry point.
pub fn respond(zones: &Zones, request: &Message) -> Option<Message> {
    let queries: Vec<&Query> = request.queries.iter().collect();
    let r = reply(zones, &request.metadata, &queries, request.edns.as_ref())?;
    let mut m = Message::new(r.metadata.id, MessageType::Response, r.metadata.op_code);
    m.metadata = r.metadata;
    m.queries = request.queries.clone();
    m.answers = r.answers;
    m.authorities = r.authorities;
    m.edns = r.edns;
    Some(m)
}

/// Bytes in, bytes out, as a UDP (`tcp` false) or TCP exchange: `None` drops the
/// packet (shorter than a header, or itself a response). What the fuzz target runs.
pub fn respond_bytes(zones: &Zones, packet: &[u8], tcp: bool) -> Option<Vec<u8>> {
    let header = Header::read(&mut BinDecoder::new(packet)).ok()?;
    let response = match Message::from_vec(packet) {
        // `reply` set the OPT's payload size to the UDP limit from the client's.
        Ok(request) => respond(zones, &request)?,
        Err(_) if header.metadata.message_type == MessageType::Query => {
            let mut m = Message::new(
                header.metadata.id,
                MessageType::Response,
                header.metadata.op_code,
            );
            m.metadata = Metadata::response_from_request(&header.metadata);
            m.metadata.response_code = ResponseCode::FormErr;
            m
        }
        Err(_) => return None,
    };
    let max = if tcp {
        u16::MAX
    } else {
        udp_payload_limit(response.edns.as_ref())
    };
    let mut out = Vec::with_capacity(512);
    let mut enc = BinEncoder::new(&mut out);
    enc.set_max_size(max);
    if response.emit(&mut enc).is_err() {
        out.clear();
        let mut enc = BinEncoder::new(&mut out);
        let mut metadata = response.metadata;
        metadata.response_code = ResponseCode::ServFail;
        Header {
            metadata,
            counts: HeaderCounts::default(),
        }
        .emit(&mut enc)
        .ok()?;
    }
    Some(out)
}

/// A fully qualified name from our lower-case, dotless form.
fn name(s: &str) -> Option<Name> {
    Name::from_ascii(format!("{}.", s.trim_end_matches('.'))).ok()
}

/// One zone record on the wire, owned by `owner`; `None` when a stored name is not a DNS name.
fn wire_record(owner: &Name, ttl: u32, data: &Data) -> Option<Record> {
    let rdata = match data {
        Data::Soa {
            mname,
            rname,
            serial,
            refresh,
            retry,
            expire,
            minimum,
        } => {
            let secs = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
            RData::SOA(SOA::new(
                name(mname)?,
                name(rname)?,
                *serial,
                secs(*refresh),
                secs(*retry),
                secs(*expire),
                *minimum,
            ))
        }
        Data::Ns(h) => RData::NS(NS(name(h)?)),
        Data::A(ip) => RData::A(A(*ip)),
        Data::Aaaa(ip) => RData::AAAA(AAAA(*ip)),
        Data::Mx {
            preference,
            exchange,
        } => RData::MX(MX::new(*preference, name(exchange)?)),
        // RFC 4398 §2.1: type 1 PKIX "X.509 as per PKIX"; Direct uses key tag 0, algorithm 0.
        Data::CertPkix(der) => RData::CERT(CERT::new(
            CertType::PKIX,
            0,
            Algorithm::from(0),
            der.clone(),
        )),
        // RFC 4398 §2.1: type 4 IPKIX "The URL of an X.509 data object".
        Data::CertIpkix(url) => RData::CERT(CERT::new(
            CertType::IPKIX,
            0,
            Algorithm::from(0),
            url.as_bytes().to_vec(),
        )),
        Data::Txt(t) => RData::TXT(TXT::new(t.clone())),
        Data::Srv {
            priority,
            weight,
            port,
            target,
        } => RData::SRV(SRV::new(*priority, *weight, *port, name(target)?)),
    };
    Some(Record::from_rdata(owner.clone(), ttl, rdata))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::zone::{Record as ZoneRecord, Zone};

    fn zones() -> Zones {
        let mut z = Zone {
            apex: "d.org".into(),
            ..Zone::default()
        };
        let soa = Data::Soa {
            mname: "mail.d.org".into(),
            rname: "hostmaster.d.org".into(),
            serial: 1,
            refresh: 1,
            retry: 1,
            expire: 1,
            minimum: 300,
        };
        for (n, d) in [
            ("d.org", soa),
            ("jo.d.org", Data::CertPkix(vec![0x30; 1400])),
        ] {
            z.names.entry(n.into()).or_default().push(ZoneRecord {
                name: n.into(),
                ttl: 60,
                data: d,
            });
        }
        z.index();
        Zones {
            serial: 1,
            zones: vec![z],
        }
    }

    /// The fuzz target's property on stable: mutated queries and noise never
    /// panic, UDP replies fit, every reply parses.
    #[test]
    fn any_bytes_give_a_parsable_reply_or_silence() {
        let z = zones();
        let mut q = Message::query();
        q.add_query(Query::query(
            Name::from_ascii("jo.d.org.").expect("name"),
            RecordType::CERT,
        ));
        q.set_edns(Edns::new());
        let good = q.to_vec().expect("encode");
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for i in 0..20_000 {
            let mut p = good.clone();
            if i % 4 == 0 {
                p = (0..next() % 64).map(|_| next() as u8).collect();
            } else {
                for _ in 0..=(next() % 4) {
                    let at = (next() as usize) % p.len();
                    p[at] = next() as u8;
                }
                p.truncate(p.len() - (next() as usize % 3));
            }
            let tcp = i % 2 == 0;
            if let Some(out) = respond_bytes(&z, &p, tcp) {
                assert!(tcp || out.len() <= usize::from(MAX_UDP_PAYLOAD));
                Message::from_vec(&out).expect("a reply parses");
            }
        }
        let out = respond_bytes(&z, &good, false).expect("reply");
        let m = Message::from_vec(&out).expect("parse");
        assert!(m.metadata.truncation && m.metadata.authoritative && m.answers.is_empty());
        let out = respond_bytes(&z, &good, true).expect("reply");
        assert_eq!(Message::from_vec(&out).expect("parse").answers.len(), 1);
    }
}

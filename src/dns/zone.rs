//! What the responder serves, as plain data built from the store, and the
//! lookup rules, with no DNS library types (the handler maps them).
//!
//! For every hisp domain: SOA and NS (the hostname), MX → the hostname, A/AAAA
//! for the hostname when it lies inside the zone, CERT records (RFC 4398 type
//! PKIX, key tag 0, algorithm 0) for every current certificate (address-bound at
//! `local.domain`, org-bound at the domain; not revoked, not expired, address
//! enabled), and the extra records an admin added. Names are compared
//! lower-case (RFC 4343).

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::ops::{Hisp, OpsError};
use crate::store::{addresses, certs, dns, domains};

/// Record types, by their RFC numbers.
pub mod rtype {
    /// A
    pub const A: u16 = 1;
    /// NS
    pub const NS: u16 = 2;
    /// SOA
    pub const SOA: u16 = 6;
    /// MX
    pub const MX: u16 = 15;
    /// TXT
    pub const TXT: u16 = 16;
    /// AAAA
    pub const AAAA: u16 = 28;
    /// SRV
    pub const SRV: u16 = 33;
    /// CERT (RFC 4398)
    pub const CERT: u16 = 37;
    /// ANY
    pub const ANY: u16 = 255;
}

/// One record's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// Start of authority.
    Soa {
        /// Primary name server.
        mname: String,
        /// Responsible mailbox, in DNS form (`hostmaster.example.org`).
        rname: String,
        /// Zone serial.
        serial: u32,
        /// Seconds.
        refresh: u32,
        /// Seconds.
        retry: u32,
        /// Seconds.
        expire: u32,
        /// Negative-caching TTL (RFC 2308).
        minimum: u32,
    },
    /// Name server.
    Ns(String),
    /// IPv4 address.
    A(std::net::Ipv4Addr),
    /// IPv6 address.
    Aaaa(std::net::Ipv6Addr),
    /// Mail exchanger.
    Mx {
        /// Lower is preferred.
        preference: u16,
        /// Host name.
        exchange: String,
    },
    /// A PKIX certificate (CERT type 1, key tag 0, algorithm 0), DER.
    CertPkix(Vec<u8>),
    /// An IPKIX certificate URL (CERT type 4).
    CertIpkix(String),
    /// Text strings.
    Txt(Vec<String>),
    /// Service location (RFC 2782).
    Srv {
        /// Lower is tried first.
        priority: u16,
        /// Relative weight among equal priorities.
        weight: u16,
        /// Port.
        port: u16,
        /// Host name.
        target: String,
    },
}

impl Data {
    /// The record type number.
    pub fn rtype(&self) -> u16 {
        match self {
            Data::Soa { .. } => rtype::SOA,
            Data::Ns(_) => rtype::NS,
            Data::A(_) => rtype::A,
            Data::Aaaa(_) => rtype::AAAA,
            Data::Mx { .. } => rtype::MX,
            Data::CertPkix(_) | Data::CertIpkix(_) => rtype::CERT,
            Data::Txt(_) => rtype::TXT,
            Data::Srv { .. } => rtype::SRV,
        }
    }
}

/// A record: owner name, TTL, data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Owner name, lower-case, no trailing dot.
    pub name: String,
    /// Seconds.
    pub ttl: u32,
    /// The data.
    pub data: Data,
}

/// One zone (a hisp domain).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Zone {
    /// The apex, lower-case.
    pub apex: String,
    /// Records by owner name.
    pub names: BTreeMap<String, Vec<Record>>,
    /// Names that exist only because names below them do (RFC 8020 empty
    /// non-terminals), filled by [`Zone::index`].
    pub nonterminals: std::collections::BTreeSet<String>,
}

impl Zone {
    /// Record every ancestor of every owner name, up to the apex.
    pub fn index(&mut self) {
        let suffix = format!(".{}", self.apex);
        for name in self.names.keys() {
            let mut rest = name.as_str();
            while let Some((_, parent)) = rest.split_once('.') {
                if !parent.ends_with(&suffix) {
                    break;
                }
                self.nonterminals.insert(parent.to_string());
                rest = parent;
            }
        }
    }
}

/// Everything served, and the store serial it was built at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Zones {
    /// `dns_state.serial` when built.
    pub serial: i64,
    /// The zones, longest apex first (so the most specific zone matches).
    pub zones: Vec<Zone>,
}

/// The answer to a question, before encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Not ours: REFUSED (we are authoritative only, never a resolver).
    Refused,
    /// The name does not exist in our zone: NXDOMAIN with the SOA.
    NxDomain {
        /// The zone's SOA, for the authority section.
        soa: Record,
    },
    /// The name exists but has no record of that type: NOERROR, empty, with the SOA.
    NoData {
        /// The zone's SOA.
        soa: Record,
    },
    /// The records.
    Records(Vec<Record>),
}

impl Zones {
    /// Answer `qname` / `qtype` (case-insensitive, trailing dot optional).
    pub fn answer(&self, qname: &str, qtype: u16) -> Answer {
        let name = qname.trim_end_matches('.').to_ascii_lowercase();
        let Some(zone) = self
            .zones
            .iter()
            .find(|z| name == z.apex || name.ends_with(&format!(".{}", z.apex)))
        else {
            return Answer::Refused;
        };
        let Some(soa) = zone
            .names
            .get(&zone.apex)
            .and_then(|r| r.iter().find(|r| r.data.rtype() == rtype::SOA))
            .cloned()
        else {
            return Answer::Refused;
        };
        match zone.names.get(&name) {
            Some(records) => {
                let hits: Vec<Record> = records
                    .iter()
                    .filter(|r| qtype == rtype::ANY || r.data.rtype() == qtype)
                    .cloned()
                    .collect();
                if hits.is_empty() {
                    Answer::NoData { soa }
                } else {
                    Answer::Records(hits)
                }
            }
            // RFC 8020: a name with descendants exists (an empty non-terminal) even without records.
            None if zone.nonterminals.contains(&name) => Answer::NoData { soa },
            None => Answer::NxDomain { soa },
        }
    }

    /// Every record, for `hisp dns records`.
    pub fn all(&self) -> impl Iterator<Item = &Record> {
        self.zones.iter().flat_map(|z| z.names.values().flatten())
    }
}

/// Build the zones from the store at the current time.
pub async fn load(hisp: &Hisp) -> Result<Zones, OpsError> {
    let mut conn = hisp.conn().await?;
    let serial = dns::serial(&mut conn).await?;
    let now = hisp.now();
    let cfg = &hisp.config;
    let ttl = cfg.dns.ttl;
    let host = cfg.server.hostname.to_ascii_lowercase();
    let mut zones = Vec::new();
    let all_certs = certs::list(&mut conn).await?;
    let all_addresses = addresses::list(&mut conn, None).await?;
    let extra = dns::list(&mut conn).await?;
    for d in domains::list(&mut conn).await? {
        let apex = d.name.to_string();
        let mut zone = Zone {
            apex: apex.clone(),
            ..Zone::default()
        };
        let mut add = |name: &str, data: Data| {
            zone.names
                .entry(name.to_string())
                .or_default()
                .push(Record {
                    name: name.to_string(),
                    ttl,
                    data,
                });
        };
        add(
            &apex,
            Data::Soa {
                mname: host.clone(),
                rname: format!("hostmaster.{apex}"),
                serial: u32::try_from(serial.rem_euclid(i64::from(u32::MAX))).unwrap_or(1),
                refresh: 3600,
                retry: 600,
                expire: 1_209_600,
                minimum: 300,
            },
        );
        add(&apex, Data::Ns(host.clone()));
        add(
            &apex,
            Data::Mx {
                preference: 10,
                exchange: host.clone(),
            },
        );
        if host == apex || host.ends_with(&format!(".{apex}")) {
            for ip in &cfg.dns.host_addresses {
                add(
                    &host,
                    match ip {
                        IpAddr::V4(v4) => Data::A(*v4),
                        IpAddr::V6(v6) => Data::Aaaa(*v6),
                    },
                );
            }
        }
        for c in all_certs
            .iter()
            .filter(|c| c.domain_id == d.id && c.is_current(now))
        {
            let owner = match c.address_id {
                None => Some(apex.clone()),
                Some(aid) => all_addresses
                    .iter()
                    .find(|a| a.id == aid && a.enabled)
                    .map(|a| a.address.dns_name()),
            };
            if let Some(owner) = owner {
                add(&owner, Data::CertPkix(c.cert_der.clone()));
            }
        }
        for r in extra.iter().filter(|r| r.domain == apex) {
            match parse_data(&r.rtype, &r.data) {
                Ok(data) => zone.names.entry(r.name.clone()).or_default().push(Record {
                    name: r.name.clone(),
                    ttl: u32::try_from(r.ttl).unwrap_or(ttl),
                    data,
                }),
                Err(e) => {
                    tracing::warn!(name = %r.name, rtype = %r.rtype, error = %e, "skipping a stored DNS record")
                }
            }
        }
        zone.index();
        zones.push(zone);
    }
    zones.sort_by_key(|z| std::cmp::Reverse(z.apex.len()));
    Ok(Zones { serial, zones })
}

/// Check an owner name: labels of 1–63 letters, digits, '-' or '_' (SRV owners
/// like `_ldap._tcp`), at most 253 characters.
pub fn check_owner(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("'{name}' is not a valid DNS owner name"))
    }
}

/// Parse an extra record's presentation data for `rtype` (A, AAAA, MX, TXT, SRV, NS, CERT as an IPKIX URL).
pub fn parse_data(rtype: &str, text: &str) -> Result<Data, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let num = |s: &str, what: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("{what} '{s}' is not a number from 0 to 65535"))
    };
    let host = |s: &str| {
        crate::direct::Domain::parse(s)
            .map(|d| d.to_string())
            .map_err(|e| e.to_string())
    };
    match (rtype.to_ascii_uppercase().as_str(), words.as_slice()) {
        ("A", [ip]) => ip
            .parse()
            .map(Data::A)
            .map_err(|_| format!("'{ip}' is not an IPv4 address")),
        ("AAAA", [ip]) => ip
            .parse()
            .map(Data::Aaaa)
            .map_err(|_| format!("'{ip}' is not an IPv6 address")),
        ("NS", [h]) => Ok(Data::Ns(host(h)?)),
        ("MX", [p, h]) => Ok(Data::Mx {
            preference: num(p, "preference")?,
            exchange: host(h)?,
        }),
        ("SRV", [p, w, port, t]) => Ok(Data::Srv {
            priority: num(p, "priority")?,
            weight: num(w, "weight")?,
            port: num(port, "port")?,
            target: host(t)?,
        }),
        ("TXT", _) if !text.trim().is_empty() => {
            let t = text.trim();
            let inner = t
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .unwrap_or(t);
            if inner.len() > 255 {
                Err("a TXT string is at most 255 characters".into())
            } else {
                Ok(Data::Txt(vec![inner.to_string()]))
            }
        }
        ("CERT", [url]) if url.starts_with("http://") || url.starts_with("https://") => {
            Ok(Data::CertIpkix((*url).to_string()))
        }
        (t, _) => Err(format!(
            "cannot add a {t} record with data '{text}' (A, AAAA, NS, MX, SRV, TXT, or CERT with an IPKIX URL)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones() -> Zones {
        let soa = Data::Soa {
            mname: "mail.d.org".into(),
            rname: "hostmaster.d.org".into(),
            serial: 1,
            refresh: 1,
            retry: 1,
            expire: 1,
            minimum: 300,
        };
        let mut z = Zone {
            apex: "d.org".into(),
            ..Zone::default()
        };
        for (n, d) in [
            ("d.org", soa),
            ("d.org", Data::Ns("mail.d.org".into())),
            ("jo.d.org", Data::CertPkix(vec![1, 2])),
            (
                "_ldap._tcp.d.org",
                Data::Srv {
                    priority: 0,
                    weight: 0,
                    port: 389,
                    target: "ldap.d.org".into(),
                },
            ),
        ] {
            z.names.entry(n.into()).or_default().push(Record {
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

    #[test]
    fn answers_by_the_rules() {
        let z = zones();
        assert!(matches!(z.answer("JO.D.ORG.", rtype::CERT), Answer::Records(r) if r.len() == 1));
        assert!(matches!(
            z.answer("jo.d.org", rtype::A),
            Answer::NoData { .. }
        ));
        assert!(matches!(
            z.answer("nobody.d.org", rtype::CERT),
            Answer::NxDomain { .. }
        ));
        assert!(
            matches!(z.answer("_tcp.d.org", rtype::SRV), Answer::NoData { .. }),
            "empty non-terminal"
        );
        assert_eq!(z.answer("example.com", rtype::A), Answer::Refused);
        assert_eq!(
            z.answer("xd.org", rtype::A),
            Answer::Refused,
            "suffix match is by label"
        );
        assert!(matches!(z.answer("d.org", rtype::ANY), Answer::Records(r) if r.len() == 2));
    }

    #[test]
    fn parses_extra_records() {
        assert_eq!(
            parse_data("SRV", "10 5 389 ldap.d.org"),
            Ok(Data::Srv {
                priority: 10,
                weight: 5,
                port: 389,
                target: "ldap.d.org".into()
            })
        );
        assert_eq!(
            parse_data("txt", "\"v=spf1 -all\""),
            Ok(Data::Txt(vec!["v=spf1 -all".into()]))
        );
        assert!(parse_data("A", "300.1.1.1").is_err());
        assert!(parse_data("SRV", "1 2 99999 x.org").is_err());
        assert!(parse_data("CNAME", "x.org").is_err());
    }
}

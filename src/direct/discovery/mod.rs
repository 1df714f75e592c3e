//! Certificate discovery (AS 1.2 §5): find a remote recipient's certificates
//! in DNS CERT and LDAP, judge each with the agent's own trust code for a
//! local domain's outgoing anchors, stop at the first place that yields a
//! usable one, and cache what each place answered.
//!
//! # Layout
//! - [`dns`]: the stub resolver (UDP, TCP on truncation) and CERT/SRV records.
//! - [`srv`]: RFC 2782 server order.
//! - [`ldap`]: anonymous LDAP sessions with failover.
//! - [`report`]: what one discovery did, for `hisp discover` and tests.
//!
//! The order, after AS §5: DNS CERT at `local.domain` ("@" replaced by "."),
//! then DNS CERT at the domain, then LDAP via `_ldap._tcp.<domain>`:
//! `(mail=<address>)`, then `(mail=<domain>)`. A place whose certificates
//! include a usable one ends the search (DCDT D9: of two address-bound
//! certificates, one invalid, the valid one is used and LDAP is not asked).
//!
//! As a [`CertSource`] it returns every certificate found at the places it
//! looked, usable or not: the agent judges again, so a recipient with only
//! unusable certificates is rejected 5.7.11 naming the failed check, and one
//! with none at all 5.7.31. Without a fixed local domain
//! ([`Discoverer::judging_for`]) "usable" while searching means usable under
//! the outgoing anchors of any local domain.
//!
//! Caching is per place (a DNS name, an SRV name, an LDAP mail value), so it
//! does not depend on whose anchors judge: an answer with certificates is kept
//! `cache_ttl_secs`, an empty one `negative_cache_ttl_secs`, by the clock; a
//! failed lookup (timeout, every LDAP server down) is not kept at all.

mod cache;
pub mod dns;
pub mod ldap;
pub mod report;
pub mod srv;

use openssl::x509::X509;

pub use report::{Event, Judged, Place, Report, Step};

use self::cache::Cache;
use self::dns::{CertRecord, SrvRecord, Stub};
use crate::config::DiscoveryConfig;
use crate::direct::outgoing::check_recipient_cert;
use crate::direct::trust::path::{parse_certs, subject_line};
use crate::direct::{DirectAddress, Domain};
use crate::ops::agent::{CertFuture, CertSource};
use crate::ops::{Hisp, OpsError};
use crate::store::anchors::Direction;

/// Finds remote recipients' certificates; plugs into `Hisp::outgoing` as a
/// [`CertSource`].
#[derive(Debug)]
pub struct Discoverer {
    /// Anchors, the validator (CRL, AIA), the IPKIX fetcher and the clock.
    hisp: Hisp,
    /// Name servers, LDAP on or off, cache lifetimes.
    config: DiscoveryConfig,
    /// When set, `CertSource` judges by this domain's outgoing anchors;
    /// otherwise by the outgoing anchors of every local domain together.
    local: Option<Domain>,
    /// The DNS stub.
    dns: Stub,
    /// What each place answered, until it expires.
    places: Cache<Found>,
    /// SRV records by name, until they expire.
    srv: Cache<Vec<SrvRecord>>,
}

/// What one place answered, before judging.
#[derive(Debug, Clone, Default)]
struct Found {
    certs: Vec<X509>,
    notes: Vec<String>,
    problems: Vec<String>,
}

/// Whose anchors judge.
struct Judge {
    anchors: Vec<X509>,
    set: String,
}

impl Discoverer {
    /// A discoverer with the hisp's `[discovery]` config.
    pub fn new(hisp: &Hisp) -> Self {
        Self::with_config(hisp, hisp.config.discovery.clone())
    }

    /// A discoverer with its own `[discovery]` config (tests point it at their DNS).
    pub fn with_config(hisp: &Hisp, config: DiscoveryConfig) -> Self {
        Self {
            hisp: hisp.clone(),
            dns: Stub::new(&config.nameservers),
            config,
            local: None,
            places: Cache::default(),
            srv: Cache::default(),
        }
    }

    /// Judge `CertSource` lookups by `local`'s outgoing anchors only.
    pub fn judging_for(mut self, local: Domain) -> Self {
        self.local = Some(local);
        self
    }

    /// Discover `address`'s certificates, judged by `local`'s outgoing anchors.
    pub async fn discover(
        &self,
        address: &DirectAddress,
        local: &Domain,
    ) -> Result<Report, OpsError> {
        let anchors = self.hisp.anchor_set(local, Direction::Outgoing).await?;
        let judge = Judge {
            anchors,
            set: format!("outgoing anchors of {local}"),
        };
        Ok(self.run(address, &judge).await)
    }

    /// The judge for `CertSource`: the set domain, or every local domain.
    async fn default_judge(&self) -> Result<Judge, OpsError> {
        if let Some(local) = &self.local {
            let anchors = self.hisp.anchor_set(local, Direction::Outgoing).await?;
            let set = format!("outgoing anchors of {local}");
            return Ok(Judge { anchors, set });
        }
        let mut look = self.hisp.lookup().await?;
        let mut all: Vec<X509> = Vec::new();
        for d in look.domains().await?.iter() {
            for a in look.anchors(d.id, Direction::Outgoing).await?.iter() {
                let fp = crate::pki::fingerprint(a);
                if !all.iter().any(|x| crate::pki::fingerprint(x) == fp) {
                    all.push(a.clone());
                }
            }
        }
        let set = "outgoing anchors of the local domains".to_string();
        Ok(Judge { anchors: all, set })
    }

    async fn run(&self, address: &DirectAddress, judge: &Judge) -> Report {
        let mut report = Report {
            address: address.clone(),
            anchor_set: judge.set.clone(),
            events: Vec::new(),
        };
        // AS §5: DNS CERT at the address ("@" replaced by "."), then at the domain.
        for (place, name) in [
            (Place::DnsAddress, address.dns_name()),
            (Place::DnsDomain, address.domain().to_string()),
        ] {
            let step = self.dns_step(place, &name, address, judge).await;
            let done = step.has_usable();
            report.events.push(Event::Place(step));
            if done {
                return report;
            }
        }
        if !self.config.ldap {
            report.events.push(Event::LdapOff);
            return report;
        }
        self.ldap_steps(address, judge, &mut report).await;
        report
    }

    async fn dns_step(
        &self,
        place: Place,
        name: &str,
        address: &DirectAddress,
        judge: &Judge,
    ) -> Step {
        let key = format!("dns {name}");
        let query = format!("DNS CERT {name}");
        if let Some(found) = self.places.get(&key, self.hisp.now()) {
            return self
                .judged(place, query, true, Ok(found), address, judge)
                .await;
        }
        let found = match self.dns.certs(name).await {
            Ok(answer) => {
                let mut found = self.read_cert_records(answer.records).await;
                if answer.over_tcp {
                    found
                        .notes
                        .insert(0, "over TCP, the UDP answer was truncated".into());
                }
                self.remember(&key, &found);
                Ok(found)
            }
            Err(e) => Err(e.to_string()),
        };
        self.judged(place, query, false, found, address, judge)
            .await
    }

    /// PKIX records as DER certificates; IPKIX URLs fetched (DER, PEM or p7c).
    async fn read_cert_records(&self, records: Vec<CertRecord>) -> Found {
        let mut found = Found::default();
        for r in records {
            match r {
                CertRecord::Pkix(der) => match X509::from_der(&der) {
                    Ok(c) => found.certs.push(c),
                    Err(_) => found
                        .problems
                        .push("a PKIX CERT record is not a DER X.509 certificate".into()),
                },
                CertRecord::Ipkix(url) => match self.hisp.fetcher.get(&url).await {
                    Ok(body) => match parse_certs(&body) {
                        Some(certs) if !certs.is_empty() => {
                            found.notes.push(format!("IPKIX {url} fetched"));
                            found.certs.extend(certs);
                        }
                        _ => found
                            .problems
                            .push(format!("IPKIX {url} holds no certificate")),
                    },
                    Err(e) => found.problems.push(format!("IPKIX fetch failed: {e}")),
                },
                CertRecord::Other(t) => found.problems.push(format!(
                    "a CERT record of type {t} is neither PKIX (1) nor IPKIX (4); ignored"
                )),
            }
        }
        found
    }

    /// AS §5: LDAP after DNS, `(mail=<address>)` then `(mail=<domain>)`, on the
    /// first server (in SRV order) that answers.
    async fn ldap_steps(&self, address: &DirectAddress, judge: &Judge, report: &mut Report) {
        let mut session: Option<ldap::Session> = None;
        let mut connected = false;
        for (place, value) in [
            (Place::LdapAddress, address.to_string()),
            (Place::LdapDomain, address.domain().to_string()),
        ] {
            let key = format!("ldap {value}");
            let query = format!("LDAP (mail={value})");
            let step = if let Some(found) = self.places.get(&key, self.hisp.now()) {
                self.judged(place, query, true, Ok(found), address, judge)
                    .await
            } else {
                if !connected {
                    connected = true;
                    session = self.ldap_connect(address.domain(), report).await;
                }
                let Some(s) = session.as_mut() else {
                    break;
                };
                let found = match s.search_mail(&value).await {
                    Ok(values) => {
                        let mut found = read_ldap_values(values);
                        found.notes.push(format!("at {}", s.addr));
                        self.remember(&key, &found);
                        Ok(found)
                    }
                    Err(e) => Err(e),
                };
                self.judged(place, query, false, found, address, judge)
                    .await
            };
            let done = step.has_usable();
            report.events.push(Event::Place(step));
            if done {
                break;
            }
        }
        if let Some(s) = session {
            s.close().await;
        }
    }

    /// SRV `_ldap._tcp.<domain>`, ordered (RFC 2782), then the first server that works.
    async fn ldap_connect(&self, domain: &Domain, report: &mut Report) -> Option<ldap::Session> {
        let name = format!("_ldap._tcp.{domain}");
        let now = self.hisp.now();
        let (records, cached) = match self.srv.get(&name, now) {
            Some(r) => (Ok(r), true),
            None => match self.dns.srv(&name).await {
                Ok(a) => {
                    let ttl = self.ttl(!a.records.is_empty());
                    self.srv.put(&name, a.records.clone(), ttl, now);
                    (Ok(a.records), false)
                }
                Err(e) => (Err(e.to_string()), false),
            },
        };
        let ordered = records.map(|r| srv::order(r, &mut srv::random_below));
        report.events.push(Event::Srv {
            name,
            result: ordered.clone(),
            cached,
        });
        let (session, attempts) = ldap::connect_first(&ordered.ok()?, &self.dns).await;
        report
            .events
            .extend(attempts.into_iter().map(Event::Server));
        session
    }

    /// Judge every certificate found at a place.
    async fn judged(
        &self,
        place: Place,
        query: String,
        cached: bool,
        found: Result<Found, String>,
        address: &DirectAddress,
        judge: &Judge,
    ) -> Step {
        let (found, error) = match found {
            Ok(f) => (f, None),
            Err(e) => (Found::default(), Some(e)),
        };
        let mut certs = Vec::with_capacity(found.certs.len());
        for cert in found.certs {
            let verdict = check_recipient_cert(
                &cert,
                address,
                &judge.anchors,
                &judge.set,
                &self.hisp.validator,
            )
            .await;
            let label = format!(
                "{} serial {}",
                subject_line(&cert),
                crate::pki::serial_hex(&cert)
            );
            certs.push(Judged {
                cert,
                label,
                verdict: verdict.map_err(|u| u.reason),
            });
        }
        Step {
            place,
            query,
            cached,
            notes: found.notes,
            problems: found.problems,
            error,
            certs,
        }
    }

    fn ttl(&self, positive: bool) -> u64 {
        if positive {
            self.config.cache_ttl_secs
        } else {
            self.config.negative_cache_ttl_secs
        }
    }

    fn remember(&self, key: &str, found: &Found) {
        let ttl = self.ttl(!found.certs.is_empty());
        self.places.put(key, found.clone(), ttl, self.hisp.now());
    }
}

/// LDAP attribute values as certificates: DER (the norm), PEM, p7c, or base64
/// text of any of those (consume liberally).
fn read_ldap_values(values: Vec<(String, Vec<u8>)>) -> Found {
    let mut found = Found::default();
    for (dn, bytes) in values {
        let certs = parse_certs(&bytes).or_else(|| {
            let text: String = String::from_utf8_lossy(&bytes)
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            openssl::base64::decode_block(&text)
                .ok()
                .and_then(|der| parse_certs(&der))
        });
        match certs {
            Some(c) if !c.is_empty() => found.certs.extend(c),
            _ => found.problems.push(format!(
                "a userCertificate value of {dn} is not a certificate"
            )),
        }
    }
    found
}

impl CertSource for Discoverer {
    fn certs<'a>(&'a self, address: &'a DirectAddress) -> CertFuture<'a> {
        Box::pin(async move {
            let judge = match self.default_judge().await {
                Ok(j) => j,
                Err(e) => {
                    tracing::warn!(%e, "discovery: cannot read the outgoing anchors; judging by none");
                    Judge {
                        anchors: Vec::new(),
                        set: "outgoing anchors (unreadable)".into(),
                    }
                }
            };
            let report = self.run(address, &judge).await;
            let found = report.found();
            tracing::info!(
                domain = %address.domain(),
                found = found.len(),
                usable = report.usable().len(),
                "certificate discovery"
            );
            for line in report.lines() {
                tracing::debug!("discovery: {line}");
            }
            found
        })
    }
}

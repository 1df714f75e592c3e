//! Certificate discovery against every DCDT discovery case (D1–D18). A REMOTE
//! HISP's DNS is played by [`dns_double::DnsDouble`], its LDAP by a real slapd
//! ([`crate::slapd`]), AIA and CRLs by the [`FileServer`]; certificates come
//! from [`TestPki`]. The local hisp (direct.example.org) trusts `pki.root` as
//! an outgoing anchor. Each remote domain `dN.remote.test` is one DCDT case.
//! Positive cases end with the message encrypted by `Hisp::outgoing`; negative
//! ones with the recipient rejected: 5.7.31 when nothing usable was found, 5.7.11
//! (naming the failed check) when only unusable certificates were.

mod certs;
mod cli_cases;
mod dns_double;
mod ldap_cases;

use hisp::config::DiscoveryConfig;
use hisp::direct::DirectAddress;
use hisp::direct::discovery::{Discoverer, Event, Place, Report};
use hisp::direct::outgoing::Outcome;
use hisp::ops::address::NewAddress;
use hisp::store::users::Role;
use openssl::x509::X509;

use self::dns_double::DnsDouble;
use crate::fileserver::FileServer;
use crate::harness::{Env, sqlite_env};
use crate::testpki::{Leaf, TestPki};

/// The local sender.
const SENDER: &str = "sender@direct.example.org";

/// The local hisp, the remote side's DNS and file server, and the test PKI.
pub struct World {
    pub env: Env,
    pub files: FileServer,
    pub pki: TestPki,
    pub dns: DnsDouble,
}

pub fn addr(s: &str) -> DirectAddress {
    DirectAddress::parse(s).expect("address")
}

pub fn der(c: &X509) -> Vec<u8> {
    c.to_der().expect("DER")
}

pub async fn world() -> World {
    let env = sqlite_env().await;
    let files = FileServer::start().await;
    let pki = TestPki::new(&files.base(), env.hisp.now());
    let req = NewAddress {
        address: addr(SENDER),
        name: Some("Sender".into()),
        role: Role::Provider,
        password: None,
        single_use: Some(false),
    };
    env.hisp.address_add(req, "test").await.expect("sender");
    env.hisp
        .anchor_add(&env.domain(), &pki.root.cert, false, true, "test")
        .await
        .expect("anchor");
    let dns = DnsDouble::start().await;
    World {
        env,
        files,
        pki,
        dns,
    }
}

impl World {
    pub fn config(&self) -> DiscoveryConfig {
        DiscoveryConfig {
            nameservers: vec![self.dns.addr],
            ..DiscoveryConfig::default()
        }
    }

    pub fn discoverer(&self) -> Discoverer {
        Discoverer::with_config(&self.env.hisp, self.config())
    }

    pub async fn report(&self, d: &Discoverer, to: &str) -> Report {
        let r = d
            .discover(&addr(to), &self.env.domain())
            .await
            .expect("discover");
        eprintln!("{}", r.lines().join("\n"));
        r
    }

    /// `Hisp::outgoing` from the local sender to `to`, with `d` finding certificates.
    pub async fn send(&self, d: &Discoverer, to: &str) -> Outcome {
        let msg = format!(
            "From: {SENDER}\r\nTo: {to}\r\nSubject: Referral\r\nMessage-ID: <d@direct.example.org>\r\n\
             Date: Sun, 22 Nov 2026 03:00:00 +0000\r\n\r\nSummary.\r\n"
        );
        let out = self
            .env
            .hisp
            .outgoing(msg.as_bytes(), &addr(SENDER), &[addr(to)], d)
            .await
            .expect("outgoing");
        out.into_iter().next().expect("one outcome")
    }
}

/// The message went out, encrypted to `n` certificates.
#[track_caller]
pub fn sent(o: &Outcome, n: usize) {
    assert!(
        matches!(o, Outcome::Encrypted { cert_count, .. } if *cert_count == n),
        "{o:?}"
    );
}

/// The recipient was rejected with `status`, the cause mentioning `needle`.
#[track_caller]
pub fn refused(o: &Outcome, want: &str, needle: &str) {
    match o {
        Outcome::Rejected { status, cause, .. } => {
            assert_eq!(*status, want, "{cause}");
            assert!(cause.contains(needle), "'{needle}' not in: {cause}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// The places looked at, in order, with (certificates found, usable).
pub fn places(r: &Report) -> Vec<(Place, usize, usize)> {
    r.steps()
        .map(|s| {
            let usable = s.certs.iter().filter(|j| j.verdict.is_ok()).count();
            (s.place, s.certs.len(), usable)
        })
        .collect()
}

fn asked_srv(r: &Report) -> bool {
    r.events.iter().any(|e| matches!(e, Event::Srv { .. }))
}

/// DCDT D1, D2, D5, D6, D9, D11, D12, D14, D17, D18 (DNS, and LDAP servers
/// that are not there), plus IPKIX.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dcdt_dns_cases() {
    let w = world().await;
    let (pki, dns) = (&w.pki, &w.dns);
    let good = |a: &str| pki.leaf(Leaf::Good, a).cert;
    let d1 = good("jo@d1.remote.test");
    dns.cert("jo.d1.remote.test", der(&d1));
    let d2 = pki.leaf(Leaf::OrgBound, "jo@d2.remote.test").cert;
    dns.cert("d2.remote.test", der(&d2));
    dns.cert(
        "jo.d5.remote.test",
        der(&pki.leaf(Leaf::Expired, "jo@d5.remote.test").cert),
    );
    dns.cert(
        "d6.remote.test",
        der(&certs::expired_org(pki, "d6.remote.test")),
    );
    dns.cert(
        "jo.d9.remote.test",
        der(&pki.leaf(Leaf::Expired, "jo@d9.remote.test").cert),
    );
    dns.cert("jo.d9.remote.test", der(&good("jo@d9.remote.test")));
    let closed = crate::slapd::free_port().port();
    dns.srv(
        "_ldap._tcp.d12.remote.test",
        0,
        0,
        closed,
        "ldap.d12.remote.test",
    );
    dns.a("ldap.d12.remote.test", [127, 0, 0, 1].into());
    let d14 = certs::large(pki, "jo@d14.remote.test");
    assert!(
        der(&d14).len() > 512,
        "D14 needs a certificate over 512 bytes"
    );
    dns.cert("jo.d14.remote.test", der(&d14));
    dns.cert(
        "jo.d17.remote.test",
        der(&pki.leaf(Leaf::Revoked, "jo@d17.remote.test").cert),
    );
    dns.cert("jo.d17.remote.test", der(&good("jo@d17.remote.test")));
    let only_revoked = pki.leaf(Leaf::Revoked, "solo@d17.remote.test").cert;
    dns.cert("solo.d17.remote.test", der(&only_revoked));
    dns.cert("jo.d18.remote.test", der(&good("jo@d18.remote.test")));
    dns.cert(
        "bad.d18.remote.test",
        der(&pki.leaf(Leaf::BadAia, "bad@d18.remote.test").cert),
    );
    w.files.put(
        "jo-ipkix.cer",
        der(&good("jo@ipkix.remote.test")),
        "application/pkix-cert",
    );
    dns.ipkix("jo.ipkix.remote.test", &w.files.url("jo-ipkix.cer"));
    w.pki.publish(&w.files);
    let d = w.discoverer();

    // D18 first, while no intermediate was fetched yet: only the leaf is in DNS,
    // its issuer comes from AIA.
    assert_eq!(w.files.hits("intermediate.cer"), 0);
    let r = w.report(&d, "jo@d18.remote.test").await;
    assert_eq!(places(&r), [(Place::DnsAddress, 1, 1)]);
    assert!(
        w.files.hits("intermediate.cer") >= 1,
        "AIA was not followed"
    );
    sent(&w.send(&d, "jo@d18.remote.test").await, 1);
    // … and a dead AIA URL leaves no path.
    let r = w.report(&d, "bad@d18.remote.test").await;
    assert!(r.usable().is_empty());
    assert!(w.files.hits("missing.cer") >= 1);
    refused(&w.send(&d, "bad@d18.remote.test").await, "5.7.11", "AIA");

    // D1: address-bound in DNS. Found at the first place, so nothing else is asked.
    let r = w.report(&d, "jo@d1.remote.test").await;
    assert_eq!(places(&r), [(Place::DnsAddress, 1, 1)]);
    assert_eq!(der(&r.usable()[0]), der(&d1));
    assert!(!asked_srv(&r));
    assert_eq!(
        dns.tcp_queries("jo.d1.remote.test"),
        0,
        "RSA-2048 fits in UDP"
    );
    sent(&w.send(&d, "jo@d1.remote.test").await, 1);

    // D2: organization-bound in DNS, at the domain.
    let r = w.report(&d, "jo@d2.remote.test").await;
    assert_eq!(
        places(&r),
        [(Place::DnsAddress, 0, 0), (Place::DnsDomain, 1, 1)]
    );
    sent(&w.send(&d, "jo@d2.remote.test").await, 1);

    // D5, D6 (negative): the only certificate found is expired.
    for (to, place) in [
        ("jo@d5.remote.test", Place::DnsAddress),
        ("jo@d6.remote.test", Place::DnsDomain),
    ] {
        let r = w.report(&d, to).await;
        assert!(r.usable().is_empty(), "{to}");
        assert!(places(&r).contains(&(place, 1, 0)), "{to}");
        let text = r.lines().join("\n");
        assert!(text.contains("dropped: certificate"), "{text}");
        assert!(text.contains("failed the expired check"), "{text}");
        refused(&w.send(&d, to).await, "5.7.31", "expired");
    }

    // D9: two address-bound certificates, one expired: the valid one is used.
    let r = w.report(&d, "jo@d9.remote.test").await;
    assert_eq!(places(&r), [(Place::DnsAddress, 2, 1)]);
    assert!(!asked_srv(&r));
    sent(&w.send(&d, "jo@d9.remote.test").await, 1);

    // D11 (negative): no CERT and no SRV records.
    let r = w.report(&d, "jo@d11.remote.test").await;
    assert_eq!(
        places(&r),
        [(Place::DnsAddress, 0, 0), (Place::DnsDomain, 0, 0)]
    );
    let text = r.lines().join("\n");
    assert!(
        text.contains("LDAP: no _ldap._tcp.d11.remote.test SRV records"),
        "{text}"
    );
    assert!(text.ends_with("Result: no usable certificate"), "{text}");
    refused(
        &w.send(&d, "jo@d11.remote.test").await,
        "5.7.31",
        "no certificate",
    );

    // D12 (negative): the only LDAP server is down.
    let r = w.report(&d, "jo@d12.remote.test").await;
    let servers = r.servers();
    assert_eq!(servers.len(), 1);
    assert_eq!(servers[0].target, format!("ldap.d12.remote.test:{closed}"));
    assert!(servers[0].result.is_err());
    assert_eq!(places(&r).len(), 2, "no LDAP search without a server");
    assert!(
        r.lines()
            .join("\n")
            .contains("LDAP: no server could be used")
    );
    refused(
        &w.send(&d, "jo@d12.remote.test").await,
        "5.7.31",
        "no certificate",
    );

    // D14: over 512 bytes, so the UDP answer is truncated and TCP asked.
    let r = w.report(&d, "jo@d14.remote.test").await;
    assert_eq!(places(&r), [(Place::DnsAddress, 1, 1)]);
    let step = r.steps().next().expect("step");
    assert!(
        step.notes.iter().any(|n| n.contains("over TCP")),
        "{:?}",
        step.notes
    );
    assert!(dns.tcp_queries("jo.d14.remote.test") >= 1);
    assert!(r.lines()[1].contains("1 certificate (over TCP, the UDP answer was truncated)"));
    sent(&w.send(&d, "jo@d14.remote.test").await, 1);
    // A server that refuses EDNS limits UDP to 512 bytes: then every
    // certificate needs TCP.
    let old = DnsDouble::start().await;
    old.refuse_edns();
    old.cert("jo.d1.remote.test", der(&d1));
    let config = DiscoveryConfig {
        nameservers: vec![old.addr],
        ..w.config()
    };
    let r = w
        .report(
            &Discoverer::with_config(&w.env.hisp, config),
            "jo@d1.remote.test",
        )
        .await;
    assert_eq!(places(&r), [(Place::DnsAddress, 1, 1)]);
    assert_eq!(old.tcp_queries("jo.d1.remote.test"), 1);

    // D17: the revoked certificate is skipped, the other used; alone, it is refused.
    let r = w.report(&d, "jo@d17.remote.test").await;
    assert_eq!(places(&r), [(Place::DnsAddress, 2, 1)]);
    assert!(r.lines().join("\n").contains("failed the revoked check"));
    sent(&w.send(&d, "jo@d17.remote.test").await, 1);
    refused(
        &w.send(&d, "solo@d17.remote.test").await,
        "5.7.31",
        "revoked",
    );

    // IPKIX (CERT type 4): a URL, fetched.
    let r = w.report(&d, "jo@ipkix.remote.test").await;
    assert_eq!(places(&r), [(Place::DnsAddress, 1, 1)]);
    assert!(r.lines()[1].contains("IPKIX http://"), "{}", r.lines()[1]);
    sent(&w.send(&d, "jo@ipkix.remote.test").await, 1);
}

/// Positive and negative caching by the clock, and `[discovery] ldap = false`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caches_by_the_clock_and_ldap_can_be_off() {
    let w = world().await;
    let config = DiscoveryConfig {
        cache_ttl_secs: 60,
        negative_cache_ttl_secs: 30,
        ..w.config()
    };
    let d = Discoverer::with_config(&w.env.hisp, config.clone());
    w.dns.cert(
        "jo.c.remote.test",
        der(&w.pki.leaf(Leaf::Good, "jo@c.remote.test").cert),
    );
    w.pki.publish(&w.files);

    let r = w.report(&d, "jo@c.remote.test").await;
    assert!(!r.steps().next().expect("step").cached);
    w.dns.clear("jo.c.remote.test");
    let r = w.report(&d, "jo@c.remote.test").await;
    assert!(r.steps().next().expect("step").cached);
    assert_eq!(r.usable().len(), 1, "kept for cache_ttl_secs");
    w.env.clock.advance(61);
    let r = w.report(&d, "jo@c.remote.test").await;
    assert!(r.usable().is_empty(), "expired from the cache");

    // Negative: nothing found is remembered for negative_cache_ttl_secs.
    w.dns.cert(
        "jo.c.remote.test",
        der(&w.pki.leaf(Leaf::Good, "jo@c.remote.test").cert),
    );
    let r = w.report(&d, "jo@c.remote.test").await;
    assert!(r.usable().is_empty() && r.steps().next().expect("step").cached);
    w.env.clock.advance(31);
    let r = w.report(&d, "jo@c.remote.test").await;
    assert_eq!(r.usable().len(), 1);

    // LDAP off: SRV is not even asked.
    let closed = crate::slapd::free_port().port();
    w.dns.srv(
        "_ldap._tcp.off.remote.test",
        0,
        0,
        closed,
        "ldap.off.remote.test",
    );
    let off = Discoverer::with_config(
        &w.env.hisp,
        DiscoveryConfig {
            ldap: false,
            ..config
        },
    );
    let r = w.report(&off, "jo@off.remote.test").await;
    assert!(r.events.iter().any(|e| matches!(e, Event::LdapOff)));
    assert!(!asked_srv(&r) && r.servers().is_empty());
    assert!(r.lines().join("\n").contains("LDAP: not consulted"));
}

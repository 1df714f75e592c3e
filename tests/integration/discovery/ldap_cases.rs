//! The DCDT cases that need a live LDAP server: D3, D4, D7, D8, D10, D13, D15,
//! D16, on one slapd; a closed port plays the server that is down.

use hisp::config::DiscoveryConfig;
use hisp::direct::discovery::{Discoverer, Event, Place};

use super::{World, certs, der, places, refused, sent, world};
use crate::slapd::{Entry, Slapd, free_port};
use crate::testpki::Leaf;

fn entry(cn: &str, mail: &str, certs: Vec<Vec<u8>>) -> Entry {
    Entry {
        cn: cn.into(),
        mail: mail.into(),
        certs,
    }
}

/// SRV `_ldap._tcp.<domain>` → `host.<domain>:port`, with host's A record.
fn srv(w: &World, domain: &str, priority: u16, weight: u16, host: &str, port: u16) {
    let target = format!("{host}.{domain}");
    w.dns.srv(
        &format!("_ldap._tcp.{domain}"),
        priority,
        weight,
        port,
        &target,
    );
    w.dns.a(&target, [127, 0, 0, 1].into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dcdt_ldap_cases() {
    let w = world().await;
    let pki = &w.pki;
    let good = |a: &str| der(&pki.leaf(Leaf::Good, a).cert);
    let entries = [
        entry("d3", "jo@d3.remote.test", vec![good("jo@d3.remote.test")]),
        entry(
            "d4",
            "d4.remote.test",
            vec![der(&pki.leaf(Leaf::OrgBound, "x@d4.remote.test").cert)],
        ),
        entry(
            "d7",
            "jo@d7.remote.test",
            vec![der(&pki.leaf(Leaf::Expired, "jo@d7.remote.test").cert)],
        ),
        entry(
            "d8",
            "d8.remote.test",
            vec![der(&certs::expired_org(pki, "d8.remote.test"))],
        ),
        entry(
            "d10",
            "jo@d10.remote.test",
            vec![good("jo@d10.remote.test")],
        ),
        entry(
            "d15",
            "jo@d15.remote.test",
            vec![good("jo@d15.remote.test")],
        ),
        entry(
            "d16",
            "jo@d16.remote.test",
            vec![good("jo@d16.remote.test")],
        ),
        entry(
            "junk",
            "jo@junk.remote.test",
            vec![b"not a certificate".to_vec(), good("jo@junk.remote.test")],
        ),
    ];
    let Some(slapd) = Slapd::start(&entries) else {
        return;
    };
    pki.publish(&w.files);
    let (up, down) = (slapd.addr.port(), free_port().port());
    for n in ["d3", "d4", "d7", "d8", "d13", "junk"] {
        srv(&w, &format!("{n}.remote.test"), 0, 0, "ldap", up);
    }
    srv(&w, "d10.remote.test", 0, 0, "down", down);
    srv(&w, "d10.remote.test", 10, 0, "ldap", up);
    srv(&w, "d15.remote.test", 20, 0, "down", down);
    srv(&w, "d15.remote.test", 10, 0, "ldap", up);
    srv(&w, "d16.remote.test", 0, 0, "down", down);
    srv(&w, "d16.remote.test", 0, 100, "ldap", up);
    let d = w.discoverer();

    // D3: address-bound in LDAP, after DNS found nothing; the domain is not searched.
    let r = w.report(&d, "jo@d3.remote.test").await;
    assert_eq!(
        places(&r),
        [
            (Place::DnsAddress, 0, 0),
            (Place::DnsDomain, 0, 0),
            (Place::LdapAddress, 1, 1)
        ]
    );
    let text = r.lines().join("\n");
    assert!(
        text.contains("anonymous bind accepted; base DNs: dc=ldap,dc=example,dc=net"),
        "{text}"
    );
    assert!(
        text.contains("LDAP (mail=jo@d3.remote.test): 1 certificate (at 127.0.0.1:"),
        "{text}"
    );
    sent(&w.send(&d, "jo@d3.remote.test").await, 1);

    // D4: organization-bound in LDAP, under (mail=<domain>).
    let r = w.report(&d, "jo@d4.remote.test").await;
    assert_eq!(
        places(&r)[2..],
        [(Place::LdapAddress, 0, 0), (Place::LdapDomain, 1, 1)]
    );
    sent(&w.send(&d, "jo@d4.remote.test").await, 1);

    // D7, D8 (negative): the only certificate in LDAP is expired.
    for (to, place) in [
        ("jo@d7.remote.test", Place::LdapAddress),
        ("jo@d8.remote.test", Place::LdapDomain),
    ] {
        let r = w.report(&d, to).await;
        assert!(r.usable().is_empty(), "{to}");
        assert!(places(&r).contains(&(place, 1, 0)), "{to}");
        refused(&w.send(&d, to).await, "5.7.31", "failed the expired check");
    }

    // D10: the first server (priority 0) is down; fail over to the next.
    let r = w.report(&d, "jo@d10.remote.test").await;
    let tried: Vec<_> = r
        .servers()
        .iter()
        .map(|a| (a.target.clone(), a.result.is_ok()))
        .collect();
    assert_eq!(
        tried,
        [
            (format!("down.d10.remote.test:{down}"), false),
            (format!("ldap.d10.remote.test:{up}"), true)
        ]
    );
    assert_eq!(r.usable().len(), 1);
    assert!(r.lines().join("\n").contains(&format!(
        "LDAP server down.d10.remote.test:{down} (127.0.0.1:{down}): passed over: unreachable"
    )));
    sent(&w.send(&d, "jo@d10.remote.test").await, 1);

    // D13 (negative): a working LDAP server, but no certificates anywhere.
    let r = w.report(&d, "jo@d13.remote.test").await;
    assert_eq!(
        places(&r)[2..],
        [(Place::LdapAddress, 0, 0), (Place::LdapDomain, 0, 0)]
    );
    refused(
        &w.send(&d, "jo@d13.remote.test").await,
        "5.7.31",
        "no certificate",
    );

    // D15: priority 10 is tried before priority 20, whatever the answer's order;
    // it works, so the other is never tried.
    let r = w.report(&d, "jo@d15.remote.test").await;
    let order = r.events.iter().find_map(|e| match e {
        Event::Srv {
            result: Ok(recs), ..
        } => Some(recs.iter().map(|s| s.priority).collect::<Vec<_>>()),
        _ => None,
    });
    assert_eq!(order, Some(vec![10, 20]));
    let tried: Vec<_> = r.servers().iter().map(|a| a.target.clone()).collect();
    assert_eq!(tried, [format!("ldap.d15.remote.test:{up}")]);
    sent(&w.send(&d, "jo@d15.remote.test").await, 1);

    // D16: same priority, weights 100 and 0: weight 100 first, every time
    // (weight 0 has no chance while a weighted record is left; see srv.rs).
    // No cache, so each try asks SRV and orders afresh.
    let uncached = Discoverer::with_config(
        &w.env.hisp,
        DiscoveryConfig {
            cache_ttl_secs: 0,
            negative_cache_ttl_secs: 0,
            ..w.config()
        },
    );
    for _ in 0..20 {
        let r = uncached
            .discover(&super::addr("jo@d16.remote.test"), &w.env.domain())
            .await
            .expect("discover");
        let first = r.servers()[0];
        assert_eq!(first.target, format!("ldap.d16.remote.test:{up}"));
        assert!(first.result.is_ok());
        assert_eq!(r.usable().len(), 1);
    }
    sent(&w.send(&uncached, "jo@d16.remote.test").await, 1);

    // A value that is not a certificate is reported and skipped.
    let r = w.report(&d, "jo@junk.remote.test").await;
    assert_eq!(r.usable().len(), 1);
    let text = r.lines().join("\n");
    assert!(
        text.contains(
            "  ! a userCertificate value of cn=junk,dc=ldap,dc=example,dc=net is not a certificate"
        ),
        "{text}"
    );

    // Cached: a second D3 lookup needs neither SRV nor the server.
    drop(slapd);
    let r = w.report(&d, "jo@d3.remote.test").await;
    assert_eq!(r.usable().len(), 1);
    assert!(r.servers().is_empty());
    assert!(r.steps().all(|s| s.cached));
}

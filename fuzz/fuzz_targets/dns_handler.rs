//! The DNS responder's request → response path: any packet gives a reply or
//! silence, never a panic; a reply has a header and a UDP reply fits 1232 bytes.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use hisp::dns::wire::respond_bytes;
use hisp::dns::zone::{Data, Record, Zone, Zones};
use libfuzzer_sys::fuzz_target;

/// One zone with a SOA, NS, and a certificate too big for 512 bytes.
fn zones() -> &'static Zones {
    static Z: OnceLock<Zones> = OnceLock::new();
    Z.get_or_init(|| {
        let mut z = Zone {
            apex: "d.org".into(),
            names: BTreeMap::new(),
            nonterminals: Default::default(),
        };
        let soa = Data::Soa {
            mname: "mail.d.org".into(),
            rname: "hostmaster.d.org".into(),
            serial: 1,
            refresh: 3600,
            retry: 600,
            expire: 1_209_600,
            minimum: 300,
        };
        for (n, d) in [
            ("d.org", soa),
            ("d.org", Data::Ns("mail.d.org".into())),
            ("jo.d.org", Data::CertPkix(vec![0x30; 1400])),
            ("jo.d.org", Data::Txt(vec!["x".repeat(255)])),
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
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, packet)) = data.split_first() else {
        return;
    };
    let tcp = mode & 1 == 1;
    if let Some(out) = respond_bytes(zones(), packet, tcp) {
        assert!(out.len() >= 12, "a reply has a header");
        if !tcp {
            assert!(
                out.len() <= 1232,
                "UDP replies fit the largest payload we offer"
            );
        }
    }
});

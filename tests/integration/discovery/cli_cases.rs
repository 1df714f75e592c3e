//! `hisp discover` through the real binary, pointed at the test DNS with
//! `HISP_DISCOVERY_NAMESERVERS` while the test's servers run in-process.

use super::{der, world};
use crate::harness;
use crate::testpki::Leaf;

/// `hisp discover` through the binary: exit 0 with a usable certificate, 1 without.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hisp_discover_command() {
    let w = world().await;
    w.dns.cert(
        "jo.cli.remote.test",
        der(&w.pki.leaf(Leaf::Good, "jo@cli.remote.test").cert),
    );
    w.dns.cert(
        "old.cli.remote.test",
        der(&w.pki.leaf(Leaf::Expired, "old@cli.remote.test").cert),
    );
    w.pki.publish(&w.files);
    let mut vars = w.env.vars.clone();
    vars.push((
        "HISP_DISCOVERY_NAMESERVERS".into(),
        format!("[\"{}\"]", w.dns.addr),
    ));
    let run = |args: &[&str]| {
        tokio::task::block_in_place(|| {
            harness::run_hisp(w.env.dir.path(), &w.env.config_path, &vars, args, None)
        })
    };

    let out = harness::ok(&run(&["discover", "jo@cli.remote.test"]));
    assert!(
        out.contains("DNS CERT jo.cli.remote.test: 1 certificate"),
        "{out}"
    );
    assert!(out.contains("  - CN=jo@cli.remote.test serial "), "{out}");
    assert!(out.contains(": usable"), "{out}");
    assert!(out.contains("Result: 1 usable certificate"), "{out}");
    let out = harness::ok(&run(&[
        "discover",
        "jo@cli.remote.test",
        "--domain",
        "direct.example.org",
    ]));
    assert!(
        out.contains("outgoing anchors of direct.example.org"),
        "{out}"
    );

    let o = run(&["discover", "old@cli.remote.test"]);
    harness::fails(&o, 1, "no usable certificate for old@cli.remote.test");
    let out = harness::stdout(&o);
    assert!(
        out.contains("dropped: certificate 'CN=old@cli.remote.test'"),
        "{out}"
    );
    assert!(out.contains("failed the expired check"), "{out}");
    assert!(
        out.contains("DNS CERT cli.remote.test: no certificates"),
        "{out}"
    );
    assert!(
        out.contains("LDAP: no _ldap._tcp.cli.remote.test SRV records"),
        "{out}"
    );
    assert!(out.contains("Result: no usable certificate"), "{out}");

    let o = run(&["discover", "not-an-address"]);
    assert_eq!(o.status.code(), Some(1), "{}", harness::stderr(&o));

    // With two local domains, whose anchors judge must be said.
    let second = hisp::direct::Domain::parse("second.example.org").expect("domain");
    w.env
        .hisp
        .domain_add(&second, "test")
        .await
        .expect("domain");
    harness::fails(&run(&["discover", "jo@cli.remote.test"]), 2, "--domain");
    let o = run(&[
        "discover",
        "jo@cli.remote.test",
        "--domain",
        "second.example.org",
    ]);
    harness::fails(&o, 1, "no usable certificate");
    assert!(
        harness::stdout(&o).contains("not an anchor of outgoing anchors of second.example.org"),
        "{}",
        harness::stdout(&o)
    );
}

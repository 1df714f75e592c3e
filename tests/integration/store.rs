//! The store suite, run on SQLite and (when configured) PostgreSQL: every table
//! family through the real pool, plus the admin operations built on them.

use hisp::direct::{DirectAddress, Domain};
use hisp::ops::Owner;
use hisp::ops::address::NewAddress;
use hisp::store::users::{self, Role};
use hisp::store::{StoreError, addresses, ca, certs, domains};

use crate::harness::{self, envs};

fn addr(s: &str) -> DirectAddress {
    DirectAddress::parse(s).expect("address")
}

fn new_address(a: &str, single_use: bool) -> NewAddress {
    NewAddress {
        address: addr(a),
        name: Some("Jo Smith".into()),
        role: Role::Provider,
        password: Some("a long enough password".into()),
        single_use: Some(single_use),
    }
}

#[tokio::test]
async fn domains_round_trip_on_every_engine() {
    for env in envs().await {
        let h = &env.hisp;
        let mut conn = h.conn().await.expect("conn");
        let d = Domain::parse("second.example.org").expect("domain");
        let row = domains::insert(&mut conn, &d, 10).await.expect("insert");
        assert_eq!(domains::get(&mut conn, &d).await.expect("get"), row);
        assert!(
            matches!(
                domains::insert(&mut conn, &d, 11).await,
                Err(StoreError::Duplicate(_))
            ),
            "{}",
            env.engine
        );
        let names: Vec<String> = domains::list(&mut conn)
            .await
            .expect("list")
            .iter()
            .map(|d| d.name.to_string())
            .collect();
        assert_eq!(
            names,
            [harness::DOMAIN, "second.example.org"],
            "{}",
            env.engine
        );
        let missing = Domain::parse("nope.example.org").expect("domain");
        assert!(matches!(
            domains::get(&mut conn, &missing).await,
            Err(StoreError::NotFound(_))
        ));
        domains::delete(&mut conn, &row).await.expect("delete");
        assert!(domains::find(&mut conn, &d).await.expect("find").is_none());
    }
}

#[tokio::test]
async fn users_round_trip_on_every_engine() {
    for env in envs().await {
        let mut conn = env.hisp.conn().await.expect("conn");
        let u = users::insert(&mut conn, "ops", "$argon2id$x", Role::Admin, true, 5)
            .await
            .expect("insert");
        assert!(u.must_change_password && u.enabled && u.role == Role::Admin);
        assert!(matches!(
            users::insert(&mut conn, "ops", "h", Role::Admin, false, 5).await,
            Err(StoreError::Duplicate(_))
        ));
        users::set_password(&mut conn, u.id, "$argon2id$y", false)
            .await
            .expect("passwd");
        assert_eq!(
            users::password_hash(&mut conn, "ops")
                .await
                .expect("hash")
                .as_deref(),
            Some("$argon2id$y")
        );
        users::set_enabled(&mut conn, u.id, false)
            .await
            .expect("disable");
        let again = users::find(&mut conn, "ops")
            .await
            .expect("find")
            .expect("exists");
        assert!(
            !again.enabled && !again.must_change_password,
            "{}",
            env.engine
        );
        // Setup made exactly one admin.
        let admins = users::list(&mut conn)
            .await
            .expect("list")
            .into_iter()
            .filter(|u| u.username == "admin")
            .count();
        assert_eq!(admins, 1);
    }
}

#[tokio::test]
async fn address_issue_show_disable_enable_remove_on_every_engine() {
    for env in envs().await {
        let h = &env.hisp;
        let done = h
            .address_add(new_address("jo@direct.example.org", false), "test")
            .await
            .expect("add");
        assert_eq!(done.certs.len(), 1);
        assert_eq!(done.certs[0].usage, "dual");
        assert!(done.generated_password.is_none());
        assert!(
            h.authenticate("jo@direct.example.org", "a long enough password")
                .await
                .expect("auth")
                .is_some()
        );
        assert!(
            h.authenticate("jo@direct.example.org", "wrong password!!")
                .await
                .expect("auth")
                .is_none()
        );

        let pair = h
            .address_add(new_address("sam@direct.example.org", true), "test")
            .await
            .expect("add pair");
        let usages: Vec<&str> = pair.certs.iter().map(|c| c.usage.as_str()).collect();
        assert_eq!(usages, ["signing", "encipherment"], "{}", env.engine);

        let dup = h
            .address_add(new_address("jo@direct.example.org", false), "test")
            .await;
        assert!(
            dup.expect_err("duplicate")
                .to_string()
                .contains("already exists")
        );
        let unknown = h
            .address_add(new_address("jo@elsewhere.org", false), "test")
            .await;
        assert!(
            unknown
                .expect_err("unknown domain")
                .to_string()
                .contains("domain elsewhere.org is not served here")
        );

        let listed = h.address_list(Some(&env.domain())).await.expect("list");
        assert_eq!(listed.len(), 2);

        // Notify's change counter moves with it, so a worker's roster
        // snapshot is reloaded without the disabled address's roster.
        let generation = || async {
            let mut conn = h.conn().await.expect("conn");
            hisp::store::notify::generation(&mut conn)
                .await
                .expect("generation")
        };
        let before = generation().await;
        h.address_disable(&addr("jo@direct.example.org"), "test")
            .await
            .expect("disable");
        assert!(generation().await > before, "{}", env.engine);
        let shown = h
            .address_show(&addr("jo@direct.example.org"))
            .await
            .expect("show");
        assert!(!shown.address.enabled);
        assert!(
            !shown.user.expect("owner").enabled,
            "the login goes with the address"
        );
        assert!(
            h.authenticate("jo@direct.example.org", "a long enough password")
                .await
                .expect("auth")
                .is_none()
        );
        let jo = addr("jo@direct.example.org");
        let again = h.address_disable(&jo, "test").await;
        assert!(again.is_err(), "already disabled");
        // Enabled again, with its login.
        let before = generation().await;
        h.address_enable(&addr("jo@direct.example.org"), "test")
            .await
            .expect("enable");
        assert!(generation().await > before, "{}", env.engine);
        let shown = h
            .address_show(&addr("jo@direct.example.org"))
            .await
            .expect("show");
        assert!(shown.address.enabled && shown.user.expect("owner").enabled);
        assert!(
            h.authenticate("jo@direct.example.org", "a long enough password")
                .await
                .expect("auth")
                .is_some()
        );
        let err = h.address_enable(&jo, "test").await.expect_err("enabled");
        assert!(err.to_string().contains("already enabled"), "{err}");
        h.address_disable(&jo, "test").await.expect("disable");

        let serials: Vec<String> = pair.certs.iter().map(|c| c.serial.clone()).collect();
        // Sam signed in once and saved a contact: the login still goes.
        {
            let mut conn = h.conn().await.expect("conn");
            let sam = users::find(&mut conn, "sam@direct.example.org")
                .await
                .expect("find")
                .expect("sam's login");
            hisp::store::web::insert_session(&mut conn, "sam-token", sam.id, "csrf", true, 1)
                .await
                .expect("session");
            hisp::store::web::insert_contact(&mut conn, sam.id, "Jo", "jo@direct.example.org", 1)
                .await
                .expect("contact");
        }
        h.address_remove(&addr("sam@direct.example.org"), "test")
            .await
            .expect("remove");
        let mut conn = h.conn().await.expect("conn");
        assert!(
            addresses::find(&mut conn, &addr("sam@direct.example.org"))
                .await
                .expect("find")
                .is_none()
        );
        assert!(
            users::find(&mut conn, "sam@direct.example.org")
                .await
                .expect("find")
                .is_none()
        );
        let revoked: Vec<String> = ca::crl_entries(&mut conn)
            .await
            .expect("crl")
            .into_iter()
            .map(|r| r.serial_hex)
            .collect();
        for s in &serials {
            assert!(
                revoked.contains(s),
                "{s} should be on the CRL after remove ({})",
                env.engine
            );
        }
    }
}

#[tokio::test]
async fn certificates_revoke_renew_and_crl_numbers_on_every_engine() {
    for env in envs().await {
        let h = &env.hisp;
        let jo = h
            .address_add(new_address("jo@direct.example.org", false), "test")
            .await
            .expect("add");
        let first = h.current_crl().await.expect("crl");
        let serial = jo.certs[0].serial.clone();
        let revoked = h
            .cert_revoke(&serial.to_ascii_lowercase(), "keyCompromise", "test")
            .await
            .expect("revoke");
        assert_eq!(revoked.status(h.now()), "revoked");
        let again = h.cert_revoke(&serial, "keyCompromise", "test").await;
        assert!(
            again
                .expect_err("twice")
                .to_string()
                .contains("already revoked")
        );
        let second = h.current_crl().await.expect("crl");
        assert!(
            second.number > first.number,
            "cRLNumber grows ({})",
            env.engine
        );
        let crl = openssl::x509::X509Crl::from_der(&second.der).expect("CRL parses");
        let ca = h.ca_cert().await.expect("ca");
        assert!(
            crl.verify(&ca.public_key().expect("key")).expect("verify"),
            "signed by our CA"
        );
        let listed = crl
            .get_revoked()
            .map(|s| {
                s.iter()
                    .map(|r| {
                        r.serial_number()
                            .to_bn()
                            .expect("bn")
                            .to_hex_str()
                            .expect("hex")
                            .to_string()
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        assert!(listed.contains(&serial), "{listed:?} lacks {serial}");

        let owner = Owner::Address(addr("jo@direct.example.org"));
        let renewed = h.cert_renew(&owner, "test").await.expect("renew");
        assert_eq!(renewed.len(), 1);
        let all = h.certs_of(&owner).await.expect("certs");
        assert_eq!(all.len(), 2, "renewal keeps the old certificate");
        assert_eq!(all.iter().filter(|c| c.is_current(h.now())).count(), 1);

        // Every domain got an organization-bound certificate at setup.
        let org = h.domain_certs(&env.domain()).await.expect("org certs");
        assert_eq!(org.len(), 1);
        let info = hisp::pki::info(&org[0].cert().expect("cert")).expect("info");
        assert_eq!(info.dns_names, [harness::DOMAIN]);

        // Keys come back out of the seal and match their certificates.
        let mut conn = h.conn().await.expect("conn");
        for row in certs::list(&mut conn).await.expect("list") {
            let key = certs::private_key(&h.store, &row).expect("unseal");
            assert!(
                row.cert()
                    .expect("cert")
                    .public_key()
                    .expect("pub")
                    .public_eq(&key)
            );
        }
    }
}

#[tokio::test]
async fn domain_remove_refuses_while_addresses_remain_on_every_engine() {
    for env in envs().await {
        let h = &env.hisp;
        h.address_add(new_address("jo@direct.example.org", false), "test")
            .await
            .expect("add");
        let err = h
            .domain_remove(&env.domain(), "test")
            .await
            .expect_err("has addresses");
        assert!(err.to_string().contains("still has 1 address"), "{err}");
        h.address_remove(&addr("jo@direct.example.org"), "test")
            .await
            .expect("remove");
        let org_serial = h.domain_certs(&env.domain()).await.expect("certs")[0]
            .serial
            .clone();
        h.domain_remove(&env.domain(), "test")
            .await
            .expect("domain remove");
        assert!(h.domain_list().await.expect("list").is_empty());
        let mut conn = h.conn().await.expect("conn");
        let revoked: Vec<String> = ca::crl_entries(&mut conn)
            .await
            .expect("crl")
            .into_iter()
            .map(|r| r.serial_hex)
            .collect();
        assert!(revoked.contains(&org_serial), "{}", env.engine);
    }
}

#[tokio::test]
async fn cert_import_checks_binding_and_key_on_every_engine() {
    for env in envs().await {
        let h = &env.hisp;
        h.address_add(new_address("jo@direct.example.org", false), "test")
            .await
            .expect("add");
        // A certificate from some other CA for jo, as a DirectTrust CA would issue.
        let other = hisp::pki::CaKeys::generate("Other CA", h.now(), 30).expect("ca");
        let profile = hisp::pki::Profile::new("http://ca.example.net");
        let subject = hisp::pki::Subject::Address {
            address: addr("jo@direct.example.org"),
            name: None,
        };
        let issued = hisp::pki::issue(
            &other,
            &subject,
            hisp::pki::Usage::EnciphermentOnly,
            &profile,
            h.now(),
        )
        .expect("issue");
        let imported = hisp::pki::Imported {
            cert: issued.cert.clone(),
            key: issued.key.clone(),
            chain: vec![other.cert.clone()],
            usage: hisp::pki::Usage::EnciphermentOnly,
        };
        let row = h
            .cert_import(
                &Owner::Address(addr("jo@direct.example.org")),
                imported,
                "test",
            )
            .await
            .expect("import");
        assert_eq!(
            (row.source.as_str(), row.usage.as_str()),
            ("imported", "encipherment")
        );
        assert!(
            row.chain_pem
                .as_deref()
                .is_some_and(|p| p.contains("BEGIN CERTIFICATE"))
        );

        let wrong_owner = hisp::pki::Imported {
            cert: issued.cert.clone(),
            key: issued.key.clone(),
            chain: vec![],
            usage: hisp::pki::Usage::Dual,
        };
        let err = h
            .cert_import(&Owner::Domain(env.domain()), wrong_owner, "test")
            .await
            .expect_err("not bound");
        assert!(
            err.to_string().contains("does not name direct.example.org"),
            "{err}"
        );
        // Revoking an imported certificate marks it but leaves our CRL alone.
        let before = h.current_crl().await.expect("crl").number;
        h.cert_revoke(&row.fingerprint, "superseded", "test")
            .await
            .expect("revoke");
        assert_eq!(
            h.current_crl().await.expect("crl").number,
            before,
            "{}",
            env.engine
        );
    }
}

#[tokio::test]
async fn setup_report_and_certificate_expiry_follow_the_clock() {
    for env in envs().await {
        assert!(env.report.added_domain && env.report.created_ca && env.report.wrote_config);
        let (user, password) = env.report.admin.as_ref().expect("admin made at setup");
        assert_eq!(user, "admin");
        let h = &env.hisp;
        assert!(
            h.authenticate("admin", password)
                .await
                .expect("auth")
                .is_some()
        );
        let jo = h
            .address_add(new_address("jo@direct.example.org", false), "test")
            .await
            .expect("add");
        assert_eq!(jo.certs[0].status(h.now()), "valid");
        env.clock.advance(366 * 86_400);
        let rows = h
            .certs_of(&Owner::Address(addr("jo@direct.example.org")))
            .await
            .expect("certs");
        assert_eq!(rows[0].status(h.now()), "expired", "{}", env.engine);
        // Renewal after expiry issues a current certificate again.
        h.cert_renew(&Owner::Address(addr("jo@direct.example.org")), "test")
            .await
            .expect("renew");
        let rows = h
            .certs_of(&Owner::Address(addr("jo@direct.example.org")))
            .await
            .expect("certs");
        assert_eq!(rows.iter().filter(|c| c.is_current(h.now())).count(), 1);
    }
}

/// A renumber moves only an encounter keyed by its own kind of number, and
/// an encounter from before its kind was recorded takes its next message's,
/// on every engine.
#[tokio::test]
async fn a_renumber_moves_only_its_own_kind_of_number_on_every_engine() {
    use hisp::store::notify::{self, KeyedBy};
    for env in envs().await {
        let e = env.engine;
        let mut conn = env.hisp.conn().await.expect("conn");
        let open = async |conn: &mut sqlx::AnyConnection, visit, kind| {
            notify::encounter(conn, "northhosp", visit, kind, 10)
                .await
                .expect("encounter")
                .id
        };
        let moved = async |conn: &mut sqlx::AnyConnection, from, to, kind| {
            notify::renumber_encounter(conn, "northhosp", from, to, kind, 11)
                .await
                .expect("renumber")
        };
        let visit = open(&mut conn, "555", Some(KeyedBy::Visit)).await;
        assert!(
            !moved(&mut conn, "555", "556", KeyedBy::Account).await,
            "{e}"
        );
        assert!(moved(&mut conn, "555", "V9", KeyedBy::Visit).await, "{e}");
        let account = open(&mut conn, "ACC1", Some(KeyedBy::Account)).await;
        assert!(
            !moved(&mut conn, "ACC1", "ACC2", KeyedBy::Visit).await,
            "{e}"
        );
        assert!(
            moved(&mut conn, "ACC1", "ACC2", KeyedBy::Account).await,
            "{e}"
        );
        assert!(
            !moved(&mut conn, "~x", "ACC3", KeyedBy::Derived).await,
            "{e}"
        );
        // As from before migration 0024: no kind, taken as a visit number
        // until a message says which.
        let old = open(&mut conn, "OLD1", None).await;
        assert!(
            !moved(&mut conn, "OLD1", "OLD2", KeyedBy::Account).await,
            "{e}"
        );
        assert_eq!(open(&mut conn, "OLD1", Some(KeyedBy::Account)).await, old);
        assert_eq!(
            open(&mut conn, "OLD1", Some(KeyedBy::Visit)).await,
            old,
            "{e}: the first kind stays"
        );
        assert!(
            moved(&mut conn, "OLD1", "OLD2", KeyedBy::Account).await,
            "{e}"
        );
        assert_eq!(open(&mut conn, "V9", None).await, visit, "{e}");
        assert_eq!(open(&mut conn, "ACC2", None).await, account, "{e}");
    }
}

/// An encounter saved only as it was read: a second worker's save from a
/// stale read changes nothing (and is told so), on every engine. (The change
/// counter a filing transaction holds is tested in `notify_race`.)
#[tokio::test]
async fn an_encounter_saves_only_as_it_was_read_on_every_engine() {
    use hisp::store::notify;
    for env in envs().await {
        let e = env.engine;
        let h = &env.hisp;
        let mut conn = h.conn().await.expect("conn");
        let read = notify::encounter(&mut conn, "northhosp", "V1", None, 10)
            .await
            .expect("encounter");
        assert_eq!((read.state.as_str(), read.state_at), ("new", None), "{e}");
        let mut admitted = read.clone();
        admitted.state = "admitted".into();
        admitted.alerted = "admit".into();
        admitted.state_at = Some(1_795_000_000);
        assert!(
            notify::save_encounter(&mut conn, &admitted, &read, 11)
                .await
                .expect("save"),
            "{e}"
        );
        // Another worker decided from the row as it was before that save.
        let mut discharged = read.clone();
        discharged.state = "discharged".into();
        discharged.alerted = "discharge".into();
        assert!(
            !notify::save_encounter(&mut conn, &discharged, &read, 12)
                .await
                .expect("stale save"),
            "{e}"
        );
        let now = notify::encounter(&mut conn, "northhosp", "V1", None, 13)
            .await
            .expect("again");
        assert_eq!(now, admitted, "{e}: the first save stands");
        // Read again, it saves.
        let mut discharged = now.clone();
        discharged.state = "discharged".into();
        discharged.alerted = "admit,discharge".into();
        assert!(
            notify::save_encounter(&mut conn, &discharged, &now, 14)
                .await
                .expect("save"),
            "{e}"
        );
    }
}

#[tokio::test]
async fn alerts_filed_for_a_digest_go_in_one_even_after_real_time_on_every_engine() {
    use hisp::store::notify::{self, DigestDue, NewAlert, StoredPatient, Unsent};
    for env in envs().await {
        let e = env.engine;
        let h = &env.hisp;
        let sealer = h.store.sealer();
        let mut conn = h.conn().await.expect("conn");
        let patient = StoredPatient {
            identifiers: vec![("MRN1".into(), "NORTH".into())],
            ..Default::default()
        };
        let alert = |subscriber, key, patient| NewAlert {
            subscriber,
            encounter_id: 1,
            change_key: key,
            event: "ed",
            program: None,
            facility: "northhosp",
            summary: "Doe, Jane",
            roster_entry_id: Some(7),
            event_time: "20261122055900",
            patient,
            withholding: None,
            record: None,
        };
        // Both are enabled addresses here: only those are due a digest.
        let domain = domains::insert(&mut conn, &Domain::parse("a.test").expect("domain"), 1)
            .await
            .expect("domain");
        for who in ["dave@a.test", "erin@a.test"] {
            let addr = DirectAddress::parse(who).expect("addr");
            addresses::insert(&mut conn, &addr, domain.id, None, None, 1)
                .await
                .expect("address");
        }
        notify::set_subscription_mode(&mut conn, "dave@a.test", "digest", 100)
            .await
            .expect("digest");
        notify::set_subscription_mode(&mut conn, "erin@a.test", "realtime", 100)
            .await
            .expect("realtime");
        // Dave's alert was filed for his digest; Erin's one real-time alert
        // failed to send (its ADT is retried) and names no patient.
        let daves = notify::insert_alert(
            &mut conn,
            sealer,
            &alert("dave@a.test", "ed:1", Some(&patient)),
            110,
        )
        .await
        .expect("insert")
        .expect("new");
        let erins =
            notify::insert_alert(&mut conn, sealer, &alert("erin@a.test", "ed:1", None), 110)
                .await
                .expect("insert")
                .expect("new");
        let due = notify::digests_due(&mut conn, 200, 200, 200)
            .await
            .expect("due");
        assert_eq!(
            due,
            vec![DigestDue {
                subscriber: "dave@a.test".into(),
                last_digest_at: 100,
                digest_mode: true
            }],
            "{e}: a real-time subscriber's unsent alert is the worker's"
        );
        assert_eq!(
            notify::unsent_alert(&mut conn, "erin@a.test", 1, "ed:1")
                .await
                .expect("unsent"),
            Some(erins),
            "{e}"
        );
        // Dave goes back to real time before his digest: his alert is due at
        // once, whatever the time, and it is the digest's, not the worker's.
        notify::set_subscription_mode(&mut conn, "dave@a.test", "realtime", 150)
            .await
            .expect("realtime");
        let taken_lately = notify::digests_due(&mut conn, 0, 100, 100)
            .await
            .expect("due");
        assert!(
            taken_lately.is_empty(),
            "{e}: a turn taken at 100 may still be sending"
        );
        let due = notify::digests_due(&mut conn, 0, 101, 101)
            .await
            .expect("due");
        assert_eq!(
            due,
            vec![DigestDue {
                subscriber: "dave@a.test".into(),
                last_digest_at: 100,
                digest_mode: false
            }],
            "{e}"
        );
        assert_eq!(
            notify::unsent_alert(&mut conn, "dave@a.test", 1, "ed:1")
                .await
                .expect("unsent"),
            None,
            "{e}: a retried ADT leaves it to the digest"
        );
        for (which, want) in [
            (Unsent::FiledForDigest("dave@a.test"), vec![daves]),
            (Unsent::FiledForDigest("erin@a.test"), vec![]),
            (Unsent::Of("erin@a.test"), vec![erins]),
            (Unsent::All, vec![daves, erins]),
        ] {
            let got = notify::unsent_alerts(&mut conn, sealer, which)
                .await
                .expect("unsent");
            let got: Vec<i64> = got.iter().map(|a| a.id).collect();
            assert_eq!(got, want, "{e}: {which:?}");
        }
        // Pages of the worklist by subscriber, read by the database.
        async fn page(conn: &mut sqlx::AnyConnection, subs: Option<Vec<String>>) -> Vec<i64> {
            notify::alerts_page_of(conn, subs.as_deref(), i64::MAX, 10)
                .await
                .expect("page")
                .iter()
                .map(|a| a.id)
                .collect()
        }
        let both: Vec<String> = vec!["dave@a.test".into(), "erin@a.test".into()];
        let mut newest_first = vec![daves, erins];
        newest_first.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(page(&mut conn, Some(both)).await, newest_first, "{e}");
        assert_eq!(
            page(&mut conn, Some(vec!["erin@a.test".into()])).await,
            vec![erins],
            "{e}"
        );
        assert_eq!(
            page(&mut conn, Some(vec![])).await,
            Vec::<i64>::new(),
            "{e}"
        );
        assert!(page(&mut conn, None).await.len() >= 2, "{e}");
        // Sent, it is due no more.
        assert!(
            notify::set_alert_message(&mut conn, daves, "<d@a.test>")
                .await
                .expect("sent"),
            "{e}"
        );
        // Marked once: a second send (another node's) finds it sent.
        assert!(
            !notify::set_alert_message(&mut conn, daves, "<d2@a.test>")
                .await
                .expect("sent"),
            "{e}"
        );
        assert!(
            notify::digests_due(&mut conn, 0, 101, 101)
                .await
                .expect("due")
                .is_empty(),
            "{e}"
        );
    }
}

/// A digest turn taken and then cut short (the node died, or a disable
/// stopped it) is not left until the next day: once the turn is old enough
/// that no node can still be sending, the alerts filed before it make the
/// subscriber due again. An alert filed after it waits for the next digest.
/// A turn is given back even to a disabled address, which takes none.
#[tokio::test]
async fn a_digest_cut_short_is_due_again_once_its_turn_is_old_on_every_engine() {
    use hisp::store::notify::{self, DigestDue, NewAlert, StoredPatient};
    for env in envs().await {
        let e = env.engine;
        let h = &env.hisp;
        let mut conn = h.conn().await.expect("conn");
        let domain = domains::insert(&mut conn, &Domain::parse("a.test").expect("domain"), 1)
            .await
            .expect("domain");
        let dave = DirectAddress::parse("dave@a.test").expect("addr");
        let row = addresses::insert(&mut conn, &dave, domain.id, None, None, 1)
            .await
            .expect("address");
        notify::set_subscription_mode(&mut conn, "dave@a.test", "digest", 100)
            .await
            .expect("digest");
        let patient = StoredPatient {
            identifiers: vec![("MRN1".into(), "NORTH".into())],
            ..Default::default()
        };
        let file = |key: &'static str| NewAlert {
            subscriber: "dave@a.test",
            encounter_id: 1,
            change_key: key,
            event: "ed",
            program: None,
            facility: "northhosp",
            summary: "Doe, Jane",
            roster_entry_id: Some(7),
            event_time: "20261122055900",
            patient: Some(&patient),
            withholding: None,
            record: None,
        };
        let first = notify::insert_alert(&mut conn, h.store.sealer(), &file("ed#1"), 110)
            .await
            .expect("insert")
            .expect("new");
        // The day's digest (due at 150) is taken at 200, and never sent.
        assert!(
            notify::claim_digest(&mut conn, "dave@a.test", 100, 200)
                .await
                .expect("claim"),
            "{e}"
        );
        assert!(
            notify::digests_due(&mut conn, 150, 10_000, 200)
                .await
                .expect("due")
                .is_empty(),
            "{e}: may still be sending"
        );
        let again = vec![DigestDue {
            subscriber: "dave@a.test".into(),
            last_digest_at: 200,
            digest_mode: true,
        }];
        assert_eq!(
            notify::digests_due(&mut conn, 150, 0, 201)
                .await
                .expect("due"),
            again,
            "{e}: the turn is old and left an alert filed before it"
        );
        // Sent, and another filed after the turn: that one is tomorrow's.
        assert!(
            notify::set_alert_message(&mut conn, first, "<d@a.test>")
                .await
                .expect("sent"),
            "{e}"
        );
        notify::insert_alert(&mut conn, h.store.sealer(), &file("ed#2"), 210)
            .await
            .expect("insert")
            .expect("new");
        assert!(
            notify::digests_due(&mut conn, 150, 10_000, 10_000)
                .await
                .expect("due")
                .is_empty(),
            "{e}: filed after the turn"
        );
        // One filed in the turn's own second, committed after the digest
        // read the alerts, is taken up too.
        notify::insert_alert(&mut conn, h.store.sealer(), &file("ed#3"), 200)
            .await
            .expect("insert")
            .expect("new");
        assert_eq!(
            notify::digests_due(&mut conn, 150, 0, 201)
                .await
                .expect("due"),
            again,
            "{e}: filed in the turn's second"
        );
        // Disabled, the turn is given back all the same (not taken again).
        addresses::set_enabled(&mut conn, row.id, false)
            .await
            .expect("disable");
        assert!(
            notify::give_back_digest(&mut conn, "dave@a.test", 200, 100)
                .await
                .expect("give back"),
            "{e}"
        );
        assert!(
            !notify::claim_digest(&mut conn, "dave@a.test", 100, 300)
                .await
                .expect("claim"),
            "{e}: a disabled address takes no turn"
        );
        assert!(
            notify::digests_due(&mut conn, 150, 10_000, 10_000)
                .await
                .expect("due")
                .is_empty(),
            "{e}: nor is due one"
        );
    }
}

/// `[notify] adt_retention_days` (30): the daily sweep deletes the dedup keys
/// of processed messages received before the cut-off, in batches of 500 by
/// id and at most so many batches a call, and keeps every message not yet
/// processed, parked as corrupt, under an open or confirming review, or
/// received since. A purged key no longer answers a resend with the stored
/// ACK; a kept one does. Each call audits its count.
#[tokio::test]
async fn old_adt_dedup_keys_are_purged_in_batches_on_every_engine() {
    use hisp::notify::retention::{AdtPurge, PURGE_STEPS};
    use hisp::store::notify::{self, AdtKey};
    for env in envs().await {
        let h = &env.hisp;
        let now = h.now();
        let days = i64::from(h.config.notify.adt_retention_days);
        assert_eq!(days, 30);
        let old = now - days * 86_400 - 60;
        let recent = now - days * 86_400 + 60;
        let sealer = h.store.sealer();
        fn key(c: &str) -> AdtKey<'_> {
            AdtKey {
                app: "EPIC",
                facility: "NORTHHOSP",
                control_id: c,
            }
        }
        let mut tx = h.store.begin().await.expect("begin");
        // 1,200 old processed messages: three batches' worth.
        for i in 0..1_200 {
            let c = format!("OLD{i}");
            notify::insert_adt(&mut tx, sealer, &key(&c), "ack-old", None, old)
                .await
                .expect("insert");
        }
        let mut kept = Vec::new();
        // Old, but not processed yet; parked as corrupt; under an open review.
        let pending = notify::insert_adt(&mut tx, sealer, &key("PENDING"), "a", Some(b"MSH|"), old)
            .await
            .expect("insert");
        kept.push("PENDING");
        let corrupt = notify::insert_adt(&mut tx, sealer, &key("CORRUPT"), "a", None, old)
            .await
            .expect("insert");
        kept.push("CORRUPT");
        let reviewed = notify::insert_adt(&mut tx, sealer, &key("REVIEWED"), "a", None, old)
            .await
            .expect("insert");
        kept.push("REVIEWED");
        let confirming = notify::insert_adt(&mut tx, sealer, &key("CONFIRMING"), "a", None, old)
            .await
            .expect("insert");
        kept.push("CONFIRMING");
        // Processed inside the window.
        notify::insert_adt(&mut tx, sealer, &key("RECENT"), "ack-recent", None, recent)
            .await
            .expect("insert");
        kept.push("RECENT");
        tx.commit().await.expect("commit");
        let mut conn = h.conn().await.expect("conn");
        sqlx::query("UPDATE adt_messages SET state = 'corrupt' WHERE id = $1")
            .bind(corrupt)
            .execute(&mut *conn)
            .await
            .expect("park");
        for (adt, status) in [(reviewed, "open"), (confirming, "confirming")] {
            sqlx::query(
                "INSERT INTO match_reviews (adt_id, roster_entry_id, score, created_at, status) VALUES ($1, 1, '0.8', $2, $3)",
            )
            .bind(adt)
            .bind(old)
            .bind(status)
            .execute(&mut *conn)
            .await
            .expect("review");
        }
        assert!(pending > 0);
        drop(conn);

        // Two batches a call: the first call stops with 200 left.
        let first = h.purge_adt_keys("test", 2).await.expect("purge");
        assert_eq!(
            first,
            AdtPurge {
                deleted: 1_000,
                done: false
            },
            "{}",
            env.engine
        );
        let second = h.purge_adt_keys("test", PURGE_STEPS).await.expect("purge");
        assert_eq!(
            second,
            AdtPurge {
                deleted: 200,
                done: true
            },
            "{}",
            env.engine
        );
        let mut conn = h.conn().await.expect("conn");
        for c in ["OLD0", "OLD599", "OLD1199"] {
            let ack = notify::stored_ack(&mut conn, &key(c)).await.expect("ack");
            assert_eq!(ack, None, "{c} on {}", env.engine);
        }
        for c in kept {
            let ack = notify::stored_ack(&mut conn, &key(c)).await.expect("ack");
            assert!(ack.is_some(), "{c} kept on {}", env.engine);
        }
        let audited: Vec<String> = sqlx::query_scalar(
            "SELECT detail FROM audit_log WHERE action = 'adt.purge' ORDER BY seq",
        )
        .fetch_all(&mut *conn)
        .await
        .expect("audit");
        assert_eq!(
            audited,
            [
                "1000 keys of processed messages received over 30 days ago deleted",
                "200 keys of processed messages received over 30 days ago deleted"
            ],
            "{}",
            env.engine
        );
        drop(conn);
        // Nothing left to delete: no audit entry.
        let purge = || h.purge_adt_keys("test", PURGE_STEPS);
        assert_eq!(purge().await.expect("purge").deleted, 0);
        // The sweep reads no further than the first batch that reaches the
        // cut-off (ids follow arrival), so a day's sweep never reads the
        // whole table: old rows stored after a batch of recent ones wait
        // for the recent ones to age out.
        let mut tx = h.store.begin().await.expect("begin");
        for i in 0..600 {
            let c = format!("NEW{i}");
            notify::insert_adt(&mut tx, sealer, &key(&c), "a", None, recent)
                .await
                .expect("insert");
        }
        notify::insert_adt(&mut tx, sealer, &key("LATE"), "a", None, old)
            .await
            .expect("insert");
        tx.commit().await.expect("commit");
        assert_eq!(purge().await.expect("purge").deleted, 0);
        env.clock.advance(120);
        assert_eq!(purge().await.expect("purge").deleted, 602);
    }
}

/// The consent stamp a merge checks moves with every decision recorded and
/// every decision a merge rewrites (a merge adding the survivor to an
/// opt-out), and an opt-in follows only a sure merge. Before, the stamp was
/// the latest id alone, and a rewrite left it as it was.
#[tokio::test]
async fn the_consent_stamp_moves_with_every_decision_and_rewrite_on_every_engine() {
    use hisp::store::notify::{self, StoredPatient};
    for env in envs().await {
        let e = env.engine;
        let sealer = env.hisp.store.sealer();
        let mut conn = env.hisp.conn().await.expect("conn");
        let id = |v: &str| (v.to_string(), "NORTH".to_string());
        let under = |v: &str| StoredPatient {
            identifiers: vec![id(v)],
            ..Default::default()
        };
        let stamp0 = notify::consent_stamp(&mut conn).await.expect("stamp");
        assert_eq!(stamp0, (None, 0), "{e}");
        notify::insert_consent(&mut conn, sealer, "opt-out", &under("L1"), 1)
            .await
            .expect("opt-out");
        notify::insert_consent(&mut conn, sealer, "opt-in", &under("L1"), 2)
            .await
            .expect("opt-in");
        let stamp1 = notify::consent_stamp(&mut conn).await.expect("stamp");
        assert_ne!(stamp1, stamp0, "{e}");
        // An A47-like merge (not sure): the opt-out follows, the opt-in not.
        let n = notify::merge_consent_identifier(&mut conn, sealer, &id("L1"), &id("L2"), false)
            .await
            .expect("merge");
        assert_eq!(n, 1, "{e}");
        let stamp2 = notify::consent_stamp(&mut conn).await.expect("stamp");
        assert_eq!(stamp2.0, stamp1.0, "{e}: no decision added");
        assert_eq!(stamp2.1, stamp1.1 + 1, "{e}: one rewritten");
        let stored = notify::consents(&mut conn, sealer).await.expect("consents");
        let holds = |d: &str| {
            stored
                .iter()
                .find(|c| c.decision == d)
                .is_some_and(|c| c.patient.identifiers.contains(&id("L2")))
        };
        assert!(holds("opt-out") && !holds("opt-in"), "{e}");
        // A sure merge carries both.
        let n = notify::merge_consent_identifier(&mut conn, sealer, &id("L2"), &id("L3"), true)
            .await
            .expect("merge");
        assert_eq!(n, 1, "{e}: only the opt-out names L2");
        let n = notify::merge_consent_identifier(&mut conn, sealer, &id("L1"), &id("L4"), true)
            .await
            .expect("merge");
        assert_eq!(n, 2, "{e}: both name L1");
    }
}

/// A person's judgment that two roster entries are different people
/// (confirming a review a near miss's opt-out held) is kept once per pair
/// and review, lower id first whichever way it was given, with the
/// hospital's record it was about sealed; a review's own are deleted when
/// its confirmation is given back, every review's when undone, and either
/// entry's when expired entries are purged. One recorded before migration
/// 0028 names no record.
#[tokio::test]
async fn entries_set_apart_are_kept_per_review_and_go_with_either_entry_on_every_engine() {
    use hisp::store::notify::{self, DistinctPair, Judgment, NewEntry, StoredPatient};
    for env in envs().await {
        let e = env.engine;
        let sealer = env.hisp.store.sealer();
        let mut conn = env.hisp.conn().await.expect("conn");
        let patient = StoredPatient {
            family: "Doe".into(),
            given: "Jane".into(),
            ..Default::default()
        };
        let mut ids = Vec::new();
        for expires_at in [10, 1_000, 1_000] {
            let entry = NewEntry {
                patient: &patient,
                program: None,
                end_date: None,
                expires_at,
            };
            let id = notify::insert_entry(&mut conn, sealer, "carol@a.test", &entry, 1)
                .await
                .expect("entry");
            ids.push(id);
        }
        let (gone, kept, other) = (ids[0], ids[1], ids[2]);
        let r1 = vec![("X55".to_string(), "SOUTH".to_string())];
        let r2 = vec![("X99".to_string(), "SOUTH".to_string())];
        let judged = |review_id, at, record| Judgment {
            review_id,
            actor: "cli",
            at,
            record,
        };
        notify::set_apart(
            &mut conn,
            sealer,
            other,
            &[gone, kept, other],
            &judged(7, 5, &r1),
        )
        .await
        .expect("set apart");
        // Another review's judgment of the same pair is its own row; the
        // same review's again changes nothing.
        notify::set_apart(&mut conn, sealer, kept, &[other], &judged(8, 6, &r2))
            .await
            .expect("another review");
        notify::set_apart(&mut conn, sealer, kept, &[other], &judged(8, 7, &r1))
            .await
            .expect("again");
        let pair =
            |a: i64, b: i64, review_id, record: Option<&Vec<(String, String)>>| DistinctPair {
                entry: a.min(b),
                other: a.max(b),
                review_id,
                record: record.cloned(),
            };
        let mut want = vec![
            pair(gone, other, 7, Some(&r1)),
            pair(kept, other, 7, Some(&r1)),
            pair(kept, other, 8, Some(&r2)),
        ];
        want.sort_by_key(|p| (p.entry, p.other, p.review_id));
        let pairs = notify::distinct_entries(&mut conn, sealer)
            .await
            .expect("pairs");
        assert_eq!(pairs, want, "{e}: no pair of an entry with itself");
        // The record is sealed, not stored as typed.
        let raw: Vec<Vec<u8>> = sqlx::query_scalar("SELECT record_sealed FROM distinct_entries")
            .fetch_all(&mut *conn)
            .await
            .expect("raw");
        assert_eq!(raw.len(), 3, "{e}");
        assert!(
            raw.iter()
                .all(|r| !r.windows(3).any(|w| w == b"X55" || w == b"X99")),
            "{e}"
        );
        // A confirmation given back deletes its own review's judgment only.
        assert_eq!(
            notify::unset_apart(&mut conn, 8).await.expect("unset"),
            1,
            "{e}"
        );
        let n = notify::purge_expired_entries(&mut conn, 100)
            .await
            .expect("purge");
        assert_eq!(n, 1, "{e}");
        let pairs = notify::distinct_entries(&mut conn, sealer)
            .await
            .expect("pairs");
        assert_eq!(pairs, [pair(kept, other, 7, Some(&r1))], "{e}");
        // Read from either entry, with the review that recorded it.
        let of = notify::pairs_of(&mut conn, kept).await.expect("pairs of");
        assert_eq!(of, [(other, 7)], "{e}");
        let of = notify::pairs_of(&mut conn, other).await.expect("pairs of");
        assert_eq!(of, [(kept, 7)], "{e}");
        // Undone whichever review recorded it, each review's reported; a
        // pair that is not there is not.
        notify::set_apart(&mut conn, sealer, other, &[kept], &judged(9, 8, &r2))
            .await
            .expect("a third review");
        let gone = notify::unset_pairs(&mut conn, kept, &[other, gone, kept])
            .await
            .expect("unset");
        assert_eq!(gone, [(other, 7), (other, 9)], "{e}");
        assert!(
            notify::distinct_entries(&mut conn, sealer)
                .await
                .expect("pairs")
                .is_empty()
        );
        assert!(
            notify::pairs_of(&mut conn, kept)
                .await
                .expect("of")
                .is_empty()
        );
        // From the other side too.
        notify::set_apart(&mut conn, sealer, other, &[kept], &judged(10, 9, &[]))
            .await
            .expect("again");
        let gone = notify::unset_pairs(&mut conn, other, &[kept])
            .await
            .expect("unset");
        assert_eq!(gone, [(kept, 10)], "{e}");
        // A judgment from before migration 0028 names no record.
        sqlx::query(
            "INSERT INTO distinct_entries (entry_id, other_id, review_id, decided_by, decided_at)
             VALUES ($1, $2, 11, 'cli', 10)",
        )
        .bind(kept.min(other))
        .bind(kept.max(other))
        .execute(&mut *conn)
        .await
        .expect("legacy");
        let pairs = notify::distinct_entries(&mut conn, sealer)
            .await
            .expect("pairs");
        assert_eq!(pairs, [pair(kept, other, 11, None)], "{e}");
    }
}

/// Bring a new database at `url` to `version` the way an older release left
/// it: its engine's migrations up to and including `version`, read from the
/// source tree and recorded in `hisp_migrations` as the runner records them.
/// Opening the store then applies the rest, as an upgrade does.
async fn migrated_to(engine: &str, url: &str, version: i64) {
    use sqlx::{AnyConnection, Connection};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/store/migrations")
        .join(engine);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("migrations")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let url = if engine == "sqlite" {
        format!("{url}?mode=rwc")
    } else {
        url.to_string()
    };
    sqlx::any::install_default_drivers();
    let mut conn = AnyConnection::connect(&url).await.expect("connect");
    sqlx::raw_sql(
        "CREATE TABLE hisp_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .execute(&mut conn)
    .await
    .expect("hisp_migrations");
    let mut last = 0;
    for file in files {
        let name = file
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let n: i64 = name[..4].parse().expect("numbered migration");
        if n > version {
            break;
        }
        let sql = std::fs::read_to_string(&file).expect("read migration");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{engine} {name}: {e}"));
        sqlx::query("INSERT INTO hisp_migrations (version, applied_at) VALUES ($1, 0)")
            .bind(n)
            .execute(&mut conn)
            .await
            .expect("record");
        last = n;
    }
    assert_eq!(last, version, "{engine}: no migration {version}");
    conn.close().await.expect("close");
}

/// Migration 0029 marks the encounters keyed by a control id before it
/// (`~` + the id), so the visit numbered like one no longer opens it, and
/// leaves visit, account and derived keys as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encounters_keyed_by_a_control_id_are_marked_by_migration_29_on_every_engine() {
    use hisp::store::Store;
    use hisp::store::seal::Sealer;
    let dir = tempfile::tempdir().expect("tempdir");
    for (e, url) in harness::database_urls(dir.path()).await {
        migrated_to(e, &url, 28).await;
        {
            use sqlx::{AnyConnection, Connection};
            let url = if e == "sqlite" {
                format!("{url}?mode=rwc")
            } else {
                url.clone()
            };
            let mut conn = AnyConnection::connect(&url).await.expect("connect");
            for (facility, visit, keyed_by) in [
                ("northhosp", "59910287", Some("derived")),
                ("northhosp", "V100", Some("visit")),
                ("northhosp", "A55", Some("account")),
                ("northhosp", "~0123456789abcdef01234567", Some("derived")),
                ("northhosp", "OLD1", None),
                ("southhosp", "C9", Some("derived")),
                ("southhosp", "~C9", Some("derived")),
            ] {
                sqlx::query(
                    "INSERT INTO encounters (facility, visit, state, updated_at, keyed_by)
                     VALUES ($1, $2, 'ed', 0, $3)",
                )
                .bind(facility)
                .bind(visit)
                .bind(keyed_by)
                .execute(&mut conn)
                .await
                .expect("0028 row");
            }
            conn.close().await.expect("close");
        }
        let store = Store::open(
            &url,
            std::sync::Arc::new(Sealer::from_master(&[7; 32]).expect("sealer")),
        )
        .await
        .unwrap_or_else(|err| panic!("{e}: upgrade: {err}"));
        let mut conn = store.pool().acquire().await.expect("conn");
        let keys: Vec<(String, String)> =
            sqlx::query_as("SELECT facility, visit FROM encounters ORDER BY id")
                .fetch_all(&mut *conn)
                .await
                .expect("keys");
        let want = [
            ("northhosp", "~59910287"),
            ("northhosp", "V100"),
            ("northhosp", "A55"),
            ("northhosp", "~0123456789abcdef01234567"),
            ("northhosp", "OLD1"),
            // Its mark is taken: left alone.
            ("southhosp", "C9"),
            ("southhosp", "~C9"),
        ]
        .map(|(f, v)| (f.to_string(), v.to_string()));
        assert_eq!(keys, want, "{e}");
    }
}

#[tokio::test]
async fn judgments_recorded_before_migration_28_survive_it_for_any_record_on_every_engine() {
    use hisp::store::Store;
    use hisp::store::notify::{self, DistinctPair, Judgment};
    use hisp::store::seal::Sealer;
    let dir = tempfile::tempdir().expect("tempdir");
    for (e, url) in harness::database_urls(dir.path()).await {
        migrated_to(e, &url, 27).await;
        // Three roster entries and two judgments of them as release 0027
        // kept them: one row per pair.
        let sealer = Sealer::from_master(&[7; 32]).expect("sealer");
        let ids = {
            use sqlx::{AnyConnection, Connection};
            let url = if e == "sqlite" {
                format!("{url}?mode=rwc")
            } else {
                url.clone()
            };
            let mut conn = AnyConnection::connect(&url).await.expect("connect");
            let patient = notify::StoredPatient {
                family: "Doe".into(),
                given: "Jane".into(),
                ..Default::default()
            };
            let mut ids = Vec::new();
            for _ in 0..3 {
                let entry = notify::NewEntry {
                    patient: &patient,
                    program: None,
                    end_date: None,
                    expires_at: 1_000,
                };
                ids.push(
                    notify::insert_entry(&mut conn, &sealer, "carol@a.test", &entry, 1)
                        .await
                        .expect("entry"),
                );
            }
            for (other, review, by, at) in
                [(ids[1], 5, "cli", 100), (ids[2], 6, "admin@a.test", 200)]
            {
                sqlx::query(
                    "INSERT INTO distinct_entries (entry_id, other_id, review_id, decided_by, decided_at)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(ids[0])
                .bind(other)
                .bind(review as i64)
                .bind(by)
                .bind(at as i64)
                .execute(&mut conn)
                .await
                .expect("0027 row");
            }
            conn.close().await.expect("close");
            ids
        };
        let (one, two, three) = (ids[0], ids[1], ids[2]);
        let store = Store::open(&url, std::sync::Arc::new(sealer))
            .await
            .unwrap_or_else(|err| panic!("{e}: upgrade: {err}"));
        let sealer = store.sealer();
        let mut conn = store.pool().acquire().await.expect("conn");
        let applied: i64 = sqlx::query_scalar("SELECT MAX(version) FROM hisp_migrations")
            .fetch_one(&mut *conn)
            .await
            .expect("versions");
        assert!(applied >= 28, "{e}: {applied}");
        let pair = |entry, other, review_id, record| DistinctPair {
            entry,
            other,
            review_id,
            record,
        };
        // Kept, with who decided and when, and read as about any record.
        let pairs = notify::distinct_entries(&mut conn, sealer)
            .await
            .expect("pairs");
        assert_eq!(
            pairs,
            [pair(one, two, 5, None), pair(one, three, 6, None)],
            "{e}"
        );
        let kept: Vec<(String, i64)> =
            sqlx::query_as("SELECT decided_by, decided_at FROM distinct_entries ORDER BY other_id")
                .fetch_all(&mut *conn)
                .await
                .expect("kept");
        assert_eq!(
            kept,
            [("cli".to_string(), 100), ("admin@a.test".to_string(), 200)],
            "{e}"
        );
        // Another review's judgment of the same pair is now a row of its own,
        // and the pair is still found from its second entry (the index).
        let record = vec![("X55".to_string(), "SOUTH".to_string())];
        let judged = Judgment {
            review_id: 9,
            actor: "cli",
            at: 300,
            record: &record,
        };
        notify::set_apart(&mut conn, sealer, two, &[one], &judged)
            .await
            .expect("a second review");
        let pairs = notify::distinct_entries(&mut conn, sealer)
            .await
            .expect("pairs");
        assert_eq!(
            pairs,
            [
                pair(one, two, 5, None),
                pair(one, two, 9, Some(record.clone())),
                pair(one, three, 6, None)
            ],
            "{e}"
        );
        assert_eq!(
            notify::pairs_of(&mut conn, two).await.expect("of"),
            [(one, 5), (one, 9)],
            "{e}"
        );
        let index: i64 = sqlx::query_scalar(if e == "sqlite" {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'distinct_entries_other'"
        } else {
            "SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'distinct_entries_other'"
        })
        .fetch_one(&mut *conn)
        .await
        .expect("index");
        assert_eq!(index, 1, "{e}");
    }
}

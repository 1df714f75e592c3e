//! Running the service: the dashboard's counts, the audit log viewer,
//! trust anchors and bundles, ADT feeds and consent, domains.

use super::*;

/// After messages are queued (and one refused), the dashboard's numbers and
/// charts match the store, day by day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_counts_match_the_store() {
    for p in portals().await {
        let e = p.engine();
        let h = &p.env.hisp;
        let alice = p.address("alice", Role::Provider).await;
        let bob = p.address("bob", Role::Provider).await;
        let root = admin(&p).await;
        let empty = p.get(Some(&root), "/admin").await;
        assert_eq!(empty.status, StatusCode::OK, "{e}");
        for id in [
            "n-inbound",
            "n-outbound",
            "n-adt",
            "n-failures",
            "n-quarantined",
        ] {
            assert_eq!(number(&empty, id), 0, "{e} {id}");
        }
        assert_eq!(number(&empty, "n-domains"), 1, "{e}");
        assert_eq!(number(&empty, "n-addresses"), 2, "{e}");

        let first_day = h.now();
        send(&p, &alice, &bob, 1).await;
        let far = DirectAddress::parse("x@elsewhere.example").expect("a");
        let out = send(&p, &alice, &far, 2).await;
        assert_eq!(
            out.rejected.len(),
            1,
            "{e}: no certificate, refused at once"
        );

        let page = p.get(Some(&root), "/admin").await;
        let queued = count(&p, "SELECT COUNT(*) FROM inbound_queue WHERE state = 'new'").await;
        let failed = count(&p, "SELECT COUNT(*) FROM tracking WHERE final = 'failed'").await;
        assert_eq!((queued, failed), (1, 1), "{e}");
        assert_eq!(number(&page, "n-inbound"), queued, "{e}");
        assert_eq!(number(&page, "n-failed"), failed, "{e}");
        assert_eq!(number(&page, "n-failures"), failed, "{e}");
        assert_eq!(number(&page, "n-outbound"), 0, "{e}");
        assert_eq!(
            chart_label(&page, "Messages out per day"),
            expected_label("Messages out per day", first_day, &[2]),
            "{e}"
        );
        assert_eq!(
            chart_label(&page, "Messages in per day"),
            expected_label("Messages in per day", first_day, &[0]),
            "{e}"
        );
        assert_eq!(
            chart_label(&page, "Delivery failures per day"),
            expected_label("Delivery failures per day", first_day, &[1]),
            "{e}"
        );

        // Delivered the next day: the inbound queue empties, and the day's
        // message in is counted on its own day.
        p.env.clock.advance(86_400);
        deliver(&p).await;
        send(&p, &alice, &bob, 3).await;
        let root = p.sign_in_with(ADMIN, root.totp.as_deref()).await;
        let page = p.get(Some(&root), "/admin").await;
        let now = h.now();
        assert_eq!(number(&page, "n-inbound"), 1, "{e}: the third message");
        assert_eq!(
            chart_label(&page, "Messages out per day"),
            expected_label("Messages out per day", now, &[2, 1]),
            "{e}"
        );
        assert_eq!(
            chart_label(&page, "Messages in per day"),
            expected_label("Messages in per day", now, &[0, 1]),
            "{e}"
        );
        let ins = count(
            &p,
            "SELECT COUNT(*) FROM mailbox WHERE folder = 'inbox' AND origin = 'inbound'",
        )
        .await;
        assert_eq!(ins, 1, "{e}");
        // Counts only: no subject, no address of a message on the page.
        assert!(!page.body.contains("Counts"), "{e}");
        assert!(!page.body.contains("x@elsewhere.example"), "{e}");
    }
}

/// The audit page reports the chain intact, shows and filters the admin's
/// actions, pages through older entries, and reports a forged row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_page_verifies_filters_and_pages() {
    for p in portals().await {
        let e = p.engine();
        let h = &p.env.hisp;
        let root = admin(&p).await;
        let r = p
            .post(
                Some(&root),
                "/admin/domains",
                &[("domain", "second.example.net")],
            )
            .await;
        assert_eq!(
            r.location(),
            "/admin/domains?done=domain-added",
            "{e}: {}",
            r.body
        );
        let r = p
            .post(
                Some(&root),
                "/admin/feeds",
                &[("facility", "GENERAL_HOSP"), ("name", "General")],
            )
            .await;
        assert_eq!(
            r.location(),
            "/admin/feeds?done=feed-added",
            "{e}: {}",
            r.body
        );

        let page = p.get(Some(&root), "/admin/audit").await;
        let total = audit_rows(&p).await;
        assert!(
            page.body
                .contains(&format!("The audit chain is intact: all {total} entries")),
            "{e}: {}",
            page.body
        );
        assert!(page.body.contains("domain.add"), "{e}");
        assert!(page.body.contains("second.example.net"), "{e}");
        assert!(page.body.contains("feed.add"), "{e}");
        assert!(page.body.contains(&format!("<td>{ADMIN}</td>")), "{e}");

        let only = p
            .get(Some(&root), "/admin/audit?action=DOMAIN.&actor=ro")
            .await;
        assert!(only.body.contains("second.example.net"), "{e}");
        assert!(!only.body.contains("feed.add"), "{e}");
        let none = p.get(Some(&root), "/admin/audit?subject=50%25_").await;
        assert!(none.body.contains("No entry matches"), "{e}");
        let bad = p.get(Some(&root), "/admin/audit?since=last+week").await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{e}");
        assert!(bad.body.contains("2026-11-22"), "{e}");
        let tomorrow = hisp::web::templates::civil(h.now() + 86_400);
        let later = p
            .get(
                Some(&root),
                &format!(
                    "/admin/audit?since={:04}-{:02}-{:02}",
                    tomorrow.0, tomorrow.1, tomorrow.2
                ),
            )
            .await;
        assert!(later.body.contains("No entry matches"), "{e}");

        // 60 more entries: the first page has 50, the next the rest.
        let mut tx = h.store.begin().await.expect("tx");
        for i in 0..60 {
            h.audit(&mut tx, "bulk", "test.bulk", &format!("item-{i:02}"), "")
                .await
                .expect("audit");
        }
        tx.commit().await.expect("commit");
        let first = p.get(Some(&root), "/admin/audit?actor=bulk").await;
        assert_eq!(first.body.matches("test.bulk").count(), 50, "{e}");
        assert!(
            first.body.contains("item-59") && !first.body.contains("item-09"),
            "{e}"
        );
        let next = older_link(&first).expect("a link to older entries");
        let second = p.get(Some(&root), &next).await;
        assert_eq!(second.body.matches("test.bulk").count(), 10, "{e}");
        assert!(
            second.body.contains("item-00") && !second.body.contains("item-10"),
            "{e}"
        );
        assert_eq!(older_link(&second), None, "{e}");

        // A row changed behind the log's back is reported (SQLite: the
        // trigger that refuses updates is dropped first, as a forger would).
        // A visit recomputes only the entries added since the last one, so a
        // change among those already verified shows at the hourly full check
        // (`hisp audit verify` sees it at once); a change among the new ones,
        // or to the last verified entry, shows at once.
        if e == "sqlite" {
            let pool = h.store.pool();
            sqlx::query("DROP TRIGGER audit_log_no_update")
                .execute(pool)
                .await
                .expect("drop trigger");
            let total = audit_rows(&p).await;
            let mut tx = h.store.begin().await.expect("tx");
            h.audit(&mut tx, "bulk", "test.bulk", "after", "")
                .await
                .expect("audit");
            tx.commit().await.expect("commit");
            sqlx::query("UPDATE audit_log SET detail = 'forged' WHERE seq = $1")
                .bind(total + 1)
                .execute(pool)
                .await
                .expect("forge a new entry");
            let page = p.get(Some(&root), "/admin/audit").await;
            assert!(
                page.body
                    .contains(&format!("The audit chain is broken at entry {}", total + 1)),
                "{}",
                page.body
            );
            // Put it back; the next visit is a full check (the last failed).
            sqlx::query("UPDATE audit_log SET detail = '' WHERE seq = $1")
                .bind(total + 1)
                .execute(pool)
                .await
                .expect("unforge");
            let page = p.get(Some(&root), "/admin/audit").await;
            assert!(page.body.contains("is intact"), "{}", page.body);

            sqlx::query("UPDATE audit_log SET detail = 'forged' WHERE seq = 2")
                .execute(pool)
                .await
                .expect("forge");
            let page = p.get(Some(&root), "/admin/audit").await;
            assert!(
                page.body.contains("is intact"),
                "verified before: {}",
                page.body
            );
            p.env.clock.advance(3600);
            // An hour later the session has lapsed: sign in again.
            let root = p.sign_in_with(ADMIN, root.totp.as_deref()).await;
            let page = p.get(Some(&root), "/admin/audit").await;
            assert!(
                page.body.contains("The audit chain is broken at entry 2"),
                "{}",
                page.body
            );
            assert!(!page.body.contains("is intact"));
        }
    }
}

/// Anchors are uploaded and removed, this HISP's own CA is kept, and a
/// bundle is added by URL, refreshed and removed, through the trust page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_anchors_and_bundles_through_the_page() {
    let p = portal(harness::sqlite_env().await).await;
    let h = &p.env.hisp;
    let root = admin(&p).await;
    let dir = p.env.dir.path();

    let anchor = anchor_cert("Partner HISP Root");
    let pem = anchor.to_pem().expect("pem");
    let r = p
        .post_multipart(
            &root,
            "/admin/trust/anchors",
            &[("domain", DOMAIN), ("incoming", "1")],
            &[("certificate", "partner.pem", &pem)],
        )
        .await;
    assert_eq!(r.location(), "/admin/trust?done=anchor-added", "{}", r.body);
    let der = anchor.to_der().expect("der");
    let r = p
        .post_multipart(
            &root,
            "/admin/trust/anchors",
            &[("domain", DOMAIN), ("outgoing", "1")],
            &[("certificate", "partner.der", &der)],
        )
        .await;
    assert_eq!(r.location(), "/admin/trust?done=anchor-added", "{}", r.body);
    let listed = h.anchor_list(Some(&p.env.domain())).await.expect("anchors");
    let added = listed
        .iter()
        .find(|a| a.subject.contains("Partner HISP Root"))
        .expect("the anchor");
    assert!(
        added.incoming && added.outgoing,
        "DER widened the PEM's anchor"
    );
    let page = p.get(Some(&root), "/admin/trust").await;
    assert!(page.body.contains("Partner HISP Root"));
    assert!(page.body.contains("this HISP&#x27;s CA") || page.body.contains("this HISP's CA"));

    let junk = p
        .post_multipart(
            &root,
            "/admin/trust/anchors",
            &[("domain", DOMAIN), ("incoming", "1")],
            &[("certificate", "x.pem", b"hello")],
        )
        .await;
    assert_eq!(junk.status, StatusCode::BAD_REQUEST);
    assert!(junk.body.contains("not a certificate"));
    let ours = listed
        .iter()
        .find(|a| a.bundle_id.is_none() && !a.subject.contains("Partner"))
        .expect("our CA");
    let kept = p
        .post(
            Some(&root),
            &format!("/admin/trust/anchors/{}/remove", ours.id),
            &[],
        )
        .await;
    assert_eq!(kept.status, StatusCode::BAD_REQUEST);
    assert!(kept.body.contains("own CA"));
    let r = p
        .post(
            Some(&root),
            &format!("/admin/trust/anchors/{}/remove", added.id),
            &[],
        )
        .await;
    assert_eq!(r.location(), "/admin/trust?done=anchor-removed");
    assert_eq!(
        h.anchor_list(None).await.expect("anchors").len(),
        listed.len() - 1
    );

    // A bundle served over HTTP.
    let server = crate::fileserver::FileServer::start().await;
    std::fs::write(dir.join("partner.pem"), &pem).expect("write");
    harness::ok(&harness::openssl(
        dir,
        &[
            "crl2pkcs7",
            "-nocrl",
            "-certfile",
            "partner.pem",
            "-outform",
            "DER",
            "-out",
            "b.p7b",
        ],
    ));
    server.put(
        "b.p7b",
        std::fs::read(dir.join("b.p7b")).expect("read"),
        "application/pkcs7-mime",
    );
    let file_url = p
        .post(
            Some(&root),
            "/admin/trust/bundles",
            &[
                ("domain", DOMAIN),
                ("url", dir.join("b.p7b").to_str().expect("path")),
                ("incoming", "1"),
            ],
        )
        .await;
    assert_eq!(file_url.status, StatusCode::BAD_REQUEST);
    assert!(file_url.body.contains("as its publisher gives it"));
    let r = p
        .post(
            Some(&root),
            "/admin/trust/bundles",
            &[
                ("domain", DOMAIN),
                ("url", &server.url("b.p7b")),
                ("incoming", "1"),
                ("refresh_hours", "12"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("loaded 1 anchor(s)"), "{}", r.body);
    assert!(r.body.contains("every 12 h"));
    let bundle = h.bundle_list().await.expect("bundles").remove(0);
    assert_eq!(bundle.status, "SUCCESS");

    server.remove("b.p7b");
    let r = p
        .post(
            Some(&root),
            &format!("/admin/trust/bundles/{}/refresh", bundle.id),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("could not be loaded"), "{}", r.body);
    assert!(r.body.contains("NOT_FOUND"));
    let audit = p.get(Some(&root), "/admin/audit?action=bundle").await;
    assert!(audit.body.contains("bundle.refresh.request"));
    assert!(audit.body.contains("bundle.add"));

    let r = p
        .post(
            Some(&root),
            &format!("/admin/trust/bundles/{}/remove", bundle.id),
            &[],
        )
        .await;
    assert_eq!(r.location(), "/admin/trust?done=bundle-removed");
    assert!(h.bundle_list().await.expect("bundles").is_empty());
    assert!(
        h.anchor_list(None)
            .await
            .expect("anchors")
            .iter()
            .all(|a| a.bundle_id.is_none())
    );
}

/// Feeds and consent decisions are recorded through the pages; viewing the
/// consent registry is audited; mistakes are said plainly.
#[tokio::test]
async fn feeds_and_consent_through_the_pages() {
    for p in portals().await {
        let e = p.engine();
        let h = &p.env.hisp;
        let root = admin(&p).await;
        let r = p
            .post(
                Some(&root),
                "/admin/feeds",
                &[
                    ("facility", "BH_CLINIC"),
                    ("name", "Behavioral Health"),
                    ("sensitive", "1"),
                    ("allow_from", "192.0.2.0/24  10.1.2.3"),
                ],
            )
            .await;
        assert_eq!(
            r.location(),
            "/admin/feeds?done=feed-added",
            "{e}: {}",
            r.body
        );
        let feeds = h.feed_list().await.expect("feeds");
        assert_eq!(feeds.len(), 1, "{e}");
        assert!(feeds[0].sensitive, "{e}");
        assert_eq!(
            feeds[0].allow_from.as_deref(),
            Some("192.0.2.0/24,10.1.2.3/32"),
            "{e}"
        );
        let page = p.get(Some(&root), "/admin/feeds?done=feed-added").await;
        assert!(page.body.contains("Behavioral Health"), "{e}");
        assert!(page.body.contains("alerts need the patient"), "{e}");
        // (HTML escapes the `/`.)
        let shown = page.body.replace("&#x2f;", "/");
        assert!(shown.contains("192.0.2.0/24, 10.1.2.3/32"), "{e}");
        let typo = p
            .post(
                Some(&root),
                "/admin/feeds",
                &[("facility", "OTHER"), ("allow_from", "192.0.2.7/24")],
            )
            .await;
        assert_eq!(typo.status, StatusCode::BAD_REQUEST, "{e}");
        let said = typo.body.replace("&#x2f;", "/");
        assert!(said.contains("the network is 192.0.2.0/24"), "{e}: {said}");
        assert_eq!(
            h.feed_list().await.expect("feeds").len(),
            1,
            "{e}: not added"
        );
        let long = vec!["10.1.2.34"; 250].join(",");
        let cut = p
            .post(
                Some(&root),
                "/admin/feeds",
                &[("facility", "OTHER"), ("allow_from", long.as_str())],
            )
            .await;
        assert_eq!(cut.status, StatusCode::BAD_REQUEST, "{e}: not cut short");
        assert!(cut.body.contains("at most 2000 characters"), "{e}");
        assert_eq!(
            h.feed_list().await.expect("feeds").len(),
            1,
            "{e}: still not added"
        );
        let mut conn = h.conn().await.expect("conn");
        let sender = DirectAddress::parse(&format!("notifications@{DOMAIN}")).expect("a");
        assert!(
            addresses::find(&mut conn, &sender)
                .await
                .expect("q")
                .is_some(),
            "{e}: alerts have their sender"
        );
        drop(conn);
        let blank = p
            .post(Some(&root), "/admin/feeds", &[("facility", "  ")])
            .await;
        assert_eq!(blank.status, StatusCode::BAD_REQUEST, "{e}");
        assert!(blank.body.contains("MSH-4"), "{e}");
        let twice = p
            .post(Some(&root), "/admin/feeds", &[("facility", "BH_CLINIC")])
            .await;
        assert_eq!(twice.status, StatusCode::BAD_REQUEST, "{e}");
        assert!(twice.body.contains("already exists"), "{e}");

        let r = p
            .post(
                Some(&root),
                "/admin/consent",
                &[
                    ("decision", "opt-out"),
                    ("patient_id", "MRN-0042"),
                    ("authority", "GENERAL"),
                ],
            )
            .await;
        assert_eq!(r.location(), "/admin/consent?done=consent-recorded", "{e}");
        let missing = p
            .post(
                Some(&root),
                "/admin/consent",
                &[("decision", "opt-in"), ("patient_id", "MRN-0043")],
            )
            .await;
        assert_eq!(missing.status, StatusCode::BAD_REQUEST, "{e}");
        assert!(missing.body.contains("assigning authority"), "{e}");
        assert!(missing.body.contains("value=\"MRN-0043\""), "{e}");

        let mut conn = h.conn().await.expect("conn");
        let recorded = hisp::store::notify::consents(&mut conn, h.store.sealer())
            .await
            .expect("consents");
        assert_eq!(recorded.len(), 1, "{e}");
        assert_eq!(
            recorded[0].patient.identifiers,
            [("MRN-0042".to_string(), "GENERAL".to_string())]
        );
        drop(conn);
        let page = p.get(Some(&root), "/admin/consent").await;
        assert!(page.body.contains("MRN-0042 (GENERAL)"), "{e}");
        assert_eq!(
            page.headers.get("cache-control").map(|v| v.to_str().ok()),
            Some(Some("no-store"))
        );
        let mut conn = h.conn().await.expect("conn");
        let audit = hisp::audit::page(&mut conn, 0, 10_000)
            .await
            .expect("audit");
        let views = audit
            .iter()
            .filter(|a| a.action == "consent.view" && a.actor == ADMIN)
            .count();
        assert_eq!(views, 2, "{e}: every view of the registry is on the record");
        assert!(
            audit
                .iter()
                .all(|a| !a.detail.contains("MRN-0042") && !a.subject.contains("MRN-0042")),
            "{e}: no patient identifier in the audit log"
        );
        assert!(
            audit
                .iter()
                .any(|a| a.action == "consent.record" && a.actor == ADMIN)
        );
    }
}

/// Domains are added through the page with their certificate; a bad name is
/// refused with what to do.
#[tokio::test]
async fn domains_through_the_page() {
    let p = portal(harness::sqlite_env().await).await;
    let root = admin(&p).await;
    let bad = p
        .post(Some(&root), "/admin/domains", &[("domain", "not a domain")])
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("direct.example.org"));
    let r = p
        .post(
            Some(&root),
            "/admin/domains",
            &[("domain", "Clinic.Example.NET")],
        )
        .await;
    assert_eq!(
        r.location(),
        "/admin/domains?done=domain-added",
        "{}",
        r.body
    );
    let page = p.get(Some(&root), "/admin/domains?done=domain-added").await;
    assert!(page.body.contains("clinic.example.net"));
    assert!(page.body.contains("It trusts this HISP"));
    assert!(
        page.body.contains("expires"),
        "the organization certificate"
    );
    let twice = p
        .post(
            Some(&root),
            "/admin/domains",
            &[("domain", "clinic.example.net")],
        )
        .await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);
    assert!(twice.body.contains("already exists"));
    assert!(
        p.env
            .hisp
            .domain_list()
            .await
            .expect("domains")
            .iter()
            .any(|d| d.name == Domain::parse("clinic.example.net").expect("d"))
    );
}

/// Certificates within 30 days of expiry are flagged on the addresses page
/// and counted on the dashboard; expired ones are marked so.
#[tokio::test]
async fn expiring_certificates_are_flagged() {
    let p = portal(harness::sqlite_env().await).await;
    let h = &p.env.hisp;
    let alice = p.address("alice", Role::Provider).await;
    p.user(ADMIN, Role::Admin).await;
    let root = p.sign_in(ADMIN).await;
    let fresh = p.get(Some(&root), "/admin/addresses").await;
    assert!(fresh.body.contains(&alice.to_string()));
    assert!(!fresh.body.contains("): renew"), "nothing expires soon yet");

    let not_after = h
        .cert_list()
        .await
        .expect("certs")
        .iter()
        .filter(|c| c.owner == alice.to_string())
        .map(|c| c.not_after)
        .min()
        .expect("alice has certificates");
    p.env.clock.set(not_after - 10 * 86_400);
    let root = p.sign_in_with(ADMIN, root.totp.as_deref()).await;
    let page = p.get(Some(&root), "/admin/addresses").await;
    assert!(page.body.contains("in 10 day(s): renew"), "{}", page.body);
    let dashboard = p.get(Some(&root), "/admin").await;
    let now = h.now();
    let soon = h
        .cert_list()
        .await
        .expect("certs")
        .iter()
        .filter(|c| c.revoked_at.is_none() && c.not_after >= now && c.not_after < now + 30 * 86_400)
        .count();
    let soon = i64::try_from(soon).expect("count");
    assert!(soon >= 1);
    assert_eq!(number(&dashboard, "n-expiring"), soon);

    p.env.clock.set(not_after + 1);
    let root = p.sign_in_with(ADMIN, root.totp.as_deref()).await;
    let page = p.get(Some(&root), "/admin/addresses").await;
    assert!(
        page.body.contains("state-failed\">expired"),
        "{}",
        page.body
    );
}

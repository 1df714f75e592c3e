//! Access control: every admin page and form refuses providers, care
//! managers, strangers and forms without the session's token.

use super::*;

/// Every admin page and form answers 403 to a provider and to a care manager,
/// and refuses an admin's form without the session's token; nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_route_refuses_other_roles_and_stale_forms() {
    for p in portals().await {
        let e = p.engine();
        let h = &p.env.hisp;
        let root = admin(&p).await;
        let paula = p.address("paula", Role::Provider).await;
        p.user("carol", Role::CareManager).await;
        let provider = p.sign_in(&paula.to_string()).await;
        let carer = p.sign_in("carol").await;

        // Real ids, so a refusal is about who asks, never a missing thing.
        let mut conn = h.conn().await.expect("conn");
        let address_id = addresses::get(&mut conn, &paula).await.expect("a").id;
        let user_id = users::find(&mut conn, &paula.to_string())
            .await
            .expect("u")
            .expect("user")
            .id;
        let key_id = st::insert_api_key(&mut conn, "ab", "k", Role::Admin, &[], "test", h.now())
            .await
            .expect("key")
            .id;
        drop(conn);
        let anchor_id = h
            .anchor_add(
                &p.env.domain(),
                &anchor_cert("Stand-in Root"),
                true,
                true,
                "test",
            )
            .await
            .expect("anchor")
            .id;
        let spec = BundleSpec {
            url: "http://127.0.0.1:9/none.p7b",
            incoming: true,
            outgoing: false,
            refresh_secs: 0,
            signer: None,
        };
        let bundle_id = h
            .bundle_add(&p.env.domain(), &spec, "test")
            .await
            .expect("bundle")
            .0
            .id;

        let pages = [
            "/admin",
            "/admin/domains",
            "/admin/addresses",
            "/admin/users",
            "/admin/trust",
            "/admin/feeds",
            "/admin/consent",
            "/admin/api-keys",
            "/admin/audit",
        ];
        let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
            ("/admin/domains".into(), vec![("domain", "x.example.net")]),
            (
                "/admin/addresses".into(),
                vec![("address", "x@direct.example.org"), ("role", "admin")],
            ),
            (format!("/admin/addresses/{address_id}/disable"), vec![]),
            (
                "/admin/users".into(),
                vec![("username", "mallory"), ("role", "admin")],
            ),
            (format!("/admin/users/{user_id}/password"), vec![]),
            (format!("/admin/users/{user_id}/two-factor"), vec![]),
            (format!("/admin/trust/anchors/{anchor_id}/remove"), vec![]),
            (
                "/admin/trust/bundles".into(),
                vec![
                    ("domain", DOMAIN),
                    ("url", "http://127.0.0.1:9/b.p7b"),
                    ("incoming", "1"),
                ],
            ),
            (format!("/admin/trust/bundles/{bundle_id}/refresh"), vec![]),
            (format!("/admin/trust/bundles/{bundle_id}/remove"), vec![]),
            (
                "/admin/feeds".into(),
                vec![("facility", "EVIL"), ("name", "x")],
            ),
            (
                "/admin/consent".into(),
                vec![
                    ("decision", "opt-out"),
                    ("patient_id", "1"),
                    ("authority", "A"),
                ],
            ),
            (
                "/admin/api-keys".into(),
                vec![("name", "stolen"), ("role", "admin")],
            ),
            (format!("/admin/api-keys/{key_id}/revoke"), vec![]),
        ];
        let upload: [(&str, &str, &[u8]); 1] = [("certificate", "a.pem", b"not a certificate")];
        let anchor_fields = [("domain", DOMAIN), ("incoming", "1")];
        let before = audit_rows(&p).await;

        for (who, c) in [("provider", &provider), ("care manager", &carer)] {
            for path in pages {
                let r = p.get(Some(c), path).await;
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{e} {who} GET {path}");
                assert!(r.body.contains(FORBIDDEN), "{e} {who} GET {path}");
            }
            for (path, form) in &forms {
                let r = p.post(Some(c), path, form).await;
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{e} {who} POST {path}");
                assert!(r.body.contains(FORBIDDEN), "{e} {who} POST {path}");
            }
            let r = p
                .post_multipart(c, "/admin/trust/anchors", &anchor_fields, &upload)
                .await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{e} {who} anchor upload");
            // Not even a body that is no form at all gets past the role check.
            let r = p.post(Some(c), "/admin/trust/anchors", &[]).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{e} {who} bare POST");
        }

        let stale = "0".repeat(64);
        for (path, form) in &forms {
            for token in ["", stale.as_str()] {
                let mut form = form.clone();
                form.push(("csrf", token));
                let r = p.post(Some(&root), path, &form).await;
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{e} admin POST {path}");
                assert!(r.body.contains(STALE_FORM), "{e} admin POST {path}");
            }
        }
        let mut fields = anchor_fields.to_vec();
        fields.push(("csrf", &stale));
        let r = p
            .post_multipart(&root, "/admin/trust/anchors", &fields, &upload)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{e} admin anchor upload");
        assert!(r.body.contains(STALE_FORM), "{e}");

        // Nothing was done: no audit entry, the things named are as they were.
        assert_eq!(audit_rows(&p).await, before, "{e}");
        let mut conn = h.conn().await.expect("conn");
        assert!(addresses::get(&mut conn, &paula).await.expect("a").enabled);
        assert!(
            users::find(&mut conn, "mallory")
                .await
                .expect("q")
                .is_none()
        );
        assert_eq!(st::api_keys(&mut conn).await.expect("keys").len(), 1);
        assert!(
            st::api_key(&mut conn, key_id)
                .await
                .expect("k")
                .revoked_at
                .is_none()
        );
        drop(conn);
        assert_eq!(h.bundle_list().await.expect("bundles").len(), 1, "{e}");
        assert!(h.feed_list().await.expect("feeds").is_empty(), "{e}");

        // The admin gets every page; a stranger is sent to sign in.
        for path in pages {
            let r = p.get(Some(&root), path).await;
            assert_eq!(r.status, StatusCode::OK, "{e} admin GET {path}: {}", r.body);
            assert_eq!(
                r.headers.get("cache-control").map(|v| v.to_str().ok()),
                Some(Some("no-store")),
                "{e} {path}"
            );
            let anon = p.get(None, path).await;
            assert_eq!(anon.location(), "/signin", "{e} {path}");
        }
    }
}

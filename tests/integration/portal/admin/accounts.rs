//! Accounts: issuing addresses (and the new users exchanging mail through
//! the portal), logins, password and two-factor resets, disabling, API keys.

use super::*;

/// The README's promise: an admin issues two addresses through the portal,
/// passes on the one-time passwords read from the page, and the two users
/// sign in, choose passwords and exchange a message, all through the pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issued_addresses_sign_in_and_exchange_a_message_through_the_portal() {
    for p in portals().await {
        let e = p.engine();
        let root = admin(&p).await;
        let form = p.get(Some(&root), "/admin/addresses").await;
        assert!(form.body.contains("Issue an address"), "{e}");

        let mut otps = Vec::new();
        for (local, role) in [("nina", "provider"), ("omar", "care-manager")] {
            let a = addr(local).to_string();
            let r = p
                .post(
                    Some(&root),
                    "/admin/addresses",
                    &[("address", &a), ("name", "Dr Test"), ("role", role)],
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
            assert!(r.body.contains(&a), "{e}");
            assert_eq!(
                r.headers.get("cache-control").map(|v| v.to_str().ok()),
                Some(Some("no-store"))
            );
            let otp = r.input("secret").expect("the one-time password");
            assert_eq!(otp.len(), 20, "{e}");
            otps.push((a, otp));
        }
        // Shown once: not on the list, not in the audit log.
        let list = p.get(Some(&root), "/admin/addresses").await;
        let audit = p.get(Some(&root), "/admin/audit").await;
        for (a, otp) in &otps {
            assert!(list.body.contains(a.as_str()), "{e}");
            assert!(!list.body.contains(otp.as_str()), "{e}");
            assert!(!audit.body.contains(otp.as_str()), "{e}");
        }
        assert!(audit.body.contains("address.add"), "{e}");

        // The same address twice, or in a domain not served: said plainly.
        let again = p
            .post(
                Some(&root),
                "/admin/addresses",
                &[("address", &otps[0].0), ("role", "provider")],
            )
            .await;
        assert_eq!(again.status, StatusCode::BAD_REQUEST, "{e}");
        assert!(again.body.contains("already exists"), "{e}: {}", again.body);
        let stranger = p
            .post(
                Some(&root),
                "/admin/addresses",
                &[("address", "x@elsewhere.example"), ("role", "provider")],
            )
            .await;
        assert_eq!(stranger.status, StatusCode::BAD_REQUEST, "{e}");
        assert!(stranger.body.contains("Domains page"), "{e}");
        assert!(
            stranger.body.contains("value=\"x@elsewhere.example\""),
            "{e}"
        );

        let nina = first_sign_in(&p, &otps[0].0, &otps[0].1).await;
        let omar = first_sign_in(&p, &otps[1].0, &otps[1].1).await;
        let nina = Client {
            csrf: p.csrf(&nina).await,
            ..nina
        };
        let sent = p
            .post_multipart(
                &nina,
                "/compose",
                &[
                    ("from", &otps[0].0),
                    ("to", &otps[1].0),
                    ("subject", "Portal referral"),
                    ("body", "Please see Mrs Test on Monday."),
                ],
                &[],
            )
            .await;
        assert_eq!(sent.status, StatusCode::SEE_OTHER, "{e}: {}", sent.body);
        deliver(&p).await;
        let inbox = p.get(Some(&omar), "/mail").await;
        assert_eq!(inbox.status, StatusCode::OK, "{e}");
        assert!(
            inbox.body.contains("Portal referral"),
            "{e}: {}",
            inbox.body
        );
    }
}

/// Resetting a password shows a new one-time password once and signs the
/// user out; resetting two-factor removes it and signs them out; an admin
/// cannot do either to themselves here; disabling an address stops sign-in;
/// a login without an address is added with its one-time password.
#[tokio::test]
async fn resets_disable_and_logins() {
    let p = portal(harness::sqlite_env().await).await;
    let h = &p.env.hisp;
    let alice = p.address("alice", Role::Provider).await;
    p.address("bob", Role::Provider).await;
    p.user("deputy", Role::Admin).await;
    let root = admin(&p).await;
    let deputy = p.sign_in("deputy").await;
    let alice_c = p.sign_in(&alice.to_string()).await;
    let alice_id = user_id(&p, &alice.to_string()).await;
    let deputy_id = user_id(&p, "deputy").await;
    let root_id = user_id(&p, ADMIN).await;
    let mut conn = h.conn().await.expect("conn");
    let bob_address = addresses::get(&mut conn, &addr("bob")).await.expect("a").id;
    drop(conn);

    let r = p
        .post(
            Some(&root),
            &format!("/admin/users/{alice_id}/password"),
            &[("back", "addresses")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("href=\"/admin/addresses\""));
    let otp = r.input("secret").expect("one-time password");
    assert_eq!(
        p.get(Some(&alice_c), "/mail").await.location(),
        "/signin",
        "signed out"
    );
    first_sign_in(&p, &alice.to_string(), &otp).await;

    let mut conn = h.conn().await.expect("conn");
    assert!(
        stats::users_with_totp(&mut conn)
            .await
            .expect("totp")
            .contains(&deputy_id)
    );
    drop(conn);
    let r = p
        .post(
            Some(&root),
            &format!("/admin/users/{deputy_id}/two-factor"),
            &[("back", "users")],
        )
        .await;
    assert_eq!(r.location(), "/admin/users?done=mfa-reset", "{}", r.body);
    assert_eq!(p.get(Some(&deputy), "/admin").await.location(), "/signin");
    let mut conn = h.conn().await.expect("conn");
    assert!(
        !stats::users_with_totp(&mut conn)
            .await
            .expect("totp")
            .contains(&deputy_id)
    );
    drop(conn);
    // The deputy enrolls again at the next sign-in.
    p.sign_in("deputy").await;

    for what in ["password", "two-factor"] {
        let r = p
            .post(Some(&root), &format!("/admin/users/{root_id}/{what}"), &[])
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}");
        assert!(r.body.contains("your own account"), "{what}");
    }
    assert!(p.get(Some(&root), "/admin").await.status == StatusCode::OK);

    let r = p
        .post(
            Some(&root),
            &format!("/admin/addresses/{bob_address}/disable"),
            &[],
        )
        .await;
    assert_eq!(r.location(), "/admin/addresses?done=address-disabled");
    let page = p
        .get(Some(&root), "/admin/addresses?done=address-disabled")
        .await;
    assert!(page.body.contains("The address was disabled"));
    let signin = p.get(None, "/signin").await;
    let anon = Client {
        cookie: format!(
            "hisp_pre={}",
            set_cookie(&signin.headers, "hisp_pre").expect("pre")
        ),
        csrf: signin.input("csrf").expect("csrf"),
        totp: None,
    };
    let refused = p
        .post(
            Some(&anon),
            "/signin",
            &[
                ("username", &addr("bob").to_string()),
                ("password", crate::portal::PASSWORD),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let twice = p
        .post(
            Some(&root),
            &format!("/admin/addresses/{bob_address}/disable"),
            &[],
        )
        .await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);
    assert!(twice.body.contains("already disabled"));
    // Enabled again from the same page: the login comes back with it.
    let page = p.get(Some(&root), "/admin/addresses").await;
    assert!(
        page.body
            .contains(&format!("/admin/addresses/{bob_address}/enable")),
        "the disabled address offers Enable"
    );
    let r = p
        .post(
            Some(&root),
            &format!("/admin/addresses/{bob_address}/enable"),
            &[],
        )
        .await;
    assert_eq!(r.location(), "/admin/addresses?done=address-enabled");
    let page = p
        .get(Some(&root), "/admin/addresses?done=address-enabled")
        .await;
    assert!(page.body.contains("The address was enabled again"));
    assert!(
        !page
            .body
            .contains(&format!("/admin/addresses/{bob_address}/enable")),
        "an enabled address offers no Enable"
    );
    let bob = p.sign_in(&addr("bob").to_string()).await;
    assert_eq!(p.get(Some(&bob), "/mail").await.status, StatusCode::OK);
    let twice = p
        .post(
            Some(&root),
            &format!("/admin/addresses/{bob_address}/enable"),
            &[],
        )
        .await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);
    assert!(twice.body.contains("already enabled"));
    // Off again, for the rest of the test.
    let r = p
        .post(
            Some(&root),
            &format!("/admin/addresses/{bob_address}/disable"),
            &[],
        )
        .await;
    assert_eq!(r.location(), "/admin/addresses?done=address-disabled");

    let r = p
        .post(
            Some(&root),
            "/admin/users",
            &[("username", "cm.jones"), ("role", "care-manager")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let otp = r.input("secret").expect("otp");
    first_sign_in(&p, "cm.jones", &otp).await;
    let provider = p
        .post(
            Some(&root),
            "/admin/users",
            &[("username", "pat"), ("role", "provider")],
        )
        .await;
    assert_eq!(provider.status, StatusCode::BAD_REQUEST);
    assert!(provider.body.contains("Addresses page"));

    let users_page = p.get(Some(&root), "/admin/users").await;
    assert!(users_page.body.contains("cm.jones"));
    let audit = p.get(Some(&root), "/admin/audit?actor=root").await;
    for action in [
        "user.passwd",
        "user.sessions.end",
        "user.mfa.reset",
        "address.disable",
        "address.enable",
        "user.add",
    ] {
        assert!(audit.body.contains(action), "{action}");
    }
}

/// An API key is shown once, stored only as its hash, scoped, audited and
/// revocable.
#[tokio::test]
async fn api_keys_are_shown_once_and_stored_hashed() {
    for p in portals().await {
        let e = p.engine();
        let h = &p.env.hisp;
        let alice = p.address("alice", Role::Provider).await;
        let root = admin(&p).await;

        let scopeless = p
            .post(
                Some(&root),
                "/admin/api-keys",
                &[("name", "EHR"), ("role", "provider"), ("addresses", "")],
            )
            .await;
        assert_eq!(scopeless.status, StatusCode::BAD_REQUEST, "{e}");
        assert!(scopeless.body.contains("at least one"), "{e}");
        let foreign = p
            .post(
                Some(&root),
                "/admin/api-keys",
                &[
                    ("name", "EHR"),
                    ("role", "provider"),
                    ("addresses", "x@elsewhere.example"),
                ],
            )
            .await;
        assert_eq!(foreign.status, StatusCode::BAD_REQUEST, "{e}");
        assert!(foreign.body.contains("not an address on this HISP"), "{e}");

        let r = p
            .post(
                Some(&root),
                "/admin/api-keys",
                &[
                    ("name", "EHR interface"),
                    ("role", "provider"),
                    ("addresses", &format!("{alice}\n{alice}")),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
        let key = r.input("secret").expect("the key");
        assert!(key.starts_with("hisp_") && key.len() == 69, "{e}: {key}");

        let mut conn = h.conn().await.expect("conn");
        let rows = sqlx::query("SELECT key_hash, name, role, addresses, created_by FROM api_keys")
            .fetch_all(&mut *conn)
            .await
            .expect("rows");
        assert_eq!(rows.len(), 1, "{e}");
        let stored: Vec<String> = (0..5)
            .map(|i| rows[0].try_get::<String, _>(i).expect("text"))
            .collect();
        assert_eq!(stored[0], hisp::web::session::token_hash(&key), "{e}");
        assert_eq!(
            stored[1..],
            [
                "EHR interface",
                "provider",
                alice.to_string().as_str(),
                ADMIN
            ],
            "{e}"
        );
        assert!(stored.iter().all(|v| !v.contains(&key[5..])), "{e}");
        let audit = hisp::audit::page(&mut conn, 0, 10_000)
            .await
            .expect("audit");
        assert!(
            audit
                .iter()
                .any(|a| a.action == "apikey.create" && a.actor == ADMIN)
        );
        assert!(
            audit
                .iter()
                .all(|a| !a.detail.contains(&key[5..]) && !a.subject.contains(&key[5..]))
        );
        let hash = hisp::web::session::token_hash(&key);
        let found = st::use_api_key(&mut conn, &hash, h.now())
            .await
            .expect("use")
            .expect("the key works");
        drop(conn);

        let list = p.get(Some(&root), "/admin/api-keys").await;
        assert!(list.body.contains("EHR interface"), "{e}");
        assert!(!list.body.contains(&key[5..]), "{e}: shown once only");

        let r = p
            .post(
                Some(&root),
                &format!("/admin/api-keys/{}/revoke", found.id),
                &[],
            )
            .await;
        assert_eq!(r.location(), "/admin/api-keys?done=key-revoked", "{e}");
        let mut conn = h.conn().await.expect("conn");
        assert!(
            st::use_api_key(&mut conn, &hash, h.now())
                .await
                .expect("use")
                .is_none(),
            "{e}: revoked"
        );
        drop(conn);
        let twice = p
            .post(
                Some(&root),
                &format!("/admin/api-keys/{}/revoke", found.id),
                &[],
            )
            .await;
        assert_eq!(twice.status, StatusCode::BAD_REQUEST, "{e}");
        let audit = p.get(Some(&root), "/admin/audit?action=apikey").await;
        assert!(audit.body.contains("apikey.revoke"), "{e}");
    }
}

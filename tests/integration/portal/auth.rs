//! Sign-in, the second factor, sessions, CSRF and throttling.

use axum::http::StatusCode;
use hisp::store::users::Role;

use super::{Client, Portal, set_cookie};

#[tokio::test]
async fn sign_in_session_expiry_csrf_and_sign_out_on_every_engine() {
    for p in Portal::all().await {
        let e = p.engine();
        p.address("alice", Role::Provider).await;

        // No session: every page sends the browser to sign in.
        for path in [
            "/",
            "/mail",
            "/compose",
            "/contacts",
            "/alerts",
            "/rosters",
            "/admin",
            "/admin/audit",
        ] {
            let r = p.get(None, path).await;
            assert_eq!(
                (r.status, r.location()),
                (StatusCode::SEE_OTHER, "/signin"),
                "{e} {path}"
            );
        }
        // A forged session cookie is no session.
        let forged = Client {
            cookie: format!("hisp_session={}", "ab".repeat(32)),
            ..Client::default()
        };
        assert_eq!(p.get(Some(&forged), "/mail").await.location(), "/signin");

        let c = p
            .sign_in(&format!("alice@{}", crate::harness::DOMAIN))
            .await;
        let inbox = p.get(Some(&c), "/mail").await;
        assert_eq!(inbox.status, StatusCode::OK, "{e}: {}", inbox.body);
        assert!(inbox.body.contains("Inbox"), "{e}");
        assert_eq!(
            inbox.headers.get("cache-control").map(|v| v.to_str().ok()),
            Some(Some("no-store"))
        );
        assert!(
            inbox.headers["content-security-policy"]
                .to_str()
                .expect("csp")
                .contains("default-src 'none'")
        );

        // A form without the session's token, or with another token, is refused.
        let no_token = p
            .post(
                Some(&c),
                "/contacts",
                &[("csrf", ""), ("name", "X"), ("address", "x@y.test")],
            )
            .await;
        assert_eq!(no_token.status, StatusCode::FORBIDDEN, "{e}");
        assert!(no_token.body.contains("reload the page"), "{e}");
        let other = p
            .post(
                Some(&c),
                "/contacts",
                &[
                    ("csrf", &"0".repeat(64)),
                    ("name", "X"),
                    ("address", "x@y.test"),
                ],
            )
            .await;
        assert_eq!(other.status, StatusCode::FORBIDDEN, "{e}");
        let ok = p
            .post(
                Some(&c),
                "/contacts",
                &[("name", "X"), ("address", "x@y.test")],
            )
            .await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{e}: {}", ok.body);

        // Idle for longer than the timeout: signed out.
        p.env.clock.advance(14 * 60);
        assert_eq!(p.get(Some(&c), "/mail").await.status, StatusCode::OK, "{e}");
        p.env.clock.advance(15 * 60 + 1);
        assert_eq!(p.get(Some(&c), "/mail").await.location(), "/signin", "{e}");

        // Sign-out ends the session for good.
        let c = p
            .sign_in(&format!("alice@{}", crate::harness::DOMAIN))
            .await;
        let out = p.post(Some(&c), "/signout", &[]).await;
        assert_eq!(out.location(), "/signin", "{e}");
        assert_eq!(p.get(Some(&c), "/mail").await.location(), "/signin", "{e}");
    }
}

#[tokio::test]
async fn wrong_passwords_are_refused_alike_and_throttled() {
    let p = Portal::new(crate::harness::sqlite_env().await).await;
    p.address("bob", Role::Provider).await;
    let user = format!("bob@{}", crate::harness::DOMAIN);
    let page = p.get(None, "/signin").await;
    let pre = set_cookie(&page.headers, "hisp_pre").expect("pre");
    let anon = Client {
        cookie: format!("hisp_pre={pre}"),
        csrf: page.input("csrf").expect("csrf"),
        totp: None,
    };
    // Sign-in without the double-submit token is refused.
    let forged = p
        .post(
            Some(&Client {
                csrf: "f".repeat(64),
                ..anon.clone()
            }),
            "/signin",
            &[("username", &user), ("password", super::PASSWORD)],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let unknown = p
        .post(
            Some(&anon),
            "/signin",
            &[("username", "nobody"), ("password", "x")],
        )
        .await;
    let wrong = p
        .post(
            Some(&anon),
            "/signin",
            &[("username", &user), ("password", "wrong")],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&wrong.headers, "hisp_session").is_none());
    assert!(wrong.body.contains("user name or password is wrong"));
    for _ in 0..4 {
        p.post(
            Some(&anon),
            "/signin",
            &[("username", &user), ("password", "wrong")],
        )
        .await;
    }
    // Five failures: even the right password waits.
    let locked = p
        .post(
            Some(&anon),
            "/signin",
            &[("username", &user), ("password", super::PASSWORD)],
        )
        .await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    p.env.clock.advance(15 * 60);
    let again = p
        .post(
            Some(&anon),
            "/signin",
            &[("username", &user), ("password", super::PASSWORD)],
        )
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    // The session cookie's attributes (loopback listener: not Secure).
    let cookie = again
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("hisp_session="))
        .expect("session cookie")
        .to_string();
    assert!(
        cookie.contains("; HttpOnly") && cookie.contains("; SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert_eq!(again.location(), "/");
}

#[tokio::test]
async fn admins_enroll_totp_then_need_a_fresh_code_each_time() {
    for p in Portal::all().await {
        let e = p.engine();
        p.user("root", Role::Admin).await;
        // The first sign-in enrolls (the harness scans the page's secret).
        let c = p.sign_in("root").await;
        let secret = c.totp.clone().expect("enrolled");
        assert_eq!(p.get(Some(&c), "/").await.location(), "/admin", "{e}");
        p.post(Some(&c), "/signout", &[]).await;

        // Next time: password, then a code. Until the code, no page opens and
        // enrollment cannot replace the factor.
        let page = p.get(None, "/signin").await;
        let pre = set_cookie(&page.headers, "hisp_pre").expect("pre");
        let anon = Client {
            cookie: format!("hisp_pre={pre}"),
            csrf: page.input("csrf").expect("csrf"),
            totp: None,
        };
        let r = p
            .post(
                Some(&anon),
                "/signin",
                &[("username", "root"), ("password", super::PASSWORD)],
            )
            .await;
        assert_eq!(r.location(), "/mfa", "{e}");
        let token = set_cookie(&r.headers, "hisp_session").expect("session");
        let mut half = Client {
            cookie: format!("hisp_session={token}"),
            ..Client::default()
        };
        assert_eq!(p.get(Some(&half), "/mail").await.location(), "/mfa", "{e}");
        assert_eq!(
            p.get(Some(&half), "/mfa/enroll").await.location(),
            "/mfa",
            "{e}"
        );
        half.csrf = p
            .get(Some(&half), "/mfa")
            .await
            .input("csrf")
            .expect("csrf");

        // The code spent at enrollment (same 30 s step) is not accepted again.
        let replay = p
            .post(Some(&half), "/mfa", &[("code", &p.code(&secret))])
            .await;
        assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "{e}");
        let wrong = p.post(Some(&half), "/mfa", &[("code", "000000")]).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{e}");
        p.env.clock.advance(30);
        let ok = p
            .post(Some(&half), "/mfa", &[("code", &p.code(&secret))])
            .await;
        assert_eq!(ok.location(), "/", "{e}: {}", ok.body);
        assert_eq!(
            p.get(Some(&half), "/contacts").await.status,
            StatusCode::OK,
            "{e}"
        );
    }
}

#[tokio::test]
async fn a_one_time_password_must_be_changed_first() {
    let p = Portal::new(crate::harness::sqlite_env().await).await;
    p.address("carol", Role::Provider).await;
    let user = format!("carol@{}", crate::harness::DOMAIN);
    let one_time = p
        .env
        .hisp
        .user_passwd(&user, None, "admin")
        .await
        .expect("reset")
        .expect("generated");
    // Sign in by hand with the one-time password.
    let page = p.get(None, "/signin").await;
    let pre = set_cookie(&page.headers, "hisp_pre").expect("pre");
    let anon = Client {
        cookie: format!("hisp_pre={pre}"),
        csrf: page.input("csrf").expect("csrf"),
        totp: None,
    };
    let r = p
        .post(
            Some(&anon),
            "/signin",
            &[("username", &user), ("password", &one_time)],
        )
        .await;
    let token = set_cookie(&r.headers, "hisp_session").expect("session");
    let mut c = Client {
        cookie: format!("hisp_session={token}"),
        ..Client::default()
    };
    assert_eq!(p.get(Some(&c), "/mail").await.location(), "/password");
    let form = p.get(Some(&c), "/password").await;
    c.csrf = form.input("csrf").expect("csrf");
    let short = p
        .post(
            Some(&c),
            "/password",
            &[
                ("current", &one_time),
                ("new", "short"),
                ("confirm", "short"),
            ],
        )
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert!(short.body.contains("too short"), "{}", short.body);
    let done = p
        .post(
            Some(&c),
            "/password",
            &[
                ("current", &one_time),
                ("new", super::PASSWORD),
                ("confirm", super::PASSWORD),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(p.get(Some(&c), "/mail").await.status, StatusCode::OK);
}

//! Access: each role against each route, scoping to addresses and
//! subscribers (404, never 403, for what is not the caller's), and portal
//! sessions with the CSRF header.

use super::*;

/// One route of the matrix: what to send, and the status each caller gets
/// (no key, revoked key, provider key, care manager key, admin key), run in
/// that order.
struct Case {
    method: Method,
    /// The route as the router and the document write it.
    route: &'static str,
    path: String,
    body: Payload,
    expect: [u16; 5],
}

fn cases(w: &World) -> Vec<Case> {
    let prov = enc(&addr("prov"));
    let care = enc(&addr("care"));
    let c = |method: Method, route: &'static str, path: String, body: Payload, expect| Case {
        method,
        route,
        path,
        body,
        expect,
    };
    let msg = json_body(json!({"from": addr("prov"), "to": [addr("other")], "subject": "Hello"}));
    vec![
        c(
            Method::GET,
            "/api/openapi.json",
            "/api/openapi.json".into(),
            None,
            [200; 5],
        ),
        c(
            Method::GET,
            "/api/v1/messages",
            format!("/api/v1/messages?address={prov}"),
            None,
            [401, 401, 200, 404, 200],
        ),
        c(
            Method::GET,
            "/api/v1/messages/{id}",
            format!("/api/v1/messages/{}?address={prov}", w.inbox_id),
            None,
            [401, 401, 200, 404, 200],
        ),
        c(
            Method::GET,
            "/api/v1/messages/{message_id}/status",
            format!("/api/v1/messages/{}/status", enc(&w.sent_mid)),
            None,
            [401, 401, 200, 404, 200],
        ),
        c(
            Method::POST,
            "/api/v1/messages/{id}/ack",
            format!("/api/v1/messages/{}/ack?address={prov}", w.inbox_id),
            None,
            [401, 401, 204, 404, 204],
        ),
        c(
            Method::POST,
            "/api/v1/messages",
            "/api/v1/messages".into(),
            msg,
            [401, 401, 202, 404, 202],
        ),
        c(
            Method::DELETE,
            "/api/v1/messages/{id}",
            format!("/api/v1/messages/{}?address={prov}", w.inbox_id),
            None,
            [401, 401, 204, 404, 404],
        ),
        c(
            Method::GET,
            "/api/v1/alerts",
            "/api/v1/alerts".into(),
            None,
            [401, 401, 403, 200, 200],
        ),
        c(
            Method::GET,
            "/api/v1/alerts/{id}",
            format!("/api/v1/alerts/{}", w.alert),
            None,
            [401, 401, 403, 200, 200],
        ),
        c(
            Method::PATCH,
            "/api/v1/alerts/{id}",
            format!("/api/v1/alerts/{}", w.alert),
            json_body(json!({"status": "in-progress"})),
            [401, 401, 403, 200, 200],
        ),
        c(
            Method::POST,
            "/api/v1/rosters",
            format!("/api/v1/rosters?owner={care}"),
            Some(("text/csv", CSV.as_bytes().to_vec())),
            [401, 401, 403, 200, 200],
        ),
        c(
            Method::GET,
            "/api/v1/rosters",
            format!("/api/v1/rosters?owner={care}"),
            None,
            [401, 401, 403, 200, 200],
        ),
        c(
            Method::GET,
            "/api/v1/consents",
            "/api/v1/consents".into(),
            None,
            [401, 401, 403, 403, 200],
        ),
        c(
            Method::POST,
            "/api/v1/consents",
            "/api/v1/consents".into(),
            json_body(
                json!({"decision": "opt-out", "patient_id": "MRN-9", "authority": "GENERAL"}),
            ),
            // A care manager's opt-out names a patient on their roster; MRN-9 is on none.
            [401, 401, 403, 404, 201],
        ),
        c(
            Method::GET,
            "/api/v1/domains",
            "/api/v1/domains".into(),
            None,
            [401, 401, 403, 403, 200],
        ),
        c(
            Method::POST,
            "/api/v1/domains",
            "/api/v1/domains".into(),
            json_body(json!({"name": "second.example.org"})),
            [401, 401, 403, 403, 201],
        ),
        c(
            Method::GET,
            "/api/v1/addresses",
            "/api/v1/addresses".into(),
            None,
            [401, 401, 403, 403, 200],
        ),
        c(
            Method::POST,
            "/api/v1/addresses",
            "/api/v1/addresses".into(),
            json_body(json!({"address": addr("newbie"), "name": "New Bie", "role": "provider"})),
            [401, 401, 403, 403, 201],
        ),
        c(
            Method::POST,
            "/api/v1/addresses/{address}/disable",
            format!("/api/v1/addresses/{}/disable", enc(&addr("newbie"))),
            None,
            [401, 401, 403, 403, 200],
        ),
        c(
            Method::POST,
            "/api/v1/addresses/{address}/enable",
            format!("/api/v1/addresses/{}/enable", enc(&addr("newbie"))),
            None,
            [401, 401, 403, 403, 200],
        ),
        c(
            Method::GET,
            "/api/v1/certificates",
            "/api/v1/certificates".into(),
            None,
            [401, 401, 403, 403, 200],
        ),
        c(
            Method::GET,
            "/api/v1/anchors",
            "/api/v1/anchors".into(),
            None,
            [401, 401, 403, 403, 200],
        ),
        c(
            Method::POST,
            "/api/v1/anchors",
            "/api/v1/anchors".into(),
            json_body(json!({"domain": DOMAIN, "certificate_pem": anchor_pem(), "incoming": true})),
            [401, 401, 403, 403, 201],
        ),
        c(
            Method::GET,
            "/api/v1/bundles",
            "/api/v1/bundles".into(),
            None,
            [401, 401, 403, 403, 200],
        ),
        c(
            Method::POST,
            "/api/v1/bundles/{id}/refresh",
            "/api/v1/bundles/1/refresh".into(),
            None,
            [401, 401, 403, 403, 200],
        ),
        c(
            Method::GET,
            "/api/v1/api-keys",
            "/api/v1/api-keys".into(),
            None,
            [401, 401, 403, 403, 200],
        ),
        c(
            Method::POST,
            "/api/v1/api-keys",
            "/api/v1/api-keys".into(),
            json_body(json!({"name": "EHR", "role": "provider", "addresses": [addr("prov")]})),
            [401, 401, 403, 403, 201],
        ),
        c(
            Method::DELETE,
            "/api/v1/api-keys/{id}",
            format!("/api/v1/api-keys/{}", w.other.0),
            None,
            [401, 401, 403, 403, 204],
        ),
    ]
}

#[tokio::test]
async fn every_route_answers_each_role_on_every_engine() {
    for p in Portal::all().await {
        let e = p.engine();
        let w = world(&p).await;
        assert_eq!(bundle(&p).await, 1, "{e}");
        let callers = [
            Auth::None,
            Auth::Key(&w.revoked.1),
            Auth::Key(&w.prov.1),
            Auth::Key(&w.care.1),
            Auth::Key(&w.admin.1),
        ];
        let names = ["no key", "revoked key", "provider", "care manager", "admin"];
        let all = cases(&w);
        for case in &all {
            for (i, auth) in callers.iter().enumerate() {
                let r = call(
                    &p,
                    case.method.clone(),
                    &case.path,
                    *auth,
                    case.body.clone(),
                )
                .await;
                let ctx = format!("{e} {} {} as {}", case.method, case.path, names[i]);
                assert_eq!(r.status.as_u16(), case.expect[i], "{ctx}: {}", r.body);
                assert_eq!(
                    r.headers
                        .get(header::CACHE_CONTROL)
                        .and_then(|v| v.to_str().ok()),
                    Some("no-store"),
                    "{ctx}"
                );
                if !r.status.is_success() {
                    let slug = match r.status.as_u16() {
                        401 => "unauthorized",
                        403 => "forbidden",
                        _ => "not-found",
                    };
                    assert_problem(&r, r.status, slug, &ctx);
                }
            }
        }
        // The matrix covers exactly what the router serves.
        let mut tested: Vec<(String, String)> = all
            .iter()
            .map(|c| (c.method.to_string(), c.route.to_string()))
            .collect();
        let mut served = hisp::web::api::served();
        tested.sort();
        served.sort();
        assert_eq!(tested, served, "{e}: every served route is in the matrix");
    }
}

#[tokio::test]
async fn a_scoped_key_never_sees_another_address() {
    for p in Portal::all().await {
        let e = p.engine();
        let w = world(&p).await;
        let k = Auth::Key(&w.prov.1);
        let other = enc(&addr("other"));
        let nobody = enc(&addr("nobody"));
        // Another practice's mailbox answers exactly like one that does not exist.
        let theirs = call(
            &p,
            Method::GET,
            &format!("/api/v1/messages?address={other}"),
            k,
            None,
        )
        .await;
        let none = call(
            &p,
            Method::GET,
            &format!("/api/v1/messages?address={nobody}"),
            k,
            None,
        )
        .await;
        assert_problem(&theirs, StatusCode::NOT_FOUND, "not-found", e);
        assert_eq!(theirs.body, none.body, "{e}: existence is not confirmed");
        assert!(!theirs.body.contains("other@"), "{e}");
        for (method, path) in [
            (
                Method::GET,
                format!("/api/v1/messages/{}?address={other}", w.other_inbox_id),
            ),
            // Their message id in our own mailbox is no message of ours.
            (
                Method::GET,
                format!(
                    "/api/v1/messages/{}?address={}",
                    w.other_inbox_id,
                    enc(&addr("prov"))
                ),
            ),
            (
                Method::POST,
                format!("/api/v1/messages/{}/ack?address={other}", w.other_inbox_id),
            ),
            (
                Method::DELETE,
                format!("/api/v1/messages/{}?address={other}", w.other_inbox_id),
            ),
        ] {
            let r = call(&p, method.clone(), &path, k, None).await;
            assert_problem(
                &r,
                StatusCode::NOT_FOUND,
                "not-found",
                &format!("{e} {method} {path}"),
            );
        }
        // What `other` sent is tracked, but not for us.
        let list = call(
            &p,
            Method::GET,
            &format!("/api/v1/messages?address={other}&folder=sent"),
            Auth::Key(&w.other.1),
            None,
        )
        .await;
        let their_mid = parsed(&list)[0]["message_id"]
            .as_str()
            .expect("sent")
            .to_string();
        let r = call(
            &p,
            Method::GET,
            &format!("/api/v1/messages/{}/status", enc(&their_mid)),
            k,
            None,
        )
        .await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not-found", e);
        // Nor may we send as them.
        let r = call(
            &p,
            Method::POST,
            "/api/v1/messages",
            k,
            json_body(json!({
            "from": addr("other"), "to": [addr("prov")], "subject": "forged"})),
        )
        .await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not-found", e);
        // Their message is untouched: still unread, still there.
        let r = call(
            &p,
            Method::GET,
            &format!("/api/v1/messages?address={other}"),
            Auth::Key(&w.other.1),
            None,
        )
        .await;
        assert_eq!(parsed(&r)[0]["seen"], false, "{e}");

        // A care manager sees its own subscriber's alerts, not another's.
        let ck = Auth::Key(&w.care.1);
        let list = parsed(&call(&p, Method::GET, "/api/v1/alerts", ck, None).await);
        let ids: Vec<i64> = list
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|a| a["id"].as_i64())
            .collect();
        assert_eq!(ids, vec![w.alert], "{e}");
        let r = call(
            &p,
            Method::GET,
            &format!("/api/v1/alerts/{}", w.other_alert),
            ck,
            None,
        )
        .await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not-found", e);
        let r = call(
            &p,
            Method::PATCH,
            &format!("/api/v1/alerts/{}", w.other_alert),
            ck,
            json_body(json!({"status": "completed"})),
        )
        .await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not-found", e);
        let theirs = format!("/api/v1/rosters?owner={}", enc(&addr("care2")));
        let r = call(&p, Method::GET, &theirs, ck, None).await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not-found", e);
        let r = call(
            &p,
            Method::POST,
            &theirs,
            ck,
            Some(("text/csv", CSV.as_bytes().to_vec())),
        )
        .await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not-found", e);
        // The admin key sees both alerts.
        let all = parsed(
            &call(
                &p,
                Method::GET,
                "/api/v1/alerts",
                Auth::Key(&w.admin.1),
                None,
            )
            .await,
        );
        assert_eq!(all.as_array().map(Vec::len), Some(2), "{e}");
        // An admin's portal session is kept from practices' PHI, as the
        // portal keeps it: only an admin key (an HIE's system) sees all.
        p.user("root", Role::Admin).await;
        let root = p.sign_in("root").await;
        let session = Auth::Session(&root, false);
        let r = call(
            &p,
            Method::GET,
            &format!("/api/v1/alerts/{}", w.other_alert),
            session,
            None,
        )
        .await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not-found", e);
        for path in ["/api/v1/alerts", "/api/v1/rosters"] {
            let r = call(&p, Method::GET, path, session, None).await;
            assert_eq!(parsed(&r).as_array().map(Vec::len), Some(0), "{e} {path}");
        }
        let r = call(&p, Method::GET, &theirs, session, None).await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not-found", e);
    }
}

#[tokio::test]
async fn sessions_need_the_csrf_header_to_change_anything() {
    for p in Portal::all().await {
        let e = p.engine();
        let w = world(&p).await;
        let c = p.sign_in(&addr("prov")).await;
        let prov = enc(&addr("prov"));
        let list = call(
            &p,
            Method::GET,
            &format!("/api/v1/messages?address={prov}"),
            Auth::Session(&c, false),
            None,
        )
        .await;
        assert_eq!(
            list.status,
            StatusCode::OK,
            "{e}: reading needs no token: {}",
            list.body
        );
        // Without the header or with a wrong one, nothing changes.
        let ack = format!("/api/v1/messages/{}/ack?address={prov}", w.inbox_id);
        let del = format!("/api/v1/messages/{}?address={prov}", w.inbox_id);
        let post_msg =
            json_body(json!({"from": addr("prov"), "to": [addr("other")], "subject": "Hi"}));
        for auth in [Auth::Session(&c, false), Auth::WrongCsrf(&c)] {
            for (method, path, body) in [
                (Method::POST, ack.clone(), None),
                (Method::DELETE, del.clone(), None),
                (
                    Method::POST,
                    "/api/v1/messages".to_string(),
                    post_msg.clone(),
                ),
            ] {
                let r = call(&p, method.clone(), &path, auth, body).await;
                assert_problem(
                    &r,
                    StatusCode::FORBIDDEN,
                    "csrf",
                    &format!("{e} {method} {path}"),
                );
            }
        }
        let still = parsed(
            &call(
                &p,
                Method::GET,
                &format!("/api/v1/messages?address={prov}"),
                Auth::Session(&c, false),
                None,
            )
            .await,
        );
        assert_eq!(still[0]["seen"], false, "{e}");
        // With it, they work.
        let r = call(&p, Method::POST, &ack, Auth::Session(&c, true), None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{e}: {}", r.body);
        let r = call(
            &p,
            Method::POST,
            "/api/v1/messages",
            Auth::Session(&c, true),
            post_msg,
        )
        .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{e}: {}", r.body);
        let r = call(&p, Method::DELETE, &del, Auth::Session(&c, true), None).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{e}: {}", r.body);
        // A session acts as its user: the audit names them.
        let log = audit(&p).await;
        assert!(
            log.contains(&(addr("prov"), "mailbox.delete".into(), addr("prov"))),
            "{e}"
        );

        // A care manager's session changes an alert only with the header.
        let cm = p.sign_in(&addr("care")).await;
        let path = format!("/api/v1/alerts/{}", w.alert);
        let body = json_body(json!({"status": "completed"}));
        let r = call(
            &p,
            Method::PATCH,
            &path,
            Auth::Session(&cm, false),
            body.clone(),
        )
        .await;
        assert_problem(&r, StatusCode::FORBIDDEN, "csrf", e);
        let r = call(&p, Method::PATCH, &path, Auth::Session(&cm, true), body).await;
        assert_eq!(parsed(&r)["status"], "completed", "{e}");
        // A caller that says what it last saw cannot undo a change made
        // since: 409, naming the state the alert is in, and nothing moves.
        let stale = json_body(json!({"status": "new", "expected_status": "in-progress"}));
        let r = call(&p, Method::PATCH, &path, Auth::Session(&cm, true), stale).await;
        assert_problem(&r, StatusCode::CONFLICT, "conflict", e);
        assert!(r.body.contains("changed to completed"), "{e}: {}", r.body);
        let now = parsed(&call(&p, Method::GET, &path, Auth::Session(&cm, false), None).await);
        assert_eq!(now["status"], "completed", "{e}");
        // Asking for the state it is already in loses nothing.
        let same = json_body(json!({"status": "completed", "expected_status": "new"}));
        let r = call(&p, Method::PATCH, &path, Auth::Session(&cm, true), same).await;
        assert_eq!(parsed(&r)["status"], "completed", "{e}: {}", r.body);
        let fresh = json_body(json!({"status": "in-progress", "expected_status": "completed"}));
        let r = call(&p, Method::PATCH, &path, Auth::Session(&cm, true), fresh).await;
        assert_eq!(parsed(&r)["status"], "in-progress", "{e}: {}", r.body);
        // A provider's session is no care manager.
        let r = call(
            &p,
            Method::GET,
            "/api/v1/alerts",
            Auth::Session(&c, false),
            None,
        )
        .await;
        assert_problem(&r, StatusCode::FORBIDDEN, "forbidden", e);

        // An idle session expires like the portal's.
        p.env
            .clock
            .advance(p.env.hisp.config.http.idle_timeout_secs + 1);
        let r = call(
            &p,
            Method::GET,
            "/api/v1/messages",
            Auth::Session(&c, false),
            None,
        )
        .await;
        assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized", e);
    }
}

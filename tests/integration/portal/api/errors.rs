//! Bad input, bad credentials and a missing store: problem details with
//! the right type and status, never a 5xx with internal detail.

use super::*;

#[tokio::test]
async fn bad_requests_are_problems_never_5xx() {
    for p in Portal::all().await {
        let e = p.engine();
        let w = world(&p).await;
        let k = Auth::Key(&w.prov.1);
        let a = Auth::Key(&w.admin.1);
        let alert_path = format!("/api/v1/alerts/{}", w.alert);
        let own_key = format!("/api/v1/api-keys/{}", w.admin.0);
        let cases: Vec<(Method, &str, Auth<'_>, Payload, StatusCode, &str)> = vec![
            (
                Method::POST,
                "/api/v1/messages",
                k,
                Some(("application/json", b"{\"from\":".to_vec())),
                StatusCode::BAD_REQUEST,
                "malformed-body",
            ),
            (
                Method::POST,
                "/api/v1/messages",
                k,
                Some(("text/plain", b"hello".to_vec())),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
            ),
            (
                Method::POST,
                "/api/v1/messages",
                k,
                None,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
            ),
            (
                Method::POST,
                "/api/v1/messages",
                k,
                json_body(json!({"from": addr("prov")})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-field",
            ),
            (
                Method::POST,
                "/api/v1/messages",
                k,
                json_body(json!({
                "from": addr("prov"), "to": [addr("other")], "subject": "x",
                "attachments": [{"name": "a.pdf", "data_base64": "not base64!"}]})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-field",
            ),
            (
                Method::POST,
                "/api/v1/messages",
                k,
                json_body(json!({
                "from": addr("prov"), "to": ["not an address"], "subject": "x"})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-field",
            ),
            (
                Method::POST,
                "/api/v1/messages",
                k,
                json_body(json!({
                "from": addr("prov"), "to": [addr("other")], "subject": "a\r\nBcc: x@y.test"})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-field",
            ),
            (
                Method::POST,
                "/api/v1/messages",
                k,
                json_body(json!({
                "from": addr("prov"), "to": [addr("other")], "subject": "x",
                "attachments": [{"name": "a.pdf", "content_type": "text/html\r\nX: y", "data_base64": "AA=="}]})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-field",
            ),
            (
                Method::POST,
                "/api/v1/messages",
                k,
                Some(("multipart/form-data; boundary=x", b"garbage".to_vec())),
                StatusCode::BAD_REQUEST,
                "malformed-body",
            ),
            (
                Method::GET,
                "/api/v1/messages/abc",
                k,
                None,
                StatusCode::BAD_REQUEST,
                "bad-request",
            ),
            (
                Method::GET,
                "/api/v1/messages?folder=trash",
                k,
                None,
                StatusCode::BAD_REQUEST,
                "bad-request",
            ),
            (
                Method::GET,
                "/api/v1/messages?address=%00",
                k,
                None,
                StatusCode::BAD_REQUEST,
                "bad-request",
            ),
            (
                Method::GET,
                "/api/v1/nope",
                k,
                None,
                StatusCode::NOT_FOUND,
                "not-found",
            ),
            (
                Method::PUT,
                "/api/v1/messages",
                k,
                None,
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
            ),
            (
                Method::GET,
                "/api/v1/messages",
                Auth::Key("hisp_0000"),
                None,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            ),
            (
                Method::PATCH,
                &alert_path,
                a,
                json_body(json!({"status": "done"})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-field",
            ),
            (
                Method::POST,
                "/api/v1/rosters?owner=care%40direct.example.org",
                a,
                Some(("application/json", b"{}".to_vec())),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
            ),
            (
                Method::POST,
                "/api/v1/rosters?owner=care%40direct.example.org",
                a,
                Some(("text/csv", b"nonsense,columns\n1,2\n".to_vec())),
                StatusCode::BAD_REQUEST,
                "bad-request",
            ),
            // Larger than a roster may be (20 MiB), well within the API's
            // own limit: refused as it is read, not held whole first.
            (
                Method::POST,
                "/api/v1/rosters?owner=care%40direct.example.org",
                a,
                Some((
                    "text/csv",
                    vec![b'x'; hisp::notify::roster::MAX_ROSTER_BYTES + 1],
                )),
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
            ),
            (
                Method::POST,
                "/api/v1/messages",
                k,
                json_body(json!({
                "from": "", "to": [addr("other")], "subject": "x"})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-field",
            ),
            (
                Method::POST,
                "/api/v1/domains",
                a,
                json_body(json!({"name": DOMAIN})),
                StatusCode::CONFLICT,
                "conflict",
            ),
            (
                Method::POST,
                "/api/v1/addresses",
                a,
                json_body(json!({"address": addr("x"), "name": " "})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-field",
            ),
            (
                Method::POST,
                "/api/v1/domains",
                a,
                json_body(json!({"name": "not a domain"})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-field",
            ),
            (
                Method::POST,
                "/api/v1/addresses",
                a,
                json_body(json!({"address": addr("prov")})),
                StatusCode::CONFLICT,
                "conflict",
            ),
            (
                Method::POST,
                "/api/v1/anchors",
                a,
                json_body(json!({"domain": DOMAIN, "certificate_pem": "nope"})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-field",
            ),
            (
                Method::POST,
                "/api/v1/api-keys",
                a,
                json_body(json!({"name": "x\u{0}", "role": "admin"})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-field",
            ),
            (
                Method::POST,
                "/api/v1/api-keys",
                a,
                json_body(json!({"name": "x", "role": "provider"})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-field",
            ),
            (
                Method::POST,
                "/api/v1/api-keys",
                a,
                json_body(json!({"name": "x", "role": "root"})),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-field",
            ),
            (
                Method::DELETE,
                &own_key,
                a,
                None,
                StatusCode::CONFLICT,
                "conflict",
            ),
            (
                Method::DELETE,
                "/api/v1/api-keys/99999",
                a,
                None,
                StatusCode::NOT_FOUND,
                "not-found",
            ),
            (
                Method::POST,
                "/api/v1/bundles/99999/refresh",
                a,
                None,
                StatusCode::NOT_FOUND,
                "not-found",
            ),
        ];
        for (method, path, auth, body, status, slug) in cases {
            let r = call(&p, method.clone(), path, auth, body).await;
            assert_problem(&r, status, slug, &format!("{e} {method} {path}"));
        }
        let wrong_scheme = Request::get("/api/v1/messages")
            .header(header::AUTHORIZATION, format!("Basic {}", w.prov.1))
            .body(Body::empty())
            .expect("request");
        assert_problem(
            &p.send(wrong_scheme).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            e,
        );
        // A disabled sender cannot send.
        p.env
            .hisp
            .address_disable(
                &hisp::direct::DirectAddress::parse(&addr("prov")).expect("addr"),
                "test",
            )
            .await
            .expect("disable");
        let r = call(
            &p,
            Method::POST,
            "/api/v1/messages",
            k,
            json_body(json!({
            "from": addr("prov"), "to": [addr("other")], "subject": "x"})),
        )
        .await;
        // Its key acted only for that address: it no longer authenticates.
        assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized", e);
        assert!(
            r.body.contains("disabled or removed addresses"),
            "{e}: {}",
            r.body
        );
        // An admin key still acts for it, and is told it cannot send.
        let r = call(
            &p,
            Method::POST,
            "/api/v1/messages",
            Auth::Key(&w.admin.1),
            json_body(json!({
            "from": addr("prov"), "to": [addr("other")], "subject": "x"})),
        )
        .await;
        assert_problem(&r, StatusCode::CONFLICT, "conflict", e);
        assert!(r.body.contains("is disabled"), "{e}: {}", r.body);
        // With the store gone: 503, and nothing of why.
        p.env.hisp.store.close().await;
        let r = call(&p, Method::GET, "/api/v1/messages", k, None).await;
        assert_problem(&r, StatusCode::SERVICE_UNAVAILABLE, "unavailable", e);
        assert!(!r.body.to_lowercase().contains("pool"), "{e}: {}", r.body);
    }
}

/// A request body that sends `first` and then nothing more, never ending:
/// a client that stalls (or a slow attacker) after a large start.
struct Stalled(Option<axum::body::Bytes>);

impl http_body::Body for Stalled {
    type Data = axum::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        match self.0.take() {
            Some(b) => std::task::Poll::Ready(Some(Ok(http_body::Frame::data(b)))),
            None => std::task::Poll::Pending,
        }
    }
}

/// A roster upload is refused as soon as it passes 20 MiB, not read on to
/// the API's own 96 MiB limit first: a body that sends one byte over and
/// then stalls gets its 413 at once. Before, the server waited for more
/// (and would have held up to 96 MiB of it).
#[tokio::test]
async fn a_roster_upload_is_refused_as_soon_as_it_passes_its_limit() {
    for p in Portal::all().await {
        let e = p.engine();
        let w = world(&p).await;
        let over = vec![b'x'; hisp::notify::roster::MAX_ROSTER_BYTES + 1];
        let req = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/rosters?owner=care%40direct.example.org")
            .header(header::AUTHORIZATION, format!("Bearer {}", w.admin.1))
            .header(header::CONTENT_TYPE, "text/csv")
            .body(Body::new(Stalled(Some(over.into()))))
            .expect("request");
        let r = tokio::time::timeout(std::time::Duration::from_secs(120), p.send(req))
            .await
            .unwrap_or_else(|_| panic!("{e}: the server waited for more of a body past 20 MiB"));
        assert_problem(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", e);
    }
}

#[tokio::test]
async fn a_disabled_care_manager_changes_no_roster_and_records_no_opt_out() {
    for p in Portal::all().await {
        let e = p.engine();
        let w = world(&p).await;
        let ck = Auth::Key(&w.care.1);
        let csv = || Some(("text/csv", CSV.as_bytes().to_vec()));
        let r = call(&p, Method::POST, "/api/v1/rosters", ck, csv()).await;
        assert_eq!(r.status, StatusCode::OK, "{e}: {}", r.body);
        let care = hisp::direct::DirectAddress::parse(&addr("care")).expect("addr");
        p.env
            .hisp
            .address_disable(&care, "test")
            .await
            .expect("disable");

        // Its key acted only for that address: it no longer authenticates,
        // so it reads no alert or roster (PHI), takes no roster…
        for path in ["/api/v1/alerts", "/api/v1/rosters"] {
            let r = call(&p, Method::GET, path, ck, None).await;
            assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized", e);
            assert!(
                r.body.contains("disabled or removed addresses"),
                "{e}: {}",
                r.body
            );
        }
        let r = call(&p, Method::POST, "/api/v1/rosters", ck, csv()).await;
        assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized", e);
        // …and speaks for no patient, even one on its (kept) roster.
        let opt_out = json!({"decision": "opt-out", "patient_id": "MRN-1", "authority": "GENERAL"});
        let r = call(&p, Method::POST, "/api/v1/consents", ck, json_body(opt_out)).await;
        assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized", e);
        let mut conn = p.env.hisp.conn().await.expect("conn");
        let sealer = p.env.hisp.store.sealer();
        let kept = notify::entries(&mut conn, sealer, Some(&addr("care")), p.env.hisp.now())
            .await
            .expect("entries");
        assert_eq!(kept.len(), 1, "{e}: the roster is kept, unchanged");
        let consents = notify::consents(&mut conn, sealer).await.expect("consents");
        assert!(consents.is_empty(), "{e}: nothing recorded");
    }
}

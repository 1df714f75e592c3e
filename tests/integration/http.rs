//! HTTP: handlers through `app().oneshot`, then the real server on port 0.

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use hisp::direct::DirectAddress;
use hisp::ops::address::NewAddress;
use hisp::server::{self, Listeners};
use hisp::store::users::Role;
use hisp::telemetry::Metrics;
use hisp::web::{AppState, app};
use tower::ServiceExt;

use crate::harness::{self, envs, sqlite_env};

async fn get(state: &AppState, path: &str) -> (StatusCode, String, Vec<u8>) {
    let resp = app(state.clone())
        .oneshot(Request::get(path).body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (
        status,
        ctype,
        to_bytes(resp.into_body(), 1 << 20)
            .await
            .expect("body")
            .to_vec(),
    )
}

#[tokio::test]
async fn routes_answer_on_every_engine() {
    for env in envs().await {
        let state = AppState::new(
            hisp::smtp::Gateway::new(env.hisp.clone()),
            Arc::new(Metrics::default()),
        );
        let (s, _, body) = get(&state, "/healthz").await;
        assert_eq!(
            (s, body.as_slice()),
            (StatusCode::OK, &b"ok\n"[..]),
            "{}",
            env.engine
        );

        let (s, ctype, der) = get(&state, "/pki/ca.cer").await;
        assert_eq!(
            (s, ctype.as_str()),
            (StatusCode::OK, "application/pkix-cert")
        );
        let ca = openssl::x509::X509::from_der(&der).expect("DER certificate");
        assert_eq!(
            ca.to_der().expect("der"),
            env.hisp.ca_cert().await.expect("ca").to_der().expect("der")
        );

        let (s, ctype, der) = get(&state, "/pki/ca.crl").await;
        assert_eq!(
            (s, ctype.as_str()),
            (StatusCode::OK, "application/pkix-crl")
        );
        let crl = openssl::x509::X509Crl::from_der(&der).expect("DER CRL");
        assert!(crl.verify(&ca.public_key().expect("key")).expect("verify"));

        let (s, _, _) = get(&state, "/no/such/page").await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        let (s, ctype, text) = get(&state, "/metrics").await;
        let text = String::from_utf8(text).expect("utf8");
        assert_eq!(s, StatusCode::OK);
        assert!(ctype.starts_with("text/plain"), "{ctype}");
        for line in [
            "hisp_domains 1",
            "hisp_certificates{status=\"valid\"} 1",
            "hisp_http_requests_total{route=\"/healthz\",status=\"200\"} 1",
            "hisp_http_requests_total{route=\"other\",status=\"404\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing '{line}' in:\n{text}"
            );
        }
    }
}

#[tokio::test]
async fn healthz_is_503_when_the_store_is_gone() {
    let env = sqlite_env().await;
    let state = AppState::new(
        hisp::smtp::Gateway::new(env.hisp.clone()),
        Arc::new(Metrics::default()),
    );
    env.hisp.store.close().await;
    let (s, _, body) = get(&state, "/healthz").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, b"service unavailable\n", "no internal detail leaks");
}

/// Acceptance: a revoked serial is in the CRL served over HTTP, which
/// `openssl crl` parses and `openssl verify -crl_check` honors.
#[tokio::test]
async fn revocation_reaches_the_crl_served_over_a_real_socket() {
    for env in envs().await {
        let h = env.hisp.clone();
        let req = |a: &str| NewAddress {
            address: DirectAddress::parse(a).expect("address"),
            name: Some("Test Person".into()),
            role: Role::Provider,
            password: None,
            single_use: Some(false),
        };
        let jo = h
            .address_add(req("jo@direct.example.org"), "test")
            .await
            .expect("jo");
        let sam = h
            .address_add(req("sam@direct.example.org"), "test")
            .await
            .expect("sam");
        h.cert_revoke(&jo.certs[0].serial, "keyCompromise", "test")
            .await
            .expect("revoke");

        let http = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = http.local_addr().expect("addr");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server::run(
            h.clone(),
            Listeners {
                http,
                dns: None,
                mx: None,
                submission: None,
                mllp: None,
            },
            async move {
                let _ = stop_rx.await;
            },
        ));
        let (status, crl_der) = harness::http_get(addr, "/pki/ca.crl").await;
        assert_eq!(status, 200);
        let (status, ca_der) = harness::http_get(addr, "/pki/ca.cer").await;
        assert_eq!(status, 200);
        let _ = stop_tx.send(());
        serving.await.expect("join").expect("clean shutdown");

        let dir = env.dir.path();
        std::fs::write(dir.join("crl.der"), &crl_der).expect("write");
        std::fs::write(dir.join("ca.der"), &ca_der).expect("write");
        let text = harness::ok(&harness::openssl(
            dir,
            &["crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text"],
        ));
        assert!(
            text.contains(&jo.certs[0].serial),
            "revoked serial listed:\n{text}"
        );
        assert!(!text.contains(&sam.certs[0].serial));
        harness::ok(&harness::openssl(
            dir,
            &["crl", "-inform", "DER", "-in", "crl.der", "-out", "crl.pem"],
        ));
        harness::ok(&harness::openssl(
            dir,
            &["x509", "-inform", "DER", "-in", "ca.der", "-out", "ca.pem"],
        ));
        for (name, row) in [("jo.pem", &jo.certs[0]), ("sam.pem", &sam.certs[0])] {
            let pem = hisp::pki::cert_pem(&row.cert().expect("cert")).expect("pem");
            std::fs::write(dir.join(name), pem).expect("write");
        }
        let verify = |leaf: &str| {
            harness::openssl(
                dir,
                &[
                    "verify",
                    "-crl_check",
                    "-CAfile",
                    "ca.pem",
                    "-CRLfile",
                    "crl.pem",
                    leaf,
                ],
            )
        };
        let revoked = verify("jo.pem");
        assert!(!revoked.status.success(), "{}", env.engine);
        assert!(
            harness::stdout(&revoked).contains("certificate revoked")
                || harness::stderr(&revoked).contains("certificate revoked")
        );
        harness::ok(&verify("sam.pem"));
    }
}

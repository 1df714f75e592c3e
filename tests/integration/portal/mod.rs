//! The portal and the JSON API through `app().oneshot` (no socket), on every
//! engine: a [`Portal`] wraps a set-up hisp, creates users and addresses, and
//! signs clients in through the real sign-in pages (password, then TOTP
//! enrollment or a code when the user needs one). A browser test drives the
//! real server in Chromium.

mod admin;
mod api;
mod auth;
mod browser;
mod care;
mod mail;

use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use hisp::direct::DirectAddress;
use hisp::ops::address::NewAddress;
use hisp::smtp::Gateway;
use hisp::store::users::Role;
use hisp::telemetry::Metrics;
use hisp::web::totp::{self, Secret};
use hisp::web::{AppState, app};
use tower::ServiceExt;

use crate::harness::{self, Env};

/// The password every test user gets.
pub const PASSWORD: &str = "correct horse battery";

/// A hisp with its router state.
pub struct Portal {
    /// The set-up environment (store, clock, config).
    pub env: Env,
    /// What the router serves.
    pub state: AppState,
}

/// A signed-in browser: its session cookie and CSRF token.
#[derive(Debug, Clone, Default)]
pub struct Client {
    /// `hisp_session=…` (empty when signed out).
    pub cookie: String,
    /// The session's form token.
    pub csrf: String,
    /// The TOTP secret when the user enrolled one.
    pub totp: Option<String>,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body as text (lossy).
    pub body: String,
    /// Body bytes.
    pub bytes: Vec<u8>,
}

impl Resp {
    /// The Location header.
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The value of `name="…"`'s `value` attribute in a form on the page.
    pub fn input(&self, name: &str) -> Option<String> {
        let at = self.body.find(&format!("name=\"{name}\""))?;
        let tag_start = self.body[..at].rfind('<')?;
        let tag_end = at + self.body[at..].find('>')?;
        let tag = &self.body[tag_start..tag_end];
        let v = tag.find("value=\"")? + 7;
        Some(tag[v..v + tag[v..].find('"')?].to_string())
    }
}

impl Portal {
    /// A portal over a fresh set-up hisp.
    pub async fn new(env: Env) -> Portal {
        let state = AppState::new(Gateway::new(env.hisp.clone()), Arc::new(Metrics::default()));
        Portal { env, state }
    }

    /// One portal per engine (SQLite, and PostgreSQL when configured).
    pub async fn all() -> Vec<Portal> {
        let mut out = Vec::new();
        for env in harness::envs().await {
            out.push(Portal::new(env).await);
        }
        out
    }

    /// Run the gateway's workers (inbound, delivery, tracking) on this
    /// portal's gateway, so compose wakes them; they stop when the returned
    /// sender is dropped or sends `true`.
    pub fn start_workers(&self) -> tokio::sync::watch::Sender<bool> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let outbound =
            hisp::smtp::outbound::Outbound::new(hisp::smtp::outbound_config(&self.env.hisp.config))
                .expect("outbound");
        for t in hisp::smtp::worker::spawn(&self.state.gw, outbound, &rx) {
            drop(t);
        }
        tx
    }

    /// The engine's name, for assertion messages.
    pub fn engine(&self) -> &'static str {
        self.env.engine
    }

    /// A login with no address.
    pub async fn user(&self, name: &str, role: Role) {
        self.env
            .hisp
            .user_add(name, role, Some(PASSWORD.into()), "test")
            .await
            .expect("user");
    }

    /// Issue `local@DOMAIN` owned by a new login of the same name.
    pub async fn address(&self, local: &str, role: Role) -> DirectAddress {
        let addr = DirectAddress::parse(&format!("{local}@{}", harness::DOMAIN)).expect("address");
        self.env
            .hisp
            .address_add(
                NewAddress {
                    address: addr.clone(),
                    name: Some(format!("Test {local}")),
                    role,
                    password: Some(PASSWORD.into()),
                    single_use: None,
                },
                "test",
            )
            .await
            .expect("address");
        addr
    }

    /// Send a request through the router.
    pub async fn send(&self, req: Request<Body>) -> Resp {
        let resp = app(self.state.clone())
            .oneshot(req)
            .await
            .expect("response");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = to_bytes(resp.into_body(), 64 << 20)
            .await
            .expect("body")
            .to_vec();
        Resp {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }

    /// GET as `c` (or anonymously).
    pub async fn get(&self, c: Option<&Client>, path: &str) -> Resp {
        let mut req = Request::get(path);
        if let Some(c) = c {
            req = req.header(header::COOKIE, &c.cookie);
        }
        self.send(req.body(Body::empty()).expect("request")).await
    }

    /// POST a urlencoded form as `c`; `csrf` is added from the client unless
    /// the form has its own.
    pub async fn post(&self, c: Option<&Client>, path: &str, form: &[(&str, &str)]) -> Resp {
        let mut fields: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        let mut req =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = c {
            req = req.header(header::COOKIE, &c.cookie);
            if !fields.iter().any(|(k, _)| k == "csrf") {
                fields.push(("csrf".into(), c.csrf.clone()));
            }
        }
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.send(req.body(Body::from(body)).expect("request"))
            .await
    }

    /// POST multipart/form-data as `c`: text fields, then files
    /// (field name, file name, bytes). The client's csrf is added.
    pub async fn post_multipart(
        &self,
        c: &Client,
        path: &str,
        fields: &[(&str, &str)],
        files: &[(&str, &str, &[u8])],
    ) -> Resp {
        let boundary = "hisp-test-boundary-7d3f";
        let mut body = Vec::new();
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        if !all.iter().any(|(k, _)| *k == "csrf") {
            all.push(("csrf", &c.csrf));
        }
        for (k, v) in all {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        for (field, name, data) in files {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let req = Request::post(path)
            .header(header::COOKIE, &c.cookie)
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(Body::from(body))
            .expect("request");
        self.send(req).await
    }

    /// Sign in with `PASSWORD` through the pages, enrolling or giving a TOTP
    /// code when asked. Panics unless it ends signed in.
    pub async fn sign_in(&self, username: &str) -> Client {
        self.sign_in_with(username, None).await
    }

    /// Sign in, giving a code from `totp` (a base32 secret) when asked.
    pub async fn sign_in_with(&self, username: &str, secret: Option<&str>) -> Client {
        let page = self.get(None, "/signin").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let pre = set_cookie(&page.headers, "hisp_pre").expect("pre cookie");
        let csrf = page.input("csrf").expect("csrf field");
        let anon = Client {
            cookie: format!("hisp_pre={pre}"),
            csrf: csrf.clone(),
            totp: None,
        };
        let resp = self
            .post(
                Some(&anon),
                "/signin",
                &[("username", username), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(resp.status, StatusCode::SEE_OTHER, "{}", resp.body);
        let token = set_cookie(&resp.headers, "hisp_session").expect("session cookie");
        let mut c = Client {
            cookie: format!("hisp_session={token}"),
            csrf: String::new(),
            totp: secret.map(str::to_string),
        };
        if resp.location() == "/mfa" {
            let mfa = self.get(Some(&c), "/mfa").await;
            if mfa.status == StatusCode::SEE_OTHER && mfa.location() == "/mfa/enroll" {
                let page = self.get(Some(&c), "/mfa/enroll").await;
                c.csrf = page.input("csrf").expect("csrf");
                let secret = page.input("secret").expect("secret");
                let code = self.code(&secret);
                let done = self
                    .post(
                        Some(&c),
                        "/mfa/enroll",
                        &[("secret", &secret), ("code", &code)],
                    )
                    .await;
                assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
                c.totp = Some(secret);
            } else {
                c.csrf = mfa.input("csrf").expect("csrf");
                let secret = c
                    .totp
                    .clone()
                    .expect("this user has a second factor: pass its secret");
                // A code is accepted once: step the clock past the last one.
                self.env.clock.advance(30);
                let code = self.code(&secret);
                let done = self.post(Some(&c), "/mfa", &[("code", &code)]).await;
                assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
            }
        }
        c.csrf = self.csrf(&c).await;
        c
    }

    /// The current TOTP code for a base32 secret.
    pub fn code(&self, secret: &str) -> String {
        let s = Secret::from_base32(secret).expect("secret");
        totp::format_code(totp::code_at(&s, self.env.hisp.now()))
    }

    /// The session's CSRF token, read from a signed-in page.
    pub async fn csrf(&self, c: &Client) -> String {
        let page = self.get(Some(c), "/contacts").await;
        page.input("csrf")
            .unwrap_or_else(|| panic!("no csrf on /contacts ({}): {}", page.status, page.body))
    }
}

/// The value a response's Set-Cookie gives `name`.
pub fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v.to_string())
}

/// Percent-encode a form value.
pub fn enc(s: &str) -> String {
    hisp::web::urlencode(s)
}

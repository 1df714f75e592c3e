//! A tiny static HTTP server for tests: a real socket on 127.0.0.1 port 0,
//! serving byte bodies put in by the test (CRLs, AIA intermediates, bundles),
//! counting the GETs each path gets, with an optional delay before every answer
//! to exercise timeouts. Unknown paths answer 404; dropping it stops it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::oneshot;

/// Files by path (without the leading '/'): body and Content-Type.
type Files = Arc<Mutex<HashMap<String, (Vec<u8>, &'static str)>>>;
/// GETs by path (without the leading '/').
type Hits = Arc<Mutex<HashMap<String, usize>>>;

/// What the handler shares with the test.
#[derive(Clone)]
struct Shared {
    files: Files,
    hits: Hits,
    delay: Arc<Mutex<Duration>>,
}

/// A running static file server; stops when dropped.
pub struct FileServer {
    /// Where it listens: 127.0.0.1 and a port the OS chose.
    pub addr: SocketAddr,
    files: Files,
    hits: Hits,
    delay: Arc<Mutex<Duration>>,
    shutdown: Option<oneshot::Sender<()>>,
}

/// Lock a mutex even if a panicking test poisoned it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A path as stored: without leading slashes, so "/a.crl" and "a.crl" are one file.
fn key(path: &str) -> String {
    path.trim_start_matches('/').to_string()
}

impl FileServer {
    /// Bind 127.0.0.1:0 and serve until dropped.
    pub async fn start() -> FileServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let shared = Shared {
            files: Arc::default(),
            hits: Arc::default(),
            delay: Arc::default(),
        };
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let stopped = async {
                let _ = rx.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await
            {
                eprintln!("test file server failed: {e}");
            }
        });
        FileServer {
            addr,
            files: shared.files,
            hits: shared.hits,
            delay: shared.delay,
            shutdown: Some(tx),
        }
    }

    /// The base URL, `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of `path` ("a.crl" and "/a.crl" alike): `http://127.0.0.1:PORT/path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base(), key(path))
    }

    /// Serve `body` at `path` with `content_type`, replacing what was there.
    pub fn put(&self, path: &str, body: Vec<u8>, content_type: &'static str) {
        lock(&self.files).insert(key(path), (body, content_type));
    }

    /// Stop serving `path`: later GETs answer 404.
    pub fn remove(&self, path: &str) {
        lock(&self.files).remove(&key(path));
    }

    /// How many GETs `path` got so far, whatever they were answered.
    pub fn hits(&self, path: &str) -> usize {
        lock(&self.hits).get(&key(path)).copied().unwrap_or(0)
    }

    /// Make every later answer wait `d` first (zero: answer at once).
    pub fn set_delay(&self, d: Duration) {
        *lock(&self.delay) = d;
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Every request: count GETs, wait the delay, then the file or 404.
async fn answer(State(s): State<Shared>, method: Method, uri: Uri) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let path = key(uri.path());
    if method == Method::GET {
        *lock(&s.hits).entry(path.clone()).or_insert(0) += 1;
    }
    let delay = *lock(&s.delay);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let file = lock(&s.files).get(&path).cloned();
    match file {
        Some((body, ctype)) => ([(header::CONTENT_TYPE, ctype)], body).into_response(),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hisp::direct::trust::{FetchError, Fetcher, HttpFetcher};

    #[tokio::test]
    async fn serves_counts_replaces_and_404s() {
        let server = FileServer::start().await;
        assert_eq!(server.addr.ip().to_string(), "127.0.0.1");
        assert_ne!(server.addr.port(), 0);
        assert_eq!(
            server.url("/a/b.crl"),
            format!("http://127.0.0.1:{}/a/b.crl", server.addr.port())
        );
        assert_eq!(server.url("a/b.crl"), server.url("/a/b.crl"));

        let fetcher = HttpFetcher::default();
        let url = server.url("a/b.crl");
        assert_eq!(
            fetcher.get(&url).await,
            Err(FetchError::NotFound {
                url: url.clone(),
                status: 404
            })
        );
        assert_eq!(server.hits("a/b.crl"), 1);

        server.put("a/b.crl", b"first".to_vec(), "application/pkix-crl");
        assert_eq!(fetcher.get(&url).await.expect("served"), b"first");
        server.put("/a/b.crl", b"second".to_vec(), "application/pkix-crl");
        assert_eq!(fetcher.get(&url).await.expect("replaced"), b"second");
        assert_eq!(server.hits("/a/b.crl"), 3);
        assert_eq!(server.hits("other"), 0);

        server.remove("a/b.crl");
        assert!(matches!(
            fetcher.get(&url).await,
            Err(FetchError::NotFound { status: 404, .. })
        ));
        assert_eq!(server.hits("a/b.crl"), 4);
    }

    #[tokio::test]
    async fn sends_the_content_type() {
        let server = FileServer::start().await;
        server.put("root.cer", vec![0x30, 0x00], "application/pkix-cert");
        let mut tcp = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("connect");
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        tcp.write_all(b"GET /root.cer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("send");
        let mut raw = Vec::new();
        tcp.read_to_end(&mut raw).await.expect("read");
        let text = String::from_utf8_lossy(&raw).to_ascii_lowercase();
        assert!(text.starts_with("http/1.1 200"), "{text}");
        assert!(
            text.contains("content-type: application/pkix-cert"),
            "{text}"
        );
        assert!(raw.ends_with(&[0x30, 0x00]));
    }

    #[tokio::test]
    async fn delay_trips_a_fetch_timeout() {
        let server = FileServer::start().await;
        server.put("slow.crl", b"x".to_vec(), "application/pkix-crl");
        server.set_delay(Duration::from_millis(800));
        let quick = HttpFetcher::with_timeout(Duration::from_millis(100));
        let url = server.url("slow.crl");
        assert_eq!(quick.get(&url).await, Err(FetchError::Timeout(url.clone())));
        server.set_delay(Duration::ZERO);
        assert_eq!(quick.get(&url).await.expect("prompt"), b"x");
        assert_eq!(server.hits("slow.crl"), 2);
    }

    #[tokio::test]
    async fn drop_stops_the_server() {
        let server = FileServer::start().await;
        let addr = server.addr;
        drop(server);
        let mut refused = false;
        for _ in 0..50 {
            if tokio::net::TcpStream::connect(addr).await.is_err() {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(refused, "{addr} still accepts connections after drop");
    }
}

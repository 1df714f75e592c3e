//! Fetching CRLs, AIA intermediates and trust bundles over HTTP(S).
//!
//! The agent does no network I/O of its own: it takes a [`Fetcher`], so tests
//! inject one that serves from a port-0 server, and production uses
//! [`HttpFetcher`], a small HTTP/1.1 GET client (TLS by OpenSSL, system roots)
//! with an overall timeout (10 s, as the Java RI), a size cap and up to three
//! redirects.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use openssl::ssl::{SslConnector, SslMethod};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// A boxed fetch in flight.
pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, FetchError>> + Send + 'a>>;

/// Something that can GET a URL.
pub trait Fetcher: Send + Sync + std::fmt::Debug {
    /// The body at `url`, or why not.
    fn get<'a>(&'a self, url: &'a str) -> FetchFuture<'a>;
}

/// Why a fetch failed. The variants map to trust-bundle status values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The server answered, but not with the document (404 and other non-2xx).
    #[error("{url} answered HTTP {status}")]
    NotFound { url: String, status: u16 },
    /// No complete answer in time.
    #[error("{0} did not answer within the timeout")]
    Timeout(String),
    /// No connection, or a broken one.
    #[error("{url} is unreachable: {why}")]
    Unreachable { url: String, why: String },
    /// Not an http(s) URL we can use.
    #[error("'{0}' is not an http:// or https:// URL")]
    BadUrl(String),
    /// The body exceeds the cap.
    #[error("{0} sent more than the size limit")]
    TooLarge(String),
}

/// The production fetcher.
#[derive(Debug, Clone)]
pub struct HttpFetcher {
    /// Whole-request deadline.
    timeout: Duration,
    /// Largest body accepted.
    max_bytes: usize,
}

impl Default for HttpFetcher {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            max_bytes: 16 * 1024 * 1024,
        }
    }
}

impl HttpFetcher {
    /// A fetcher with a custom deadline.
    pub fn with_timeout(timeout: Duration) -> Self {
        Self {
            timeout,
            ..Self::default()
        }
    }
}

impl Fetcher for HttpFetcher {
    fn get<'a>(&'a self, url: &'a str) -> FetchFuture<'a> {
        Box::pin(async move {
            match tokio::time::timeout(self.timeout, self.follow(url)).await {
                Ok(r) => r,
                Err(_) => Err(FetchError::Timeout(url.to_string())),
            }
        })
    }
}

/// A parsed http(s) URL.
#[derive(Debug, PartialEq, Eq)]
struct Url<'a> {
    tls: bool,
    host: &'a str,
    port: u16,
    path: &'a str,
}

fn parse_url(url: &str) -> Option<Url<'_>> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        return None;
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, p.parse().ok()?),
        _ => (authority, if tls { 443 } else { 80 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty() && !authority.contains('@')).then_some(Url {
        tls,
        host,
        port,
        path,
    })
}

impl HttpFetcher {
    async fn follow(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let mut current = url.to_string();
        for _ in 0..4 {
            match self.once(&current).await? {
                Response::Body(b) => return Ok(b),
                Response::Redirect(to) => current = to,
            }
        }
        Err(FetchError::Unreachable {
            url: url.to_string(),
            why: "too many redirects".into(),
        })
    }

    async fn once(&self, url: &str) -> Result<Response, FetchError> {
        let u = parse_url(url).ok_or_else(|| FetchError::BadUrl(url.to_string()))?;
        let unreachable = |why: String| FetchError::Unreachable {
            url: url.to_string(),
            why,
        };
        let tcp = TcpStream::connect((u.host, u.port))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let raw = if u.tls {
            let connector = SslConnector::builder(SslMethod::tls_client())
                .map_err(|e| unreachable(e.to_string()))?
                .build();
            let ssl = connector
                .configure()
                .and_then(|c| c.into_ssl(u.host))
                .map_err(|e| unreachable(e.to_string()))?;
            let mut stream =
                tokio_openssl::SslStream::new(ssl, tcp).map_err(|e| unreachable(e.to_string()))?;
            Pin::new(&mut stream)
                .connect()
                .await
                .map_err(|e| unreachable(format!("TLS: {e}")))?;
            self.exchange(stream, &u).await
        } else {
            self.exchange(tcp, &u).await
        }
        .map_err(unreachable)?;
        parse_response(url, &raw, self.max_bytes)
    }

    async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut s: S,
        u: &Url<'_>,
    ) -> Result<Vec<u8>, String> {
        let req = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: hisp/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            u.path,
            u.host,
            env!("CARGO_PKG_VERSION")
        );
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let cap = self.max_bytes + 64 * 1024;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Ok(buf);
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > cap {
                return Ok(buf);
            }
        }
    }
}

enum Response {
    Body(Vec<u8>),
    Redirect(String),
}

fn parse_response(url: &str, raw: &[u8], max: usize) -> Result<Response, FetchError> {
    let bad = |why: &str| FetchError::Unreachable {
        url: url.to_string(),
        why: why.to_string(),
    };
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("incomplete HTTP response"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let body = &raw[split + 4..];
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no HTTP status line"))?;
    let header = |name: &str| {
        head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    if matches!(status, 301 | 302 | 303 | 307 | 308)
        && let Some(loc) = header("location")
    {
        return Ok(Response::Redirect(loc));
    }
    if !(200..300).contains(&status) {
        return Err(FetchError::NotFound {
            url: url.to_string(),
            status,
        });
    }
    let body = if header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        dechunk(body).ok_or_else(|| bad("malformed chunked body"))?
    } else if let Some(len) = header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        body.get(..len)
            .ok_or_else(|| bad("body shorter than Content-Length"))?
            .to_vec()
    } else {
        body.to_vec()
    };
    if body.len() > max {
        return Err(FetchError::TooLarge(url.to_string()));
    }
    Ok(Response::Body(body))
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        let start = eol + 2;
        out.extend_from_slice(body.get(start..start.checked_add(size)?)?);
        body = body.get(start + size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = parse_url("http://ca.example.org:8080/pki/ca.crl").expect("url");
        assert_eq!(
            (u.tls, u.host, u.port, u.path),
            (false, "ca.example.org", 8080, "/pki/ca.crl")
        );
        let u = parse_url("https://bundles.example.org").expect("url");
        assert_eq!((u.tls, u.port, u.path), (true, 443, "/"));
        let u = parse_url("http://[::1]:99/x").expect("url");
        assert_eq!((u.host, u.port), ("::1", 99));
        for bad in [
            "ftp://x/y",
            "http://",
            "http://user@host/",
            "http://h:port/",
            "ldap://x",
        ] {
            assert!(parse_url(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn parses_responses() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef";
        assert!(matches!(parse_response("u", ok, 100), Ok(Response::Body(b)) if b == b"abc"));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert!(
            matches!(parse_response("u", chunked, 100), Ok(Response::Body(b)) if b == b"abcde")
        );
        let nf = b"HTTP/1.1 404 Not Found\r\n\r\n";
        assert_eq!(
            parse_response("u", nf, 100).err(),
            Some(FetchError::NotFound {
                url: "u".into(),
                status: 404
            })
        );
        let redirect = b"HTTP/1.1 302 Found\r\nLocation: http://x/y\r\n\r\n";
        assert!(
            matches!(parse_response("u", redirect, 100), Ok(Response::Redirect(l)) if l == "http://x/y")
        );
        let big = b"HTTP/1.1 200 OK\r\n\r\n0123456789";
        assert_eq!(
            parse_response("u", big, 5).err(),
            Some(FetchError::TooLarge("u".into()))
        );
        for garbage in [
            &b""[..],
            b"HTTP/1.1",
            b"\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ] {
            assert!(parse_response("u", garbage, 100).is_err());
        }
    }
}

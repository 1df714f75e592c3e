//! Path validation: from a certificate to an anchor of the right set, at the
//! clock's time, fetching missing intermediates from AIA caIssuers and checking
//! every non-anchor certificate against its CRL.
//!
//! AS 1.2 §4.2: "A certificate is trusted when a path leads from it to an anchor"
//! — and an anchor need not be self-signed, so OpenSSL runs with PARTIAL_CHAIN.
//! Every failure names the certificate (subject and serial), the check, and the
//! anchor set, because the reference implementations' vague trust errors are
//! what their users complained of most (nhin-d #202, #149).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use openssl::hash::MessageDigest;
use openssl::pkcs7::Pkcs7;
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::{X509VerifyFlags, X509VerifyParam};
use openssl::x509::{CrlStatus, X509, X509Crl, X509Ref, X509StoreContext};

use super::fetch::Fetcher;
use crate::clock::{SharedClock, rfc3339};
use crate::config::CrlPolicy;
use crate::direct::policy::AlgorithmPolicy;

/// How many AIA fetches one validation may make.
const MAX_AIA_FETCHES: usize = 4;
/// The longest a fetched CRL is reused before it is fetched again, even when its
/// nextUpdate is later: a CA (ours included) re-signs its CRL on each revocation,
/// so a week-long nextUpdate must not hide a revocation for a week.
const CRL_DEFAULT_TTL: i64 = 3600;
/// The longest a trust verdict is reused, in seconds of the injected clock.
const VERDICT_TTL: i64 = 300;
/// How many verdicts are kept; the cache is cleared when it is full.
const MAX_VERDICTS: usize = 10_000;

/// Why a certificate is not trusted: which certificate, which check, what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustFailure {
    /// The certificate's subject.
    pub subject: String,
    /// Its serial, hex.
    pub serial: String,
    /// The failed check: `path`, `expired`, `not yet valid`, `revoked`, `revocation unknown`, `algorithm`, `key usage`, `binding`, `anchors`.
    pub check: &'static str,
    /// What was found.
    pub detail: String,
}

impl fmt::Display for TrustFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "certificate '{}' (serial {}) failed the {} check: {}",
            self.subject, self.serial, self.check, self.detail
        )
    }
}

impl TrustFailure {
    /// A failure about `cert`.
    pub fn of(cert: &X509Ref, check: &'static str, detail: impl Into<String>) -> Self {
        Self {
            subject: subject_line(cert),
            serial: crate::pki::serial_hex(cert),
            check,
            detail: detail.into(),
        }
    }
}

/// The one-line subject of a certificate.
pub fn subject_line(cert: &X509Ref) -> String {
    crate::pki::info(cert).map_or_else(|_| "?".into(), |i| i.subject)
}

/// A cached CRL: parsed, its signature checked against the issuer whose
/// SHA-256 fingerprint is `verified_by`, so a hit neither re-parses nor
/// re-verifies it (the nextUpdate check still runs on every use).
#[derive(Clone)]
struct CachedCrl {
    crl: Arc<X509Crl>,
    verified_by: Vec<u8>,
    next: Option<i64>,
    until: i64,
}

impl fmt::Debug for CachedCrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedCrl")
            .field("next", &self.next)
            .field("until", &self.until)
            .finish_non_exhaustive()
    }
}

/// A cached successful validation: the chain, reusable while the clock is in
/// `from..until` (`until` is the earliest of every chain certificate's
/// notAfter, every used CRL's nextUpdate and `from` + [`VERDICT_TTL`]).
///
/// Failures are not cached at all: a failure is rare on the hot path, may be
/// cured by an AIA or CRL server coming back, and must name the state of now.
/// A success that soft-fail accepted without a CRL is not cached either.
#[derive(Debug, Clone)]
struct CachedVerdict {
    chain: Vec<X509>,
    from: i64,
    until: i64,
    /// The leaf, the extra certificates and the anchors it was made for, in
    /// order: a hit must equal them exactly (`X509_cmp`: fingerprint, then the
    /// whole encoded TBSCertificate), so the key's fingerprints only find it.
    certs: Vec<X509>,
}

/// Validates paths; holds the CRL and AIA caches.
#[derive(Debug)]
pub struct Validator {
    /// Where CRLs and intermediates come from.
    fetcher: Arc<dyn Fetcher>,
    /// The time certificates and CRLs are judged at.
    clock: SharedClock,
    /// What to do when no CRL can be had.
    crl_policy: CrlPolicy,
    /// Key sizes and signature algorithms accepted.
    policy: AlgorithmPolicy,
    /// CRLs by URL, until their nextUpdate.
    crls: Mutex<HashMap<String, CachedCrl>>,
    /// Intermediates by AIA URL.
    aia: Mutex<HashMap<String, Vec<X509>>>,
    /// Successful validations, found by the fingerprints of the leaf, of each
    /// extra certificate and of each anchor, and the anchor set's name, and
    /// confirmed by comparing the certificates themselves.
    verdicts: Mutex<HashMap<Vec<u8>, CachedVerdict>>,
}

/// What one OpenSSL verification found.
struct Attempt {
    ok: bool,
    error: i32,
    error_text: String,
    failing: Option<X509>,
    chain: Vec<X509>,
}

impl Validator {
    /// A validator.
    pub fn new(
        fetcher: Arc<dyn Fetcher>,
        clock: SharedClock,
        crl_policy: CrlPolicy,
        policy: AlgorithmPolicy,
    ) -> Self {
        Self {
            fetcher,
            clock,
            crl_policy,
            policy,
            crls: Mutex::new(HashMap::new()),
            aia: Mutex::new(HashMap::new()),
            verdicts: Mutex::new(HashMap::new()),
        }
    }

    /// The algorithm policy in force.
    pub fn policy(&self) -> &AlgorithmPolicy {
        &self.policy
    }

    /// Validate `leaf` against `anchors` (named `set` in errors), using `extra`
    /// certificates (from the message) and AIA. Returns the chain, leaf first.
    pub async fn validate(
        &self,
        leaf: &X509,
        extra: &[X509],
        anchors: &[X509],
        set: &str,
    ) -> Result<Vec<X509>, TrustFailure> {
        if anchors.is_empty() {
            return Err(TrustFailure::of(
                leaf,
                "anchors",
                format!("{set} has no trust anchors"),
            ));
        }
        let now = self.clock.now();
        let key = verdict_key(leaf, extra, anchors, set);
        if let Some(key) = &key
            && let Some(hit) = self
                .verdicts
                .lock()
                .ok()
                .and_then(|m| m.get(key).cloned())
                .filter(|v| v.from <= now && now < v.until)
                .filter(|v| same_certs(&v.certs, leaf, extra, anchors))
        {
            return Ok(hit.chain);
        }
        let mut untrusted: Vec<X509> = extra.to_vec();
        let mut fetched = 0;
        let chain = loop {
            let attempt = self.verify_once(leaf, &untrusted, anchors).map_err(|e| {
                TrustFailure::of(
                    leaf,
                    "path",
                    format!("OpenSSL could not run the check: {e}"),
                )
            })?;
            if attempt.ok {
                break attempt.chain;
            }
            let missing_issuer = matches!(attempt.error, 2 | 20 | 21);
            let failing = attempt.failing.clone().unwrap_or_else(|| leaf.clone());
            if missing_issuer && fetched < MAX_AIA_FETCHES {
                fetched += 1;
                match self.aia_issuers(&failing).await {
                    Ok(found) if found.iter().any(|c| !contains(&untrusted, c)) => {
                        untrusted.extend(found);
                        continue;
                    }
                    Ok(_) => {}
                    Err(why) => {
                        return Err(TrustFailure::of(
                            &failing,
                            "path",
                            format!(
                                "its issuer is not in {set} or the message, and AIA failed: {why}"
                            ),
                        ));
                    }
                }
            }
            return Err(self.explain(&failing, &attempt, set));
        };
        let last = chain.len().saturating_sub(1);
        for (i, cert) in chain.iter().enumerate() {
            self.policy
                .check_certificate(cert, i == last && contains(anchors, cert))
                .map_err(|why| TrustFailure::of(cert, "algorithm", why))?;
        }
        let revocation = self.check_revocation(&chain).await?;
        if let (Some(key), Some(crl_until)) = (key, revocation) {
            let not_after = chain
                .iter()
                .map(|c| crate::pki::unix(c.not_after()).ok())
                .try_fold(i64::MAX, |m, t| t.map(|t| m.min(t)));
            if let Some(not_after) = not_after
                && let Ok(mut m) = self.verdicts.lock()
            {
                if m.len() >= MAX_VERDICTS {
                    m.clear();
                }
                m.insert(
                    key,
                    CachedVerdict {
                        chain: chain.clone(),
                        from: now,
                        until: not_after
                            .min(crl_until)
                            .min(now.saturating_add(VERDICT_TTL)),
                        certs: std::iter::once(leaf)
                            .chain(extra)
                            .chain(anchors)
                            .cloned()
                            .collect(),
                    },
                );
            }
        }
        Ok(chain)
    }

    fn explain(&self, cert: &X509, a: &Attempt, set: &str) -> TrustFailure {
        let info = crate::pki::info(cert).ok();
        let (check, detail) = match a.error {
            10 => (
                "expired",
                format!(
                    "it expired {}",
                    info.map_or("?".into(), |i| rfc3339(i.not_after))
                ),
            ),
            9 => (
                "not yet valid",
                format!(
                    "it is valid only from {}",
                    info.map_or("?".into(), |i| rfc3339(i.not_before))
                ),
            ),
            2 | 20 | 21 => (
                "path",
                format!(
                    "no path to an anchor of {set}: its issuer is unknown and AIA gave nothing new"
                ),
            ),
            18 | 19 => (
                "path",
                format!("it is self-signed and not an anchor of {set}"),
            ),
            7 | 8 => (
                "path",
                "its signature does not verify against its issuer".into(),
            ),
            _ => (
                "path",
                format!(
                    "{} (OpenSSL error {}), checking against {set}",
                    a.error_text, a.error
                ),
            ),
        };
        TrustFailure::of(cert, check, detail)
    }

    fn verify_once(
        &self,
        leaf: &X509,
        untrusted: &[X509],
        anchors: &[X509],
    ) -> Result<Attempt, openssl::error::ErrorStack> {
        let mut store = X509StoreBuilder::new()?;
        for a in anchors {
            store.add_cert(a.clone())?;
        }
        let mut param = X509VerifyParam::new()?;
        param.set_flags(X509VerifyFlags::PARTIAL_CHAIN)?;
        param.set_time(self.clock.now());
        store.set_param(&param)?;
        let store = store.build();
        let mut stack = Stack::new()?;
        for c in untrusted {
            stack.push(c.clone())?;
        }
        let mut ctx = X509StoreContext::new()?;
        ctx.init(&store, leaf, &stack, |c| {
            let ok = c.verify_cert()?;
            Ok(Attempt {
                ok,
                error: c.error().as_raw(),
                error_text: c.error().error_string().to_string(),
                failing: c.current_cert().map(ToOwned::to_owned),
                chain: c
                    .chain()
                    .map(|s| s.iter().map(ToOwned::to_owned).collect())
                    .unwrap_or_default(),
            })
        })
    }

    /// Intermediates named by `cert`'s AIA caIssuers URIs (DER, PEM or p7c).
    async fn aia_issuers(&self, cert: &X509Ref) -> Result<Vec<X509>, String> {
        let urls = aia_urls(cert);
        if urls.is_empty() {
            return Err("the certificate has no AIA caIssuers URI".into());
        }
        let mut errors = Vec::new();
        for url in urls {
            if let Some(hit) = self.aia.lock().ok().and_then(|m| m.get(&url).cloned()) {
                return Ok(hit);
            }
            match self.fetcher.get(&url).await {
                Ok(body) => match parse_certs(&body) {
                    Some(certs) if !certs.is_empty() => {
                        if let Ok(mut m) = self.aia.lock() {
                            m.insert(url.clone(), certs.clone());
                        }
                        return Ok(certs);
                    }
                    _ => errors.push(format!("{url} holds no certificate (DER, PEM or p7c)")),
                },
                Err(e) => errors.push(e.to_string()),
            }
        }
        Err(errors.join("; "))
    }

    /// Check each certificate below the anchor against its issuer's CRL.
    /// On success, the earliest nextUpdate of the CRLs used (`i64::MAX` when
    /// none had one), or `None` when soft-fail accepted a certificate whose
    /// revocation could not be checked (such a verdict must not be cached).
    async fn check_revocation(&self, chain: &[X509]) -> Result<Option<i64>, TrustFailure> {
        let mut until = Some(i64::MAX);
        for pair in chain.windows(2) {
            let (cert, issuer) = (&pair[0], &pair[1]);
            let urls = crl_urls(cert);
            if urls.is_empty() {
                tracing::debug!(serial = %crate::pki::serial_hex(cert), "no CRL distribution point");
                continue;
            }
            let mut errors = Vec::new();
            let mut checked = false;
            for url in &urls {
                match self.crl_for(url, issuer).await {
                    Ok((crl, next)) => {
                        if let CrlStatus::Revoked(entry) = crl.get_by_serial(cert.serial_number()) {
                            let when = crate::pki::unix(entry.revocation_date())
                                .map_or("?".into(), rfc3339);
                            return Err(TrustFailure::of(
                                cert,
                                "revoked",
                                format!("revoked {when} per the CRL at {url}"),
                            ));
                        }
                        if let (Some(u), Some(n)) = (until, next) {
                            until = Some(u.min(n));
                        }
                        checked = true;
                        break;
                    }
                    Err(why) => errors.push(why),
                }
            }
            if !checked {
                let why = errors.join("; ");
                match self.crl_policy {
                    CrlPolicy::HardFail => {
                        return Err(TrustFailure::of(
                            cert,
                            "revocation unknown",
                            format!("no CRL could be used (hard-fail): {why}"),
                        ));
                    }
                    CrlPolicy::SoftFail => {
                        tracing::warn!(serial = %crate::pki::serial_hex(cert), %why, "CRL unavailable; soft-fail accepts the certificate");
                        until = None;
                    }
                }
            }
        }
        Ok(until)
    }

    /// A CRL for `url`, from cache or fetched, verified against `issuer` and
    /// current; with its nextUpdate.
    async fn crl_for(
        &self,
        url: &str,
        issuer: &X509Ref,
    ) -> Result<(Arc<X509Crl>, Option<i64>), String> {
        let now = self.clock.now();
        let issuer_fp = issuer
            .digest(MessageDigest::sha256())
            .map(|d| d.to_vec())
            .map_err(|e| e.to_string())?;
        let cached = self
            .crls
            .lock()
            .ok()
            .and_then(|m| m.get(url).cloned())
            .filter(|c| c.until > now);
        let (crl, verified, next) = match cached {
            Some(c) => {
                let verified = c.verified_by == issuer_fp;
                (c.crl, verified, c.next)
            }
            None => {
                let der = self.fetcher.get(url).await.map_err(|e| e.to_string())?;
                let crl = X509Crl::from_der(&der)
                    .or_else(|_| X509Crl::from_pem(&der))
                    .map_err(|_| format!("{url} is not a CRL"))?;
                let next = crl.next_update().and_then(|t| crate::pki::unix(t).ok());
                (Arc::new(crl), false, next)
            }
        };
        if !verified {
            let key = issuer.public_key().map_err(|e| e.to_string())?;
            if !crl.verify(&key).unwrap_or(false) {
                return Err(format!(
                    "the CRL at {url} is not signed by '{}'",
                    subject_line(issuer)
                ));
            }
        }
        if next.is_some_and(|n| n < now) {
            return Err(format!("the CRL at {url} is stale (nextUpdate passed)"));
        }
        if let Ok(mut m) = self.crls.lock() {
            m.insert(
                url.to_string(),
                CachedCrl {
                    crl: Arc::clone(&crl),
                    verified_by: issuer_fp,
                    next,
                    until: next.map_or(now + CRL_DEFAULT_TTL, |n| n.min(now + CRL_DEFAULT_TTL)),
                },
            );
        }
        Ok((crl, next))
    }
}

/// The verdict cache key: SHA-256 of the leaf, of each extra certificate and of
/// each anchor (in order, each list length-prefixed), then the set's name.
/// `None` if OpenSSL cannot digest a certificate (then nothing is cached).
fn verdict_key(leaf: &X509Ref, extra: &[X509], anchors: &[X509], set: &str) -> Option<Vec<u8>> {
    let mut key = Vec::with_capacity(20 * (1 + extra.len() + anchors.len()) + 16 + set.len());
    // OpenSSL keeps each parsed certificate's SHA-1 fingerprint, so these cost
    // no encoding (a DER re-encoding costs about 9 µs per certificate in 3.0).
    // They only find the entry: `same_certs` decides.
    let fingerprint = |c: &X509Ref| c.digest(MessageDigest::sha1()).ok();
    key.extend_from_slice(&fingerprint(leaf)?);
    for list in [extra, anchors] {
        key.extend_from_slice(&(list.len() as u64).to_be_bytes());
        for c in list {
            key.extend_from_slice(&fingerprint(c)?);
        }
    }
    key.extend_from_slice(set.as_bytes());
    Some(key)
}

/// Whether a cached verdict was made for exactly these certificates.
fn same_certs(cached: &[X509], leaf: &X509, extra: &[X509], anchors: &[X509]) -> bool {
    let asked = std::iter::once(leaf).chain(extra).chain(anchors);
    cached.len() == 1 + extra.len() + anchors.len() && cached.iter().zip(asked).all(|(a, b)| a == b)
}

fn contains(list: &[X509], c: &X509) -> bool {
    let fp = crate::pki::fingerprint(c);
    list.iter().any(|x| crate::pki::fingerprint(x) == fp)
}

/// The http(s) CRL distribution point URIs of a certificate.
pub fn crl_urls(cert: &X509Ref) -> Vec<String> {
    cert.crl_distribution_points()
        .map(|points| {
            points
                .iter()
                .filter_map(|p| p.distpoint().and_then(|d| d.fullname()))
                .flat_map(|names| {
                    names
                        .iter()
                        .filter_map(|n| n.uri().map(str::to_string))
                        .collect::<Vec<_>>()
                })
                .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
                .collect()
        })
        .unwrap_or_default()
}

/// The http(s) AIA caIssuers URIs of a certificate.
pub fn aia_urls(cert: &X509Ref) -> Vec<String> {
    cert.authority_info()
        .map(|ads| {
            ads.iter()
                .filter(|ad| ad.method().nid() == openssl::nid::Nid::AD_CA_ISSUERS)
                .filter_map(|ad| ad.location().uri().map(str::to_string))
                .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
                .collect()
        })
        .unwrap_or_default()
}

/// Certificates in a DER certificate, PEM certificate(s), or a p7c (DER or PEM).
pub fn parse_certs(body: &[u8]) -> Option<Vec<X509>> {
    if let Ok(c) = X509::from_der(body) {
        return Some(vec![c]);
    }
    if let Ok(certs) = X509::stack_from_pem(body)
        && !certs.is_empty()
    {
        return Some(certs);
    }
    let p7 = Pkcs7::from_der(body)
        .or_else(|_| Pkcs7::from_pem(body))
        .ok()?;
    let signed = p7.signed()?;
    Some(
        signed
            .certificates()?
            .iter()
            .map(ToOwned::to_owned)
            .collect(),
    )
}

#[cfg(test)]
mod cache_tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::direct::DirectAddress;
    use crate::direct::trust::fetch::{FetchError, FetchFuture};
    use crate::pki::{self, CaKeys, Profile, Revoked, Subject, Usage};

    const NOW: i64 = 1_795_000_000;

    /// Serves one CRL body for every URL (none: HTTP 404), counting fetches.
    #[derive(Debug, Default)]
    struct SwapFetcher {
        crl: Mutex<Option<Vec<u8>>>,
        fetches: std::sync::atomic::AtomicUsize,
    }

    impl Fetcher for SwapFetcher {
        fn get<'a>(&'a self, url: &'a str) -> FetchFuture<'a> {
            self.fetches
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let body = self.crl.lock().ok().and_then(|c| c.clone());
            Box::pin(async move {
                body.ok_or_else(|| FetchError::NotFound {
                    url: url.to_string(),
                    status: 404,
                })
            })
        }
    }

    #[test]
    fn a_cached_verdict_is_for_exactly_its_certificates() {
        let ca = CaKeys::generate("Same CA", NOW, 3650).expect("root");
        let profile = Profile::new("http://hisp.a.example.org");
        let subject = Subject::Domain(crate::direct::Domain::parse("a.example.org").expect("d"));
        let one = pki::issue(&ca, &subject, Usage::Dual, &profile, NOW).expect("leaf");
        let two = pki::issue(&ca, &subject, Usage::Dual, &profile, NOW).expect("leaf");
        let reparsed = X509::from_der(&one.cert.to_der().expect("der")).expect("parse");
        let anchors = [ca.cert.clone()];
        let cached = vec![one.cert.clone(), ca.cert.clone()];
        assert!(same_certs(&cached, &one.cert, &[], &anchors));
        assert!(same_certs(&cached, &reparsed, &[], &anchors));
        assert!(!same_certs(&cached, &two.cert, &[], &anchors));
        assert!(!same_certs(
            &cached,
            &one.cert,
            std::slice::from_ref(&ca.cert),
            &anchors
        ));
        assert!(!same_certs(
            &cached,
            &one.cert,
            &[],
            std::slice::from_ref(&two.cert)
        ));
        assert_ne!(
            verdict_key(&one.cert, &[], &anchors, "s"),
            verdict_key(&two.cert, &[], &anchors, "s")
        );
        assert_eq!(
            verdict_key(&one.cert, &[], &anchors, "s"),
            verdict_key(&reparsed, &[], &anchors, "s")
        );
    }

    #[tokio::test]
    async fn verdicts_expire_with_the_crl_and_failures_are_not_cached() {
        let ca = CaKeys::generate("Cache CA", NOW, 3650).expect("root");
        let profile = Profile::new("http://hisp.a.example.org");
        let address = DirectAddress::parse("jo@a.example.org").expect("address");
        let subject = Subject::Address {
            address,
            name: None,
        };
        let leaf = pki::issue(&ca, &subject, Usage::Dual, &profile, NOW).expect("leaf");
        let fetcher = Arc::new(SwapFetcher::default());
        let clock = FixedClock::new(NOW);
        let v = Validator::new(
            fetcher.clone(),
            clock.clone(),
            CrlPolicy::HardFail,
            AlgorithmPolicy::default(),
        );
        let anchors = vec![ca.cert.clone()];
        let count = || fetcher.fetches.load(std::sync::atomic::Ordering::SeqCst);

        // No CRL: "revocation unknown", not cached.
        let e = v.validate(&leaf.cert, &[], &anchors, "set").await;
        assert_eq!(e.expect_err("no CRL").check, "revocation unknown");
        let clean = pki::crl(&ca, &[], 1, NOW - 60, NOW + 100).expect("crl");
        *fetcher.crl.lock().expect("lock") = Some(clean);
        let chain = v.validate(&leaf.cert, &[], &anchors, "set").await;
        assert_eq!(chain.expect("trusted").len(), 2);
        let fetched = count();

        // Revoked now, but the verdict and the CRL stand until the CRL's nextUpdate.
        let revoked = Revoked {
            serial_hex: pki::serial_hex(&leaf.cert),
            revoked_at: NOW,
        };
        let crl = pki::crl(&ca, &[revoked], 2, NOW, NOW + 86_400).expect("crl");
        *fetcher.crl.lock().expect("lock") = Some(crl);
        clock.set(NOW + 99);
        assert!(v.validate(&leaf.cert, &[], &anchors, "set").await.is_ok());
        assert_eq!(count(), fetched, "served from the verdict cache");
        // Another anchor set name is another key (it appears in error texts).
        assert!(v.validate(&leaf.cert, &[], &anchors, "other").await.is_ok());
        clock.set(NOW + 100);
        let e = v.validate(&leaf.cert, &[], &anchors, "set").await;
        assert_eq!(e.expect_err("revoked").check, "revoked");
        assert_eq!(count(), fetched + 1);
        // A clock set back before the verdict does not reuse it.
        clock.set(NOW - 10);
        let e = v.validate(&leaf.cert, &[], &anchors, "set").await;
        assert_eq!(e.expect_err("revoked").check, "revoked");
    }
}

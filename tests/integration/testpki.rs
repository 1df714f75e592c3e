//! A test PKI made by code, with the certificate cases ONC's Edge Testing Tool
//! (ETT) and DCDT exercise: a root, an intermediate under it, an unrelated root,
//! and leaves that are good, mis-bound, expired, not yet valid, revoked, under
//! another anchor, with a dead AIA, weak keys, weak digests, single-use and
//! organization-bound; and TLS server certificates naming what a test asks.
//!
//! AIA and CRL distribution point URLs embed the test [`FileServer`]'s port, so
//! the PKI is built after the server starts, from its base URL, and
//! [`TestPki::publish`] then puts these files at the server's root:
//!
//! | path | content |
//! |---|---|
//! | `root.cer`, `intermediate.cer`, `other_root.cer` | the CA certificates, DER |
//! | `root.crl`, `intermediate.crl`, `other_root.crl` | their CRLs, DER |
//!
//! Every certificate is RSA-2048 (generation speed) and SHA-256 unless the leaf
//! kind says otherwise, with a random positive 128-bit serial.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use hisp::pki::{CaKeys, Revoked, der};
use openssl::asn1::{Asn1Object, Asn1OctetString, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509Extension, X509NameBuilder, X509Ref};

use crate::fileserver::FileServer;

/// One day in seconds.
pub const DAY: i64 = 86_400;

/// id-ad-caIssuers (RFC 5280 §4.2.2.1).
const CA_ISSUERS: &str = "1.3.6.1.5.5.7.48.2";

/// A certificate authority: its certificate and key.
pub struct Ca {
    /// The CA certificate.
    pub cert: X509,
    /// Its private key.
    pub key: PKey<Private>,
}

impl Ca {
    /// As the crate's [`CaKeys`], for `hisp::pki::issue` and `hisp::pki::crl`.
    pub fn keys(&self) -> CaKeys {
        CaKeys {
            cert: self.cert.clone(),
            key: self.key.clone(),
        }
    }
}

/// The leaf cases, after ETT and DCDT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leaf {
    /// Valid, bound to the address, dual-use, under the intermediate.
    Good,
    /// SAN rfc822Name is `someone-else@<domain>` (ETT "INVALID").
    WrongSan,
    /// Valid now−400 d .. now−30 d.
    Expired,
    /// Valid now+30 d .. now+400 d.
    NotYetValid,
    /// Listed on intermediate.crl.
    Revoked,
    /// Issued directly by `other_root` (DIFFERENT_TRUST_ANCHOR).
    DifferentAnchor,
    /// Under the intermediate, but AIA caIssuers points at `missing.cer` (404).
    BadAia,
    /// A 1024-bit RSA key.
    Rsa1024,
    /// Signed with sha1WithRSAEncryption.
    Sha1Signed,
    /// Signed with md5WithRSAEncryption.
    Md5Signed,
    /// keyUsage digitalSignature only.
    SigningOnly,
    /// keyUsage keyEncipherment only.
    EnciphermentOnly,
    /// SAN dNSName = the address's domain.
    OrgBound,
}

impl Leaf {
    /// Every kind, for tests that loop.
    pub const ALL: [Leaf; 13] = [
        Leaf::Good,
        Leaf::WrongSan,
        Leaf::Expired,
        Leaf::NotYetValid,
        Leaf::Revoked,
        Leaf::DifferentAnchor,
        Leaf::BadAia,
        Leaf::Rsa1024,
        Leaf::Sha1Signed,
        Leaf::Md5Signed,
        Leaf::SigningOnly,
        Leaf::EnciphermentOnly,
        Leaf::OrgBound,
    ];
}

/// A leaf certificate, its key, and the intermediates a message would carry.
pub struct Issued {
    /// The leaf.
    pub cert: X509,
    /// Its private key.
    pub key: PKey<Private>,
    /// Intermediates to put in a message: `[intermediate]` for leaves under it,
    /// empty for `DifferentAnchor` and `BadAia`.
    pub chain: Vec<X509>,
}

/// The test PKI.
pub struct TestPki {
    /// RSA-2048 self-signed root: the anchor of "our" trust.
    pub root: Ca,
    /// Issued by `root`; AIA caIssuers → `base/root.cer`, CRL DP → `base/root.crl`.
    pub intermediate: Ca,
    /// An unrelated self-signed root (DIFFERENT_TRUST_ANCHOR).
    pub other_root: Ca,
    /// The file server's base URL, without a trailing slash.
    pub base: String,
    /// The time everything is issued relative to.
    pub now: i64,
    /// Every `Leaf::Revoked` issued so far, for intermediate.crl.
    revoked: Mutex<Vec<X509>>,
    /// The next cRLNumber.
    crl_number: AtomicU64,
}

/// Who signs a certificate being built.
enum Signer<'a> {
    /// Itself (a root).
    SelfSigned,
    /// A CA.
    By(&'a Ca),
}

/// What one certificate holds. `None` leaves an extension out.
struct Spec<'a> {
    cn: String,
    signer: Signer<'a>,
    key: &'a PKey<Private>,
    not_before: i64,
    not_after: i64,
    is_ca: bool,
    sign: bool,
    encipher: bool,
    email: Option<String>,
    dns: Vec<String>,
    ips: Vec<String>,
    server_auth: bool,
    aia: Option<String>,
    crl_dp: Option<String>,
    digest: MessageDigest,
}

impl TestPki {
    /// A fresh PKI publishing under `base` (e.g. `http://127.0.0.1:PORT`),
    /// issued relative to `now`. The CAs are valid now−800 d .. now+3650 d.
    pub fn new(base: &str, now: i64) -> TestPki {
        let base = base.trim_end_matches('/').to_string();
        let root_key = rsa(2048);
        let root = Ca {
            cert: build(&ca_spec(
                now,
                "hisp Test Root CA",
                &root_key,
                Signer::SelfSigned,
                None,
                None,
            )),
            key: root_key,
        };
        let int_key = rsa(2048);
        let intermediate = Ca {
            cert: build(&ca_spec(
                now,
                "hisp Test Intermediate CA",
                &int_key,
                Signer::By(&root),
                Some(format!("{base}/root.cer")),
                Some(format!("{base}/root.crl")),
            )),
            key: int_key,
        };
        let other_key = rsa(2048);
        let other_root = Ca {
            cert: build(&ca_spec(
                now,
                "hisp Test Other Anchor",
                &other_key,
                Signer::SelfSigned,
                None,
                None,
            )),
            key: other_key,
        };
        TestPki {
            root,
            intermediate,
            other_root,
            base,
            now,
            revoked: Mutex::new(Vec::new()),
            crl_number: AtomicU64::new(1),
        }
    }

    /// `base/path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base, path.trim_start_matches('/'))
    }

    /// A leaf of `kind` for `address` (or its domain, for `OrgBound`): CN and SAN
    /// rfc822Name = the address, keyUsage digitalSignature + keyEncipherment
    /// (critical), EKU emailProtection, AIA caIssuers `base/intermediate.cer`,
    /// CRL DP `base/intermediate.crl`, valid now−1 d .. now+365 d, SHA-256,
    /// RSA-2048, issued by the intermediate, except where `kind` says otherwise.
    pub fn leaf(&self, kind: Leaf, address: &str) -> Issued {
        let domain = address
            .rsplit_once('@')
            .map_or(address, |(_, d)| d)
            .to_string();
        let key = rsa(if kind == Leaf::Rsa1024 { 1024 } else { 2048 });
        let (not_before, not_after) = match kind {
            Leaf::Expired => (self.now - 400 * DAY, self.now - 30 * DAY),
            Leaf::NotYetValid => (self.now + 30 * DAY, self.now + 400 * DAY),
            _ => (self.now - DAY, self.now + 365 * DAY),
        };
        let (signer, aia, crl_dp) = match kind {
            Leaf::DifferentAnchor => (&self.other_root, "other_root.cer", "other_root.crl"),
            Leaf::BadAia => (&self.intermediate, "missing.cer", "intermediate.crl"),
            _ => (&self.intermediate, "intermediate.cer", "intermediate.crl"),
        };
        let (email, dns, cn) = match kind {
            Leaf::WrongSan => (
                Some(format!("someone-else@{domain}")),
                Vec::new(),
                address.to_string(),
            ),
            Leaf::OrgBound => (None, vec![domain.clone()], domain.clone()),
            _ => (Some(address.to_string()), Vec::new(), address.to_string()),
        };
        let digest = match kind {
            Leaf::Sha1Signed => MessageDigest::sha1(),
            Leaf::Md5Signed => MessageDigest::md5(),
            _ => MessageDigest::sha256(),
        };
        let cert = build(&Spec {
            cn,
            signer: Signer::By(signer),
            key: &key,
            not_before,
            not_after,
            is_ca: false,
            sign: kind != Leaf::EnciphermentOnly,
            encipher: kind != Leaf::SigningOnly,
            email,
            dns,
            ips: Vec::new(),
            server_auth: false,
            aia: Some(self.url(aia)),
            crl_dp: Some(self.url(crl_dp)),
            digest,
        });
        if kind == Leaf::Revoked {
            lock(&self.revoked).push(cert.clone());
        }
        let chain = match kind {
            Leaf::DifferentAnchor | Leaf::BadAia => Vec::new(),
            _ => vec![self.intermediate.cert.clone()],
        };
        Issued { cert, key, chain }
    }

    /// A TLS server certificate issued directly by `ca` (so `chain` is
    /// empty): SAN iPAddress for each of `names` that is an IP literal and
    /// dNSName for the others, CN the first name, EKU serverAuth, keyUsage
    /// digitalSignature + keyEncipherment, valid now−1 d .. now+365 d,
    /// SHA-256, RSA-2048, no AIA or CRL DP.
    pub fn tls_server(&self, ca: &Ca, names: &[&str]) -> Issued {
        let key = rsa(2048);
        let (ips, dns): (Vec<&str>, Vec<&str>) = names
            .iter()
            .partition(|n| n.parse::<std::net::IpAddr>().is_ok());
        let cert = build(&Spec {
            cn: names.first().expect("a name").to_string(),
            signer: Signer::By(ca),
            key: &key,
            not_before: self.now - DAY,
            not_after: self.now + 365 * DAY,
            is_ca: false,
            sign: true,
            encipher: true,
            email: None,
            dns: dns.into_iter().map(str::to_string).collect(),
            ips: ips.into_iter().map(str::to_string).collect(),
            server_auth: true,
            aia: None,
            crl_dp: None,
            digest: MessageDigest::sha256(),
        });
        Issued {
            cert,
            key,
            chain: Vec::new(),
        }
    }

    /// A DER CRL signed by the intermediate listing `revoked` (revoked now−2 h),
    /// thisUpdate now−1 h, nextUpdate now+7 d, a fresh cRLNumber.
    pub fn intermediate_crl(&self, revoked: &[&X509]) -> Vec<u8> {
        self.crl_of(&self.intermediate, revoked)
    }

    /// An empty DER CRL signed by the root, as `intermediate_crl`.
    pub fn root_crl(&self) -> Vec<u8> {
        self.crl_of(&self.root, &[])
    }

    /// An empty DER CRL signed by `other_root`, as `intermediate_crl`.
    pub fn other_root_crl(&self) -> Vec<u8> {
        self.crl_of(&self.other_root, &[])
    }

    fn crl_of(&self, ca: &Ca, revoked: &[&X509]) -> Vec<u8> {
        let entries: Vec<Revoked> = revoked
            .iter()
            .map(|c| Revoked {
                serial_hex: hisp::pki::serial_hex(c),
                revoked_at: self.now - 7200,
            })
            .collect();
        let number = self.crl_number.fetch_add(1, Ordering::SeqCst);
        hisp::pki::crl(
            &ca.keys(),
            &entries,
            number,
            self.now - 3600,
            self.now + 7 * DAY,
        )
        .expect("sign the CRL")
    }

    /// Every `Leaf::Revoked` issued so far.
    pub fn revoked(&self) -> Vec<X509> {
        lock(&self.revoked).clone()
    }

    /// Put `root.cer`, `intermediate.cer`, `other_root.cer` (DER) and `root.crl`,
    /// `intermediate.crl` (every `Leaf::Revoked` issued so far), `other_root.crl`
    /// into `server`, replacing earlier versions. Call again after issuing more
    /// revoked leaves.
    pub fn publish(&self, server: &FileServer) {
        const CER: &str = "application/pkix-cert";
        const CRL: &str = "application/pkix-crl";
        for (name, ca) in [
            ("root.cer", &self.root),
            ("intermediate.cer", &self.intermediate),
            ("other_root.cer", &self.other_root),
        ] {
            server.put(name, ca.cert.to_der().expect("DER"), CER);
        }
        let revoked = self.revoked();
        let refs: Vec<&X509> = revoked.iter().collect();
        server.put("intermediate.crl", self.intermediate_crl(&refs), CRL);
        server.put("root.crl", self.root_crl(), CRL);
        server.put("other_root.crl", self.other_root_crl(), CRL);
    }

    /// A certificate as PEM.
    pub fn pem(cert: &X509Ref) -> String {
        String::from_utf8(cert.to_pem().expect("PEM")).expect("PEM is ASCII")
    }

    /// Write `cert` as PEM to `dir/name` (name as given, e.g. `root.pem`).
    pub fn write_pem(dir: &Path, name: &str, cert: &X509Ref) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, Self::pem(cert)).expect("write PEM certificate");
        path
    }

    /// Write `key` as unencrypted PKCS#8 PEM to `dir/name`.
    pub fn write_key(dir: &Path, name: &str, key: &PKey<Private>) -> PathBuf {
        let path = dir.join(name);
        let pem = key.private_key_to_pem_pkcs8().expect("PKCS#8 PEM");
        std::fs::write(&path, pem).expect("write PEM key");
        path
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A CA certificate's spec: valid now−800 d .. now+3650 d, SHA-256.
fn ca_spec<'a>(
    now: i64,
    cn: &str,
    key: &'a PKey<Private>,
    signer: Signer<'a>,
    aia: Option<String>,
    crl_dp: Option<String>,
) -> Spec<'a> {
    Spec {
        cn: cn.to_string(),
        signer,
        key,
        not_before: now - 800 * DAY,
        not_after: now + 3650 * DAY,
        is_ca: true,
        sign: false,
        encipher: false,
        email: None,
        dns: Vec::new(),
        ips: Vec::new(),
        server_auth: false,
        aia,
        crl_dp,
        digest: MessageDigest::sha256(),
    }
}

/// A fresh RSA key.
fn rsa(bits: u32) -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(bits).expect("RSA key")).expect("PKey")
}

/// Build and sign one certificate from its spec.
fn build(s: &Spec<'_>) -> X509 {
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_nid(Nid::COMMONNAME, &s.cn)
        .expect("CN");
    let name = name.build();
    let mut b = X509::builder().expect("builder");
    b.set_version(2).expect("v3");
    let mut serial = BigNum::new().expect("bn");
    serial.rand(128, MsbOption::ONE, false).expect("rand");
    b.set_serial_number(&serial.to_asn1_integer().expect("int"))
        .expect("serial");
    b.set_subject_name(&name).expect("subject");
    let issuer = match s.signer {
        Signer::SelfSigned => None,
        Signer::By(ca) => Some(ca),
    };
    b.set_issuer_name(issuer.map_or(&name, |ca| ca.cert.subject_name()))
        .expect("issuer");
    b.set_pubkey(s.key).expect("pubkey");
    b.set_not_before(&Asn1Time::from_unix(s.not_before).expect("time"))
        .expect("notBefore");
    b.set_not_after(&Asn1Time::from_unix(s.not_after).expect("time"))
        .expect("notAfter");

    let mut exts = Vec::new();
    let mut bc = BasicConstraints::new();
    bc.critical();
    if s.is_ca {
        bc.ca();
    }
    exts.push(bc.build().expect("basicConstraints"));
    let mut ku = KeyUsage::new();
    ku.critical();
    if s.is_ca {
        ku.key_cert_sign().crl_sign();
    }
    if s.sign {
        ku.digital_signature();
    }
    if s.encipher {
        ku.key_encipherment();
    }
    exts.push(ku.build().expect("keyUsage"));
    if !s.is_ca {
        let mut eku = ExtendedKeyUsage::new();
        if s.server_auth {
            eku.server_auth();
        } else {
            eku.email_protection();
        }
        exts.push(eku.build().expect("EKU"));
    }
    {
        let ctx = b.x509v3_context(issuer.map(|ca| ca.cert.as_ref()), None);
        exts.push(
            SubjectKeyIdentifier::new()
                .build(&ctx)
                .expect("subjectKeyIdentifier"),
        );
        if issuer.is_some() {
            exts.push(
                AuthorityKeyIdentifier::new()
                    .keyid(true)
                    .build(&ctx)
                    .expect("authorityKeyIdentifier"),
            );
        }
        if s.email.is_some() || !s.dns.is_empty() || !s.ips.is_empty() {
            let mut san = SubjectAlternativeName::new();
            if let Some(e) = &s.email {
                san.email(e);
            }
            for d in &s.dns {
                san.dns(d);
            }
            for ip in &s.ips {
                san.ip(ip);
            }
            exts.push(san.build(&ctx).expect("subjectAltName"));
        }
    }
    if let Some(url) = &s.crl_dp {
        let full_name = der::context(0, true, &der::uri(url).expect("ASCII URL"));
        let point = der::sequence(&[&der::context(0, true, &full_name)]);
        exts.push(raw_ext("2.5.29.31", &der::sequence(&[&point])));
    }
    if let Some(url) = &s.aia {
        let access = der::sequence(&[
            &der::oid(CA_ISSUERS).expect("OID"),
            &der::uri(url).expect("ASCII URL"),
        ]);
        exts.push(raw_ext("1.3.6.1.5.5.7.1.1", &der::sequence(&[&access])));
    }
    for e in exts {
        b.append_extension(e).expect("extension");
    }
    let signing_key = issuer.map_or(s.key, |ca| &ca.key);
    b.sign(signing_key, s.digest).expect("sign certificate");
    b.build()
}

/// A non-critical extension from its OID and DER value.
fn raw_ext(oid: &str, value: &[u8]) -> X509Extension {
    let oid = Asn1Object::from_str(oid).expect("OID");
    let value = Asn1OctetString::new_from_bytes(value).expect("octets");
    X509Extension::new_from_der(&oid, false, &value).expect("extension")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Output};
    use std::sync::Arc;

    use hisp::clock::{FixedClock, SharedClock};
    use hisp::config::CrlPolicy;
    use hisp::direct::policy::AlgorithmPolicy;
    use hisp::direct::trust::path::{aia_urls, crl_urls};
    use hisp::direct::trust::{HttpFetcher, Validator};
    use openssl::x509::{X509Crl, X509KeyUsage};

    const ADDR: &str = "jo@direct.example.org";

    fn now() -> i64 {
        hisp::clock::system().now()
    }

    fn openssl(dir: &Path, args: &[&str]) -> Output {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl command line is installed")
    }

    fn text(out: &Output) -> String {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    fn validator(now: i64) -> Validator {
        let clock: SharedClock = FixedClock::new(now);
        Validator::new(
            Arc::new(HttpFetcher::default()),
            clock,
            CrlPolicy::HardFail,
            AlgorithmPolicy::default(),
        )
    }

    fn sig_nid(cert: &X509) -> Nid {
        cert.signature_algorithm().object().nid()
    }

    #[test]
    fn every_leaf_kind_has_its_property() {
        let now = now();
        let pki = TestPki::new("http://127.0.0.1:9/", now);
        assert_eq!(pki.base, "http://127.0.0.1:9");
        let int_subject = pki.intermediate.cert.subject_name().to_der().expect("der");
        let dir = tempfile::tempdir().expect("tempdir");
        for kind in Leaf::ALL {
            let issued = pki.leaf(kind, ADDR);
            let cert = &issued.cert;
            let info = hisp::pki::info(cert).expect("info");
            assert!(cert.public_key().expect("pub").public_eq(&issued.key));
            let want_issuer = if kind == Leaf::DifferentAnchor {
                &pki.other_root
            } else {
                &pki.intermediate
            };
            assert!(
                cert.verify(&want_issuer.key).expect("verify"),
                "{kind:?} is signed by its issuer"
            );
            assert_eq!(
                want_issuer.cert.issued(cert),
                openssl::x509::X509VerifyResult::OK,
                "{kind:?}"
            );

            // Binding.
            match kind {
                Leaf::WrongSan => {
                    assert_eq!(info.rfc822_names, ["someone-else@direct.example.org"]);
                    assert!(info.dns_names.is_empty());
                }
                Leaf::OrgBound => {
                    assert!(info.rfc822_names.is_empty());
                    assert_eq!(info.dns_names, ["direct.example.org"]);
                    assert_eq!(info.subject, "CN=direct.example.org");
                }
                _ => {
                    assert_eq!(info.rfc822_names, [ADDR], "{kind:?}");
                    assert!(info.dns_names.is_empty());
                    assert_eq!(info.subject, format!("CN={ADDR}"));
                }
            }
            // Validity.
            let window = match kind {
                Leaf::Expired => (now - 400 * DAY, now - 30 * DAY),
                Leaf::NotYetValid => (now + 30 * DAY, now + 400 * DAY),
                _ => (now - DAY, now + 365 * DAY),
            };
            assert_eq!((info.not_before, info.not_after), window, "{kind:?}");
            // Key size.
            let bits = if kind == Leaf::Rsa1024 { 1024 } else { 2048 };
            assert_eq!(info.key_bits, bits, "{kind:?}");
            // Signature algorithm.
            let nid = match kind {
                Leaf::Sha1Signed => Nid::SHA1WITHRSAENCRYPTION,
                Leaf::Md5Signed => Nid::MD5WITHRSAENCRYPTION,
                _ => Nid::SHA256WITHRSAENCRYPTION,
            };
            assert_eq!(sig_nid(cert), nid, "{kind:?}");
            // Key usage.
            let ku = info.key_usage;
            assert!(ku.present);
            assert_eq!(
                (ku.digital_signature, ku.key_encipherment),
                match kind {
                    Leaf::SigningOnly => (true, false),
                    Leaf::EnciphermentOnly => (false, true),
                    _ => (true, true),
                },
                "{kind:?}"
            );
            let raw = cert.key_usage().expect("keyUsage");
            assert!(!raw.contains(X509KeyUsage::KEY_CERT_SIGN));
            // Publication and chain.
            let (aia, crl, chain_len) = match kind {
                Leaf::DifferentAnchor => ("other_root.cer", "other_root.crl", 0),
                Leaf::BadAia => ("missing.cer", "intermediate.crl", 0),
                _ => ("intermediate.cer", "intermediate.crl", 1),
            };
            assert_eq!(aia_urls(cert), [format!("http://127.0.0.1:9/{aia}")]);
            assert_eq!(crl_urls(cert), [format!("http://127.0.0.1:9/{crl}")]);
            assert_eq!(issued.chain.len(), chain_len, "{kind:?}");
            if chain_len == 1 {
                assert_eq!(
                    issued.chain[0].subject_name().to_der().expect("der"),
                    int_subject
                );
            }
            // What the openssl command line reads.
            let file = format!("{kind:?}.pem");
            TestPki::write_pem(dir.path(), &file, cert);
            let out = openssl(dir.path(), &["x509", "-in", &file, "-noout", "-text"]);
            let t = text(&out);
            assert!(out.status.success(), "{t}");
            let (alg, key) = match kind {
                Leaf::Sha1Signed => ("sha1WithRSAEncryption", "(2048 bit)"),
                Leaf::Md5Signed => ("md5WithRSAEncryption", "(2048 bit)"),
                Leaf::Rsa1024 => ("sha256WithRSAEncryption", "(1024 bit)"),
                _ => ("sha256WithRSAEncryption", "(2048 bit)"),
            };
            assert!(
                t.contains(&format!("Signature Algorithm: {alg}")),
                "{kind:?}: {t}"
            );
            assert!(t.contains(&format!("Public-Key: {key}")), "{kind:?}: {t}");
            assert!(t.contains("E-mail Protection"), "{kind:?}: {t}");
        }
        let revoked = pki.revoked();
        assert_eq!(revoked.len(), 1);
        assert_eq!(
            hisp::pki::info(&revoked[0]).expect("info").rfc822_names,
            [ADDR]
        );
    }

    #[test]
    fn cas_are_shaped_as_said() {
        let pki = TestPki::new("http://127.0.0.1:9", now());
        for ca in [&pki.root, &pki.intermediate, &pki.other_root] {
            assert_eq!(ca.key.bits(), 2048);
            let ku = ca.cert.key_usage().expect("keyUsage");
            assert!(ku.contains(X509KeyUsage::KEY_CERT_SIGN | X509KeyUsage::CRL_SIGN));
            assert!(ca.cert.subject_key_id().is_some());
            assert_eq!(sig_nid(&ca.cert), Nid::SHA256WITHRSAENCRYPTION);
        }
        for root in [&pki.root, &pki.other_root] {
            assert!(root.cert.verify(&root.key).expect("verify"));
            assert!(aia_urls(&root.cert).is_empty() && crl_urls(&root.cert).is_empty());
        }
        assert!(pki.intermediate.cert.verify(&pki.root.key).expect("verify"));
        assert_eq!(
            aia_urls(&pki.intermediate.cert),
            ["http://127.0.0.1:9/root.cer"]
        );
        assert_eq!(
            crl_urls(&pki.intermediate.cert),
            ["http://127.0.0.1:9/root.crl"]
        );
        // The crate's issuer accepts our CA.
        let ca = pki.intermediate.keys();
        let subject = hisp::pki::Subject::Domain(
            hisp::direct::Domain::parse("direct.example.org").expect("domain"),
        );
        let profile = hisp::pki::Profile::new("http://127.0.0.1:9");
        let got = hisp::pki::issue(&ca, &subject, hisp::pki::Usage::Dual, &profile, pki.now)
            .expect("issue");
        assert!(got.cert.verify(&pki.intermediate.key).expect("verify"));
    }

    #[test]
    fn crls_verify_and_openssl_reads_them() {
        let now = now();
        let pki = TestPki::new("http://127.0.0.1:9", now);
        let dir = tempfile::tempdir().expect("tempdir");
        let good = pki.leaf(Leaf::Good, ADDR);
        let revoked = pki.leaf(Leaf::Revoked, ADDR);
        let int_crl = pki.intermediate_crl(&[&revoked.cert]);
        let root_crl = pki.root_crl();
        for (der_bytes, ca, name) in [
            (&int_crl, &pki.intermediate, "int"),
            (&root_crl, &pki.root, "root"),
        ] {
            let crl = X509Crl::from_der(der_bytes).expect("parses");
            let key = ca.cert.public_key().expect("pub");
            assert!(crl.verify(&key).expect("verify"), "{name}");
            assert!(!crl.verify(&pki.other_root.key).expect("verify"), "{name}");
            let this = hisp::pki::unix(crl.last_update()).expect("time");
            let next = hisp::pki::unix(crl.next_update().expect("nextUpdate")).expect("time");
            assert_eq!((this, next), (now - 3600, now + 7 * DAY));
            std::fs::write(dir.path().join(format!("{name}.crl")), der_bytes).expect("write");
            let file = format!("{name}.crl");
            let out = openssl(
                dir.path(),
                &["crl", "-inform", "DER", "-in", &file, "-noout", "-text"],
            );
            assert!(out.status.success(), "{}", text(&out));
        }
        let crl = X509Crl::from_der(&int_crl).expect("parses");
        assert!(matches!(
            crl.get_by_serial(revoked.cert.serial_number()),
            openssl::x509::CrlStatus::Revoked(_)
        ));
        assert!(matches!(
            crl.get_by_serial(good.cert.serial_number()),
            openssl::x509::CrlStatus::NotRevoked
        ));
        let empty = X509Crl::from_der(&root_crl).expect("parses");
        assert!(empty.get_revoked().is_none());
    }

    #[test]
    fn openssl_verify_accepts_good_and_refuses_revoked() {
        let now = now();
        let pki = TestPki::new("http://127.0.0.1:9", now);
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let good = pki.leaf(Leaf::Good, ADDR);
        let revoked = pki.leaf(Leaf::Revoked, ADDR);
        TestPki::write_pem(d, "root.pem", &pki.root.cert);
        TestPki::write_pem(d, "int.pem", &pki.intermediate.cert);
        TestPki::write_pem(d, "good.pem", &good.cert);
        TestPki::write_pem(d, "revoked.pem", &revoked.cert);
        let key_path = TestPki::write_key(d, "good.key", &good.key);
        assert!(
            std::fs::read_to_string(&key_path)
                .expect("read")
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
        let out = openssl(d, &["rsa", "-in", "good.key", "-check", "-noout"]);
        assert!(out.status.success(), "{}", text(&out));
        let pem = |der_bytes: Vec<u8>| {
            X509Crl::from_der(&der_bytes)
                .expect("parses")
                .to_pem()
                .expect("pem")
        };
        let crls = [
            pem(pki.root_crl()),
            pem(pki.intermediate_crl(&[&revoked.cert])),
        ]
        .concat();
        std::fs::write(d.join("crls.pem"), crls).expect("write");

        let at = now.to_string();
        let verify = |leaf: &str, crl: bool| {
            let mut args = vec![
                "verify",
                "-attime",
                &at,
                "-CAfile",
                "root.pem",
                "-untrusted",
                "int.pem",
            ];
            if crl {
                args.extend(["-crl_check_all", "-CRLfile", "crls.pem"]);
            }
            args.push(leaf);
            openssl(d, &args)
        };
        let out = verify("good.pem", false);
        assert!(out.status.success(), "{}", text(&out));
        let out = verify("good.pem", true);
        assert!(out.status.success(), "{}", text(&out));
        let out = verify("revoked.pem", false);
        assert!(out.status.success(), "{}", text(&out));
        let out = verify("revoked.pem", true);
        assert!(!out.status.success());
        assert!(text(&out).contains("certificate revoked"), "{}", text(&out));
    }

    #[tokio::test]
    async fn validator_fetches_the_intermediate_and_crls_from_the_server() {
        let server = FileServer::start().await;
        let now = now();
        let pki = TestPki::new(&server.base(), now);
        let good = pki.leaf(Leaf::Good, ADDR);
        let revoked = pki.leaf(Leaf::Revoked, ADDR);
        pki.publish(&server);
        let anchors = [pki.root.cert.clone()];
        let set = "incoming anchors of direct.example.org";

        let v = validator(now);
        let chain = v
            .validate(&good.cert, &[], &anchors, set)
            .await
            .expect("the good leaf validates");
        assert_eq!(chain.len(), 3);
        assert_eq!(
            chain[1].to_der().expect("der"),
            pki.intermediate.cert.to_der().expect("der")
        );
        assert_eq!(server.hits("intermediate.cer"), 1);
        assert_eq!(server.hits("intermediate.crl"), 1);
        assert_eq!(server.hits("root.crl"), 1);

        let err = validator(now)
            .validate(&revoked.cert, &good.chain, &anchors, set)
            .await
            .expect_err("the revoked leaf fails");
        assert_eq!(err.check, "revoked", "{err}");
        assert_eq!(err.serial, hisp::pki::serial_hex(&revoked.cert));
        assert!(
            err.detail.contains(&server.url("intermediate.crl")),
            "{err}"
        );
    }

    #[tokio::test]
    async fn validator_sees_the_other_failure_cases() {
        let server = FileServer::start().await;
        let now = now();
        let pki = TestPki::new(&server.base(), now);
        pki.publish(&server);
        let anchors = [pki.root.cert.clone()];
        let set = "incoming anchors of direct.example.org";
        let v = validator(now);
        let check = |r: Result<Vec<X509>, hisp::direct::trust::TrustFailure>| {
            r.map(|c| c.len()).map_err(|e| (e.check, e.to_string()))
        };

        let expired = pki.leaf(Leaf::Expired, ADDR);
        let r = check(
            v.validate(&expired.cert, &expired.chain, &anchors, set)
                .await,
        );
        assert!(matches!(r, Err(("expired", _))), "{r:?}");

        let early = pki.leaf(Leaf::NotYetValid, ADDR);
        let r = check(v.validate(&early.cert, &early.chain, &anchors, set).await);
        assert!(matches!(r, Err(("not yet valid", _))), "{r:?}");

        let other = pki.leaf(Leaf::DifferentAnchor, ADDR);
        let r = check(v.validate(&other.cert, &other.chain, &anchors, set).await);
        assert!(matches!(r, Err(("path", _))), "{r:?}");
        let other_anchor = [pki.other_root.cert.clone()];
        let r = check(v.validate(&other.cert, &[], &other_anchor, set).await);
        assert_eq!(r, Ok(2));
        assert_eq!(server.hits("other_root.crl"), 1);

        let bad_aia = pki.leaf(Leaf::BadAia, ADDR);
        let r = check(
            v.validate(&bad_aia.cert, &bad_aia.chain, &anchors, set)
                .await,
        );
        assert!(matches!(r, Err(("path", _))), "{r:?}");
        assert!(server.hits("missing.cer") >= 1);

        let weak = pki.leaf(Leaf::Rsa1024, ADDR);
        let r = check(v.validate(&weak.cert, &weak.chain, &anchors, set).await);
        assert!(matches!(r, Err(("algorithm", _))), "{r:?}");

        for kind in [Leaf::Sha1Signed, Leaf::Md5Signed] {
            let leaf = pki.leaf(kind, ADDR);
            let r = check(v.validate(&leaf.cert, &leaf.chain, &anchors, set).await);
            assert!(matches!(r, Err(("algorithm", _))), "{kind:?}: {r:?}");
        }

        for kind in [
            Leaf::WrongSan,
            Leaf::SigningOnly,
            Leaf::EnciphermentOnly,
            Leaf::OrgBound,
        ] {
            let leaf = pki.leaf(kind, ADDR);
            let r = check(v.validate(&leaf.cert, &leaf.chain, &anchors, set).await);
            assert_eq!(
                r,
                Ok(3),
                "{kind:?}: path validation ignores binding and usage"
            );
        }

        // A revoked leaf issued after publish is caught once publish runs again
        // (a fresh validator: the first caches the CRL until nextUpdate).
        let late = pki.leaf(Leaf::Revoked, ADDR);
        pki.publish(&server);
        let r = check(
            validator(now)
                .validate(&late.cert, &late.chain, &anchors, set)
                .await,
        );
        assert!(matches!(r, Err(("revoked", _))), "{r:?}");

        // Without the CRL, hard-fail refuses.
        server.remove("intermediate.crl");
        let good = pki.leaf(Leaf::Good, ADDR);
        let r = check(
            validator(now)
                .validate(&good.cert, &good.chain, &anchors, set)
                .await,
        );
        assert!(matches!(r, Err(("revocation unknown", _))), "{r:?}");
    }
}

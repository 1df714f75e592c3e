//! Reading certificates back: the facts a person or a policy check needs
//! ([`info`]), whether a certificate binds a subject ([`binds`]), serials,
//! fingerprints, and PEM output.

use super::{PkiError, Subject, Usage, der};
use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::hash::MessageDigest;
use openssl::pkey::{HasPrivate, PKeyRef};
use openssl::x509::{GeneralNameRef, X509NameRef, X509Ref};
use std::net::IpAddr;

/// The keyUsage bits Direct cares about (RFC 5280 §4.2.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyUsage {
    /// Bit 0: the key may sign.
    pub digital_signature: bool,
    /// Bit 2: the key may receive encrypted keys.
    pub key_encipherment: bool,
    /// False when the certificate has no keyUsage extension (usage unrestricted).
    pub present: bool,
}

impl KeyUsage {
    /// The Direct usage this allows: absent or both bits is dual-use; `None` when
    /// the extension is present with neither bit.
    pub fn usage(self) -> Option<Usage> {
        match (self.present, self.digital_signature, self.key_encipherment) {
            (false, _, _) | (true, true, true) => Some(Usage::Dual),
            (true, true, false) => Some(Usage::SigningOnly),
            (true, false, true) => Some(Usage::EnciphermentOnly),
            (true, false, false) => None,
        }
    }

    /// Decode flags from [`der::key_usage`].
    fn from_bits(bits: Option<u16>) -> Self {
        bits.map_or_else(Self::default, |bits| Self {
            digital_signature: bits & 1 != 0,
            key_encipherment: bits & (1 << 2) != 0,
            present: true,
        })
    }
}

/// What a certificate says, in plain types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject on one line, e.g. `CN=Jo Smith`.
    pub subject: String,
    /// Issuer on one line.
    pub issuer: String,
    /// The serial as [`serial_hex`] gives it.
    pub serial_hex: String,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// subjectAltName rfc822Name entries (Direct addresses).
    pub rfc822_names: Vec<String>,
    /// subjectAltName dNSName entries (Direct domains, TLS hostnames).
    pub dns_names: Vec<String>,
    /// The keyUsage extension.
    pub key_usage: KeyUsage,
    /// Public key size in bits.
    pub key_bits: u32,
}

/// Read a certificate's subject, issuer, serial, validity, names, usage and key size.
pub fn info(cert: &X509Ref) -> Result<CertInfo, PkiError> {
    Ok(CertInfo {
        subject: one_line(cert.subject_name())?,
        issuer: one_line(cert.issuer_name())?,
        serial_hex: serial_hex(cert),
        not_before: unix(cert.not_before())?,
        not_after: unix(cert.not_after())?,
        rfc822_names: san_names(cert, GeneralNameRef::email),
        dns_names: san_names(cert, GeneralNameRef::dnsname),
        key_usage: key_usage(cert)?,
        key_bits: cert.public_key()?.bits(),
    })
}

/// The keyUsage extension, read from the certificate's DER.
pub(crate) fn key_usage(cert: &X509Ref) -> Result<KeyUsage, PkiError> {
    Ok(KeyUsage::from_bits(der::key_usage(&cert.to_der()?)?))
}

/// True when the cert binds the subject: an rfc822Name equal (ignoring case) to
/// the address, or a dNSName equal to the domain or hostname (or, for TLS, an IP
/// entry equal to an IP hostname). An organization-bound cert does not bind an
/// address here: ask with `Subject::Domain(address.domain())` for that.
pub fn binds(cert: &X509Ref, subject: &Subject) -> bool {
    match subject {
        Subject::Address { address, .. } => {
            has_name(cert, GeneralNameRef::email, &address.to_string())
        }
        Subject::Domain(domain) => has_name(cert, GeneralNameRef::dnsname, domain.as_str()),
        Subject::TlsServer { hostname } => {
            has_name(cert, GeneralNameRef::dnsname, hostname) || binds_ip(cert, hostname)
        }
    }
}

/// [`binds`], as an error naming the subject when it does not hold.
pub fn require_binds(cert: &X509Ref, subject: &Subject) -> Result<(), PkiError> {
    if binds(cert, subject) {
        Ok(())
    } else {
        Err(PkiError::NotBound(subject.to_string()))
    }
}

/// The serial in uppercase hex as OpenSSL prints it (`openssl x509 -serial`);
/// it feeds [`crate::pki::Revoked::serial_hex`] unchanged. Empty only if OpenSSL
/// cannot allocate.
pub fn serial_hex(cert: &X509Ref) -> String {
    cert.serial_number()
        .to_bn()
        .and_then(|bn| bn.to_hex_str().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// SHA-256 of the certificate's DER, lowercase hex. Empty only if OpenSSL fails.
pub fn fingerprint(cert: &X509Ref) -> String {
    cert.digest(MessageDigest::sha256())
        .map(|d| d.iter().map(|b| format!("{b:02x}")).collect())
        .unwrap_or_default()
}

/// The certificate as PEM.
pub fn cert_pem(cert: &X509Ref) -> Result<String, PkiError> {
    Ok(String::from_utf8_lossy(&cert.to_pem()?).into_owned())
}

/// The private key as unencrypted PKCS#8 PEM, for a file only its owner can read.
pub fn key_pem<T: HasPrivate>(key: &PKeyRef<T>) -> Result<String, PkiError> {
    Ok(String::from_utf8_lossy(&key.private_key_to_pem_pkcs8()?).into_owned())
}

/// A name as `CN=Jo Smith, O=Example`, with RFC 4514 specials escaped.
fn one_line(name: &X509NameRef) -> Result<String, PkiError> {
    let mut parts = Vec::new();
    for entry in name.entries() {
        let nid = entry.object().nid();
        let key = nid
            .short_name()
            .map_or_else(|_| entry.object().to_string(), str::to_string);
        let value: String = entry.data().to_string()?;
        parts.push(format!("{key}={}", escape(&value)));
    }
    Ok(parts.join(", "))
}

/// Backslash-escape the characters RFC 4514 reserves.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An ASN.1 time as Unix seconds.
/// An ASN.1 time as Unix seconds.
pub fn unix(time: &Asn1TimeRef) -> Result<i64, PkiError> {
    let diff = Asn1Time::from_unix(0)?.diff(time)?;
    Ok(i64::from(diff.days) * 86_400 + i64::from(diff.secs))
}

/// The subjectAltName entries of one kind.
fn san_names(cert: &X509Ref, pick: fn(&GeneralNameRef) -> Option<&str>) -> Vec<String> {
    cert.subject_alt_names()
        .map(|names| names.iter().filter_map(pick).map(str::to_string).collect())
        .unwrap_or_default()
}

/// Whether a subjectAltName entry of one kind equals `want`, ignoring case and a
/// trailing dot.
fn has_name(cert: &X509Ref, pick: fn(&GeneralNameRef) -> Option<&str>, want: &str) -> bool {
    let want = want.trim_end_matches('.');
    san_names(cert, pick)
        .iter()
        .any(|got| got.trim_end_matches('.').eq_ignore_ascii_case(want))
}

/// Whether an IP hostname appears as a subjectAltName iPAddress.
fn binds_ip(cert: &X509Ref, hostname: &str) -> bool {
    let Ok(ip) = hostname.parse::<IpAddr>() else {
        return false;
    };
    let octets = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    cert.subject_alt_names().is_some_and(|names| {
        names
            .iter()
            .any(|n| n.ipaddress() == Some(octets.as_slice()))
    })
}

#[cfg(test)]
mod tests {
    //! Tests of info, binds, serials and fingerprints against what OpenSSL reports.

    use super::*;
    use crate::direct::{DirectAddress, Domain};
    use crate::pki::testutil::{NOW, jo, leaf, openssl, org, test_ca, write};
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::extension::SubjectAlternativeName;
    use openssl::x509::{X509, X509KeyUsage, X509NameBuilder};

    fn address(a: &str) -> Subject {
        Subject::Address {
            address: DirectAddress::parse(a).expect("address"),
            name: None,
        }
    }

    /// A bare self-signed cert with one SAN email and no keyUsage.
    fn bare_cert(san_email: &str, cn: &str) -> X509 {
        let key = PKey::from_rsa(Rsa::generate(2048).expect("rsa")).expect("pkey");
        let mut name = X509NameBuilder::new().expect("name");
        name.append_entry_by_nid(Nid::COMMONNAME, cn).expect("cn");
        name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "Example")
            .expect("o");
        let name = name.build();
        let mut b = X509::builder().expect("builder");
        b.set_version(2).expect("v3");
        b.set_subject_name(&name).expect("subject");
        b.set_issuer_name(&name).expect("issuer");
        b.set_pubkey(&key).expect("pubkey");
        b.set_not_before(&Asn1Time::from_unix(NOW).expect("t"))
            .expect("nb");
        b.set_not_after(&Asn1Time::from_unix(2_600_000_000).expect("t"))
            .expect("na");
        let san = SubjectAlternativeName::new()
            .email(san_email)
            .build(&b.x509v3_context(None, None));
        b.append_extension(san.expect("san")).expect("append");
        b.sign(&key, MessageDigest::sha256()).expect("sign");
        b.build()
    }

    #[test]
    fn info_of_an_address_bound_cert() {
        let issued = leaf(&jo(), Usage::Dual);
        let got = info(&issued.cert).expect("info");
        assert_eq!(got.subject, "CN=Jo Smith");
        assert_eq!(got.issuer, "CN=Test Direct CA");
        assert_eq!(got.rfc822_names, ["jo@direct.example.org"]);
        assert!(got.dns_names.is_empty());
        let both = KeyUsage {
            digital_signature: true,
            key_encipherment: true,
            present: true,
        };
        assert_eq!(got.key_usage, both);
        assert_eq!(got.key_usage.usage(), Some(Usage::Dual));
        assert_eq!(got.key_bits, 2048);
        assert_eq!(
            (got.not_before, got.not_after),
            (NOW - 300, NOW + 365 * 86_400)
        );
    }

    #[test]
    fn key_usage_matches_openssl() {
        let cases = [
            (
                leaf(&org(), Usage::SigningOnly).cert,
                Some(Usage::SigningOnly),
            ),
            (
                leaf(&org(), Usage::EnciphermentOnly).cert,
                Some(Usage::EnciphermentOnly),
            ),
            (test_ca().cert.clone(), None),
            (bare_cert("a@b.org", "x"), Some(Usage::Dual)),
        ];
        for (cert, want) in cases {
            let ours = info(&cert).expect("info").key_usage;
            assert_eq!(ours.usage(), want);
            let theirs = cert.key_usage();
            assert_eq!(ours.present, theirs.is_some());
            let theirs = theirs.unwrap_or(X509KeyUsage::empty());
            assert_eq!(
                ours.digital_signature,
                theirs.contains(X509KeyUsage::DIGITAL_SIGNATURE)
            );
            assert_eq!(
                ours.key_encipherment,
                theirs.contains(X509KeyUsage::KEY_ENCIPHERMENT)
            );
        }
    }

    #[test]
    fn binds_by_subject_alt_name() {
        let jo_cert = leaf(&jo(), Usage::Dual).cert;
        let org_cert = leaf(&org(), Usage::Dual).cert;
        assert!(binds(&jo_cert, &address("JO@Direct.Example.org")));
        assert!(!binds(&jo_cert, &address("al@direct.example.org")));
        assert!(!binds(&jo_cert, &org()));
        assert!(binds(&org_cert, &org()));
        assert!(
            !binds(&org_cert, &jo()),
            "an org cert is asked for by domain"
        );
        let other = Subject::Domain(Domain::parse("example.org").expect("domain"));
        assert!(!binds(&org_cert, &other));
        let mixed_case = bare_cert("Jo@Direct.Example.ORG", "Jo");
        assert!(binds(&mixed_case, &jo()));
        let err = require_binds(&org_cert, &address("jo@x.org")).expect_err("not bound");
        assert_eq!(
            err.to_string(),
            "the certificate does not name jo@x.org in subjectAltName"
        );
        assert!(require_binds(&jo_cert, &jo()).is_ok());
    }

    #[test]
    fn binds_tls_names() {
        let tls = |h: &str| Subject::TlsServer { hostname: h.into() };
        let cert = leaf(&tls("mail.example.org"), Usage::Dual).cert;
        for host in [
            "mail.example.org",
            "MAIL.example.org.",
            "localhost",
            "127.0.0.1",
        ] {
            assert!(binds(&cert, &tls(host)), "{host}");
        }
        for host in ["example.org", "127.0.0.2", "::1"] {
            assert!(!binds(&cert, &tls(host)), "{host}");
        }
    }

    #[test]
    fn serial_and_fingerprint_match_the_command_line() {
        let cert = leaf(&jo(), Usage::Dual).cert;
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "c.pem",
            cert_pem(&cert).expect("pem").as_bytes(),
        );
        let args = [
            "x509",
            "-in",
            "c.pem",
            "-noout",
            "-serial",
            "-fingerprint",
            "-sha256",
        ];
        let out = String::from_utf8_lossy(&openssl(dir.path(), &args).stdout).into_owned();
        assert!(
            out.contains(&format!("serial={}\n", serial_hex(&cert))),
            "{out}"
        );
        let fp = fingerprint(&cert);
        assert_eq!(fp.len(), 64);
        assert!(out.to_lowercase().replace(':', "").contains(&fp), "{out}");
    }

    #[test]
    fn names_are_escaped_and_keys_print() {
        let cert = bare_cert("a@b.org", "Smith, Jo");
        assert_eq!(
            info(&cert).expect("info").subject,
            "CN=Smith\\, Jo, O=Example"
        );
        let issued = leaf(&jo(), Usage::Dual);
        let pem = key_pem(&issued.key).expect("pem");
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = PKey::private_key_from_pem(pem.as_bytes()).expect("parses");
        assert!(back.public_eq(&issued.key));
    }
}

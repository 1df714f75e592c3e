//! Which client certificates a feed's messages may come over (`feed add
//! --client-cert`, `feed pin`): SHA-256 fingerprints of the interface
//! engine's own (leaf) certificate, as `openssl x509 -noout -fingerprint
//! -sha256` prints them. Over `[mllp] tls` the listener asks every client
//! for a certificate, and the TLS handshake proves the client holds its
//! key; a feed with pins takes messages only over a connection whose
//! client certificate is one of them. The engine is then named by its key,
//! whatever address it sends from (behind a NAT, many share one). Pins
//! rather than a CA: hospitals' engines present certificates from their
//! own CAs, or self-signed ones, exchanged with the HIE out of band. No I/O
//! but [`CertPins::from_pem`]'s parse.

use std::fmt;

/// A certificate's SHA-256 fingerprint (of its DER).
pub type Fingerprint = [u8; 32];

/// The fingerprint of a DER certificate.
pub fn fingerprint(der: &[u8]) -> Fingerprint {
    openssl::sha::sha256(der)
}

/// A feed's pinned client certificates; empty: any client, with or without
/// a certificate (every feed before session 30).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertPins(Vec<Fingerprint>);

impl CertPins {
    /// No pins: any client.
    pub fn any() -> Self {
        Self::default()
    }

    /// Whether any client is taken.
    pub fn is_any(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a client presenting `cert` (`None`: no certificate, or not
    /// TLS) may send this feed's messages.
    pub fn permits(&self, cert: Option<&Fingerprint>) -> bool {
        self.is_any() || cert.is_some_and(|c| self.0.contains(c))
    }

    /// Fingerprints as an admin writes them: 64 hex digits, with or
    /// without colons between the bytes, any case (`AB:CD:…`, as OpenSSL
    /// prints them, after an optional `sha256 Fingerprint=`); several per
    /// item separated by commas or spaces. Each once.
    pub fn parse(items: &[String]) -> Result<Self, String> {
        let mut out = Vec::new();
        for item in items {
            for one in item.split([',', ' ', '\t', '\n', '\r']) {
                let one = one.trim();
                // OpenSSL's `sha256 Fingerprint=` (`SHA256` before 3.0).
                if one.is_empty() || one.eq_ignore_ascii_case("sha256") {
                    continue;
                }
                let fp = parse_one(one)?;
                if !out.contains(&fp) {
                    out.push(fp);
                }
            }
        }
        Ok(Self(out))
    }

    /// The fingerprints of the certificates in PEM text (`-----BEGIN
    /// CERTIFICATE-----` blocks; only the first of a chain is the
    /// engine's own, so a file holding a chain gives its first).
    pub fn from_pem(pem: &[u8]) -> Result<Fingerprint, String> {
        let cert = openssl::x509::X509::from_pem(pem)
            .map_err(|_| "no PEM certificate (-----BEGIN CERTIFICATE-----) in it".to_string())?;
        let der = cert
            .to_der()
            .map_err(|e| format!("the certificate cannot be encoded: {e}"))?;
        Ok(fingerprint(&der))
    }

    /// The pins with `more` added (each once).
    pub fn with(mut self, more: impl IntoIterator<Item = Fingerprint>) -> Self {
        for fp in more {
            if !self.0.contains(&fp) {
                self.0.push(fp);
            }
        }
        self
    }

    /// As stored (`feeds.client_certs`): lowercase hex, comma-separated;
    /// `None` for any client.
    pub fn stored(&self) -> Option<String> {
        (!self.is_any()).then(|| {
            self.0
                .iter()
                .map(|fp| fp.iter().map(|b| format!("{b:02x}")).collect::<String>())
                .collect::<Vec<_>>()
                .join(",")
        })
    }

    /// Read back what [`CertPins::stored`] wrote; NULL is any client.
    pub fn from_stored(stored: Option<&str>) -> Result<Self, String> {
        match stored {
            None => Ok(Self::any()),
            Some(s) => {
                let pins = Self::parse(&[s.to_string()])?;
                match pins.is_any() {
                    // An empty stored list must not read as "any client".
                    true => Err("an empty list of client certificates".into()),
                    false => Ok(pins),
                }
            }
        }
    }
}

/// One fingerprint: 32 bytes in hex, colons between them optional.
fn parse_one(s: &str) -> Result<Fingerprint, String> {
    const LABEL: &str = "fingerprint=";
    let hex = match s.get(..LABEL.len()) {
        Some(label) if label.eq_ignore_ascii_case(LABEL) => s.get(LABEL.len()..).unwrap_or(""),
        _ => s,
    };
    // 64 hex digits, or 32 pairs of them between colons.
    let digits: Vec<u8> = match hex.contains(':') {
        true if hex.split(':').all(|pair| pair.len() == 2) => {
            hex.bytes().filter(|b| *b != b':').collect()
        }
        true => Vec::new(),
        false => hex.bytes().collect(),
    };
    let bad = || {
        format!(
            "{s:?} is not a SHA-256 fingerprint (64 hex digits, as `openssl x509 -noout \
             -fingerprint -sha256 -in CERT` prints them)"
        )
    };
    if digits.len() != 64 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(bad());
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(digits.chunks(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| bad())?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

/// A fingerprint as OpenSSL prints it: uppercase hex, colons between bytes.
pub fn shown(fp: &Fingerprint) -> String {
    fp.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl fmt::Display for CertPins {
    /// Each fingerprint as OpenSSL prints it, `, ` between them; `any` when
    /// there is none.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_any() {
            return f.write_str("any");
        }
        let shown: Vec<String> = self.0.iter().map(shown).collect();
        f.write_str(&shown.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";

    #[test]
    fn fingerprints_read_as_openssl_prints_them_or_bare_and_round_trip() {
        let bare = A.replace(':', "").to_lowercase();
        let pins = CertPins::parse(&[
            A.to_string(),
            format!("sha256 Fingerprint={A}, {bare}"),
            format!("SHA256 Fingerprint={A}"),
        ])
        .expect("pins");
        assert_eq!(pins.0.len(), 1, "each once");
        assert_eq!(pins.to_string(), A);
        let stored = pins.stored().expect("stored");
        assert_eq!(stored, bare);
        assert_eq!(CertPins::from_stored(Some(&stored)), Ok(pins.clone()));
        assert_eq!(CertPins::from_stored(None), Ok(CertPins::any()));
        assert!(CertPins::from_stored(Some("")).is_err());
        assert!(CertPins::from_stored(Some("zz")).is_err());
        let fp = pins.0[0];
        assert!(pins.permits(Some(&fp)));
        assert!(!pins.permits(Some(&[0; 32])));
        assert!(!pins.permits(None));
        assert!(CertPins::any().permits(None));
        assert_eq!(CertPins::any().stored(), None);
    }

    #[test]
    fn a_fingerprint_that_is_not_one_is_refused_by_name() {
        for bad in [
            "AB:CD".to_string(),
            "0".repeat(63),
            "0".repeat(65),
            "g".repeat(64),
            "é".repeat(32),
        ] {
            let e = CertPins::parse(std::slice::from_ref(&bad)).expect_err(&bad);
            assert!(e.contains("not a SHA-256 fingerprint"), "{e}");
        }
        // Signs (`from_str_radix` takes `+a`), colons out of place.
        let signed = "+a".repeat(32);
        let misplaced = format!(
            "{}::{}",
            "AB:".repeat(15),
            "CD:".repeat(16).trim_end_matches(':')
        );
        for bad in [signed, misplaced, format!(":{}", "ab".repeat(32))] {
            assert!(
                CertPins::parse(std::slice::from_ref(&bad)).is_err(),
                "{bad}"
            );
        }
        // A SHA-1 fingerprint (20 bytes) is not taken for one.
        assert!(CertPins::parse(&["AB:".repeat(19) + "AB"]).is_err());
    }

    #[test]
    fn a_pem_files_first_certificate_is_the_one_pinned() {
        let now = crate::clock::system().now();
        let ca = crate::pki::CaKeys::generate("engine", now, 1).expect("ca");
        let other = crate::pki::CaKeys::generate("other", now, 1).expect("ca");
        let mut pem = ca.cert.to_pem().expect("pem");
        pem.extend(other.cert.to_pem().expect("pem"));
        let fp = CertPins::from_pem(&pem).expect("fingerprint");
        assert_eq!(fp, fingerprint(&ca.cert.to_der().expect("der")));
        assert!(CertPins::from_pem(b"not a certificate").is_err());
    }
}

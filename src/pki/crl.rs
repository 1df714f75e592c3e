//! The CA's certificate revocation list: a DER CRL v2 (RFC 5280 §5) built here
//! field by field and signed with the CA key, published at `{public_url}/pki/ca.crl`.

use super::{CaKeys, PkiError, der};
use openssl::hash::MessageDigest;
use openssl::pkey::Id;
use openssl::sign::Signer;
use openssl::x509::X509Crl;

/// sha256WithRSAEncryption (RFC 4055).
const SHA256_WITH_RSA: &str = "1.2.840.113549.1.1.11";
/// id-ce-authorityKeyIdentifier.
const AUTHORITY_KEY_ID: &str = "2.5.29.35";
/// id-ce-cRLNumber.
const CRL_NUMBER: &str = "2.5.29.20";

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// Its serial in hex, as [`crate::pki::serial_hex`] gives it (colons allowed).
    pub serial_hex: String,
    /// When it was revoked, Unix seconds.
    pub revoked_at: i64,
}

/// A DER CRL v2 signed by the CA with SHA-256, carrying authorityKeyIdentifier
/// (the CA's SKI) and cRLNumber. An empty `revoked` leaves the list out, as
/// RFC 5280 §5.1.2.6 requires: "When there are no revoked certificates, the
/// revoked certificates list MUST be absent."
pub fn crl(
    ca: &CaKeys,
    revoked: &[Revoked],
    crl_number: u64,
    this_update: i64,
    next_update: i64,
) -> Result<Vec<u8>, PkiError> {
    if ca.key.id() != Id::RSA {
        return Err(PkiError::NotRsa);
    }
    let tbs = tbs_cert_list(ca, revoked, crl_number, this_update, next_update)?;
    let mut signer = Signer::new(MessageDigest::sha256(), &ca.key)?;
    signer.update(&tbs)?;
    let signature = signer.sign_to_vec()?;
    let algorithm = signature_algorithm()?;
    Ok(der::sequence(&[
        &tbs,
        &algorithm,
        &der::bit_string(&signature),
    ]))
}

/// A DER CRL as PEM (`openssl verify -CRLfile` wants PEM).
pub fn crl_pem(crl_der: &[u8]) -> Result<String, PkiError> {
    let pem = X509Crl::from_der(crl_der)?.to_pem()?;
    Ok(String::from_utf8_lossy(&pem).into_owned())
}

/// TBSCertList: version, signature, issuer, thisUpdate, nextUpdate,
/// revokedCertificates (when any) and crlExtensions `[0] EXPLICIT`.
fn tbs_cert_list(
    ca: &CaKeys,
    revoked: &[Revoked],
    crl_number: u64,
    this_update: i64,
    next_update: i64,
) -> Result<Vec<u8>, PkiError> {
    let mut fields = vec![
        der::integer_u64(1),
        signature_algorithm()?,
        ca.cert.subject_name().to_der()?,
        der::time(this_update)?,
        der::time(next_update)?,
    ];
    if !revoked.is_empty() {
        fields.push(revoked_list(revoked)?);
    }
    fields.push(der::context(0, true, &extensions(ca, crl_number)?));
    let refs: Vec<&[u8]> = fields.iter().map(Vec::as_slice).collect();
    Ok(der::sequence(&refs))
}

/// AlgorithmIdentifier { sha256WithRSAEncryption, NULL }.
fn signature_algorithm() -> Result<Vec<u8>, PkiError> {
    Ok(der::sequence(&[&der::oid(SHA256_WITH_RSA)?, &der::null()]))
}

/// SEQUENCE OF SEQUENCE { userCertificate, revocationDate }.
fn revoked_list(revoked: &[Revoked]) -> Result<Vec<u8>, PkiError> {
    let entries = revoked
        .iter()
        .map(|r| {
            let serial = serial_integer(&r.serial_hex)?;
            Ok(der::sequence(&[&serial, &der::time(r.revoked_at)?]))
        })
        .collect::<Result<Vec<_>, PkiError>>()?;
    let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
    Ok(der::sequence(&refs))
}

/// A hex serial (optionally colon-separated) as a positive INTEGER.
fn serial_integer(hex: &str) -> Result<Vec<u8>, PkiError> {
    let bad = || PkiError::BadSerial(hex.to_string());
    let mut nibbles = hex
        .trim()
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_digit(16).map(|d| d as u8))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(bad)?;
    if nibbles.is_empty() {
        return Err(bad());
    }
    if nibbles.len() % 2 == 1 {
        nibbles.insert(0, 0);
    }
    let bytes: Vec<u8> = nibbles
        .chunks_exact(2)
        .map(|p| (p[0] << 4) | p[1])
        .collect();
    Ok(der::integer_unsigned(&bytes))
}

/// crlExtensions: authorityKeyIdentifier (keyIdentifier `[0]` = the CA's SKI)
/// and cRLNumber, both non-critical as RFC 5280 §5.2.1 and §5.2.3 require.
fn extensions(ca: &CaKeys, crl_number: u64) -> Result<Vec<u8>, PkiError> {
    let ski = ca.cert.subject_key_id().ok_or(PkiError::CaWithoutSki)?;
    let aki_value = der::sequence(&[&der::context(0, false, ski.as_slice())]);
    let aki = extension(AUTHORITY_KEY_ID, &aki_value)?;
    let number = extension(CRL_NUMBER, &der::integer_u64(crl_number))?;
    Ok(der::sequence(&[&aki, &number]))
}

/// Extension { extnID, extnValue OCTET STRING }, criticality left at its FALSE default.
fn extension(oid: &str, value: &[u8]) -> Result<Vec<u8>, PkiError> {
    let value = der::tlv(der::OCTET_STRING, value);
    Ok(der::sequence(&[&der::oid(oid)?, &value]))
}

#[cfg(test)]
mod tests {
    //! CRLs checked by OpenSSL: parsed, signature-checked, and used by `verify -crl_check`.

    use super::*;
    use crate::pki::testutil::{
        NOW, jo, leaf, openssl, org, test_ca, text, verify, write, write_ca,
    };
    use crate::pki::{Usage, cert_pem, serial_hex};

    const WEEK: i64 = 7 * 86_400;

    /// Write ca.pem, the CRL (DER and PEM) and two leaves; return the dir and the
    /// revoked leaf's serial.
    fn scene(revoke_jo: bool) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        write_ca(dir.path());
        let jo_cert = leaf(&jo(), Usage::Dual).cert;
        let org_cert = leaf(&org(), Usage::Dual).cert;
        write(
            dir.path(),
            "jo.pem",
            cert_pem(&jo_cert).expect("pem").as_bytes(),
        );
        write(
            dir.path(),
            "org.pem",
            cert_pem(&org_cert).expect("pem").as_bytes(),
        );
        let serial = serial_hex(&jo_cert);
        let revoked = if revoke_jo {
            vec![Revoked {
                serial_hex: serial.clone(),
                revoked_at: NOW - 30,
            }]
        } else {
            vec![]
        };
        let crl_der = crl(test_ca(), &revoked, 7, NOW - 60, NOW + WEEK).expect("crl");
        write(dir.path(), "crl.der", &crl_der);
        write(
            dir.path(),
            "crl.pem",
            crl_pem(&crl_der).expect("pem").as_bytes(),
        );
        (dir, serial)
    }

    #[test]
    fn openssl_reads_and_verifies_the_crl() {
        let (dir, serial) = scene(true);
        let args = ["crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text"];
        let out = openssl(dir.path(), &args);
        let out_text = text(&out);
        assert!(out.status.success(), "{out_text}");
        for want in [
            "Version 2 (0x1)",
            "Signature Algorithm: sha256WithRSAEncryption",
            "Issuer: CN = Test Direct CA",
            "X509v3 Authority Key Identifier",
            "X509v3 CRL Number: \n                7",
            &format!("Serial Number: {serial}"),
        ] {
            assert!(out_text.contains(want), "missing {want:?} in\n{out_text}");
        }
        let check = openssl(
            dir.path(),
            &["crl", "-in", "crl.pem", "-CAfile", "ca.pem", "-noout"],
        );
        assert!(text(&check).contains("verify OK"), "{}", text(&check));
        let parsed = X509Crl::from_pem(
            std::fs::read(dir.path().join("crl.pem"))
                .expect("read")
                .as_slice(),
        )
        .expect("parses");
        let ca_key = test_ca().cert.public_key().expect("pub");
        assert!(parsed.verify(&ca_key).expect("verify"));
    }

    #[test]
    fn verify_crl_check_refuses_only_the_revoked_leaf() {
        let (dir, _) = scene(true);
        let crl_args = ["-crl_check", "-CRLfile", "crl.pem"];
        let revoked = verify(dir.path(), "jo.pem", &crl_args);
        assert!(!revoked.status.success());
        assert!(
            text(&revoked).contains("certificate revoked"),
            "{}",
            text(&revoked)
        );
        let fine = verify(dir.path(), "org.pem", &crl_args);
        assert!(fine.status.success(), "{}", text(&fine));
    }

    #[test]
    fn empty_crl_revokes_nothing() {
        let (dir, _) = scene(false);
        let out = openssl(
            dir.path(),
            &["crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text"],
        );
        assert!(
            text(&out).contains("No Revoked Certificates."),
            "{}",
            text(&out)
        );
        let ok = verify(dir.path(), "jo.pem", &["-crl_check", "-CRLfile", "crl.pem"]);
        assert!(ok.status.success(), "{}", text(&ok));
    }

    #[test]
    fn serials_of_every_shape_round_trip() {
        let shapes = [
            "0",
            "0A",
            "A",
            "7F",
            "80",
            "00FF",
            "01:00",
            "F1ADDA9A5AB44FF547B9C547252B1031",
        ];
        let revoked: Vec<Revoked> = shapes
            .iter()
            .map(|s| Revoked {
                serial_hex: s.to_string(),
                revoked_at: NOW,
            })
            .collect();
        let der = crl(test_ca(), &revoked, 1, NOW, NOW + WEEK).expect("crl");
        let parsed = X509Crl::from_der(&der).expect("parses");
        let got: Vec<String> = parsed
            .get_revoked()
            .expect("revoked list")
            .iter()
            .map(|r| {
                r.serial_number()
                    .to_bn()
                    .expect("bn")
                    .to_hex_str()
                    .expect("hex")
                    .to_string()
            })
            .collect();
        assert_eq!(
            got,
            [
                "0",
                "0A",
                "0A",
                "7F",
                "80",
                "FF",
                "0100",
                "F1ADDA9A5AB44FF547B9C547252B1031"
            ]
        );
        for bad in ["", "  ", "xyz", "-01", "0x1F"] {
            let r = [Revoked {
                serial_hex: bad.to_string(),
                revoked_at: NOW,
            }];
            let err = crl(test_ca(), &r, 1, NOW, NOW + WEEK).expect_err("bad serial");
            assert!(matches!(err, PkiError::BadSerial(_)), "{bad}: {err}");
        }
    }

    #[test]
    fn times_after_2049_are_generalized() {
        let later = 2_600_000_000; // 2052
        let der = crl(test_ca(), &[], u64::MAX, later, later + WEEK).expect("crl");
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "late.der", &der);
        let out = openssl(
            dir.path(),
            &[
                "crl", "-inform", "DER", "-in", "late.der", "-noout", "-text",
            ],
        );
        let out_text = text(&out);
        assert!(out_text.contains("Last Update: May 22 "), "{out_text}");
        assert!(out_text.contains("2052 GMT"), "{out_text}");
        assert!(out_text.contains("18446744073709551615"), "{out_text}");
        let asn1 = text(&openssl(
            dir.path(),
            &["asn1parse", "-inform", "DER", "-in", "late.der"],
        ));
        assert!(
            asn1.contains("GENERALIZEDTIME   :20520522141320Z"),
            "{asn1}"
        );
        let err = crl(test_ca(), &[], 1, NOW, 300_000_000_000).expect_err("year 11476");
        assert!(
            matches!(err, PkiError::Der(der::DerError::BadTime(_))),
            "{err}"
        );
    }
}

//! A throwaway server certificate made by code, and both TLS ends.

use std::pin::Pin;
use std::sync::Arc;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslAcceptor, SslConnector, SslMethod, SslVerifyMode};
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509, X509NameBuilder};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_openssl::SslStream;

/// The name the test certificate is issued to.
pub const HOST: &str = "mx.test";

/// A self-signed P-256 certificate for [`HOST`], valid from now for a day.
pub fn self_signed() -> (X509, PKey<Private>) {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("group");
    let key = PKey::from_ec_key(EcKey::generate(&group).expect("ec key")).expect("pkey");
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_nid(Nid::COMMONNAME, HOST).expect("cn");
    let name = name.build();
    let mut serial = BigNum::new().expect("bn");
    serial.rand(64, MsbOption::MAYBE_ZERO, false).expect("rand");
    let mut cert = X509::builder().expect("builder");
    cert.set_version(2).expect("version");
    cert.set_serial_number(&serial.to_asn1_integer().expect("serial"))
        .expect("serial");
    cert.set_subject_name(&name).expect("subject");
    cert.set_issuer_name(&name).expect("issuer");
    cert.set_pubkey(&key).expect("pubkey");
    cert.set_not_before(&Asn1Time::days_from_now(0).expect("time"))
        .expect("nb");
    cert.set_not_after(&Asn1Time::days_from_now(1).expect("time"))
        .expect("na");
    let san = SubjectAlternativeName::new()
        .dns(HOST)
        .build(&cert.x509v3_context(None, None))
        .expect("san");
    cert.append_extension(san).expect("ext");
    cert.sign(&key, MessageDigest::sha256()).expect("sign");
    (cert.build(), key)
}

/// A server acceptor and a client connector that trusts exactly its cert.
pub fn tls_pair() -> (Arc<SslAcceptor>, SslConnector) {
    let (cert, key) = self_signed();
    let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).expect("acceptor");
    acceptor.set_private_key(&key).expect("key");
    acceptor.set_certificate(&cert).expect("cert");
    let mut connector = SslConnector::builder(SslMethod::tls()).expect("connector");
    connector.cert_store_mut().add_cert(cert).expect("trust");
    connector.set_verify(SslVerifyMode::PEER);
    (Arc::new(acceptor.build()), connector.build())
}

/// Run the client side of the handshake, verifying [`HOST`].
pub async fn connect<S>(connector: &SslConnector, stream: S) -> SslStream<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let ssl = connector
        .configure()
        .expect("configure")
        .into_ssl(HOST)
        .expect("ssl");
    let mut tls = SslStream::new(ssl, stream).expect("stream");
    Pin::new(&mut tls).connect().await.expect("handshake");
    tls
}

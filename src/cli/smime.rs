//! `hisp smime inspect|decrypt|verify FILE`: for debugging other HISPs' messages.
//! `verify` prints each check and its result and exits 0 only when all pass.

use std::path::PathBuf;

use clap::Subcommand;

use super::{CliError, Output};
use crate::direct::incoming::{IncomingError, sender};
use crate::direct::smime::{self, mime};
use crate::direct::{DirectAddress, Domain};
use crate::ops::{Hisp, OpsError};
use crate::pki;
use crate::store::anchors::Direction;

/// `hisp smime …`
#[derive(Debug, Subcommand)]
pub enum SmimeCmd {
    /// Show content type, algorithms, recipients, signers and certificates (no keys needed).
    Inspect {
        /// A message or MIME entity.
        file: PathBuf,
    },
    /// Decrypt with a local address's keys and write the decrypted entity to stdout.
    Decrypt {
        /// A message or MIME entity.
        file: PathBuf,
        /// The local address whose keys to use.
        #[arg(long = "as")]
        address: String,
    },
    /// Run every check incoming mail gets; exit 0 only when all pass.
    Verify {
        /// An encrypted message, or a signed entity.
        file: PathBuf,
        /// Judge trust with this local domain's incoming anchors (default: the local recipients').
        #[arg(long)]
        domain: Option<String>,
    },
}

fn read(path: &PathBuf) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::Ops(OpsError::io(path, e)))
}

/// Run an smime command.
pub async fn run(hisp: Hisp, cmd: SmimeCmd, out: &mut Output) -> Result<(), CliError> {
    let result = match cmd {
        SmimeCmd::Inspect { file } => inspect(&read(&file)?, out),
        SmimeCmd::Decrypt { file, address } => {
            decrypt(&hisp, &read(&file)?, &DirectAddress::parse(&address)?, out).await
        }
        SmimeCmd::Verify { file, domain } => {
            let domain = domain.as_deref().map(Domain::parse).transpose()?;
            verify(&hisp, &read(&file)?, domain.as_ref(), out).await
        }
    };
    hisp.store.close().await;
    result
}

fn inspect(bytes: &[u8], out: &mut Output) -> Result<(), CliError> {
    let crlf = mime::to_crlf(bytes);
    let entity = mime::parse_entity(&crlf)
        .ok_or_else(|| OpsError::Invalid("not a MIME message: no header block".into()))?;
    out.line(format!(
        "content-type: {}",
        entity
            .header("Content-Type")
            .unwrap_or("text/plain (none given)")
    ));
    for h in ["From", "To", "Subject", "Message-ID", "Date"] {
        if let Some(v) = entity.header(h) {
            out.line(format!(
                "{:<13} {v}",
                format!("{}:", h.to_ascii_lowercase())
            ));
        }
    }
    if smime::is_encrypted(&crlf) {
        let env = smime::envelope_info(&crlf).map_err(|e| OpsError::Invalid(e.to_string()))?;
        out.line(format!(
            "encrypted:   {} with {} ({})",
            env.content_type, env.cipher, env.cipher_oid
        ));
        for r in &env.recipients {
            out.line(format!(
                "  recipient: issuer '{}' serial {} key transport {}",
                r.issuer, r.serial_hex, r.key_transport
            ));
        }
        out.line("  (decrypt with `hisp smime decrypt FILE --as ADDR` to see the signature)");
        return Ok(());
    }
    if smime::is_signed(&crlf) {
        match smime::verify(&crlf) {
            Ok(v) => {
                out.line(format!(
                    "signed:      {} micalg={}",
                    if v.detached { "detached" } else { "opaque" },
                    v.micalg.as_deref().unwrap_or("-")
                ));
                for s in &v.signers {
                    out.line(format!(
                        "  signer:    issuer '{}' serial {} digest {} signature {}",
                        s.issuer, s.serial_hex, s.digest, s.signature
                    ));
                }
                for c in &v.certs {
                    cert_line(c, out);
                }
                out.line("  signature: verifies (trust not judged here; use `hisp smime verify`)");
            }
            Err(e) => out.line(format!("signed:      signature does NOT verify: {e}")),
        }
        return Ok(());
    }
    out.line("neither encrypted nor signed");
    Ok(())
}

fn cert_line(c: &openssl::x509::X509, out: &mut Output) {
    match pki::info(c) {
        Ok(i) => {
            let sans: Vec<String> = i
                .rfc822_names
                .iter()
                .map(|s| format!("email:{s}"))
                .chain(i.dns_names.iter().map(|s| format!("DNS:{s}")))
                .collect();
            out.line(format!(
                "  cert:      '{}' issuer '{}' serial {} RSA-{} {}..{} SAN [{}]",
                i.subject,
                i.issuer,
                i.serial_hex,
                i.key_bits,
                crate::clock::rfc3339(i.not_before),
                crate::clock::rfc3339(i.not_after),
                sans.join(", ")
            ));
        }
        Err(e) => out.line(format!("  cert:      unreadable: {e}")),
    }
}

async fn decrypt(
    hisp: &Hisp,
    bytes: &[u8],
    address: &DirectAddress,
    out: &mut Output,
) -> Result<(), CliError> {
    let keys = hisp.local_keys(address).await?;
    let mut last = format!("{address} holds no key");
    for k in &keys {
        match smime::decrypt(bytes, &k.cert, &k.key) {
            Ok(d) => {
                out.bytes(&d.entity);
                return Ok(());
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(CliError::Ops(OpsError::Invalid(format!(
        "cannot decrypt as {address}: {last}"
    ))))
}

async fn verify(
    hisp: &Hisp,
    bytes: &[u8],
    domain: Option<&Domain>,
    out: &mut Output,
) -> Result<(), CliError> {
    let crlf = mime::to_crlf(bytes);
    if !smime::is_encrypted(&crlf) {
        return verify_signed(hisp, &crlf, domain, out).await;
    }
    let to = local_recipients(hisp, &crlf, domain).await?;
    if to.is_empty() {
        return Err(CliError::Ops(OpsError::Invalid(
            "no local recipient in To/Cc: give --domain and make sure the message is for one of its addresses".into(),
        )));
    }
    match hisp.incoming(&crlf, &to).await? {
        Ok(opened) => {
            out.line(format!(
                "PASS algorithms   {} with {}",
                opened.envelope.cipher,
                opened
                    .envelope
                    .recipients
                    .first()
                    .map_or("-", |r| r.key_transport.as_str())
            ));
            out.line("PASS decryption");
            out.line(format!(
                "PASS signature    digest {}, signer '{}' serial {}",
                opened.digest,
                crate::direct::trust::path::subject_line(&opened.signer),
                pki::serial_hex(&opened.signer)
            ));
            out.line(format!(
                "PASS binding      the signer's certificate names {}",
                opened.from.as_ref().map_or("-".into(), ToString::to_string)
            ));
            let mut all = true;
            for (addr, verdict) in &opened.verdicts {
                match verdict {
                    Ok(()) => out.line(format!("PASS trust        for {addr}")),
                    Err(f) => {
                        all = false;
                        out.line(format!("FAIL trust        for {addr}: {f}"));
                    }
                }
            }
            if all { Ok(()) } else { Err(failed("trust")) }
        }
        Err(e) => {
            let step = match &e {
                IncomingError::NotDirect(_) => "format",
                IncomingError::Algorithm(_) => "algorithms",
                IncomingError::Decrypt(_) => "decryption",
                IncomingError::Unsigned | IncomingError::Signature(_) => "signature",
                IncomingError::Signer(_) => "binding",
            };
            out.line(format!("FAIL {step:<12} {e}"));
            Err(failed(step))
        }
    }
}

fn failed(step: &str) -> CliError {
    CliError::Ops(OpsError::Invalid(format!(
        "verification failed at the {step} check"
    )))
}

async fn verify_signed(
    hisp: &Hisp,
    crlf: &[u8],
    domain: Option<&Domain>,
    out: &mut Output,
) -> Result<(), CliError> {
    let v = match smime::verify(crlf) {
        Ok(v) => v,
        Err(e) => {
            out.line(format!("FAIL signature    {e}"));
            return Err(failed("signature"));
        }
    };
    let signer = v
        .signers
        .first()
        .and_then(|s| s.cert.clone())
        .ok_or_else(|| OpsError::Invalid("no signer certificate".into()))?;
    out.line(format!(
        "PASS signature    digest {}",
        v.signers.first().map_or("-", |s| s.digest.as_str())
    ));
    let inner = smime::unwrap_rfc822(&v.content).unwrap_or_else(|| v.content.clone());
    let from = sender(&inner).or_else(|| sender(crlf));
    match &from {
        Some(f) if crate::direct::outgoing::binds(&signer, f) => out.line(format!(
            "PASS binding      the signer's certificate names {f}"
        )),
        other => {
            out.line(format!(
                "FAIL binding      the signer's certificate does not name {}",
                other
                    .as_ref()
                    .map_or("the From address".into(), ToString::to_string)
            ));
            return Err(failed("binding"));
        }
    }
    let domain = match domain {
        Some(d) => d.clone(),
        None => match hisp.domain_list().await?.as_slice() {
            [only] => only.name.clone(),
            _ => {
                return Err(CliError::Usage(
                    "several domains are served: give --domain to judge trust".into(),
                ));
            }
        },
    };
    let anchors = hisp.anchor_set(&domain, Direction::Incoming).await?;
    match hisp
        .validator
        .validate(
            &signer,
            &v.certs,
            &anchors,
            &format!("incoming anchors of {domain}"),
        )
        .await
    {
        Ok(_) => {
            out.line(format!("PASS trust        for {domain}"));
            Ok(())
        }
        Err(f) => {
            out.line(format!("FAIL trust        for {domain}: {f}"));
            Err(failed("trust"))
        }
    }
}

/// Local addresses in To/Cc (or every local address of `domain` named nowhere: its org keys).
async fn local_recipients(
    hisp: &Hisp,
    message: &[u8],
    domain: Option<&Domain>,
) -> Result<Vec<DirectAddress>, CliError> {
    let entity =
        mime::parse_entity(message).ok_or_else(|| OpsError::Invalid("no header block".into()))?;
    let mut found = Vec::new();
    for h in ["To", "Cc"] {
        for part in entity.header(h).unwrap_or("").split(',') {
            let a = part
                .rsplit_once('<')
                .map_or(part, |(_, r)| r.trim_end_matches('>'));
            if let Ok(addr) = DirectAddress::parse(a.trim())
                && domain.is_none_or(|d| addr.domain() == d)
                && hisp.local_certs(&addr).await?.is_some()
            {
                found.push(addr);
            }
        }
    }
    Ok(found)
}

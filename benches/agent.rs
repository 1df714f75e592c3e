//! Benchmarks of the Direct trust agent, for `bench/agent-vs-openssl.sh` and
//! BENCHMARKS.md.
//!
//! Everything runs in memory: one RSA-4096 root (as `CaKeys::generate` makes it),
//! RSA-2048 dual-use certificates for the sender and the recipient, and a
//! [`Fetcher`] that serves the root's (empty) CRL for every URL, so path
//! validation and the CRL check run in full with no network. The clock is fixed.
//!
//! Groups:
//! - `small`: a 4 KiB message, one recipient, AES-256-CBC, PKCS#1 v1.5. The whole
//!   agent (`outgoing::prepare`, `incoming::open`, both with trust), the bare
//!   S/MIME crypto (`smime::sign` + `smime::encrypt`, `smime::decrypt` +
//!   `smime::verify`), each step alone, trust validation alone, and a bare
//!   in-process RSA-2048 private-key operation for reference.
//! - `large`: a 20 MiB message whose body is base64 text lines, through the whole
//!   agent and through the bare crypto, with flat sampling (10 iterations).
//!
//! `agent --rss-20mb` skips criterion and does one 20 MiB outgoing + incoming
//! round trip, printing the peak resident set of each phase (VmHWM, reset between
//! phases through /proc/self/clear_refs), so the script can wrap the binary in
//! `/usr/bin/time -v`.

use std::hint::black_box;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use openssl::hash::{MessageDigest, hash};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

use hisp::clock::FixedClock;
use hisp::config::CrlPolicy;
use hisp::direct::DirectAddress;
use hisp::direct::incoming::{self, LocalKey, LocalRecipient};
use hisp::direct::outgoing::{self, Outcome, Recipient, Signer};
use hisp::direct::policy::AlgorithmPolicy;
use hisp::direct::smime::{self, ContentCipher, KeyTransport, mime};
use hisp::direct::trust::Validator;
use hisp::direct::trust::fetch::{FetchFuture, Fetcher};
use hisp::pki::{self, CaKeys, Profile, Subject, Usage};

/// The fixed time of every run (2026-11-18T11:06:40Z).
const NOW: i64 = 1_795_000_000;
/// The small message: 4 KiB, headers included.
const SMALL: usize = 4 * 1024;
/// The large message: 20 MiB, headers included.
const LARGE: usize = 20 * 1024 * 1024;
const SENDER: &str = "jo@a.example.org";
const RECIPIENT: &str = "bob@b.example.org";
const ANCHOR_SET: &str = "bench anchors";

/// Serves the same DER CRL for every URL.
#[derive(Debug)]
struct MemFetcher {
    crl: Vec<u8>,
}

impl Fetcher for MemFetcher {
    fn get<'a>(&'a self, _url: &'a str) -> FetchFuture<'a> {
        let body = self.crl.clone();
        Box::pin(async move { Ok(body) })
    }
}

/// The keys, certificates and validator every benchmark shares.
struct Fixture {
    ca: X509,
    sender_cert: X509,
    sender_key: PKey<Private>,
    rcpt_cert: X509,
    rcpt_key: PKey<Private>,
    recipient: DirectAddress,
    validator: Validator,
    rt: tokio::runtime::Runtime,
}

impl Fixture {
    fn new() -> Self {
        let ca = CaKeys::generate("Bench Direct CA", NOW, 3650).expect("root");
        let profile = Profile::new("http://hisp.a.example.org");
        let sender = DirectAddress::parse(SENDER).expect("address");
        let recipient = DirectAddress::parse(RECIPIENT).expect("address");
        let subject = |address: &DirectAddress| Subject::Address {
            address: address.clone(),
            name: None,
        };
        let s = pki::issue(&ca, &subject(&sender), Usage::Dual, &profile, NOW).expect("sender");
        let r = pki::issue(&ca, &subject(&recipient), Usage::Dual, &profile, NOW).expect("rcpt");
        let crl = pki::crl(&ca, &[], 1, NOW - 60, NOW + 86_400).expect("crl");
        let validator = Validator::new(
            Arc::new(MemFetcher { crl }),
            FixedClock::new(NOW),
            CrlPolicy::HardFail,
            AlgorithmPolicy::default(),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        Self {
            ca: ca.cert,
            sender_cert: s.cert,
            sender_key: s.key,
            rcpt_cert: r.cert,
            rcpt_key: r.key,
            recipient,
            validator,
            rt,
        }
    }

    fn chain(&self) -> Vec<X509> {
        vec![self.ca.clone()]
    }

    fn recipients(&self) -> Vec<Recipient> {
        vec![Recipient {
            address: self.recipient.clone(),
            certs: vec![self.rcpt_cert.clone()],
            cipher: ContentCipher::Aes256Cbc,
            transport: KeyTransport::Pkcs1v15,
        }]
    }

    fn keys(&self) -> Vec<LocalKey> {
        vec![LocalKey {
            cert: self.rcpt_cert.clone(),
            key: self.rcpt_key.clone(),
        }]
    }

    fn local(&self) -> Vec<LocalRecipient> {
        vec![LocalRecipient {
            address: self.recipient.clone(),
            anchors: vec![self.ca.clone()],
            anchor_set: ANCHOR_SET.into(),
        }]
    }

    /// The whole outgoing agent: sign, trust-check the recipient, encrypt.
    fn outgoing(&self, message: &[u8], chain: &[X509], recipients: &[Recipient]) -> Vec<u8> {
        let signer = Signer {
            cert: &self.sender_cert,
            key: &self.sender_key,
            chain,
        };
        let anchors = [self.ca.clone()];
        let outcomes = self
            .rt
            .block_on(outgoing::prepare(
                message,
                &signer,
                recipients,
                &anchors,
                ANCHOR_SET,
                &self.validator,
            ))
            .expect("prepare");
        match outcomes.into_iter().next() {
            Some(Outcome::Encrypted { message, .. }) => message,
            other => panic!("the recipient was not encrypted to: {other:?}"),
        }
    }

    /// The whole incoming agent: decrypt, verify, trust-check the signer.
    fn incoming(&self, raw: &[u8], keys: &[LocalKey], local: &[LocalRecipient]) -> Vec<u8> {
        let opened = self
            .rt
            .block_on(incoming::open(raw, keys, local, &self.validator))
            .expect("open");
        assert!(opened.trusted_by_all(), "{:?}", opened.verdicts);
        opened.message
    }

    /// The bare crypto of sending: sign the wrapped message, encrypt to one cert.
    fn sign_encrypt(&self, entity: &[u8], chain: &[X509], to: &[X509]) -> Vec<u8> {
        let signed = smime::sign(entity, &self.sender_cert, &self.sender_key, chain).expect("sign");
        smime::encrypt(
            &signed,
            to,
            ContentCipher::Aes256Cbc,
            KeyTransport::Pkcs1v15,
        )
        .expect("encrypt")
    }

    /// The bare crypto of receiving: decrypt, verify the signature (no trust).
    fn decrypt_verify(&self, raw: &[u8]) -> Vec<u8> {
        let d = smime::decrypt(raw, &self.rcpt_cert, &self.rcpt_key).expect("decrypt");
        smime::verify(&d.entity).expect("verify").content
    }
}

/// Headers of a test message, `Content-Type` and the blank line included.
fn headers(content_type: &str) -> String {
    format!(
        "From: Jo <{SENDER}>\r\nTo: Bob <{RECIPIENT}>\r\nSubject: benchmark\r\n\
         Date: Wed, 18 Nov 2026 11:06:40 +0000\r\nMessage-ID: <bench@a.example.org>\r\n\
         MIME-Version: 1.0\r\n{content_type}\r\n\r\n"
    )
}

/// A `len`-byte text/plain message of 72-character lines.
fn small_message(len: usize) -> Vec<u8> {
    let mut m = headers("Content-Type: text/plain; charset=us-ascii").into_bytes();
    let line = b"The quick brown fox jumps over the lazy dog; 0123456789 ABCDEFGHIJKLMNO\r\n";
    while m.len() < len {
        let take = line.len().min(len - m.len());
        m.extend_from_slice(&line[line.len() - take..]);
    }
    m
}

/// A message of exactly `len` bytes whose body is base64 of random bytes in
/// 76-character CRLF lines (an `X-Pad` header takes up the remainder), built
/// without a second full copy.
fn base64_message(len: usize) -> Vec<u8> {
    const LINE: usize = 78;
    let head = headers(
        "Content-Type: application/octet-stream; name=scan.bin\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=scan.bin",
    );
    let mut lines = (len - head.len()) / LINE;
    let mut pad = len - head.len() - lines * LINE;
    if pad < "X-Pad: \r\n".len() {
        lines -= 1;
        pad += LINE;
    }
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(b"X-Pad: ");
    m.resize(pad - 2, b'x');
    m.extend_from_slice(b"\r\n");
    m.extend_from_slice(head.as_bytes());
    let mut raw = vec![0u8; 57 * 1024];
    while lines > 0 {
        openssl::rand::rand_bytes(&mut raw).expect("random");
        let chunk = mime::base64_lines(&raw);
        let take = lines.min(1024);
        m.extend_from_slice(&chunk[..take * LINE]);
        lines -= take;
    }
    assert_eq!(m.len(), len);
    m
}

fn small(c: &mut Criterion, f: &Fixture) {
    let message = small_message(SMALL);
    let entity = smime::wrap_rfc822(&message);
    let chain = f.chain();
    let recipients = f.recipients();
    let to = [f.rcpt_cert.clone()];
    let keys = f.keys();
    let local = f.local();
    // Warm the CRL cache, and check the round trip once.
    let raw = f.outgoing(&message, &chain, &recipients);
    assert_eq!(f.incoming(&raw, &keys, &local), message);
    let signed = smime::sign(&entity, &f.sender_cert, &f.sender_key, &chain).expect("sign");
    let decrypted = smime::decrypt(&raw, &f.rcpt_cert, &f.rcpt_key)
        .expect("decrypt")
        .entity;
    let digest = hash(MessageDigest::sha256(), &message).expect("sha256");

    let mut g = c.benchmark_group("small");
    g.throughput(Throughput::Elements(1));
    g.bench_function("outgoing_prepare", |b| {
        b.iter(|| f.outgoing(black_box(&message), &chain, &recipients));
    });
    g.bench_function("sign_encrypt", |b| {
        b.iter(|| f.sign_encrypt(black_box(&entity), &chain, &to));
    });
    g.bench_function("incoming_open", |b| {
        b.iter(|| f.incoming(black_box(&raw), &keys, &local));
    });
    g.bench_function("decrypt_verify", |b| {
        b.iter(|| f.decrypt_verify(black_box(&raw)));
    });
    g.bench_function("sign", |b| {
        b.iter(|| smime::sign(black_box(&entity), &f.sender_cert, &f.sender_key, &chain));
    });
    g.bench_function("encrypt", |b| {
        b.iter(|| {
            smime::encrypt(
                black_box(&signed),
                &to,
                ContentCipher::Aes256Cbc,
                KeyTransport::Pkcs1v15,
            )
        });
    });
    g.bench_function("decrypt", |b| {
        b.iter(|| smime::decrypt(black_box(&raw), &f.rcpt_cert, &f.rcpt_key));
    });
    g.bench_function("verify", |b| {
        b.iter(|| smime::verify(black_box(&decrypted)));
    });
    g.bench_function("validate_recipient", |b| {
        let anchors = [f.ca.clone()];
        b.iter(|| {
            f.rt.block_on(
                f.validator
                    .validate(black_box(&f.rcpt_cert), &[], &anchors, ANCHOR_SET),
            )
            .expect("trusted")
        });
    });
    let leaf_der = f.sender_cert.to_der().expect("der");
    g.bench_function("x509_parse", |b| {
        b.iter(|| X509::from_der(black_box(&leaf_der)).expect("parses"));
    });
    g.bench_function("rsa2048_sign_raw", |b| {
        b.iter(|| {
            let mut s = openssl::sign::Signer::new_without_digest(&f.sender_key).expect("signer");
            s.sign_oneshot_to_vec(black_box(&digest)).expect("sign")
        });
    });
    g.finish();
}

/// The 20 MiB inputs, built on first use so a filtered run skips them.
struct LargeInputs {
    message: Vec<u8>,
    entity: Vec<u8>,
    raw: Vec<u8>,
}

fn large(c: &mut Criterion, f: &Fixture, len: usize) {
    let chain = f.chain();
    let recipients = f.recipients();
    let to = [f.rcpt_cert.clone()];
    let keys = f.keys();
    let local = f.local();
    let inputs = std::cell::OnceCell::new();
    let inputs = || {
        inputs.get_or_init(|| {
            let message = base64_message(len);
            let raw = f.outgoing(&message, &chain, &recipients);
            assert_eq!(f.incoming(&raw, &keys, &local), message);
            LargeInputs {
                entity: smime::wrap_rfc822(&message),
                message,
                raw,
            }
        })
    };

    let mut g = c.benchmark_group("large");
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Bytes(len as u64));
    g.bench_function("outgoing_prepare", |b| {
        let message = &inputs().message;
        b.iter(|| f.outgoing(black_box(message), &chain, &recipients));
    });
    g.bench_function("sign_encrypt", |b| {
        let entity = &inputs().entity;
        b.iter(|| f.sign_encrypt(black_box(entity), &chain, &to));
    });
    g.bench_function("incoming_open", |b| {
        let raw = &inputs().raw;
        b.iter(|| f.incoming(black_box(raw), &keys, &local));
    });
    g.bench_function("decrypt_verify", |b| {
        let raw = &inputs().raw;
        b.iter(|| f.decrypt_verify(black_box(raw)));
    });
    g.finish();
}

/// Peak resident set since the last reset, in KiB (VmHWM), if readable.
fn peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Current resident set, in KiB (VmRSS), if readable.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Reset VmHWM to the current RSS (Linux 4.0+); false when not allowed.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn show(kib: Option<u64>) -> String {
    kib.map_or_else(|| "?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

/// One 20 MiB round trip, for `/usr/bin/time -v`. With `phases`, VmHWM is reset
/// before each phase to show each one's own peak; that also resets what
/// `/usr/bin/time` reports, so the script runs that mode separately.
fn rss_round_trip(phases: bool) {
    let f = Fixture::new();
    let message = base64_message(LARGE);
    let size = message.len();
    let digest = hash(MessageDigest::sha256(), &message).expect("sha256");
    let chain = f.chain();
    let recipients = f.recipients();
    let (keys, local) = (f.keys(), f.local());
    let before = rss_kib();
    let resettable = phases && reset_peak();
    let t = Instant::now();
    let raw = f.outgoing(&message, &chain, &recipients);
    let out_time = t.elapsed();
    let out_peak = peak_kib();
    drop(message);
    let mid = rss_kib();
    if resettable {
        reset_peak();
    }
    let t = Instant::now();
    let opened = f.incoming(&raw, &keys, &local);
    let in_time = t.elapsed();
    let in_peak = peak_kib();
    assert_eq!(
        hash(MessageDigest::sha256(), &opened).expect("sha256")[..],
        digest[..],
        "the round trip changed the message"
    );
    let mut o = std::io::stdout().lock();
    let _ = writeln!(
        o,
        "rss-20mb: message {size} bytes, encrypted {} bytes",
        raw.len()
    );
    let _ = writeln!(o, "rss-20mb: RSS with the message built: {}", show(before));
    if resettable {
        let _ = writeln!(
            o,
            "rss-20mb: outgoing {:.3} s, peak RSS during it {}",
            out_time.as_secs_f64(),
            show(out_peak)
        );
        let _ = writeln!(
            o,
            "rss-20mb: RSS after outgoing (plain message dropped): {}",
            show(mid)
        );
        let _ = writeln!(
            o,
            "rss-20mb: incoming {:.3} s, peak RSS during it {}",
            in_time.as_secs_f64(),
            show(in_peak)
        );
    } else {
        let _ = writeln!(
            o,
            "rss-20mb: outgoing {:.3} s (peak so far {}), incoming {:.3} s (peak so far {})",
            out_time.as_secs_f64(),
            show(out_peak),
            in_time.as_secs_f64(),
            show(in_peak)
        );
    }
    drop(o);
    if resettable {
        drop((raw, opened));
        step_peaks(&f);
    }
}

/// Run `step`, then print how far the peak RSS rose above the RSS before it,
/// and the size of what it returned.
fn step_peak<T: AsRef<[u8]>>(name: &str, step: impl FnOnce() -> T) -> T {
    let before = rss_kib();
    reset_peak();
    let out = step();
    let peak = peak_kib();
    let rise = match (before, peak) {
        (Some(b), Some(p)) => show(Some(p.saturating_sub(b))),
        _ => "?".into(),
    };
    println!(
        "rss-20mb step {name}: peak +{rise} over {} (returns {:.1} MiB)",
        show(before),
        out.as_ref().len() as f64 / (1024.0 * 1024.0)
    );
    out
}

/// Each S/MIME step of the round trip alone, with only its inputs alive.
fn step_peaks(f: &Fixture) {
    let chain = f.chain();
    let to = [f.rcpt_cert.clone()];
    let message = base64_message(LARGE);
    let crlf = step_peak("mime::to_crlf(message)", || mime::to_crlf(&message));
    drop(crlf);
    let entity = step_peak("smime::wrap_rfc822", || smime::wrap_rfc822(&message));
    drop(message);
    let signed = step_peak("smime::sign", || {
        smime::sign(&entity, &f.sender_cert, &f.sender_key, &chain).expect("sign")
    });
    drop(entity);
    let raw = step_peak("smime::encrypt", || {
        smime::encrypt(
            &signed,
            &to,
            ContentCipher::Aes256Cbc,
            KeyTransport::Pkcs1v15,
        )
        .expect("encrypt")
    });
    drop(signed);
    step_peak("smime::envelope_info", || {
        smime::envelope_info(&raw).expect("envelope");
        Vec::new()
    });
    let decrypted = step_peak("smime::decrypt", || {
        smime::decrypt(&raw, &f.rcpt_cert, &f.rcpt_key)
            .expect("decrypt")
            .entity
    });
    drop(raw);
    step_peak("smime::verify", || {
        smime::verify(&decrypted).expect("verify").content
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--rss-20mb") {
        rss_round_trip(args.iter().any(|a| a == "--phases"));
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(30)
        .without_plots()
        .configure_from_args();
    let f = Fixture::new();
    small(&mut c, &f);
    // `cargo test --benches` runs each benchmark once, unoptimized: keep it short.
    let len = if args.iter().any(|a| a == "--test") {
        1024 * 1024
    } else {
        LARGE
    };
    large(&mut c, &f, len);
    c.final_summary();
}

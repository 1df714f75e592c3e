//! Test fixtures for S/MIME: one RSA-4096 root and three address-bound leaves
//! per test binary, a sample message, and a runner for the `openssl` CLI.

use crate::direct::DirectAddress;
use crate::pki::{self, CaKeys, Issued, Profile, Subject, Usage};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The fixed "now" of every test (2026-11-18T11:06:40Z); the CLI gets `-attime`.
pub const NOW: i64 = 1_795_000_000;

/// The test root (RSA-4096 generation takes seconds, so once per binary).
pub fn ca() -> &'static CaKeys {
    static CA: OnceLock<CaKeys> = OnceLock::new();
    CA.get_or_init(|| CaKeys::generate("Test Direct CA", NOW, 3650).expect("root"))
}

fn leaf(address: &str) -> Issued {
    let subject = Subject::Address {
        address: DirectAddress::parse(address).expect("address"),
        name: None,
    };
    let profile = Profile {
        key_bits: 2048,
        validity_days: 365,
        policies: vec!["1.3.6.1.4.1.41179.0.1.2".into()],
        public_url: "https://hisp.example.org/".into(),
    };
    pki::issue(ca(), &subject, Usage::Dual, &profile, NOW).expect("issue")
}

/// The sender.
pub fn jo() -> &'static Issued {
    static JO: OnceLock<Issued> = OnceLock::new();
    JO.get_or_init(|| leaf("jo@direct.example.org"))
}

/// A recipient.
pub fn sam() -> &'static Issued {
    static SAM: OnceLock<Issued> = OnceLock::new();
    SAM.get_or_init(|| leaf("sam@direct.example.net"))
}

/// Someone the messages are not for.
pub fn eve() -> &'static Issued {
    static EVE: OnceLock<Issued> = OnceLock::new();
    EVE.get_or_init(|| leaf("eve@direct.example.com"))
}

/// A small RFC 5322 message with LF line ends (wrapping must make them CRLF).
pub const MESSAGE: &[u8] = b"From: jo@direct.example.org\nTo: sam@direct.example.net\n\
Subject: lab results\nMessage-ID: <1@direct.example.org>\nMIME-Version: 1.0\n\
Content-Type: text/plain\n\nHello Sam,\nthe results are in.\n.\nJo\n";

/// Whether every LF in `bytes` follows a CR.
pub fn all_crlf(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .enumerate()
        .all(|(i, b)| *b != b'\n' || (i > 0 && bytes[i - 1] == b'\r'))
}

/// Write `bytes` to `dir/name` and return the path.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write fixture");
    path
}

/// Write ca.pem and NAME-cert.pem / NAME-key.pem for jo, sam and eve into `dir`.
pub fn write_pki(dir: &Path) {
    write(dir, "ca.pem", &ca().cert.to_pem().expect("pem"));
    for (name, who) in [("jo", jo()), ("sam", sam()), ("eve", eve())] {
        write(
            dir,
            &format!("{name}-cert.pem"),
            &who.cert.to_pem().expect("pem"),
        );
        let key = who.key.private_key_to_pem_pkcs8().expect("key pem");
        write(dir, &format!("{name}-key.pem"), &key);
    }
}

/// Run `openssl ARGS` in `dir`; panic with its output unless it succeeds.
pub fn openssl(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command line is installed");
    assert!(
        out.status.success(),
        "openssl {} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

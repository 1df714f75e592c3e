//! Test fixtures shared by the pki tests: one RSA-4096 root per test binary, a
//! leaf profile, and a runner for the real `openssl` command line.

use super::{CaKeys, Issued, Profile, Subject, Usage, cert_pem, issue};
use crate::direct::{DirectAddress, Domain};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The fixed "now" of every test: 2026-11-18T11:06:40Z. `openssl verify` is run
/// with `-attime NOW`, so no test depends on the wall clock.
pub const NOW: i64 = 1_795_000_000;

/// The DirectTrust policy OIDs test certificates carry.
pub const POLICIES: [&str; 2] = ["1.3.6.1.4.1.41179.0.1.2", "1.3.6.1.4.1.41179.1.3"];

/// The one root of this test binary (generating RSA-4096 takes seconds).
pub fn test_ca() -> &'static CaKeys {
    static CA: OnceLock<CaKeys> = OnceLock::new();
    CA.get_or_init(|| CaKeys::generate("Test Direct CA", NOW, 3650).expect("root"))
}

/// A 2048-bit, one-year profile with the test policies.
pub fn profile() -> Profile {
    Profile {
        key_bits: 2048,
        validity_days: 365,
        policies: POLICIES.iter().map(|p| p.to_string()).collect(),
        public_url: "https://hisp.example.org/".to_string(),
    }
}

/// Jo's address-bound subject.
pub fn jo() -> Subject {
    Subject::Address {
        address: DirectAddress::parse("jo@direct.example.org").expect("address"),
        name: Some("Jo Smith".to_string()),
    }
}

/// The organization-bound subject for direct.example.org.
pub fn org() -> Subject {
    Subject::Domain(Domain::parse("direct.example.org").expect("domain"))
}

/// Issue a leaf from the test root with the test profile.
pub fn leaf(subject: &Subject, usage: Usage) -> Issued {
    issue(test_ca(), subject, usage, &profile(), NOW).expect("issue")
}

/// Write `bytes` to `dir/name` and return the path.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write fixture");
    path
}

/// Write the root as ca.pem into `dir`.
pub fn write_ca(dir: &Path) -> PathBuf {
    write(
        dir,
        "ca.pem",
        cert_pem(&test_ca().cert).expect("pem").as_bytes(),
    )
}

/// Run `openssl ARGS` in `dir`.
pub fn openssl(dir: &Path, args: &[&str]) -> Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command line is installed")
}

/// stdout and stderr of a run, as one string.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `openssl verify -attime NOW -CAfile ca.pem [extra] leaf` in `dir`.
pub fn verify(dir: &Path, leaf: &str, extra: &[&str]) -> Output {
    let now = NOW.to_string();
    let mut args = vec!["verify", "-attime", &now, "-CAfile", "ca.pem"];
    args.extend_from_slice(extra);
    args.push(leaf);
    openssl(dir, &args)
}

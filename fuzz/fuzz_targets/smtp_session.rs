//! Fuzz target `smtp_session`: a whole SMTP server session over an
//! in-memory pipe, fed with arbitrary bytes, must never panic.
//! The first byte picks MX (even) or Submission (odd) mode.
//!
//! Wire into fuzz/Cargo.toml as:
//! [[bin]]
//! name = "smtp_session"
//! path = "fuzz_targets/smtp_session.rs"
//! test = false
//! doc = false
//! bench = false
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hisp::smtp::session::testing::fuzz_one(data);
});

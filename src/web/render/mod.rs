//! Rendering received mail content for the portal: pure functions, no I/O.
//!
//! A Direct message can carry anything its sender chose to put in it. The
//! portal shows two kinds of part inline, and everything else only as a
//! download:
//!
//! - `html.rs`: an HTML body, passed through an allow-list sanitizer
//!   (ammonia) so that it can load no remote content and run no script;
//! - `cda.rs`: an HL7 C-CDA document, read into a [`cda::CdaSummary`] of plain
//!   strings that the template escapes like any other text.
//!
//! Both take untrusted bytes and never panic; each has a fuzz target
//! (`fuzz/fuzz_targets/web_html.rs`, `web_cda.rs`).

pub mod cda;
pub mod html;

//! Reading notices: MDNs, DSNs and telling them apart. Any bytes give a notice
//! or an error, never a panic; a parsed MDN/DSN is classified as one.
#![no_main]

use hisp::direct::notice::{self, Kind};
use hisp::direct::{dsn, mdn};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let kind = notice::kind(data);
    if let Ok(m) = mdn::parse_mdn(data) {
        let _ = m.is_failure();
        let _ = kind == Kind::Mdn;
    }
    let _ = dsn::parse_dsn(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = notice::normalize_message_id(text);
    }
});

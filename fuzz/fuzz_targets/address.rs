//! Direct address and domain parsing: any bytes give Ok or Err, never a panic,
//! and what parses re-parses to itself.
#![no_main]

use hisp::direct::{DirectAddress, Domain};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(a) = DirectAddress::parse(text) {
        assert_eq!(DirectAddress::parse(&a.to_string()).ok(), Some(a.clone()));
        let _ = a.dns_name();
    }
    if let Ok(d) = Domain::parse(text) {
        assert_eq!(Domain::parse(d.as_str()).ok(), Some(d));
    }
});

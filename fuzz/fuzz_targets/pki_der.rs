//! The small DER reader: any bytes give an element or an error, never a panic,
//! and what is read lies within the input.
#![no_main]

use hisp::pki::der;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok((tlv, next)) = der::read(rest) {
        assert!(next.len() < rest.len(), "reading consumes input");
        assert!(tlv.content.len() <= rest.len());
        rest = next;
    }
    if let Some(&tag) = data.first() {
        let _ = der::read_tagged(data, tag);
    }
    let _ = der::key_usage(data);
});

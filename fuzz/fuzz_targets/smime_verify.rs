//! Checking a signature and unwrapping the inner message: any bytes give Ok or
//! an error, never a panic. Errors are one line.
#![no_main]

use hisp::direct::smime;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match smime::verify(data) {
        Ok(v) => {
            let _ = smime::unwrap_rfc822(&v.content);
        }
        Err(e) => assert!(!e.to_string().contains('\n'), "errors are one line: {e}"),
    }
    let _ = smime::unwrap_rfc822(data);
});

//! The From address of an incoming message: any bytes give Some or None.
#![no_main]

use hisp::direct::incoming;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(a) = incoming::sender(data) {
        let _ = a.to_string();
    }
});

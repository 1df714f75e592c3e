//! Trust bundles and certificate bodies fetched from the network (p7b/p7c, PEM,
//! DER): any bytes give certificates or an error, never a panic.
#![no_main]

use hisp::direct::trust::{bundle, path};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = bundle::parse(data, None) {
        let _ = e.to_string();
    }
    if let Some(certs) = path::parse_certs(data) {
        for c in &certs {
            let _ = path::subject_line(c);
            let _ = path::crl_urls(c);
            let _ = path::aia_urls(c);
        }
    }
    let _ = bundle::thumbprint(data);
});

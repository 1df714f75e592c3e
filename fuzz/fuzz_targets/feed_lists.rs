//! A feed's allow-list (`feed add --allow-from`, `feed allow`, the admin
//! portal's feed form) and its pinned client certificates (`feed pin
//! --fingerprint`): any text gives a list or an error, never a panic; what
//! reads is stored and read back unchanged, and a stored list never reads
//! as "any".
#![no_main]

use hisp::notify::allow::Allowed;
use hisp::notify::pins::CertPins;
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let items: Vec<String> = text.split('\n').map(str::to_string).collect();
    if let Ok(allowed) = Allowed::parse(&items) {
        match allowed.stored() {
            None => assert!(allowed.is_any()),
            Some(stored) => {
                let again = Allowed::from_stored(Some(&stored)).expect("what is stored reads");
                assert_eq!(again, allowed, "stored as {stored}");
                assert!(!again.is_any());
            }
        }
        // Each prefix contains its own network address.
        for p in allowed.prefixes() {
            let net = p.split('/').next().unwrap_or("");
            if let Ok(ip) = net.parse::<IpAddr>() {
                assert!(allowed.permits(ip), "{p} holds {ip}");
            }
        }
    }
    let _ = Allowed::from_stored(Some(&text));
    if let Ok(pins) = CertPins::parse(&items) {
        match pins.stored() {
            None => assert!(pins.is_any()),
            Some(stored) => {
                let again = CertPins::from_stored(Some(&stored)).expect("what is stored reads");
                assert_eq!(again, pins, "stored as {stored}");
                // As shown, it reads back too (`feed list` to `feed pin`).
                let shown = CertPins::parse(&[pins.to_string()]).expect("shown reads");
                assert_eq!(shown, pins);
                assert!(!pins.permits(None), "a pinned feed refuses no certificate");
            }
        }
    }
    let _ = CertPins::from_stored(Some(&text));
});

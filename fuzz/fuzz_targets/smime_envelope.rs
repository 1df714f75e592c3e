//! Reading an S/MIME envelope without decrypting: any bytes give an
//! `EnvelopeInfo` or an error, never a panic, and the kind checks agree.
#![no_main]

use hisp::direct::smime;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let info = smime::envelope_info(data);
    let encrypted = smime::is_encrypted(data);
    let signed = smime::is_signed(data);
    assert!(!(encrypted && signed), "an entity is not both encrypted and signed");
    if let Ok(info) = info {
        let _ = info.recipient_labels();
    }
});

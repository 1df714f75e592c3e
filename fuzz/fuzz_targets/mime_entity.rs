//! The hand-written MIME reader: header blocks, multipart splitting (boundary
//! from the first bytes), base64 and CRLF. Never panics; parts are exact slices
//! of the body; `to_crlf` leaves no bare LF and is idempotent; base64 round-trips.
#![no_main]

use hisp::direct::smime::mime;
use libfuzzer_sys::fuzz_target;

fn within(outer: &[u8], inner: &[u8]) -> bool {
    let o = outer.as_ptr() as usize;
    let i = inner.as_ptr() as usize;
    i >= o && i + inner.len() <= o + outer.len()
}

fuzz_target!(|data: &[u8]| {
    if let Some(entity) = mime::parse_entity(data) {
        assert!(data.ends_with(entity.body), "the body is the input's tail");
        let ct = entity.content_type();
        let _ = ct.param("boundary");
        let _ = entity.transfer_encoding();
        let _ = mime::decode_body(&entity);
        if let Some(b) = ct.param("boundary")
            && let Some(parts) = mime::split_multipart(entity.body, b)
        {
            for p in parts {
                assert!(within(entity.body, p));
            }
        }
    }

    // [len, boundary bytes..., body...]
    if let Some((&n, rest)) = data.split_first() {
        let n = usize::from(n % 71).min(rest.len());
        let (boundary, body) = rest.split_at(n);
        let boundary = String::from_utf8_lossy(boundary);
        if let Some(parts) = mime::split_multipart(body, &boundary) {
            for p in parts {
                assert!(within(body, p), "a part is a slice of the body");
            }
        }
    }

    if let Some(decoded) = mime::base64_decode(data) {
        assert_eq!(mime::base64_decode(&mime::base64_lines(&decoded)).as_deref(), Some(&decoded[..]));
    }
    let encoded = mime::base64_lines(data);
    assert_eq!(mime::base64_decode(&encoded).as_deref(), Some(data));

    let crlf = mime::to_crlf(data);
    assert!(!mime::has_bare_lf(&crlf), "to_crlf leaves no bare LF");
    assert_eq!(mime::to_crlf(&crlf), crlf, "to_crlf is idempotent");
    let _ = mime::ContentType::parse(&String::from_utf8_lossy(data));
});

//! Summarizing a received C-CDA for the portal: any bytes give a summary or
//! an error, never a panic. The first byte picks whether the rest is the whole
//! document or a section's narrative block inside a minimal ClinicalDocument
//! (so the narrative renderer sees deep, odd markup without the fuzzer first
//! having to find the header). Every line of the narrative is non-empty.
#![no_main]

use hisp::web::render::cda::{CdaError, looks_like_cda, summarize};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let _ = looks_like_cda("application/xml; charset=utf-8", "ccd.xml", rest);
    let result = if mode & 1 == 1 {
        let narrative = String::from_utf8_lossy(rest);
        let doc = format!(
            "<ClinicalDocument xmlns='urn:hl7-org:v3'><component><structuredBody><component>\
             <section><title>T</title><text>{narrative}</text></section></component>\
             </structuredBody></component></ClinicalDocument>"
        );
        summarize(doc.as_bytes())
    } else {
        summarize(rest)
    };
    match result {
        Ok(summary) => {
            for section in &summary.sections {
                assert!(section.text.iter().all(|line| !line.is_empty()));
            }
        }
        Err(CdaError::NotXml { line, column, .. }) => assert!(line >= 1 && column >= 1),
        Err(error) => assert!(!error.to_string().contains('\n')),
    }
});

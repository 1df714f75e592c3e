//! Shared test helpers: finding the HL7 corpus (read in place from
//! `../shared/corpus/hl7`, never copied) and walking a parsed message.
#![allow(dead_code)] // each test crate uses a different subset

use std::path::{Path, PathBuf};

use hisp::hl7::Message;

/// The corpus root, relative to the crate so the main repo finds it too.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/hl7")
}

/// Every HL7 file under the corpus, recursively, sorted, as (relative
/// name, bytes). LICENSE/SOURCE files and anything that does not start with
/// MSH (after an optional BOM) are skipped.
pub fn corpus() -> Vec<(String, Vec<u8>)> {
    let root = corpus_dir();
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    let out: Vec<_> = files
        .into_iter()
        .filter_map(|p| {
            let bytes = std::fs::read(&p).expect("read corpus file");
            let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
            let name = p.strip_prefix(&root).expect("under root");
            body.starts_with(b"MSH")
                .then(|| (name.to_string_lossy().into_owned(), bytes))
        })
        .collect();
    assert!(
        out.len() >= 60,
        "expected the 63-file HL7 corpus at {}, found {} files",
        root.display(),
        out.len()
    );
    out
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("corpus dir {} unreadable: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("dir entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            collect(&path, out);
        } else if !matches!(name, "LICENSE" | "SOURCE") && !name.starts_with('.') {
            out.push(path);
        }
    }
}

/// One corpus file by relative name.
pub fn corpus_file(name: &str) -> Vec<u8> {
    std::fs::read(corpus_dir().join(name)).expect("corpus file")
}

/// Touches every segment, field, repetition, component and subcomponent,
/// decoding each; returns how many leaves were visited.
pub fn walk(msg: &Message<'_>) -> usize {
    let mut leaves = 0;
    for seg in msg.segments() {
        let _ = seg.name();
        for field in seg.fields() {
            let _ = field.text();
            for rep in field.repetitions() {
                let _ = rep.text();
                for comp in rep.components() {
                    let _ = comp.text();
                    for sub in comp.subcomponents() {
                        let _ = (sub.text(), sub.is_null(), sub.is_empty());
                        leaves += 1;
                    }
                }
            }
        }
    }
    let _ = msg.header();
    leaves
}

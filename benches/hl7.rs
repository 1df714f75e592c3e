//! Parse throughput over the whole HL7 corpus concatenated in memory,
//! next to scans of the same bytes that bound it from above.
//!
//! ```text
//! cargo bench --bench hl7                          # ratio line, then criterion
//! HISP_BENCH_SUMMARY_ONLY=1 cargo bench --bench hl7   # the ratio line only
//! ```
//!
//! First, one line for BENCHMARKS.md (acceptance line 1 of issue 6): the
//! parse MB/s of `parse_fields` next to "a memchr scan of the same bytes"
//! (the limit: the `memchr` crate counting CRs), with the verdict against
//! 25% of it, and the hand-written scans beside it, each with parse as a
//! percentage of it. All are timed side by side in alternating rounds,
//! median of each. Then the criterion groups, for detail.
//!
//! Parsers:
//! - `parse_fields` (the measured one): `hisp::hl7::parse` of every message,
//!   then every segment of `msg.segments()` and every field of
//!   `seg.fields()`, summing the fields' raw lengths. Field splitting is lazy,
//!   so parsing alone would only find segment ends; this is the least a
//!   consumer that reads a whole message pays. Escapes are not decoded.
//! - `parse_touch`: parses and reads PID-3, PID-5 and PV1-2 (what an ADT
//!   consumer reads).
//! - `parse_walk_all`: decodes every field, repetition, component and
//!   subcomponent (`text()`, escapes included), for scale.
//!
//! The limit:
//! - `scan_memchr`: `memchr::memchr_iter(b'\r', &bytes).count()`, the segment
//!   terminators counted by the `memchr` crate. Its `count()` is a dedicated
//!   vectorised count (AVX2 when the CPU has it, picked at run time), so it
//!   does no per-match work at all.
//!
//! Also reported (all safe Rust):
//! - `scan_memchr_each`: the same crate locating each `\r` in turn, every
//!   position consumed (a scanner that stops at each segment end);
//! - `scan_cr_pipe`: `bytes.iter().filter(|&&b| b == b'\r' || b == b'|').count()`,
//!   one pass counting segment and field separators. LLVM auto-vectorises it
//!   (SSE2 compares on the default x86-64 target) but widens each byte to a
//!   `usize` to count it;
//! - `scan_filter_count`: the same for `\r` alone;
//! - `scan_cr_chunked`: `\r` counted 64 bytes at a time into a `u8`, which
//!   vectorises without widening: faster than the memchr crate's count here;
//! - `scan_swar_memchr` (criterion only): a hand-written word-at-a-time (SWAR)
//!   memchr loop counting CRs, i.e. what `memchr_iter(b'\r')` does without SIMD;
//! - `scan_block_memchr` (criterion only): the same, but first skipping 64-byte
//!   blocks with an auto-vectorised `min` fold.
//!
//! The corpus is read at run time from `../shared/corpus/hl7` (relative to the
//! crate root; never copied into the repo): every file that starts with MSH.
//! The files are LF-terminated; the `cr` form rewrites LF→CR (the wire form,
//! used for the ratio) so the scans find the segment ends too.

use std::hint::black_box;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use hisp::hl7::parse;

/// Every corpus file that starts with MSH (after an optional BOM), sorted.
fn corpus_files() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/hl7");
    let mut paths = Vec::new();
    collect(&root, &mut paths);
    paths.sort();
    let files: Vec<Vec<u8>> = paths
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter(|b| {
            b.strip_prefix(b"\xEF\xBB\xBF")
                .unwrap_or(b)
                .starts_with(b"MSH")
        })
        .collect();
    assert!(
        files.len() >= 60,
        "expected the HL7 corpus at {}, found {} messages",
        root.display(),
        files.len()
    );
    files
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("corpus dir {} unreadable: {e}", dir.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}

struct Corpus {
    bytes: Vec<u8>,
    messages: Vec<Range<usize>>,
}

fn load(lf_to_cr: bool) -> Corpus {
    let mut bytes = Vec::new();
    let mut messages = Vec::new();
    for file in corpus_files() {
        let start = bytes.len();
        bytes.extend(
            file.iter()
                .map(|&b| if lf_to_cr && b == b'\n' { b'\r' } else { b }),
        );
        messages.push(start..bytes.len());
    }
    Corpus { bytes, messages }
}

fn parse_touch(c: &Corpus) -> usize {
    let mut n = 0;
    for r in &c.messages {
        let Ok(msg) = parse(&c.bytes[r.clone()]) else {
            continue;
        };
        if let Some(pid) = msg.segment("PID") {
            let id = pid.field(3).and_then(|f| f.repetition(1)).map(|r| r.text());
            let name = pid.field(5).map(|f| f.text());
            n += black_box(id).map_or(0, |s| s.len()) + black_box(name).map_or(0, |s| s.len());
        }
        if let Some(pv1) = msg.segment("PV1") {
            n += black_box(pv1.field(2).map(|f| f.text())).map_or(0, |s| s.len());
        }
    }
    n
}

fn parse_walk_all(c: &Corpus) -> usize {
    c.messages
        .iter()
        .filter_map(|r| parse(&c.bytes[r.clone()]).ok())
        .map(|m| walk(&m))
        .sum()
}

/// Parse, then every segment and every field (raw, not decoded).
fn parse_fields(c: &Corpus) -> usize {
    let mut n = 0;
    for r in &c.messages {
        let Ok(msg) = parse(&c.bytes[r.clone()]) else {
            continue;
        };
        for seg in msg.segments() {
            for field in seg.fields() {
                n += black_box(field.raw()).len() + 1;
            }
        }
    }
    n
}

/// UTF-8 validation of every message, the first thing `parse` does.
fn utf8_only(c: &Corpus) -> usize {
    c.messages
        .iter()
        .map(|r| std::str::from_utf8(&c.bytes[r.clone()]).map_or(0, str::len))
        .sum()
}

/// Every corpus message, parsed once.
fn parsed(c: &Corpus) -> Vec<hisp::hl7::Message<'_>> {
    c.messages
        .iter()
        .filter_map(|r| parse(&c.bytes[r.clone()]).ok())
        .collect()
}

/// Every segment's fields, split once by `hisp::hl7` and kept as `&str`s.
fn presplit<'m>(msgs: &'m [hisp::hl7::Message<'_>]) -> Vec<Vec<&'m str>> {
    msgs.iter()
        .flat_map(|m| m.segments())
        .map(|seg| seg.fields().map(|f| f.raw()).collect())
        .collect()
}

/// `parse_fields`'s inner loops over fields that are already split: what
/// handing out every field costs with no parsing or splitting at all.
fn presplit_walk(segments: &[Vec<&str>]) -> usize {
    let mut n = 0;
    for seg in segments {
        for field in seg {
            n += black_box(*field).len() + 1;
        }
    }
    n
}

/// Every leaf decoded; returns how many were visited.
fn walk(msg: &hisp::hl7::Message<'_>) -> usize {
    let mut leaves = 0;
    for seg in msg.segments() {
        black_box(seg.name());
        for field in seg.fields() {
            black_box(field.text());
            for rep in field.repetitions() {
                black_box(rep.text());
                for comp in rep.components() {
                    black_box(comp.text());
                    for sub in comp.subcomponents() {
                        black_box((sub.text(), sub.is_null(), sub.is_empty()));
                        leaves += 1;
                    }
                }
            }
        }
    }
    leaves
}

/// The limit, as issue 6 words it: "a memchr scan of the same bytes", the
/// `memchr` crate counting segment terminators (`\r`). Its `count()` is a
/// vectorised count (AVX2 when the CPU has it, chosen at run time).
fn scan_memchr(bytes: &[u8]) -> usize {
    memchr::memchr_iter(b'\r', bytes).count()
}

/// The `memchr` crate locating each segment terminator in turn: every
/// position `memchr_iter(b'\r')` yields is consumed, as a scanner that
/// stops at each segment end would (no `count()` shortcut).
fn scan_memchr_each(bytes: &[u8]) -> usize {
    let mut n = 0;
    for at in memchr::memchr_iter(b'\r', bytes) {
        black_box(at);
        n += 1;
    }
    n
}

/// CRs counted 64 bytes at a time into a `u8` (no widening per byte): the
/// fastest count we can write in safe Rust (fully vectorised compares + adds).
fn scan_cr_chunked(bytes: &[u8]) -> usize {
    let mut chunks = bytes.chunks_exact(64);
    let mut n = 0usize;
    for c in &mut chunks {
        n += usize::from(c.iter().fold(0u8, |a, &b| a + u8::from(b == b'\r')));
    }
    n + chunks.remainder().iter().filter(|&&b| b == b'\r').count()
}

/// The limit: one pass counting segment (CR) and field (`|`) separators.
fn scan_cr_pipe(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\r' || b == b'|').count()
}

fn scan_filter_count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\r').count()
}

/// memchr-style: find each CR with an 8-bytes-at-a-time test, count them.
fn scan_swar_memchr(bytes: &[u8]) -> usize {
    const LO: u64 = u64::from_ne_bytes([0x01; 8]);
    const HI: u64 = u64::from_ne_bytes([0x80; 8]);
    const CR: u64 = LO * 0x0D;
    let (mut count, mut at) = (0, 0);
    while at < bytes.len() {
        let rest = &bytes[at..];
        let mut found = None;
        let mut chunks = rest.chunks_exact(8);
        let mut off = 0;
        for chunk in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            let x = u64::from_le_bytes(w) ^ CR;
            let hits = x.wrapping_sub(LO) & !x & HI;
            if hits != 0 {
                found = Some(off + (hits.trailing_zeros() / 8) as usize);
                break;
            }
            off += 8;
        }
        if found.is_none() {
            found = chunks
                .remainder()
                .iter()
                .position(|&b| b == b'\r')
                .map(|i| off + i);
        }
        match found {
            Some(i) => {
                count += 1;
                at += i + 1;
            }
            None => break,
        }
    }
    count
}

/// Block-skipping memchr count: 64-byte SIMD-able `min` fold, then SWAR.
fn scan_block_memchr(bytes: &[u8]) -> usize {
    const BLOCK: usize = 64;
    let (mut count, mut at) = (0, 0);
    loop {
        while let Some(block) = bytes.get(at..at + BLOCK) {
            let Ok(block) = <&[u8; BLOCK]>::try_from(block) else {
                break;
            };
            if block.iter().fold(u8::MAX, |m, &c| m.min(c ^ b'\r')) == 0 {
                break;
            }
            at += BLOCK;
        }
        let Some(rest) = bytes.get(at..) else { break };
        match swar_find(rest, b'\r') {
            Some(i) => {
                count += 1;
                at += i + 1;
            }
            None => break,
        }
    }
    count
}

fn swar_find(hay: &[u8], needle: u8) -> Option<usize> {
    const LO: u64 = u64::from_ne_bytes([0x01; 8]);
    const HI: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut chunks = hay.chunks_exact(8);
    let mut off = 0;
    for chunk in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let x = u64::from_le_bytes(w) ^ (LO * u64::from(needle));
        let hits = x.wrapping_sub(LO) & !x & HI;
        if hits != 0 {
            return Some(off + (hits.trailing_zeros() / 8) as usize);
        }
        off += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == needle)
        .map(|i| off + i)
}

fn bench_group(c: &mut Criterion, name: &str, corpus: &Corpus, walk: bool) {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(corpus.bytes.len() as u64));
    g.bench_function("parse_fields", |b| {
        b.iter(|| parse_fields(black_box(corpus)))
    });
    g.bench_function("parse_touch", |b| b.iter(|| parse_touch(black_box(corpus))));
    if walk {
        g.bench_function("parse_walk_all", |b| {
            b.iter(|| parse_walk_all(black_box(corpus)))
        });
    }
    g.bench_function("scan_memchr", |b| {
        b.iter(|| scan_memchr(black_box(&corpus.bytes)))
    });
    g.bench_function("scan_cr_pipe", |b| {
        b.iter(|| scan_cr_pipe(black_box(&corpus.bytes)))
    });
    g.bench_function("scan_cr_chunked", |b| {
        b.iter(|| scan_cr_chunked(black_box(&corpus.bytes)))
    });
    g.bench_function("scan_filter_count", |b| {
        b.iter(|| scan_filter_count(black_box(&corpus.bytes)))
    });
    g.bench_function("scan_swar_memchr", |b| {
        b.iter(|| scan_swar_memchr(black_box(&corpus.bytes)))
    });
    g.bench_function("scan_block_memchr", |b| {
        b.iter(|| scan_block_memchr(black_box(&corpus.bytes)))
    });
    g.finish();
}

/// Seconds per call of `f`: calls batched to about 2 ms, median of the batches.
fn per_call(batches: &mut Vec<f64>, iters: u32, f: &mut dyn FnMut() -> usize) {
    let t = Instant::now();
    for _ in 0..iters {
        black_box(f());
    }
    batches.push(t.elapsed().as_secs_f64() / f64::from(iters));
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One timed quantity of the summary: a name and what to call.
struct Timed<'c> {
    name: &'static str,
    f: Box<dyn FnMut() -> usize + 'c>,
    iters: u32,
    batches: Vec<f64>,
}

fn timed<'c>(name: &'static str, f: Box<dyn FnMut() -> usize + 'c>) -> Timed<'c> {
    Timed {
        name,
        f,
        iters: 0,
        batches: Vec::new(),
    }
}

/// The acceptance line: parse_fields vs the memchr-crate scan (the limit),
/// with the hand-written scans reported beside it; alternating batches of
/// each for about 4 s, medians, ratios.
fn summary(cr: &Corpus) {
    let bytes = cr.bytes.len() as f64;
    let calls_for_2ms = |f: &mut dyn FnMut() -> usize| {
        let t = Instant::now();
        let mut n = 0u32;
        while t.elapsed() < Duration::from_millis(2) || n == 0 {
            black_box(f());
            n += 1;
        }
        n
    };
    let b = &cr.bytes;
    let msgs = parsed(cr);
    let split = presplit(&msgs);
    let mut all = [
        timed("parse", Box::new(|| parse_fields(black_box(cr)))),
        timed("memchr", Box::new(|| scan_memchr(black_box(b)))),
        timed("chunked", Box::new(|| scan_cr_chunked(black_box(b)))),
        timed("memchr_each", Box::new(|| scan_memchr_each(black_box(b)))),
        timed("filter_cr", Box::new(|| scan_filter_count(black_box(b)))),
        timed("filter_cr_pipe", Box::new(|| scan_cr_pipe(black_box(b)))),
        timed("utf8", Box::new(|| utf8_only(black_box(cr)))),
        timed("presplit", Box::new(|| presplit_walk(black_box(&split)))),
    ];
    for t in &mut all {
        t.iters = calls_for_2ms(&mut t.f);
    }
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        for t in &mut all {
            per_call(&mut t.batches, t.iters, &mut t.f);
        }
    }
    let rounds = all[0].batches.len();
    let mbs: Vec<f64> = all
        .iter_mut()
        .map(|t| bytes / median(&mut t.batches) / 1e6)
        .collect();
    let (parse_mbs, limit) = (mbs[0], mbs[1]);
    let ratio = parse_mbs / limit;
    let others: Vec<String> = all[2..6]
        .iter()
        .zip(&mbs[2..6])
        .map(|(t, &m)| format!("{} {m:.1} MB/s ({:.1}%)", t.name, parse_mbs / m * 100.0))
        .collect();
    println!(
        "hl7 parse: {} messages, {} bytes (CR form); parse+segments+fields {parse_mbs:.1} MB/s; \
         limit: memchr crate memchr_iter(CR).count() {limit:.1} MB/s; \
         parse = {:.1}% of the memchr scan (target >= 25%: {}); \
         other scans (parse as % of each): {} [{rounds} alternating rounds, medians]",
        cr.messages.len(),
        cr.bytes.len(),
        ratio * 100.0,
        if ratio >= 0.25 { "met" } else { "NOT met" },
        others.join(", "),
    );
    // Context, not part of the verdict: two costs no parser with this API
    // avoids (the text must be checked as UTF-8 to hand out &str, and every
    // field has to be handed out), measured on their own.
    let (utf8_mbs, walk_mbs) = (mbs[6], mbs[7]);
    let floor_mbs = 1.0 / (1.0 / utf8_mbs + 1.0 / walk_mbs);
    println!(
        "hl7 parse floors: str::from_utf8 of every message {utf8_mbs:.1} MB/s; \
         same loop over pre-split fields {walk_mbs:.1} MB/s; the two together \
         {floor_mbs:.1} MB/s = {:.1}% of the memchr scan (before any splitting)",
        floor_mbs / limit * 100.0,
    );
}

fn main() {
    let lf = load(false);
    let cr = load(true);
    let crs = scan_filter_count(&cr.bytes);
    assert!(crs > 0 && scan_swar_memchr(&cr.bytes) == crs && scan_block_memchr(&cr.bytes) == crs);
    assert_eq!(scan_cr_chunked(&cr.bytes), crs);
    assert_eq!(scan_memchr(&cr.bytes), crs);
    assert_eq!(scan_memchr_each(&cr.bytes), crs);
    assert!(parse_touch(&lf) > 0 && parse_touch(&lf) == parse_touch(&cr));
    assert!(parse_fields(&cr) > 0 && parse_fields(&lf) == parse_fields(&cr));
    assert_eq!(presplit_walk(&presplit(&parsed(&cr))), parse_fields(&cr));
    let parsed = cr
        .messages
        .iter()
        .filter(|r| parse(&cr.bytes[(*r).clone()]).is_ok());
    assert_eq!(
        parsed.count(),
        cr.messages.len(),
        "every corpus message parses"
    );
    summary(&cr);
    if std::env::var_os("HISP_BENCH_SUMMARY_ONLY").is_some() {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench_group(&mut c, "corpus_lf", &lf, true);
    bench_group(&mut c, "corpus_cr", &cr, false);
    c.final_summary();
}

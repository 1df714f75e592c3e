//! Parse throughput over the whole HL7 corpus concatenated in memory,
//! next to two scans of the same bytes that bound it from above:
//! - `scan_filter_count`: `bytes.iter().filter(|&&b| b == b'\r').count()`,
//!   which LLVM auto-vectorises (SSE2 on the default x86-64 target);
//! - `scan_swar_memchr`: a hand-written word-at-a-time (SWAR) memchr loop
//!   counting CRs, i.e. what `memchr_iter(b'\r').count()` does without SIMD;
//! - `scan_block_memchr`: the same, but first skipping 64-byte blocks with
//!   an auto-vectorised `min` fold — the scanner the parser itself uses to
//!   find segment ends, so the strictest limit we can write without
//!   `unsafe` or the `memchr` crate.
//!
//! `parse_touch` parses every message and reads PID-3, PID-5 and PV1-2 so no
//! work can be skipped; field splitting is lazy, so this is what an ADT
//! consumer actually pays. `parse_walk_all` decodes every leaf, for scale.
//! The corpus files are LF-terminated; the `cr` group rewrites LF→CR (the
//! wire form) so the scans also find something.

use std::hint::black_box;
use std::ops::Range;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hisp::hl7::parse;

#[path = "../tests/integration/hl7/support.rs"]
mod hl7_support;

struct Corpus {
    bytes: Vec<u8>,
    messages: Vec<Range<usize>>,
}

fn load(lf_to_cr: bool) -> Corpus {
    let mut bytes = Vec::new();
    let mut messages = Vec::new();
    for (_, file) in hl7_support::corpus() {
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
        .map(|m| hl7_support::walk(&m))
        .sum()
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
    g.bench_function("parse_touch", |b| b.iter(|| parse_touch(black_box(corpus))));
    if walk {
        g.bench_function("parse_walk_all", |b| {
            b.iter(|| parse_walk_all(black_box(corpus)))
        });
    }
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

fn benches(c: &mut Criterion) {
    let lf = load(false);
    let cr = load(true);
    let crs = scan_filter_count(&cr.bytes);
    assert!(crs > 0 && scan_swar_memchr(&cr.bytes) == crs && scan_block_memchr(&cr.bytes) == crs);
    assert!(parse_touch(&lf) > 0 && parse_touch(&lf) == parse_touch(&cr));
    bench_group(c, "corpus_lf", &lf, true);
    bench_group(c, "corpus_cr", &cr, false);
}

criterion_group!(hl7, benches);
criterion_main!(hl7);

//! An upper bound for issue 6's ER7 parse line, measured with the hand-written
//! SIMD that hisp itself does not use (hisp's crate denies `unsafe_code`).
//!
//! ```text
//! cargo run --release --manifest-path bench/er7-simd-bound/Cargo.toml
//! ```
//!
//! Same corpus and same limit as `benches/hl7.rs`: every file of
//! `../shared/corpus/hl7` that starts with MSH (after an optional BOM), LF
//! rewritten to CR, concatenated; the limit is
//! `memchr::memchr_iter(b'\r', ..).count()`. Each stage below adds one step
//! of what a parser that finds every field must do, and is reported as a
//! percentage of the limit (the target is 25%):
//!
//! 1. `bitmap`: the 64-bit masks of field separators and segment terminators
//!    (CR or LF) for each 64-byte block, AVX2 compares and `movemask`. No
//!    position is recorded. (The tool needs AVX2, BMI1 and POPCNT.)
//! 2. `positions`: stage 1, then every set bit's offset written to a reused
//!    `Vec<u32>` (segment ends flagged in the top bit): a structural index,
//!    as simdjson's stage 1 builds.
//! 3. `utf8+positions`: `str::from_utf8` of each message first, as any
//!    parser handing out `&str` must.
//! 4. `utf8+positions+fields`: then every field handed out as a `&str`,
//!    consumed exactly as `benches/hl7.rs` consumes hisp's fields
//!    (`black_box(field).len() + 1`).
//!
//! Stages 2–4 are also run with the offsets written branch-free, eight at a
//! time per block whatever the count (simdjson's `flatten_bits`).
//!
//! Alternating rounds, medians. Nothing here is used by hisp.

use std::hint::black_box;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

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

/// The corpus as `benches/hl7.rs` loads it (CR form).
fn corpus() -> (Vec<u8>, Vec<Range<usize>>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/hl7");
    let mut paths = Vec::new();
    collect(&root, &mut paths);
    paths.sort();
    let mut bytes = Vec::new();
    let mut messages = Vec::new();
    for p in paths {
        let Ok(file) = std::fs::read(&p) else {
            continue;
        };
        if !file
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(&file)
            .starts_with(b"MSH")
        {
            continue;
        }
        let start = bytes.len();
        bytes.extend(file.iter().map(|&b| if b == b'\n' { b'\r' } else { b }));
        messages.push(start..bytes.len());
    }
    assert!(
        messages.len() >= 60,
        "corpus not found at {}",
        root.display()
    );
    (bytes, messages)
}

mod simd {
    use std::arch::x86_64::*;

    /// (field separators, segment terminators) of one 64-byte block.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn masks_avx2(b: &[u8; 64], sep: u8) -> (u64, u64) {
        // SAFETY: both loads read 32 bytes inside the 64-byte array; AVX2 is
        // enabled on this function and only called after detection.
        unsafe {
            let vf = _mm256_set1_epi8(sep as i8);
            let vcr = _mm256_set1_epi8(b'\r' as i8);
            let vlf = _mm256_set1_epi8(b'\n' as i8);
            let lo = _mm256_loadu_si256(b.as_ptr().cast());
            let hi = _mm256_loadu_si256(b.as_ptr().add(32).cast());
            let field = |v| _mm256_movemask_epi8(_mm256_cmpeq_epi8(v, vf)) as u32 as u64;
            let end = |v| {
                let m = _mm256_or_si256(_mm256_cmpeq_epi8(v, vcr), _mm256_cmpeq_epi8(v, vlf));
                _mm256_movemask_epi8(m) as u32 as u64
            };
            (field(lo) | field(hi) << 32, end(lo) | end(hi) << 32)
        }
    }

    /// The features every stage is compiled for (checked at start).
    pub fn available() -> bool {
        is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("bmi1")
            && is_x86_feature_detected!("popcnt")
    }

    /// Stage 1 (see [`bitmap_avx2`]).
    pub fn bitmap(text: &[u8], sep: u8, avx2: bool) -> u64 {
        assert!(avx2 && available());
        // SAFETY: the CPU has every feature the function is compiled for.
        unsafe { bitmap_avx2(text, sep, avx2) }
    }

    /// Stage 2 (see [`positions_avx2`]).
    pub fn positions(text: &[u8], sep: u8, avx2: bool, out: &mut Vec<u32>) {
        assert!(avx2 && available());
        // SAFETY: as in `bitmap`.
        unsafe { positions_avx2(text, sep, avx2, out) }
    }

    /// Stage 2, branchless (see [`positions_flat_avx2`]).
    pub fn positions_flat(text: &[u8], sep: u8, avx2: bool, out: &mut Vec<u32>) -> usize {
        assert!(avx2 && available());
        // SAFETY: as in `bitmap`.
        unsafe { positions_flat_avx2(text, sep, avx2, out) }
    }

    #[inline(always)]
    fn masks(b: &[u8; 64], sep: u8, _avx2: bool) -> (u64, u64) {
        // SAFETY: only reached from the stages below, which are compiled
        // with AVX2 and called only when `available()`.
        unsafe { masks_avx2(b, sep) }
    }

    /// Stage 1: the masks of every full block, folded so they are not dropped.
    #[target_feature(enable = "avx2,bmi1,popcnt")]
    fn bitmap_avx2(text: &[u8], sep: u8, avx2: bool) -> u64 {
        text.chunks_exact(64)
            .map(|c| {
                let (f, s) = masks(c.try_into().unwrap_or(&[0; 64]), sep, avx2);
                f ^ s.rotate_left(7)
            })
            .fold(0, |a, m| a ^ m)
    }

    /// Stage 2, branchless: as [`positions`], but each block's offsets are
    /// written eight at a time whatever the count (simdjson's
    /// `flatten_bits`), into a buffer with room for every byte, and the
    /// length is advanced by the popcount. Returns how many were written.
    #[target_feature(enable = "avx2,bmi1,popcnt")]
    fn positions_flat_avx2(text: &[u8], sep: u8, avx2: bool, out: &mut Vec<u32>) -> usize {
        let need = text.len() + 64;
        if out.len() < need {
            out.resize(need, 0);
        }
        let out = out.as_mut_slice();
        let mut len = 0usize;
        let mut blocks = text.chunks_exact(64);
        let mut base = 0u32;
        let mut flat = |f: u64, s: u64, base: u32, len: &mut usize| {
            let mut m = f | s;
            let count = m.count_ones() as usize;
            let mut at = *len;
            // SAFETY: `out` holds text.len() + 64 slots and at most one
            // offset per byte is kept; the extra writes land in the slack.
            unsafe {
                for _ in 0..8 {
                    let i = m.trailing_zeros() & 63;
                    *out.get_unchecked_mut(at) = (base + i) | (((s >> i) & 1) as u32) << 31;
                    m &= m.wrapping_sub(1);
                    at += 1;
                }
                if count > 8 {
                    for _ in 8..16 {
                        let i = m.trailing_zeros() & 63;
                        *out.get_unchecked_mut(at) = (base + i) | (((s >> i) & 1) as u32) << 31;
                        m &= m.wrapping_sub(1);
                        at += 1;
                    }
                }
                while m != 0 {
                    let i = m.trailing_zeros();
                    *out.get_unchecked_mut(at) = (base + i) | (((s >> i) & 1) as u32) << 31;
                    m &= m - 1;
                    at += 1;
                }
            }
            *len += count;
        };
        for block in &mut blocks {
            let (f, s) = masks(block.try_into().unwrap_or(&[0; 64]), sep, avx2);
            flat(f, s, base, &mut len);
            base += 64;
        }
        let mut tail = [0u8; 64];
        let rest = blocks.remainder();
        tail[..rest.len()].copy_from_slice(rest);
        let (f, s) = masks(&tail, sep, avx2);
        let keep = if rest.is_empty() {
            0
        } else {
            u64::MAX >> (64 - rest.len())
        };
        flat(f & keep, s & keep, base, &mut len);
        len
    }

    /// Stage 2: every delimiter's offset, segment ends flagged in bit 31.
    #[target_feature(enable = "avx2,bmi1,popcnt")]
    fn positions_avx2(text: &[u8], sep: u8, avx2: bool, out: &mut Vec<u32>) {
        out.clear();
        let mut blocks = text.chunks_exact(64);
        let mut base = 0u32;
        for block in &mut blocks {
            let (f, s) = masks(block.try_into().unwrap_or(&[0; 64]), sep, avx2);
            let mut m = f | s;
            while m != 0 {
                let i = m.trailing_zeros();
                out.push((base + i) | (((s >> i) & 1) as u32) << 31);
                m &= m - 1;
            }
            base += 64;
        }
        for (i, &b) in blocks.remainder().iter().enumerate() {
            let at = base + i as u32;
            if b == sep {
                out.push(at);
            } else if b == b'\r' || b == b'\n' {
                out.push(at | 1 << 31);
            }
        }
    }
}

/// Stage 4's consumer: every field between two delimiters, as `&str`.
fn fields(text: &str, positions: &[u32]) -> usize {
    let mut n = 0;
    let mut start = 0;
    for &p in positions {
        let at = (p & 0x7FFF_FFFF) as usize;
        n += black_box(text.get(start..at).unwrap_or("")).len() + 1;
        start = at + 1;
    }
    n
}

fn main() {
    let (bytes, messages) = corpus();
    let avx2 = simd::available();
    if !avx2 {
        eprintln!("this bound needs a CPU with AVX2, BMI1 and POPCNT");
        std::process::exit(2);
    }
    let sep = b'|';
    let mut buf: Vec<u32> = Vec::with_capacity(bytes.len());
    let mut buf3: Vec<u32> = Vec::with_capacity(bytes.len());
    let mut buf4: Vec<u32> = Vec::with_capacity(bytes.len());
    let mut buf5: Vec<u32> = Vec::new();
    let mut buf6: Vec<u32> = Vec::new();
    let mut buf7: Vec<u32> = Vec::new();
    type Stage<'a> = (&'static str, Box<dyn FnMut() -> usize + 'a>);
    let msgs = &messages;
    let b = &bytes;
    let mut stages: Vec<Stage<'_>> = vec![
        (
            "limit: memchr_iter(CR).count()",
            Box::new(|| memchr::memchr_iter(b'\r', b).count()),
        ),
        (
            "bitmap",
            Box::new(|| {
                msgs.iter()
                    .map(|r| simd::bitmap(&b[r.clone()], sep, avx2) as usize)
                    .fold(0, |a, x| a ^ x)
            }),
        ),
        (
            "positions",
            Box::new(|| {
                let mut n = 0;
                for r in msgs {
                    simd::positions(&b[r.clone()], sep, avx2, &mut buf);
                    n += buf.len();
                }
                n
            }),
        ),
    ];
    stages.push((
        "utf8+positions",
        Box::new(|| {
            let mut n = 0;
            for r in msgs {
                let Ok(text) = std::str::from_utf8(&b[r.clone()]) else {
                    continue;
                };
                simd::positions(text.as_bytes(), sep, avx2, &mut buf3);
                n += buf3.len();
            }
            n
        }),
    ));
    stages.push((
        "utf8+positions+fields",
        Box::new(|| {
            let mut n = 0;
            for r in msgs {
                let Ok(text) = std::str::from_utf8(&b[r.clone()]) else {
                    continue;
                };
                simd::positions(text.as_bytes(), sep, avx2, &mut buf4);
                n += fields(text, &buf4);
            }
            n
        }),
    ));

    stages.push((
        "positions (branchless)",
        Box::new(|| {
            let mut n = 0;
            for r in msgs {
                n += simd::positions_flat(&b[r.clone()], sep, avx2, &mut buf5);
            }
            n
        }),
    ));
    stages.push((
        "utf8+positions (branchless)",
        Box::new(|| {
            let mut n = 0;
            for r in msgs {
                let Ok(text) = std::str::from_utf8(&b[r.clone()]) else {
                    continue;
                };
                n += simd::positions_flat(text.as_bytes(), sep, avx2, &mut buf6);
            }
            n
        }),
    ));
    stages.push((
        "utf8+positions+fields (branchless)",
        Box::new(|| {
            let mut n = 0;
            for r in msgs {
                let Ok(text) = std::str::from_utf8(&b[r.clone()]) else {
                    continue;
                };
                let len = simd::positions_flat(text.as_bytes(), sep, avx2, &mut buf7);
                n += fields(text, &buf7[..len]);
            }
            n
        }),
    ));

    // Alternating rounds of about 2 ms each, for about 4 s; medians.
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); stages.len()];
    let reps: Vec<u32> = stages
        .iter_mut()
        .map(|(_, f)| {
            let t = Instant::now();
            black_box(f());
            let once = t.elapsed().as_secs_f64().max(1e-7);
            ((0.002 / once) as u32).clamp(1, 100_000)
        })
        .collect();
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < 4.0 {
        for (k, (_, f)) in stages.iter_mut().enumerate() {
            let t = Instant::now();
            for _ in 0..reps[k] {
                black_box(f());
            }
            times[k].push(t.elapsed().as_secs_f64() / f64::from(reps[k]));
        }
    }
    let mb = bytes.len() as f64 / 1e6;
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let medians: Vec<f64> = times.iter_mut().map(median).collect();
    let limit = medians[0];
    println!(
        "er7 simd bound (AVX2): {} messages, {} bytes (CR form), {} rounds, medians",
        messages.len(),
        bytes.len(),
        times[0].len()
    );
    for ((name, _), t) in stages.iter().zip(&medians) {
        println!(
            "  {name:32} {:9.1} MB/s  {:5.1}% of the limit",
            mb / t,
            limit / t * 100.0
        );
    }
}

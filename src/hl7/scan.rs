//! Finding delimiter bytes: owns the inner loop of ER7 parsing, splitting a
//! segment into fields ([`Split`]) and a field, repetition or component into
//! its parts ([`Pieces`]), each on one ASCII separator.
//! (Segment terminators are found with `memchr` in `er7.rs`.)
//!
//! A segment holds a few dozen separators (fields in real ADT feeds average
//! about 13 bytes), so searching for each one afresh, whether with `memchr`
//! or a word at a time, pays a search's setup and a mispredicted loop exit
//! per field. [`Split`] instead looks at 64 bytes at once: it turns them into
//! a bitmask of separator positions, then hands out fields by taking the
//! lowest set bit, so most fields cost a few instructions and no search.
//! Below the field, texts are a few bytes long and [`Pieces`] simply
//! searches, which is cheaper there.
//!
//! The bitmask is built without `unsafe` and without `std::arch`: a
//! byte-wise compare into a 64-byte array (which LLVM vectorises: SSE2
//! compares on baseline x86-64) and then, for each group of 8 flags, one multiplication that
//! gathers them into 8 bits (see [`gather8`]).

/// Splits a segment (or any text of more than a few dozen bytes) on one
/// ASCII byte, 64 bytes at a time. An empty text is one empty piece.
#[derive(Clone)]
pub(crate) struct Split<'a> {
    text: &'a str,
    sep: u8,
    /// Where the next piece starts; `None` once the last piece was returned.
    start: Option<usize>,
    /// Offset in `text` of the 64-byte window that `hits` describes.
    window: usize,
    /// Separators in the window not yet handed out: bit i is `text[window + i]`.
    hits: u64,
}

const WINDOW: usize = 64;

impl<'a> Split<'a> {
    pub(crate) fn new(text: &'a str, sep: u8) -> Self {
        Self {
            text,
            sep,
            start: Some(0),
            window: 0,
            hits: hits_at(text.as_bytes(), 0, sep),
        }
    }
}

impl<'a> Iterator for Split<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        let start = self.start?;
        while self.hits == 0 {
            self.window += WINDOW;
            if self.window >= self.text.len() {
                self.start = None;
                return self.text.get(start..);
            }
            self.hits = hits_at(self.text.as_bytes(), self.window, self.sep);
        }
        let at = self.window + self.hits.trailing_zeros() as usize;
        self.hits &= self.hits - 1;
        self.start = Some(at + 1);
        // `sep` is ASCII, so both ends fall on char boundaries.
        self.text.get(start..at)
    }
}

/// Splits a short text (a field, repetition or component) on one ASCII
/// byte, searching from each piece's start: for a few bytes this is cheaper
/// than [`Split`]'s bitmask. With no separator (`None`) the whole text is
/// the only piece.
#[derive(Clone)]
pub(crate) struct Pieces<'a> {
    rest: Option<&'a str>,
    sep: Option<u8>,
}

impl<'a> Pieces<'a> {
    pub(crate) fn new(text: &'a str, sep: Option<u8>) -> Self {
        Self {
            rest: Some(text),
            sep,
        }
    }
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match self.sep.and_then(|sep| find_byte(rest.as_bytes(), sep)) {
            // `sep` is ASCII, so both slices fall on char boundaries.
            Some(i) => {
                self.rest = rest.get(i + 1..);
                rest.get(..i)
            }
            None => self.rest.take(),
        }
    }
}

/// Index of the first `needle` in `hay`, a word (8 bytes) at a time.
fn find_byte(hay: &[u8], needle: u8) -> Option<usize> {
    const LO: u64 = u64::from_ne_bytes([0x01; 8]);
    const HI: u64 = u64::from_ne_bytes([0x80; 8]);
    let pattern = LO * u64::from(needle);
    let mut words = hay.chunks_exact(8);
    let mut offset = 0;
    for word in &mut words {
        let x = word.try_into().map_or(0, u64::from_le_bytes) ^ pattern;
        // Flags the zero bytes of `x`; the lowest flag is always exact.
        let found = x.wrapping_sub(LO) & !x & HI;
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    let tail = words.remainder().iter().position(|&b| b == needle);
    tail.map(|i| offset + i)
}

/// Bit i set when `hay[at + i] == sep`, for the up to 64 bytes from `at`.
///
/// Kept out of line (once per 64 bytes) so that [`Split::next`] stays small
/// enough to inline into the caller's loop, where each piece then lives in
/// registers instead of being returned through memory.
#[inline(never)]
fn hits_at(hay: &[u8], at: usize, sep: u8) -> u64 {
    match hay.get(at..at.saturating_add(WINDOW)) {
        Some(block) => block.try_into().map_or(0, |b| block_hits(b, sep)),
        None => tail_hits(hay, at, sep),
    }
}

/// [`hits_at`] for the last, partial window.
fn tail_hits(hay: &[u8], at: usize, sep: u8) -> u64 {
    // When the text is long enough, look at its last 64 bytes instead and
    // drop the ones before `at` (already seen).
    match hay.len().checked_sub(WINDOW) {
        Some(last) => hay
            .get(last..)
            .and_then(|b| b.try_into().ok())
            .map_or(0, |b| block_hits(b, sep))
            .checked_shr(u32::try_from(at.saturating_sub(last)).unwrap_or(u32::MAX))
            .unwrap_or(0),
        None => short_hits(hay.get(at..).unwrap_or_default(), sep),
    }
}

/// The 64-bit separator mask of one full window.
#[inline]
fn block_hits(block: &[u8; WINDOW], sep: u8) -> u64 {
    let flags: [u8; WINDOW] = std::array::from_fn(|i| u8::from(block[i] == sep));
    flags
        .chunks_exact(8)
        .enumerate()
        .fold(0, |hits, (k, group)| hits | gather8(group) << (8 * k))
}

/// The separator mask of a text shorter than a window.
fn short_hits(hay: &[u8], sep: u8) -> u64 {
    let mut groups = hay.chunks_exact(8);
    let mut hits = 0;
    for (k, group) in (&mut groups).enumerate() {
        let flags: [u8; 8] = std::array::from_fn(|i| u8::from(group[i] == sep));
        hits |= gather8(&flags) << (8 * k);
    }
    let done = hay.len() - groups.remainder().len();
    for (i, &b) in groups.remainder().iter().enumerate() {
        hits |= u64::from(b == sep) << (done + i);
    }
    hits
}

/// Eight 0/1 flags, byte i of `group`, gathered into bit i of the result.
///
/// Read as a little-endian word, flag i is bit 8i. Multiplying by
/// `GATHER` (bits 7, 14, ... 56: one per flag, 7 apart) adds a copy of the
/// word shifted left by 56 - 7j for each j, which lands flag i on bit 56 + i
/// when j = i. For j < i the copy shifts past bit 63 and is lost; for j > i
/// it stays below bit 56, and all of those together sum to less than 2^56,
/// so no carry reaches the top byte, which is then exactly the eight flags.
#[inline]
fn gather8(group: &[u8]) -> u64 {
    const GATHER: u64 = 0x0102_0408_1020_4080;
    let word = group.try_into().map_or(0, u64::from_le_bytes);
    word.wrapping_mul(GATHER) >> 56
}

#[cfg(test)]
mod tests {
    use super::{Pieces, Split, find_byte, gather8, hits_at};

    fn naive(text: &str, sep: Option<u8>) -> Vec<&str> {
        match sep {
            Some(sep) => text.split(char::from(sep)).collect(),
            None => vec![text],
        }
    }

    /// Both splitters, checked against `str::split`.
    fn check(text: &str, sep: Option<u8>, context: &str) {
        let want = naive(text, sep);
        let pieces: Vec<&str> = Pieces::new(text, sep).collect();
        assert_eq!(pieces, want, "Pieces {context}");
        if let Some(sep) = sep {
            let split: Vec<&str> = Split::new(text, sep).collect();
            assert_eq!(split, want, "Split {context}");
        }
    }

    #[test]
    fn gather8_is_exact_for_every_flag_pattern() {
        for bits in 0u32..256 {
            let flags: [u8; 8] = std::array::from_fn(|i| u8::from(bits >> i & 1 == 1));
            assert_eq!(gather8(&flags), u64::from(bits));
        }
    }

    #[test]
    fn masks_and_search_agree_with_naive_at_every_offset_and_length() {
        for len in 0..200 {
            let hay: Vec<u8> = (0..len)
                .map(|i| if i % 7 == 3 { b'|' } else { b'x' })
                .collect();
            let mut at = 0;
            while at < len {
                let want = (0..64)
                    .filter(|&i| hay.get(at + i) == Some(&b'|'))
                    .fold(0u64, |m, i| m | 1 << i);
                assert_eq!(hits_at(&hay, at, b'|'), want, "len {len} at {at}");
                at += 64;
            }
            for from in 0..=len {
                let want = hay[from..].iter().position(|&b| b == b'|');
                assert_eq!(find_byte(&hay[from..], b'|'), want, "len {len} from {from}");
            }
        }
    }

    #[test]
    fn splitters_agree_with_str_split_at_window_and_word_boundaries() {
        // A separator at every position of texts spanning 0..3 windows,
        // alone, doubled (empty piece) and at both ends.
        for len in 0..200usize {
            for at in 0..len.max(1) {
                for run in [1, 2] {
                    let mut text = vec![b'a'; len];
                    let end = (at + run).min(len);
                    text[at.min(end)..end].fill(b'|');
                    let text = String::from_utf8(text).expect("ascii");
                    check(&text, Some(b'|'), &format!("len {len} at {at} run {run}"));
                }
            }
        }
    }

    #[test]
    fn splitters_handle_dense_sparse_and_absent_separators() {
        let dense = "|".repeat(130);
        for text in ["", "|", &dense, "abc", "PID|1||123^^^HOSP^MR||DOE^JANE"] {
            for sep in [Some(b'|'), Some(b'^'), None] {
                check(text, sep, &format!("{text:?} {sep:?}"));
            }
        }
    }

    #[test]
    fn splitters_never_cut_multibyte_characters() {
        // Non-ASCII bytes (0xC3, 0xA9, 0xE2...) next to separators, across
        // words and windows; a separator byte never occurs inside a UTF-8
        // sequence, whose bytes are all 0x80 or above.
        let unit = "é|ü€|𝄞||ñ";
        for reps in 0..30 {
            let text = unit.repeat(reps);
            for sep in [Some(b'|'), Some(b'^')] {
                check(&text, sep, &format!("reps {reps}"));
            }
        }
    }

    #[test]
    fn split_is_fused_and_clonable_midway() {
        let text = "a|b|c";
        let mut it = Split::new(text, b'|');
        assert_eq!(it.next(), Some("a"));
        let rest: Vec<&str> = it.clone().collect();
        assert_eq!(rest, ["b", "c"]);
        assert_eq!(it.by_ref().count(), 2);
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
    }
}

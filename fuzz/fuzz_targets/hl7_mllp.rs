//! MLLP framing over any chunking. Input layout: byte 0 picks the frame
//! limit (1..=64), byte 1 how many chunk-size bytes follow (0..=15); those
//! bytes (cycled) size the pushes (1..=32 bytes each, after an empty push
//! when the top bit is set); the rest is the stream.
//!
//! What must hold: no panic; every draining ends; the good frames are
//! exactly what the spec's reading of the whole stream gives (each `<SB>`
//! opens a frame whose content runs to the next `<EB>` — delivered if it
//! is at most the limit — or to the next `<SB>` before a message header
//! (`MSH`, after an optional BOM and fewer than 64 blank bytes), which
//! abandons it, any other `<SB>` being data; but a frame already past the
//! limit runs to its `<EB>` whatever comes first), in order, whatever the
//! chunking; errors carry sane sizes; and after draining the framer holds
//! no more than the limit and a `<VT>`'s lookahead.
#![no_main]

use hisp::hl7::mllp::{END_BLOCK, HEAD_MAX, LOOKAHEAD, START_BLOCK};
use hisp::hl7::{FrameError, Framer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [max_byte, n_sizes, rest @ ..] = data else {
        return;
    };
    let max = usize::from(max_byte % 64) + 1;
    let n_sizes = usize::from(n_sizes % 16).min(rest.len());
    let (sizes, stream) = rest.split_at(n_sizes);
    let got = run(stream, sizes, max);
    assert_eq!(got, expected(stream, max), "frames differ from the spec");
});

/// Pushes `stream` in chunks sized by `sizes`, returning the good frames.
fn run(stream: &[u8], sizes: &[u8], max: usize) -> Vec<Vec<u8>> {
    let mut framer = Framer::new(max);
    let mut frames = Vec::new();
    let mut rest = stream;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let size = sizes.next().copied();
        if size.is_some_and(|s| s & 0x80 != 0) {
            // An empty read must change nothing.
            framer.push(&[]);
            drain(&mut framer, max, stream.len(), &mut frames);
        }
        let n = size.map_or(rest.len(), |s| usize::from(s % 32) + 1);
        let (chunk, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        framer.push(chunk);
        drain(&mut framer, max, stream.len(), &mut frames);
    }
    frames
}

fn drain(framer: &mut Framer, max: usize, stream_len: usize, frames: &mut Vec<Vec<u8>>) {
    // Each result accounts for at least one byte (or ends the loop).
    for _ in 0..=stream_len + 1 {
        match framer.next_frame() {
            None => {
                assert!(
                    framer.buffered() <= max + LOOKAHEAD,
                    "framer holds more than its limit"
                );
                return;
            }
            Some(Ok(frame)) => {
                assert!(frame.len() <= max);
                assert!(!frame.contains(&END_BLOCK));
                frames.push(frame);
            }
            Some(Err(FrameError::TooLarge { len, head })) => {
                assert!(len > max);
                assert!(head.len() < HEAD_MAX.min(len));
                assert!(![b'\r', b'\n', END_BLOCK].iter().any(|b| head.contains(b)));
            }
            Some(Err(FrameError::Garbage { skipped })) => assert!(skipped > 0),
        }
    }
    panic!("next_frame kept returning results without consuming input");
}

/// The good frames of the whole stream, read straight from the spec.
fn expected(stream: &[u8], max: usize) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut at = stream.iter().position(|&b| b == START_BLOCK);
    while let Some(sb) = at {
        let body = stream.get(sb + 1..).unwrap_or_default();
        let Some(end) = body.iter().enumerate().position(|(i, &b)| {
            b == END_BLOCK
                || (b == START_BLOCK && opens_message(body.get(i + 1..).unwrap_or_default()))
        }) else {
            break;
        };
        let content = body.get(..end).unwrap_or_default();
        let end = if content.len() > max {
            // Oversized: only <EB> ends it.
            let Some(eb) = body.iter().position(|&b| b == END_BLOCK) else {
                break;
            };
            eb
        } else if body.get(end) == Some(&START_BLOCK) {
            at = Some(sb + 1 + end);
            continue;
        } else {
            frames.push(content.to_vec());
            end
        };
        let next = sb + 1 + end + 1;
        at = stream
            .get(next..)
            .and_then(|s| s.iter().position(|&b| b == START_BLOCK))
            .map(|i| next + i);
    }
    frames
}

/// Whether the bytes after a `<SB>` inside a frame open a new message.
fn opens_message(after: &[u8]) -> bool {
    let after = after.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(after);
    let blank = after
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
        .count();
    blank < 64 && after.get(blank..).unwrap_or_default().starts_with(b"MSH")
}

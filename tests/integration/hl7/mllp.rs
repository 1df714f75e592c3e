//! MLLP framing: arbitrary chunking, several frames per read, garbage,
//! oversized frames and resynchronisation.

use super::support::corpus;
use hisp::hl7::mllp::{
    DEFAULT_MAX_FRAME, END_BLOCK, HEAD_MAX, KEEP_CAPACITY, LOOKAHEAD, START_BLOCK,
};
use hisp::hl7::{FrameError, Framer, frame, parse};

type Item = Result<Vec<u8>, FrameError>;

fn drain(f: &mut Framer) -> Vec<Item> {
    std::iter::from_fn(|| f.next_frame()).collect()
}

fn feed_all(f: &mut Framer, chunks: &[&[u8]]) -> Vec<Item> {
    let mut out = Vec::new();
    for c in chunks {
        f.push(c);
        out.extend(drain(f));
    }
    out
}

const A: &[u8] = b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\rPID|1\r";
const B: &[u8] = b"MSH|^~\\&|A|B|C|D|2024||ADT^A02|2|P|2.5\rPV1|1|I\r";

#[test]
fn frame_wraps() {
    assert_eq!(frame(b"x"), [START_BLOCK, b'x', END_BLOCK, b'\r']);
}

#[test]
fn byte_by_byte() {
    let wire = [frame(A), frame(B)].concat();
    let mut f = Framer::new(1024);
    let mut got = Vec::new();
    for b in &wire {
        f.push(std::slice::from_ref(b));
        got.extend(drain(&mut f));
    }
    assert_eq!(got, vec![Ok(A.to_vec()), Ok(B.to_vec())]);
    assert_eq!(f.buffered(), 0);
}

#[test]
fn every_split_point() {
    let wire = [frame(A), frame(B)].concat();
    for cut in 0..=wire.len() {
        let mut f = Framer::new(1024);
        let got = feed_all(&mut f, &[&wire[..cut], &wire[cut..]]);
        assert_eq!(got, vec![Ok(A.to_vec()), Ok(B.to_vec())], "cut at {cut}");
    }
}

#[test]
fn two_frames_in_one_push() {
    let mut f = Framer::default();
    let got = feed_all(&mut f, &[&[frame(A), frame(B)].concat()]);
    assert_eq!(got, vec![Ok(A.to_vec()), Ok(B.to_vec())]);
}

#[test]
fn garbage_before_and_between_frames() {
    let wire = [b"hello".as_slice(), &frame(A), b"\r\nxx", &frame(B)].concat();
    let mut f = Framer::default();
    let got = feed_all(&mut f, &[&wire]);
    assert_eq!(
        got,
        vec![
            Err(FrameError::Garbage { skipped: 5 }),
            Ok(A.to_vec()),
            Err(FrameError::Garbage { skipped: 4 }),
            Ok(B.to_vec()),
        ]
    );
}

#[test]
fn garbage_run_reported_once_across_pushes() {
    let mut f = Framer::default();
    let got = feed_all(&mut f, &[b"ab", b"cd", b"e", &frame(A)]);
    assert_eq!(
        got,
        vec![Err(FrameError::Garbage { skipped: 5 }), Ok(A.to_vec())]
    );
}

#[test]
fn whitespace_between_frames_and_missing_final_cr_are_fine() {
    // Some senders add LF after <EB><CR>; some omit the <CR>.
    let mut no_cr = frame(A);
    no_cr.pop();
    let wire = [no_cr.as_slice(), b"\n\r\n ", &frame(B), b"\n"].concat();
    let mut f = Framer::default();
    let got = feed_all(&mut f, &[&wire]);
    assert_eq!(got, vec![Ok(A.to_vec()), Ok(B.to_vec())]);
}

#[test]
fn frame_delivered_at_end_block_without_waiting_for_cr() {
    let mut f = Framer::default();
    let mut wire = frame(A);
    wire.pop();
    assert_eq!(feed_all(&mut f, &[&wire]), vec![Ok(A.to_vec())]);
}

#[test]
fn oversized_then_good() {
    let big = vec![b'X'; 100];
    let wire = [frame(&big), frame(A)].concat();
    let mut f = Framer::new(64);
    let got = feed_all(&mut f, &[&wire]);
    assert_eq!(
        got,
        vec![
            Err(FrameError::TooLarge {
                len: 100,
                head: Vec::new()
            }),
            Ok(A.to_vec())
        ]
    );
}

#[test]
fn an_oversized_frame_keeps_its_first_segment() {
    let msh = b"MSH|^~\\&|EPIC|NORTHHOSP|HISP|HISP|20260101||ADT^A04|BIG1|P|2.5.1";
    // After a BOM and blank lines too, which the parser skips: the AR
    // names the message (MSA-2) all the same.
    for before in [&b""[..], b"\r\n", b"\xEF\xBB\xBF\r\n \r\n"] {
        let body = [before, &msh[..], b"\rPID|1\r", &[b'X'; 200]].concat();
        // Delivered whole (the limit seen at <EB>), and streamed (seen before).
        let whole = vec![[frame(&body), frame(A)].concat()];
        let mut streamed = vec![vec![START_BLOCK]];
        streamed.extend(body.chunks(7).map(<[u8]>::to_vec));
        streamed.push([&[END_BLOCK, b'\r'][..], &frame(A)].concat());
        for wire in [whole, streamed] {
            let mut f = Framer::new(100);
            let chunks: Vec<&[u8]> = wire.iter().map(Vec::as_slice).collect();
            let got = feed_all(&mut f, &chunks);
            let [Err(FrameError::TooLarge { head, .. }), Ok(next)] = &got[..] else {
                panic!("{got:?}");
            };
            assert_eq!(head.as_slice(), &msh[..], "{before:?}");
            assert_eq!(next.as_slice(), A);
        }
    }
    // A first segment longer than HEAD_MAX is not kept: a cut MSH could
    // name another message.
    let long = [&b"MSH|^~\\&|"[..], &vec![b'Y'; HEAD_MAX], b"\r"].concat();
    let mut f = Framer::new(1024);
    let got = feed_all(&mut f, &[&frame(&long)]);
    assert!(
        matches!(&got[..], [Err(FrameError::TooLarge { head, .. })] if head.is_empty()),
        "{got:?}"
    );
}

#[test]
fn oversized_streamed_is_reported_early_and_memory_stays_bounded() {
    let mut f = Framer::new(64);
    let mut got = feed_all(&mut f, &[&[START_BLOCK]]);
    for _ in 0..100 {
        got.extend(feed_all(&mut f, &[&[b'X'; 10]]));
        assert!(f.buffered() <= 74);
    }
    got.extend(feed_all(&mut f, &[&[END_BLOCK, b'\r'], &frame(A)]));
    assert_eq!(
        got,
        vec![
            Err(FrameError::TooLarge {
                len: 70,
                head: Vec::new()
            }),
            Ok(A.to_vec())
        ]
    );
}

#[test]
fn only_end_block_ends_an_oversized_frame() {
    // A <VT> inside an oversized message is its data, even before a
    // header: one reply (AR) for the whole of it, and the sender's next
    // frame is read as the next.
    let mut f = Framer::new(8);
    let wire = [&[START_BLOCK][..], &[b'Y'; 20], &frame(b"MSH|inside")].concat();
    let got = feed_all(&mut f, &[&wire, &frame(b"next")]);
    assert_eq!(
        got,
        vec![
            Err(FrameError::TooLarge {
                len: 20,
                head: Vec::new()
            }),
            Ok(b"next".to_vec())
        ]
    );
    // The same streamed in pieces, the <VT> arriving after the limit.
    let mut f = Framer::new(8);
    let got = feed_all(
        &mut f,
        &[
            &[START_BLOCK],
            &[b'Y'; 10],
            &[START_BLOCK],
            b"zz",
            &[END_BLOCK, b'\r'],
            &frame(b"ok"),
        ],
    );
    assert_eq!(
        got,
        vec![
            Err(FrameError::TooLarge {
                len: 10,
                head: Vec::new()
            }),
            Ok(b"ok".to_vec())
        ]
    );
}

#[test]
fn a_large_frame_does_not_pin_its_buffer() {
    let big = vec![b'M'; 900 * 1024];
    let mut f = Framer::new(DEFAULT_MAX_FRAME);
    let got = feed_all(&mut f, &[&frame(&big)]);
    assert_eq!(got, vec![Ok(big)]);
    assert_eq!(f.buffered(), 0);
    assert!(f.capacity() <= KEEP_CAPACITY, "{} kept", f.capacity());
    // A frame following in the same read is still whole.
    let got = feed_all(&mut f, &[&[frame(&[b'Q'; 200_000]), frame(A)].concat()]);
    assert_eq!(got.len(), 2);
    assert_eq!(got.get(1), Some(&Ok(A.to_vec())));
    assert!(f.capacity() <= KEEP_CAPACITY, "{} kept", f.capacity());
}

#[test]
fn many_frames_in_one_read_all_come_out_in_order() {
    let frames: Vec<Vec<u8>> = (0..5000).map(|i| format!("MSH|{i}").into_bytes()).collect();
    let wire: Vec<u8> = frames.iter().flat_map(|m| frame(m)).collect();
    let mut f = Framer::default();
    f.push(&wire);
    let got: Vec<Vec<u8>> = drain(&mut f)
        .into_iter()
        .map(|r| r.expect("frame"))
        .collect();
    assert_eq!(got, frames);
    assert_eq!(f.buffered(), 0);
}

#[test]
fn mid_frame_is_known() {
    let mut f = Framer::new(8);
    assert!(!f.mid_frame());
    assert!(feed_all(&mut f, &[&[START_BLOCK], b"abc"]).is_empty());
    assert!(f.mid_frame());
    feed_all(&mut f, &[&[b'x'; 20]]);
    assert!(
        f.mid_frame(),
        "an oversized frame being dropped is still a frame"
    );
    feed_all(&mut f, &[&[END_BLOCK, b'\r']]);
    assert!(!f.mid_frame());
}

#[test]
fn frame_cut_short_by_new_start_block() {
    let wire = [&[START_BLOCK][..], b"MSH|partial", &frame(A)].concat();
    let mut f = Framer::default();
    let got = feed_all(&mut f, &[&wire]);
    assert_eq!(
        got,
        vec![Err(FrameError::Garbage { skipped: 12 }), Ok(A.to_vec())]
    );
}

/// Word writes a manual line break as `<VT>`, so one turns up in free text
/// pasted into a chart: inside a frame it is the message's data, and only a
/// `<VT>` before a message header (past a BOM and blank lines) starts a new
/// frame. Before, the note cut its message in two: the engine got an AE
/// naming no message, for every resend.
#[test]
fn a_start_block_in_a_messages_text_is_its_data_at_every_split_point() {
    let note: &[u8] = b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5\rNTE|1||Chest pain\x0Bshortness of breath\x0B\x0B\r\x0BM\x0BMS|\rPID|1\r";
    let wire = [frame(note), frame(A)].concat();
    for cut in 0..=wire.len() {
        let mut f = Framer::default();
        let got = feed_all(&mut f, &[&wire[..cut], &wire[cut..]]);
        assert_eq!(got, vec![Ok(note.to_vec()), Ok(A.to_vec())], "cut at {cut}");
        assert!(!f.mid_frame());
    }
    for lead in [&b""[..], b"\r\n", b"\xEF\xBB\xBF", b"\xEF\xBB\xBF\r\n "] {
        let wire = [
            &[START_BLOCK][..],
            b"MSH|partial",
            &[START_BLOCK],
            lead,
            A,
            &[END_BLOCK, b'\r'],
        ]
        .concat();
        for cut in 0..=wire.len() {
            let mut f = Framer::default();
            let got = feed_all(&mut f, &[&wire[..cut], &wire[cut..]]);
            assert_eq!(
                got,
                vec![
                    Err(FrameError::Garbage { skipped: 12 }),
                    Ok([lead, A].concat())
                ],
                "lead {lead:?}, cut at {cut}"
            );
        }
    }
    // Blank bytes past what is looked through: data.
    let blank = [b"MSH|1\r\x0B".as_slice(), &[b' '; 64], b"MSH|2\r"].concat();
    let mut f = Framer::default();
    assert_eq!(feed_all(&mut f, &[&frame(&blank)]), vec![Ok(blank.clone())]);
}

#[test]
fn junk_flood_without_start_block_is_reported_and_dropped() {
    let mut f = Framer::new(100);
    let got = feed_all(&mut f, &[&[b'z'; 250]]);
    assert_eq!(got, vec![Err(FrameError::Garbage { skipped: 250 })]);
    assert_eq!(f.buffered(), 0);
}

#[test]
fn whole_corpus_through_the_framer_in_odd_chunks() {
    let files = corpus();
    let wire: Vec<u8> = files.iter().flat_map(|(_, b)| frame(b)).collect();
    for chunk in [1, 7, 64, 1500, 65536] {
        let mut f = Framer::new(DEFAULT_MAX_FRAME);
        let mut got = Vec::new();
        for piece in wire.chunks(chunk) {
            f.push(piece);
            got.extend(drain(&mut f));
        }
        assert_eq!(got.len(), files.len(), "chunk {chunk}");
        for ((name, bytes), item) in files.iter().zip(got) {
            let body = item.expect("frame");
            assert_eq!(&body, bytes, "{name}");
            assert!(parse(&body).is_ok(), "{name}");
        }
    }
}

#[test]
fn random_streams_never_panic_and_stay_bounded() {
    let mut state = 0x1234_5678_9ABC_DEF1u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = [
        START_BLOCK,
        END_BLOCK,
        b'\r',
        b'\n',
        b'M',
        b'S',
        b'H',
        b'|',
        0xFF,
    ];
    for _ in 0..300 {
        let max = (next() % 64) as usize;
        let mut f = Framer::new(max);
        for _ in 0..50 {
            let len = (next() % 40) as usize;
            let chunk: Vec<u8> = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            f.push(&chunk);
            for body in drain(&mut f).into_iter().flatten() {
                assert!(body.len() <= max);
                assert!(!body.contains(&END_BLOCK));
                // A <VT> in a frame is data unless a header follows it.
                for (i, _) in body.iter().enumerate().filter(|(_, b)| **b == START_BLOCK) {
                    let after = &body[i + 1..];
                    let blank = after
                        .iter()
                        .take_while(|b| matches!(b, b'\r' | b'\n'))
                        .count();
                    assert!(!after[blank..].starts_with(b"MSH"), "{body:?}");
                }
            }
            assert!(f.buffered() <= max + LOOKAHEAD, "{} > {max}", f.buffered());
        }
    }
}

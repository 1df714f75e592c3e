//! MLLP framing: owns cutting a TCP byte stream into HL7 messages and
//! wrapping outgoing ones. Sans-I/O: the caller reads from the socket,
//! [`Framer::push`]es whatever arrived, and drains [`Framer::next_frame`]
//! until it returns `None`.
//!
//! A frame is `<SB> message <EB><CR>`, where (MLLP Release 1)
//!
//! ```text
//! <SB> = Start Block character (1 byte) ASCII <VT>, i.e., <0x0B>
//! <EB> = End Block character (1 byte) ASCII <FS>, i.e., <0x1C>
//! <CR> = Carriage Return (1 byte)
//! ```
//!
//! MLLP is
//! synchronous — the sender waits for our ACK — so a frame is delivered as
//! soon as its `<EB>` arrives, without waiting for the `<CR>`: a sender that
//! omits the `<CR>` is not left hanging, and the `<CR>` (plus any LF, space
//! or tab) between frames is skipped silently.
//!
//! Errors never stop the framer; after each one it resynchronises:
//! - [`FrameError::Garbage`]: other bytes outside a frame, reported once per
//!   run when the next `<SB>` ends it (or every `max` bytes of a flood). A
//!   frame cut short by a new frame is reported the same way: a `<SB>`
//!   inside a frame starts a new one only when a message header (`MSH`,
//!   after any BOM and blank lines) follows it; otherwise it is the
//!   message's data. Word writes a manual line break as `<VT>`, so one
//!   turns up in free text pasted into a chart; before, it cut its message
//!   in two, and the sender got an AE naming no message, for every resend.
//! - [`FrameError::TooLarge`]: the frame grew past `max` bytes. Reported as
//!   soon as that is known, with its first segment (so the reply can name
//!   its MSH-10); its bytes are then dropped up to its `<EB>`.
//!   While dropping, only `<EB>` ends it: a `<VT>` inside an oversized
//!   message is its data, not a new frame (which would earn the sender a
//!   second reply and leave it one ACK behind). Memory stays near `max`.
//!
//! The buffer is read through a cursor: a frame taken out of it copies only
//! that frame, and the bytes before the cursor are dropped when they are at
//! least half the buffer. A buffer grown past [`KEEP_CAPACITY`] by a large
//! frame is shrunk back once it is empty.

use thiserror::Error;

/// Start block, `<VT>`.
pub const START_BLOCK: u8 = 0x0B;
/// End block, `<FS>`.
pub const END_BLOCK: u8 = 0x1C;
/// Carriage return after the end block.
pub const CARRIAGE_RETURN: u8 = 0x0D;
/// A generous default frame limit for ADT traffic (1 MiB).
pub const DEFAULT_MAX_FRAME: usize = 1 << 20;
/// The buffer capacity kept between frames; more is given back once the
/// buffer is empty (a 1 MiB frame does not pin 1 MiB per idle connection).
pub const KEEP_CAPACITY: usize = 64 * 1024;

/// The longest first segment an oversized frame's [`FrameError::TooLarge`]
/// keeps (an MSH is a few hundred bytes).
pub const HEAD_MAX: usize = 4096;

/// Something other than a good frame turned up in the stream.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// A frame exceeded the size limit; `len` is how much had arrived when
    /// that was noticed (always more than the limit).
    #[error("MLLP frame of {len}+ bytes exceeds the size limit")]
    TooLarge {
        /// Bytes of frame content seen so far.
        len: usize,
        /// The frame's first segment (its MSH, normally) without its
        /// terminator, when one ended within [`HEAD_MAX`] bytes; else empty.
        /// Enough to answer the message by its MSH-10.
        head: Vec<u8>,
    },
    /// Bytes outside any frame were dropped.
    #[error("skipped {skipped} bytes outside MLLP framing")]
    Garbage {
        /// How many bytes were dropped.
        skipped: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between frames, looking for `<SB>`.
    Idle,
    /// After `<SB>`; `buf` holds the content so far.
    InFrame,
    /// Dropping the rest of an oversized frame.
    Discarding,
}

/// Incremental MLLP decoder.
#[derive(Debug, Clone)]
pub struct Framer {
    max: usize,
    /// Bytes received; those before `pos` are consumed.
    buf: Vec<u8>,
    /// The cursor: where the unconsumed bytes begin.
    pos: usize,
    state: State,
    /// In `InFrame`, bytes after `pos` already searched for `<EB>`/`<SB>`.
    scanned: usize,
    /// Length of the current run of bytes outside frames.
    run: usize,
    /// Whether that run holds anything but whitespace.
    run_is_junk: bool,
    /// Just left a frame: a leading `<CR>` is its trailer.
    after_frame: bool,
}

impl Framer {
    /// A framer that rejects frames with more than `max` content bytes.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            buf: Vec::new(),
            pos: 0,
            state: State::Idle,
            scanned: 0,
            run: 0,
            run_is_junk: false,
            after_frame: false,
        }
    }

    /// Adds bytes as they arrived from the socket, in any chunking.
    pub fn push(&mut self, bytes: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held but not yet returned (part of a frame, usually).
    pub fn buffered(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The buffer's capacity (what the framer's memory costs).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Whether a frame has begun (its `<SB>` seen) and not yet ended, also
    /// while an oversized one is being dropped.
    pub fn mid_frame(&self) -> bool {
        self.state != State::Idle
    }

    /// The next complete frame's content (without `<SB>`/`<EB><CR>`), an
    /// error to report, or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Result<Vec<u8>, FrameError>> {
        loop {
            let step = match self.state {
                State::Idle => self.step_idle(),
                State::InFrame => self.step_in_frame(),
                State::Discarding => self.step_discarding(),
            };
            match step {
                Step::Emit(out) => return Some(out),
                Step::NeedMore => {
                    self.compact();
                    return None;
                }
                Step::Continue => {}
            }
        }
    }

    /// The bytes not yet consumed.
    fn rest(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Consumes `n` bytes.
    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }

    /// Drops the consumed bytes when they are at least half the buffer, and
    /// gives back the capacity a large frame left behind.
    fn compact(&mut self) {
        if self.pos >= self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            if self.buf.capacity() > KEEP_CAPACITY {
                self.buf.shrink_to(KEEP_CAPACITY);
            }
        } else if self.pos > 0 && self.pos * 2 >= self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }

    fn step_idle(&mut self) -> Step {
        // The <CR> of the <EB><CR> trailer belongs to the frame, not the run.
        if self.after_frame && self.buffered() > 0 {
            if self.rest().first() == Some(&CARRIAGE_RETURN) {
                self.consume(1);
            }
            self.after_frame = false;
        }
        let start = self.rest().iter().position(|&b| b == START_BLOCK);
        let skipped = start.unwrap_or(self.buffered());
        self.note_outside(skipped);
        let Some(i) = start else {
            self.consume(skipped);
            // A flood of junk is reported every `max` bytes.
            if self.run < self.max.max(1) {
                return Step::NeedMore;
            }
            return self
                .end_run()
                .map_or(Step::NeedMore, |e| Step::Emit(Err(e)));
        };
        self.consume(i + 1);
        self.state = State::InFrame;
        self.scanned = 0;
        self.end_run()
            .map_or(Step::Continue, |e| Step::Emit(Err(e)))
    }

    fn step_in_frame(&mut self) -> Step {
        let rest = self.rest();
        let mut from = self.scanned;
        // The <EB> or frame-starting <SB> at `p`; or where to look again
        // from when more bytes come: the end, or a <VT> whose next bytes
        // have not come yet.
        let found = loop {
            let next = rest
                .get(from..)
                .unwrap_or_default()
                .iter()
                .position(|&b| b == END_BLOCK || b == START_BLOCK)
                .map(|i| from + i);
            let Some(p) = next else {
                break Err(rest.len());
            };
            if rest.get(p) == Some(&END_BLOCK) {
                break Ok(p);
            }
            match starts_message(rest.get(p + 1..).unwrap_or_default()) {
                Some(true) => break Ok(p),
                // The message's data: scan on past it.
                Some(false) => from = p + 1,
                None => break Err(p),
            }
        };
        let p = match found {
            Ok(p) => p,
            Err(again) => {
                self.scanned = again;
                // Waiting on a <VT>'s next bytes holds at most
                // [`LOOKAHEAD`] past it; the frame is oversized only when
                // its content before the <VT> is.
                let content = match again < self.buffered() {
                    true => again,
                    false => self.buffered(),
                };
                if content > self.max {
                    let len = self.buffered();
                    let head = self.head(len);
                    self.consume(len);
                    return self.too_large(len, head, State::Discarding);
                }
                return Step::NeedMore;
            }
        };
        let is_end = self.rest().get(p) == Some(&END_BLOCK);
        if p > self.max {
            // Drop through <EB>; a <VT> is the oversized frame's data, so
            // the frame goes on until its <EB>.
            let head = self.head(p);
            self.consume(p + 1);
            self.after_frame = is_end;
            let next = if is_end {
                State::Idle
            } else {
                State::Discarding
            };
            return self.too_large(p, head, next);
        }
        if !is_end {
            // The frame was cut short; its bytes and its <SB> are garbage.
            self.consume(p + 1);
            self.scanned = 0;
            return Step::Emit(Err(FrameError::Garbage { skipped: p + 1 }));
        }
        let frame = self.rest().get(..p).unwrap_or_default().to_vec();
        self.consume(p + 1);
        self.state = State::Idle;
        self.after_frame = true;
        Step::Emit(Ok(frame))
    }

    fn step_discarding(&mut self) -> Step {
        // Only <EB> ends an oversized frame.
        match self.rest().iter().position(|&b| b == END_BLOCK) {
            None => {
                let all = self.buffered();
                self.consume(all);
                Step::NeedMore
            }
            Some(p) => {
                self.consume(p + 1);
                self.after_frame = true;
                self.state = State::Idle;
                Step::Continue
            }
        }
    }

    fn too_large(&mut self, len: usize, head: Vec<u8>, next: State) -> Step {
        self.state = next;
        self.scanned = 0;
        Step::Emit(Err(FrameError::TooLarge { len, head }))
    }

    /// The first segment of the current frame, whose first `len` bytes are
    /// buffered, when a CR or LF ends it within [`HEAD_MAX`] bytes (a cut
    /// one could echo a cut MSH-10). A BOM and blank lines before it are
    /// skipped, as `hl7::parse` skips them: before, a frame that began with
    /// a blank line had an empty head, and its AR no MSA-2 for the sender to
    /// match.
    fn head(&self, len: usize) -> Vec<u8> {
        let frame = self.rest().get(..len).unwrap_or(self.rest());
        let frame = frame.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(frame);
        let blank = frame
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(frame.len());
        let frame = &frame[blank..];
        let start = frame.get(..HEAD_MAX).unwrap_or(frame);
        start
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
            .map(|end| start[..end].to_vec())
            .unwrap_or_default()
    }

    /// Accounts for the first `n` bytes of `buf`, which lie between frames.
    fn note_outside(&mut self, n: usize) {
        let junk = self
            .rest()
            .get(..n)
            .unwrap_or_default()
            .iter()
            .any(|&b| !matches!(b, b'\r' | b'\n' | b' ' | b'\t'));
        self.run += n;
        self.run_is_junk |= junk;
    }

    /// Closes the current outside-frame run; reports it if it was junk.
    fn end_run(&mut self) -> Option<FrameError> {
        let report = self
            .run_is_junk
            .then_some(FrameError::Garbage { skipped: self.run });
        self.run = 0;
        self.run_is_junk = false;
        report
    }
}

impl Default for Framer {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME)
    }
}

enum Step {
    Emit(Result<Vec<u8>, FrameError>),
    NeedMore,
    Continue,
}

/// The most BOM and blank-line bytes looked past after a `<VT>` inside a
/// frame for the header of a new message.
const LOOK_PAST: usize = 64;

/// The most bytes the framer may hold past its limit: a frame of the limit
/// followed by a `<VT>` whose next bytes (a BOM, blank lines, then `MSH`)
/// have not all come yet.
pub const LOOKAHEAD: usize = 1 + 3 + LOOK_PAST + 3;

/// Whether the bytes after a `<VT>` inside a frame begin a new message:
/// `MSH` after any BOM, CR, LF, space or tab (as the parser skips them).
/// None while too few have come to tell.
fn starts_message(after: &[u8]) -> Option<bool> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    let mut rest = after;
    if BOM.starts_with(rest.get(..BOM.len().min(rest.len()))?) && rest.len() < BOM.len() {
        return None;
    }
    rest = rest.strip_prefix(BOM).unwrap_or(rest);
    let blank = rest
        .iter()
        .take(LOOK_PAST)
        .take_while(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
        .count();
    if blank == LOOK_PAST {
        return Some(false);
    }
    let head = rest.get(blank..).unwrap_or_default();
    if head.len() < 3 {
        return match b"MSH".starts_with(head) {
            true => None,
            false => Some(false),
        };
    }
    Some(head.starts_with(b"MSH"))
}

/// Wraps one message for sending: `<SB> message <EB><CR>`.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 3);
    out.push(START_BLOCK);
    out.extend_from_slice(message);
    out.push(END_BLOCK);
    out.push(CARRIAGE_RETURN);
    out
}

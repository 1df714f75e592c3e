//! HL7 v2 for hisp, sans I/O: owns reading hospitals' ADT feeds (ER7 text
//! in MLLP frames) and answering them with acknowledgments. Nothing here
//! touches a socket or a clock.
//!
//! - [`er7`]: [`parse`] bytes into a zero-copy [`Message`]; separators from
//!   MSH-1/MSH-2, BOM/LF/CRLF/blank lines tolerated, Latin-1 fallback.
//! - [`view`]: [`Segment`] → [`Field`] → [`Repetition`] → [`Component`] →
//!   [`Subcomponent`], HL7 1-based numbering (MSH-1 is the separator).
//! - [`path`]: `msg.get("PID-3[2].4.1")` (syntax in that module).
//! - [`header`]: `msg.header()` → [`Header`], acknowledgment-mode rules.
//! - [`escape`]: `\F\`, `\X0D\`, `\.br\`... decode and encode.
//! - `scan` (private): splitting on a separator, 64 bytes at a time.
//! - [`ts`]: [`timestamp`], an HL7 TS as shown and as Unix seconds.
//! - [`mllp`]: the incremental [`Framer`] and [`frame`].
//! - [`ack`]: [`build_ack`] (AA/AE/AR, or CA/CE/CR when MSH-15 asks for an
//!   accept acknowledgment; ERR), [`ack_bytes`] (in the original's
//!   [`Charset`]), [`parse_ack`], and [`read_ack`] with
//!   [`Received::answers`] (does a reply acknowledge the message we sent).
//!
//! ```
//! use hisp::hl7::{parse, build_ack, AckCode};
//! let msg = parse(b"MSH|^~\\&|APP|FAC|HISP|HISP|20240101||ADT^A01^ADT_A01|42|P|2.5.1\rPID|1||123^^^HOSP^MR||DOE^JANE\r")?;
//! assert_eq!(msg.get("PID-3.4").as_deref(), Some("HOSP"));
//! assert_eq!(msg.get("PID-5.2").as_deref(), Some("JANE"));
//! let ack = build_ack(&msg.header(), AckCode::AA, None, "ACK42", 0);
//! assert!(ack.starts_with("MSH|^~\\&|HISP|HISP|APP|FAC|19700101000000+0000||ACK^A01^ACK|ACK42|P|2.5.1\r"));
//! # Ok::<(), hisp::hl7::ParseError>(())
//! ```

pub mod ack;
pub mod er7;
pub mod escape;
pub mod header;
pub mod mllp;
pub mod path;
mod scan;
pub mod ts;
pub mod view;

pub use ack::{
    AckCode, AckError, ErrorCode, ErrorLocation, Received, ack_bytes, ack_control_id, build_ack,
    parse_ack, read_ack,
};
pub use er7::{Charset, Message, ParseError, Separators, canonical, parse, raw_segments};
pub use header::{AckKind, Hd, Header};
pub use mllp::{FrameError, Framer, frame};
pub use path::{Path, PathError};
pub use ts::timestamp;
pub use view::{Component, Field, Repetition, Segment, Subcomponent};

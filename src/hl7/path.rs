//! Terse location paths such as `PID-3[2].4.1`: owns their syntax and
//! resolving them against a [`Message`].
//!
//! ```text
//! path := SEG [ "[" occurrence "]" ] "-" FIELD [ "[" repetition "]" ]
//!         [ "." COMPONENT [ "." SUBCOMPONENT ] ]
//! ```
//!
//! - `SEG` is a three-character segment ID of upper-case letters and digits
//!   (`PID`, `DG1`, `ZPI`).
//! - `occurrence` picks the n-th segment with that ID; `repetition` the n-th
//!   repetition of the field. Both are 1-based and default to 1.
//! - `FIELD`, `COMPONENT`, `SUBCOMPONENT` are 1-based, numbered as in the
//!   standard: `MSH-1` is the field separator, `MSH-3` the sending
//!   application.
//! - A path that stops at a field or component returns that whole value
//!   (of the chosen repetition), e.g. `PID-5` is `EVERYMAN^ADAM^A` raw.
//!
//! Examples: `MSH-9.2` (trigger event), `PID-3[2].4.1` (namespace of the
//! assigning authority of the second identifier), `DG1[2]-3.1`.

use std::borrow::Cow;
use std::str::FromStr;

use thiserror::Error;

use super::er7::Message;

/// A parsed location path; parse once, resolve many times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    segment: String,
    occurrence: usize,
    field: usize,
    repetition: usize,
    component: Option<usize>,
    subcomponent: Option<usize>,
}

/// A path string that does not follow the syntax in the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid HL7 path: {reason}")]
pub struct PathError {
    reason: &'static str,
}

fn err(reason: &'static str) -> PathError {
    PathError { reason }
}

impl FromStr for Path {
    type Err = PathError;

    fn from_str(s: &str) -> Result<Self, PathError> {
        let (seg_part, rest) = s.split_once('-').ok_or(err("missing '-' after segment"))?;
        let (segment, occurrence) = indexed(seg_part)?;
        if segment.len() != 3
            || !segment
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(err("segment ID must be three upper-case letters or digits"));
        }
        let mut dots = rest.split('.');
        let (field, repetition) = indexed(dots.next().unwrap_or(""))?;
        let component = dots.next().map(number).transpose()?;
        let subcomponent = dots.next().map(number).transpose()?;
        if dots.next().is_some() {
            return Err(err("too many '.' levels"));
        }
        Ok(Self {
            segment: segment.to_owned(),
            occurrence,
            field: number(field)?,
            repetition,
            component,
            subcomponent,
        })
    }
}

/// `"ABC[2]"` → `("ABC", 2)`, `"ABC"` → `("ABC", 1)`.
fn indexed(s: &str) -> Result<(&str, usize), PathError> {
    match s.split_once('[') {
        None => Ok((s, 1)),
        Some((head, tail)) => {
            let inner = tail.strip_suffix(']').ok_or(err("unclosed '['"))?;
            Ok((head, number(inner)?))
        }
    }
}

fn number(s: &str) -> Result<usize, PathError> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(err("positions are whole numbers starting at 1")),
    }
}

impl Path {
    /// Parses a path; same as `s.parse::<Path>()`.
    pub fn parse(s: &str) -> Result<Self, PathError> {
        s.parse()
    }
}

impl<'a> Message<'a> {
    /// The decoded value at `path` (syntax in the `path` module docs), or
    /// `None` if the path is malformed or points at something absent.
    /// Use [`Path::parse`] + [`Message::get_path`] to tell those apart.
    pub fn get(&self, path: &str) -> Option<Cow<'_, str>> {
        self.get_path(&Path::parse(path).ok()?)
    }

    /// The decoded value at a pre-parsed path.
    pub fn get_path(&self, path: &Path) -> Option<Cow<'_, str>> {
        self.get_raw_path(path)
            .map(|raw| super::escape::decode(raw, &self.separators_at(path)))
    }

    /// The raw (still escaped) value at a pre-parsed path; `Some("\"\"")`
    /// means explicitly null.
    pub fn get_raw_path(&self, path: &Path) -> Option<&str> {
        let seg = self
            .segments_named(&path.segment)
            .nth(path.occurrence.saturating_sub(1))?;
        let rep = seg.field(path.field)?.repetition(path.repetition)?;
        let Some(c) = path.component else {
            return Some(rep.raw());
        };
        let comp = rep.component(c)?;
        match path.subcomponent {
            None => Some(comp.raw()),
            Some(s) => Some(comp.subcomponent(s)?.raw()),
        }
    }

    /// MSH-1 and MSH-2 are literal: no escape decoding for them.
    fn separators_at(&self, path: &Path) -> super::er7::Separators {
        if path.segment == "MSH" && path.field <= 2 {
            super::er7::Separators::LITERAL
        } else {
            self.separators()
        }
    }
}

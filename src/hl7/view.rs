//! Borrowed views into a parsed message: owns the segment → field →
//! repetition → component → subcomponent hierarchy and HL7's 1-based
//! numbering, including the MSH off-by-one.
//!
//! Every view is a `&str` slice of the message plus its [`Separators`];
//! splitting happens on access, so untouched fields cost nothing. Positions
//! are 1-based as in the standard; position 0 and positions past the end
//! return `None` ("absent"), while `||` gives `Some` empty value ("present
//! but empty") and `|""|` gives a value whose `is_null()` is true.
//!
//! MSH numbering: "MSH-1 ... contains the separator between the segment ID
//! and the first real field, MSH-2-encoding characters. As such it serves as
//! the separator and defines the character to be used as a separator for the
//! rest of the message." So `msh.field(1)` is `"|"`, `msh.field(2)` is
//! `"^~\&"` (both literal: never split, never unescaped) and `msh.field(3)`
//! is the sending application — splitting `MSH|^~\&|APP` on `|` would call
//! it field 2, the classic bug.

use std::borrow::Cow;
use std::fmt;

use super::er7::Separators;
use super::escape;
use super::scan::{Pieces, Split};

/// Text shared by every level: the raw slice and how to decode it.
macro_rules! value_methods {
    ($ty:ident) => {
        impl<'m> $ty<'m> {
            /// The value exactly as transmitted (escape sequences intact).
            pub fn raw(&self) -> &'m str {
                self.raw
            }

            /// The value with escape sequences decoded; borrowed when there
            /// were none. A null value decodes to the two characters `""`.
            pub fn text(&self) -> Cow<'m, str> {
                escape::decode(self.raw, &self.seps)
            }

            /// `""`: "Sending the null value, which is transmitted as two
            /// double quote marks (""), is different from omitting an
            /// optional data field." — the receiver should clear its copy.
            pub fn is_null(&self) -> bool {
                self.raw == "\"\""
            }

            /// Present but empty (`||`), or absent-but-asked-for at a lower level.
            pub fn is_empty(&self) -> bool {
                self.raw.is_empty()
            }
        }

        /// Prints only the length: values carry PHI.
        impl fmt::Debug for $ty<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(len={})", stringify!($ty), self.raw.len())
            }
        }
    };
}

/// One segment, e.g. `PID|1||12345^^^HOSP^MR`.
#[derive(Clone, Copy)]
pub struct Segment<'m> {
    raw: &'m str,
    seps: Separators,
}

/// One field; may hold several repetitions.
#[derive(Clone, Copy)]
pub struct Field<'m> {
    raw: &'m str,
    seps: Separators,
}

/// One repetition of a field; holds components.
#[derive(Clone, Copy)]
pub struct Repetition<'m> {
    raw: &'m str,
    seps: Separators,
}

/// One component; holds subcomponents.
#[derive(Clone, Copy)]
pub struct Component<'m> {
    raw: &'m str,
    seps: Separators,
}

/// One subcomponent, the leaf.
#[derive(Clone, Copy)]
pub struct Subcomponent<'m> {
    raw: &'m str,
    seps: Separators,
}

value_methods!(Field);
value_methods!(Repetition);
value_methods!(Component);
value_methods!(Subcomponent);

/// The `n`th (1-based) piece of `raw` split on `sep`.
fn piece(raw: &str, sep: Option<u8>, n: usize) -> Option<&str> {
    Pieces::new(raw, sep).nth(n.checked_sub(1)?)
}

impl<'m> Segment<'m> {
    pub(crate) fn new(raw: &'m str, seps: Separators) -> Self {
        Self { raw, seps }
    }

    /// The segment ID: the text before the first field separator.
    pub fn name(&self) -> &'m str {
        self.split().next().unwrap_or("")
    }

    /// Whether the segment ID is `name` (cheaper than comparing `name()`).
    pub fn is(&self, name: &str) -> bool {
        let raw = self.raw.as_bytes();
        raw.starts_with(name.as_bytes())
            && raw.get(name.len()).is_none_or(|&b| b == self.seps.field)
    }

    /// The whole segment as transmitted, without its terminator.
    pub fn raw(&self) -> &'m str {
        self.raw
    }

    fn split(&self) -> Split<'m> {
        Split::new(self.raw, self.seps.field)
    }

    /// Field `n`, numbered as in the standard (see the module docs for MSH).
    pub fn field(&self, n: usize) -> Option<Field<'m>> {
        let msh = self.is("MSH");
        if msh && n <= 2 {
            return self.msh_literal(n);
        }
        let skip = if msh { n.checked_sub(1)? } else { n };
        if skip == 0 {
            return None;
        }
        let raw = self.split().nth(skip)?;
        Some(Field {
            raw,
            seps: self.seps,
        })
    }

    /// MSH-1 (the field separator) and MSH-2 (the encoding characters).
    fn msh_literal(&self, n: usize) -> Option<Field<'m>> {
        let raw = match n {
            1 => self.raw.get(3..4)?,
            2 => Pieces::new(self.raw.get(4..)?, Some(self.seps.field)).next()?,
            _ => return None,
        };
        Some(Field {
            raw,
            seps: Separators::LITERAL,
        })
    }

    /// Fields 1..=last in order (for MSH, starting with MSH-1).
    pub fn fields(&self) -> impl Iterator<Item = Field<'m>> + use<'m> {
        let mut rest = self.split();
        let (msh1, msh2) = if self.is("MSH") {
            // The split's first two pieces are "MSH" and MSH-2.
            rest.nth(1);
            (self.msh_literal(1), self.msh_literal(2))
        } else {
            rest.next();
            (None, None)
        };
        Fields {
            rest,
            seps: self.seps,
            msh1: msh1.map(|f| f.raw),
            msh2: msh2.map(|f| f.raw),
        }
    }

    /// How many fields are present (the last field number).
    pub fn field_count(&self) -> usize {
        self.fields().count()
    }
}

/// What [`Segment::fields`] returns: MSH-1 and MSH-2 first (literal, for
/// MSH only), then the pieces of the segment's split after its ID.
struct Fields<'m> {
    rest: Split<'m>,
    seps: Separators,
    msh1: Option<&'m str>,
    msh2: Option<&'m str>,
}

impl<'m> Iterator for Fields<'m> {
    type Item = Field<'m>;

    #[inline]
    fn next(&mut self) -> Option<Field<'m>> {
        if let Some(raw) = self.msh1.take().or_else(|| self.msh2.take()) {
            return Some(Field {
                raw,
                seps: Separators::LITERAL,
            });
        }
        let raw = self.rest.next()?;
        Some(Field {
            raw,
            seps: self.seps,
        })
    }
}

impl fmt::Debug for Segment<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Segment({}, len={})", self.name(), self.raw.len())
    }
}

impl<'m> Field<'m> {
    /// Repetition `n` (1-based).
    pub fn repetition(&self, n: usize) -> Option<Repetition<'m>> {
        let raw = piece(self.raw, self.seps.repetition, n)?;
        Some(Repetition {
            raw,
            seps: self.seps,
        })
    }

    /// All repetitions (an empty field has one empty repetition).
    pub fn repetitions(&self) -> impl Iterator<Item = Repetition<'m>> + use<'m> {
        let seps = self.seps;
        Pieces::new(self.raw, seps.repetition).map(move |raw| Repetition { raw, seps })
    }

    /// Shortcut for `repetition(1)?.component(n)`.
    pub fn component(&self, n: usize) -> Option<Component<'m>> {
        self.repetition(1)?.component(n)
    }

    /// Shortcut for the components of the first repetition.
    pub fn components(&self) -> impl Iterator<Item = Component<'m>> + use<'m> {
        self.repetition(1).into_iter().flat_map(|r| r.components())
    }
}

impl<'m> Repetition<'m> {
    /// Component `n` (1-based).
    pub fn component(&self, n: usize) -> Option<Component<'m>> {
        let raw = piece(self.raw, self.seps.component, n)?;
        Some(Component {
            raw,
            seps: self.seps,
        })
    }

    /// All components.
    pub fn components(&self) -> impl Iterator<Item = Component<'m>> + use<'m> {
        let seps = self.seps;
        Pieces::new(self.raw, seps.component).map(move |raw| Component { raw, seps })
    }
}

impl<'m> Component<'m> {
    /// Subcomponent `n` (1-based).
    pub fn subcomponent(&self, n: usize) -> Option<Subcomponent<'m>> {
        let raw = piece(self.raw, self.seps.subcomponent, n)?;
        Some(Subcomponent {
            raw,
            seps: self.seps,
        })
    }

    /// All subcomponents.
    pub fn subcomponents(&self) -> impl Iterator<Item = Subcomponent<'m>> + use<'m> {
        let seps = self.seps;
        Pieces::new(self.raw, seps.subcomponent).map(move |raw| Subcomponent { raw, seps })
    }
}

#[cfg(test)]
mod tests {
    use super::{Segment, Separators};

    /// The fields as `str::split` sees them, with MSH's numbering applied.
    fn model(raw: &str) -> Vec<&str> {
        let mut pieces: Vec<&str> = raw.split('|').collect();
        if raw.starts_with("MSH|") {
            // ["MSH", enc, f3...] becomes ["|", enc, f3...].
            pieces[0] = "|";
        } else {
            pieces.remove(0);
        }
        pieces
    }

    #[test]
    fn fields_match_str_split_across_window_boundaries() {
        let seps = Separators::STANDARD;
        for id in ["MSH", "PID", "ZZ1"] {
            for len in 0..150 {
                for every in [1, 2, 7, 13, 64] {
                    let body: String = (0..len)
                        .map(|i| if i % every == every - 1 { '|' } else { 'x' })
                        .collect();
                    let raw = if id == "MSH" {
                        format!("MSH|^~\\&|{body}")
                    } else {
                        format!("{id}|{body}")
                    };
                    let seg = Segment::new(&raw, seps);
                    let got: Vec<&str> = seg.fields().map(|f| f.raw()).collect();
                    assert_eq!(got, model(&raw), "{raw:?}");
                    assert_eq!(seg.field_count(), got.len());
                    for (n, want) in got.iter().enumerate() {
                        let field = seg.field(n + 1).map(|f| f.raw());
                        assert_eq!(field, Some(*want), "{raw:?} field {}", n + 1);
                    }
                    assert!(seg.field(got.len() + 1).is_none());
                }
            }
        }
    }

    #[test]
    fn msh_literals_and_short_segments() {
        let seps = Separators::STANDARD;
        let fields =
            |raw| -> Vec<&str> { Segment::new(raw, seps).fields().map(|f| f.raw()).collect() };
        assert_eq!(fields("MSH|^~\\&"), ["|", "^~\\&"]);
        assert_eq!(fields("MSH|^~\\&|"), ["|", "^~\\&", ""]);
        assert_eq!(fields("MSH|"), ["|", ""]);
        assert!(fields("MSH").is_empty());
        assert!(fields("PID").is_empty());
        assert_eq!(fields("PID|"), [""]);
        assert_eq!(fields("PID|é|€"), ["é", "€"]);
        let msh = Segment::new("MSH|^~\\&|A", seps);
        let literal: Vec<bool> = msh.fields().map(|f| f.repetitions().count() == 1).collect();
        assert_eq!(literal, [true, true, true]);
    }
}

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

/// Splits on one ASCII byte with a plain byte loop: HL7 pieces are a few
/// bytes long, where this beats `str::split`'s memchr calls several-fold.
/// With no separator the whole value is the only piece.
#[derive(Clone)]
struct Pieces<'a> {
    rest: Option<&'a str>,
    sep: Option<u8>,
}

impl<'a> Pieces<'a> {
    fn new(raw: &'a str, sep: Option<u8>) -> Self {
        Self {
            rest: Some(raw),
            sep,
        }
    }
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        let found = self
            .sep
            .and_then(|sep| super::er7::swar_find_either(rest.as_bytes(), sep, sep));
        match found {
            // `sep` is ASCII, so both slices fall on char boundaries.
            Some(i) => {
                self.rest = rest.get(i + 1..);
                rest.get(..i)
            }
            None => self.rest.take(),
        }
    }
}

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

    fn split(&self) -> Pieces<'m> {
        Pieces::new(self.raw, Some(self.seps.field))
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
        let msh = self.is("MSH");
        let (f1, f2) = if msh {
            (self.field(1), self.field(2))
        } else {
            (None, None)
        };
        let seps = self.seps;
        let rest = self.split().skip(if msh { 2 } else { 1 });
        f1.into_iter()
            .chain(f2)
            .chain(rest.map(move |raw| Field { raw, seps }))
    }

    /// How many fields are present (the last field number).
    pub fn field_count(&self) -> usize {
        self.fields().count()
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

//! Roster CSV: owns reading a care manager's patient-panel upload into
//! checked, normalised rows. Sans I/O: bytes in, [`Parsed`] out. The caller
//! passes today's date, so nothing here reads a clock.
//!
//! # Layout
//! - [`parse`]: size cap, BOM, UTF-8, header row, then one check per row.
//! - `Column`: the ten known columns; header names are matched
//!   case-insensitively after trimming, in any order.
//! - `RowCheck`: the identity rule and one normaliser per column.
//! - `Records`: the RFC 4180 tokenizer.
//!
//! Whole-file failures are a [`CsvError`]: too large, not UTF-8, no header,
//! a header we cannot map, a quote never closed. Anything else belongs to a
//! row: a row with any [`Problem`] is left out of [`Parsed::rows`] and all
//! of its problems are listed, one line each, saying what to fix. Problems
//! name the column, never the value: values are PHI. A valid row naming the
//! same patient as an earlier valid row (the same identifier, or without one
//! the same name, birth date and sex, as the patient index compares them) is
//! a problem too: the index would hold two entries for one patient and send
//! every ADT about them to review instead of alerting.
//!
//! Row numbers are what a spreadsheet shows for the same file: every record
//! counts, blank ones included, and a record whose quoted cell spans lines
//! is one row. A file that starts with its header has the header as row 1.
//! Blank records (nothing but spaces and commas) are skipped and are not
//! counted in [`Parsed::data_rows`].

use std::collections::HashMap;
use std::fmt;

use crate::notify::mpi::{self, RosterKey};
use crate::notify::process::mpi_patient;
use crate::store::notify::StoredPatient;

/// Longest value accepted in any cell, in characters.
pub const MAX_FIELD_CHARS: usize = 200;

/// Birth dates before this year are taken to be typos (and "19000101" is a
/// placeholder the matcher ignores: `mpi::normalize::dob`).
const EARLIEST_BIRTH_YEAR: u32 = 1901;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One accepted row, every value trimmed and normalised; empty cells are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RosterRow {
    /// Spreadsheet row number (header = 1), to point the uploader at it.
    pub row: usize,
    /// The patient's identifier at `assigning_authority`.
    pub patient_id: Option<String>,
    /// Who issued `patient_id`; always given together with it.
    pub assigning_authority: Option<String>,
    /// Surname, for demographic matching.
    pub family_name: Option<String>,
    /// First name, for demographic matching.
    pub given_name: Option<String>,
    /// `YYYYMMDD`, a real date, not in the future, not before 1900.
    pub birth_date: Option<String>,
    /// `M`, `F`, `O` or `U`.
    pub sex: Option<char>,
    /// `NNNNN` or `NNNNN-NNNN`, as given.
    pub postal_code: Option<String>,
    /// Ten digits, no punctuation (a leading country code 1 is dropped).
    pub phone: Option<String>,
    /// The care program the patient is enrolled in, as given.
    pub program: Option<String>,
    /// `YYYY-MM-DD`, today or later: when the enrolment ends.
    pub end_date: Option<String>,
}

impl RosterRow {
    /// The patient the row names, as a roster entry stores it.
    pub fn patient(&self) -> StoredPatient {
        StoredPatient {
            identifiers: match (&self.patient_id, &self.assigning_authority) {
                (Some(v), Some(a)) => vec![(v.clone(), a.clone())],
                _ => Vec::new(),
            },
            family: self.family_name.clone().unwrap_or_default(),
            given: self.given_name.clone().unwrap_or_default(),
            birth_date: self.birth_date.clone(),
            sex: self.sex,
            postal_code: self.postal_code.clone(),
            phone: self.phone.clone(),
        }
    }
}

/// Something the uploader must fix in one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Spreadsheet row number (header = 1).
    pub row: usize,
    /// The column at fault; empty when the problem is the whole row.
    pub column: String,
    /// One line saying what is wrong and how to fix it; never quotes the value.
    pub problem: String,
}

/// The outcome of a roster upload that could be read at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Rows with no problems, in file order.
    pub rows: Vec<RosterRow>,
    /// Every problem of every rejected row, in file order.
    pub problems: Vec<Problem>,
    /// Non-blank rows after the header, accepted or not.
    pub data_rows: usize,
    /// The optional columns the header does not name: a renewal keeps
    /// what the entry stored for them, rather than clearing it.
    pub absent: Absent,
}

/// Optional columns a file leaves out (see [`Parsed::absent`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Absent {
    /// `postal_code`.
    pub postal_code: bool,
    /// `phone`.
    pub phone: bool,
    /// `program`.
    pub program: bool,
    /// `end_date`.
    pub end_date: bool,
}

/// Why the file as a whole could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsvError {
    /// The upload is bigger than the caller's cap.
    TooLarge {
        /// The cap, in bytes.
        max: usize,
    },
    /// Not UTF-8 (typically a legacy "CSV" export in Windows-1252).
    NotUtf8 {
        /// 1-based line of the first bad byte.
        line: usize,
    },
    /// Nothing but blank lines: the header row is missing.
    NoHeader,
    /// The first row names none of the columns: no header, or one written
    /// for another format. Its cells are not echoed (without a header they
    /// are the first patient's).
    NoKnownColumn,
    /// The header is one cell that names the columns with another
    /// separator between them (`;` from a spreadsheet set to a European
    /// locale, a tab from a "Text (tab delimited)" export).
    WrongDelimiter(char),
    /// Header names we do not know, as written (trimmed).
    UnknownColumns(Vec<String>),
    /// Required columns absent from the header.
    MissingColumns(Vec<String>),
    /// Columns named more than once in the header.
    DuplicateColumns(Vec<String>),
    /// A quoted cell is never closed, so the rest of the file is one cell.
    Unterminated {
        /// Spreadsheet row where the unclosed cell starts.
        row: usize,
    },
    /// More than [`MAX_PROBLEMS`] problems: not a roster this reader can
    /// take row by row (another file, another delimiter). Reading on, a
    /// 20 MiB file of one-byte rows would hold gigabytes of report.
    TooManyProblems {
        /// Spreadsheet row where the limit was passed.
        row: usize,
    },
    /// More than [`MAX_ROWS`] patient rows: more than one import may hold
    /// in memory and in one transaction.
    TooManyRows {
        /// The limit.
        max: usize,
    },
    /// As [`CsvError::TooManyProblems`], in a file that writes its dates
    /// day first ([`DateOrder`]): most of its dates cannot be read.
    DayFirstDates {
        /// A row whose date can only be day first.
        shown: usize,
    },
}

/// The most row problems one file may have before it is refused whole.
pub const MAX_PROBLEMS: usize = 1_000;

/// The most patient rows one file may have. A realistic row (name, birth
/// date, sex, an MRN) is 60 to 100 bytes, so the 20 MiB file limit already
/// stops a real panel near this many; a file of bare identifiers (10 bytes a
/// row) would otherwise be two million rows, held in memory several times
/// over and written in one transaction while the MLLP intake waits.
pub const MAX_ROWS: usize = 250_000;

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { max } => {
                write!(f, "roster file is larger than {max} bytes; split it")
            }
            Self::NotUtf8 { line } => write!(
                f,
                "roster file is not UTF-8 text (line {line}); save it as \"CSV UTF-8\""
            ),
            Self::NoHeader => f.write_str("roster file has no header row naming the columns"),
            Self::NoKnownColumn => write!(
                f,
                "the first row names none of the columns; the file needs a header row naming \
                 them: {}",
                Column::ALL.map(Column::name).join(", ")
            ),
            Self::WrongDelimiter(c) => {
                let (name, advice) = match c {
                    ';' => (
                        "semicolons (;)",
                        "save it as \"CSV UTF-8 (Comma delimited)\"; if Excel still writes \
                         semicolons, set the list separator to a comma in Windows' region \
                         settings, or save it from Google Sheets or LibreOffice",
                    ),
                    '\t' => (
                        "tabs",
                        "save it as \"CSV UTF-8 (Comma delimited)\", not as text",
                    ),
                    _ => (
                        "vertical bars (|)",
                        "export it again with commas between the columns",
                    ),
                };
                write!(
                    f,
                    "the columns are separated by {name} instead of commas; {advice}"
                )
            }
            Self::UnknownColumns(names) => write!(
                f,
                "unknown column(s) {}; the columns are {}",
                quoted_list(names),
                Column::ALL.map(Column::name).join(", ")
            ),
            Self::MissingColumns(names) => {
                write!(f, "missing required column(s): {}", names.join(", "))
            }
            Self::DuplicateColumns(names) => {
                write!(f, "column(s) named more than once: {}", names.join(", "))
            }
            Self::Unterminated { row } => write!(
                f,
                "row {row}: a quoted cell is never closed; check for a stray \" character"
            ),
            Self::TooManyProblems { row } => write!(
                f,
                "more than {MAX_PROBLEMS} problems by row {row}: nothing applied; check that \
                 this is the roster, with commas between its columns, and fix the rows"
            ),
            Self::TooManyRows { max } => write!(
                f,
                "roster file has more than {max} patient rows: nothing applied; one \
                 file may hold at most {max}"
            ),
            Self::DayFirstDates { shown } => write!(
                f,
                "this file writes dates day first (DD/MM/YYYY, as row {shown} shows), and more \
                 than {MAX_PROBLEMS} problems follow from it: nothing applied; export the dates \
                 as YYYY-MM-DD"
            ),
        }
    }
}

impl std::error::Error for CsvError {}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {}: {}", self.row, self.problem)
    }
}

/// Header names are the uploader's text: `{:?}` keeps them on one line.
fn quoted_list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    quoted.join(", ")
}

/// Reads a roster upload of at most `max_bytes`. `today_yyyymmdd` (e.g.
/// `20261122`) decides which birth dates are in the future and which end
/// dates are past.
pub fn parse(bytes: &[u8], max_bytes: usize, today_yyyymmdd: u32) -> Result<Parsed, CsvError> {
    if bytes.len() > max_bytes {
        return Err(CsvError::TooLarge { max: max_bytes });
    }
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| CsvError::NotUtf8 {
        line: line_of(bytes, e.valid_up_to()),
    })?;
    let mut records = Records::new(text);
    let columns = map_header(&header(&mut records)?.fields)?;
    let absent = |c: Column| !columns.contains(&Some(c));
    let mut parsed = Parsed {
        absent: Absent {
            postal_code: absent(Column::PostalCode),
            phone: absent(Column::Phone),
            program: absent(Column::Program),
            end_date: absent(Column::EndDate),
        },
        ..Parsed::default()
    };
    // A first pass learns which way round the file writes its dates, so
    // each row is judged with it before it counts as seen.
    let mut order = DateOrder::default();
    let mut first = Records::new(text);
    if header(&mut first).is_ok() {
        for record in first.map_while(Result::ok) {
            if !record.is_blank() {
                order.note(&RowCheck::new(&record, &columns));
            }
        }
    }
    let day_first = order.day_first();
    let mut seen = Seen::default();
    for record in records {
        let record = record?;
        if record.is_blank() {
            continue;
        }
        parsed.data_rows += 1;
        if parsed.data_rows > MAX_ROWS {
            return Err(CsvError::TooManyRows { max: MAX_ROWS });
        }
        let check = RowCheck::new(&record, &columns);
        let misread: Vec<Problem> = day_first
            .map(|shown| two_way(&check, shown))
            .unwrap_or_default();
        match check.finish(today_yyyymmdd) {
            Ok(row) if misread.is_empty() => match repeated(&row, &mut seen) {
                None => parsed.rows.push(row),
                Some(problem) => parsed.problems.push(problem),
            },
            Ok(_) => parsed.problems.extend(misread),
            Err(mut problems) => {
                problems.extend(misread);
                parsed.problems.append(&mut problems);
            }
        }
        if parsed.problems.len() > MAX_PROBLEMS {
            return Err(match day_first {
                Some(shown) => CsvError::DayFirstDates { shown },
                None => CsvError::TooManyProblems { row: record.row },
            });
        }
    }
    Ok(parsed)
}

/// The header: the first record that is not blank.
fn header(records: &mut Records<'_>) -> Result<Record, CsvError> {
    loop {
        match records.next() {
            None => return Err(CsvError::NoHeader),
            Some(record) if record.as_ref().is_ok_and(Record::is_blank) => {}
            Some(record) => return record,
        }
    }
}

/// Which way round a file writes its `NN/NN/YYYY` dates. The documented
/// form is `MM/DD/YYYY`, as US spreadsheets write it; a file exported where
/// the day comes first (`DD/MM/YYYY`) shows it in its dates that are real
/// only day first, and its dates with both numbers 12 or under would be
/// read with month and day swapped, silently: a wrong birth date that never
/// matches. **Decision:** when more of the file's dates are real only day
/// first than are real only month first, a row with a date that reads both
/// ways is refused ([`two_way`]), naming a row that shows the order;
/// otherwise it is read `MM/DD/YYYY`, so a US file whose other dates show
/// the month first keeps its rows when one date was typed day first (that
/// row is refused, as written day first).
#[derive(Debug, Default)]
struct DateOrder {
    /// The first row with a date real only day first.
    shown: Option<usize>,
    day_first: usize,
    month_first: usize,
}

impl DateOrder {
    /// Count the row's slash dates real only one way round.
    fn note(&mut self, check: &RowCheck<'_>) {
        for (_, date) in slash_dates(check) {
            match (date.real_day_first(), date.real_month_first()) {
                (true, false) => {
                    self.shown.get_or_insert(check.row);
                    self.day_first += 1;
                }
                (false, true) => self.month_first += 1,
                _ => {}
            }
        }
    }

    /// A row that shows the file writes day first, when it does.
    fn day_first(&self) -> Option<usize> {
        self.shown.filter(|_| self.day_first > self.month_first)
    }
}

/// In a file that writes day first (as row `shown` shows), a problem for
/// each of the row's dates that reads both ways.
fn two_way(check: &RowCheck<'_>, shown: usize) -> Vec<Problem> {
    slash_dates(check)
        .filter(|(_, d)| d.first != d.second && d.real_day_first() && d.real_month_first())
        .map(|(column, _)| {
            let name = column.name();
            Problem {
                row: check.row,
                column: name.to_owned(),
                problem: format!(
                    "{name} reads two ways: this file writes dates day first (DD/MM/YYYY, as \
                     row {shown} shows), and hisp reads MM/DD/YYYY; write dates as YYYY-MM-DD"
                ),
            }
        })
        .collect()
}

/// An `N/N/YYYY` date's numbers, not yet known to be month or day.
#[derive(Debug, Clone, Copy)]
struct SlashDate {
    first: u32,
    second: u32,
    year: u32,
}

impl SlashDate {
    fn real(month: u32, day: u32, year: u32) -> bool {
        (1..=12).contains(&month) && (1..=days_in_month(year, month)).contains(&day)
    }

    fn real_day_first(self) -> bool {
        Self::real(self.second, self.first, self.year)
    }

    fn real_month_first(self) -> bool {
        Self::real(self.first, self.second, self.year)
    }
}

/// The row's birth and end dates written `N/N/YYYY`.
fn slash_dates<'c>(check: &'c RowCheck<'_>) -> impl Iterator<Item = (Column, SlashDate)> + 'c {
    [Column::BirthDate, Column::EndDate]
        .into_iter()
        .filter_map(|column| match check.cells.get(column as usize) {
            Some(Cell::Value(v)) => Some((column, slash_date(v)?)),
            _ => None,
        })
}

/// The numbers of an `N/N/YYYY` date.
fn slash_date(s: &str) -> Option<SlashDate> {
    let [a, b, y] = s.split('/').collect::<Vec<_>>()[..] else {
        return None;
    };
    Some(SlashDate {
        first: digits(a, 1, 2)?,
        second: digits(b, 1, 2)?,
        year: digits(y, 4, 4)?,
    })
}

/// A patient_id as written, unless a spreadsheet has made it another
/// value: a number shortened to scientific notation (`1.23457E+11`, the
/// digits lost), or an invisible character (a zero-width space, a soft
/// hyphen, a BOM) that would keep it from ever matching.
fn patient_id(s: &str) -> Result<String, String> {
    // As a spreadsheet writes it: `1.23457E+11`, `1E+11` (the `+` always).
    let (mantissa, exponent) = s.split_once(['E', 'e']).unwrap_or((s, ""));
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, "0"));
    if digits(whole) && digits(fraction) && exponent.strip_prefix('+').is_some_and(digits) {
        return Err(
            "patient_id is a number a spreadsheet shortened to scientific notation (its \
             digits are lost): format the column as Text and export it again"
                .into(),
        );
    }
    let invisible = |c: char| {
        matches!(
            c,
            '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}'
        )
    };
    if s.chars().any(invisible) {
        return Err(
            "patient_id contains an invisible character (a zero-width space or soft hyphen): \
             retype it"
                .into(),
        );
    }
    Ok(s.to_owned())
}

/// The accepted rows so far, by patient: each identifier's first row, and
/// under each folded name and DOB the first row of each kind listed with them
/// (row, whether it gave an identifier, its sex). One per kind is all the
/// check needs (a later row of a kind agrees with exactly what the first
/// does), and keeps a file of namesakes with identifiers from costing
/// rows × rows.
#[derive(Default)]
struct Seen {
    by_id: HashMap<RosterKey, usize>,
    by_name: HashMap<RosterKey, Vec<(usize, bool, Option<char>)>>,
}

/// The problem of an accepted row naming the same patient as an earlier
/// accepted one, as the patient index tells patients apart
/// ([`mpi::roster_key`]) and as a re-submitted roster renews entries
/// (`roster::same_patient`): two entries for one patient would send every ADT
/// about them to review, never to an alert. Rows are the same patient by
/// identifier, or by folded names and DOB, with sexes that are not M and F (U,
/// O and a blank agree with either), when either of the two gave no
/// identifier (two rows with different identifiers are two people, John
/// Smith and John Smith born the same day). Only accepted rows count, so a
/// patient whose first row is rejected still gets in by the later one.
fn repeated(row: &RosterRow, seen: &mut Seen) -> Option<Problem> {
    let patient = mpi_patient(0, &row.patient());
    let by_id = mpi::roster_key(patient.identifiers.first(), &patient.demographics)
        .filter(|k| matches!(k, RosterKey::Identifier(..)));
    let (by_name, sex) = match mpi::roster_key(None, &patient.demographics) {
        Some(RosterKey::Demographics(family, given, dob, sex)) => {
            (Some(RosterKey::Demographics(family, given, dob, None)), sex)
        }
        _ => (None, None),
    };
    let identified = by_id.is_some();
    let first = match by_id.as_ref().and_then(|k| seen.by_id.get(k)) {
        Some(&at) => Some((
            at,
            Column::PatientId.name(),
            "patient_id and assigning_authority",
        )),
        None => by_name
            .as_ref()
            .and_then(|k| seen.by_name.get(k))
            .and_then(|rows| {
                rows.iter().find(|&&(_, had_id, other)| {
                    let two_ids = had_id && identified;
                    let m_and_f = matches!(
                        (sex, other),
                        (Some('M'), Some('F')) | (Some('F'), Some('M'))
                    );
                    !(two_ids || m_and_f)
                })
            })
            .map(|&(at, _, other)| {
                let by = if other == sex {
                    "family_name, given_name, birth_date and sex"
                } else {
                    "family_name, given_name and birth_date; a sex of U, O or blank agrees with any"
                };
                (at, "", by)
            }),
    };
    if let Some((at, column, by)) = first {
        return Some(Problem {
            row: row.row,
            column: column.to_owned(),
            problem: format!(
                "the same patient as row {at} (same {by}); list each patient once, \
                 in one row even when enrolled in two programs"
            ),
        });
    }
    if let Some(key) = by_id {
        seen.by_id.entry(key).or_insert(row.row);
    }
    if let Some(key) = by_name {
        let rows = seen.by_name.entry(key).or_default();
        if !rows.iter().any(|&(_, i, s)| i == identified && s == sex) {
            rows.push((row.row, identified, sex));
        }
    }
    None
}

/// 1-based line number of byte `at`.
fn line_of(bytes: &[u8], at: usize) -> usize {
    let before = bytes.get(..at).unwrap_or(bytes);
    1 + before.iter().filter(|&&b| b == b'\n').count()
}

/// The roster's columns, in the order error messages list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    PatientId,
    AssigningAuthority,
    FamilyName,
    GivenName,
    BirthDate,
    Sex,
    PostalCode,
    Phone,
    Program,
    EndDate,
}

impl Column {
    const ALL: [Self; 10] = [
        Self::PatientId,
        Self::AssigningAuthority,
        Self::FamilyName,
        Self::GivenName,
        Self::BirthDate,
        Self::Sex,
        Self::PostalCode,
        Self::Phone,
        Self::Program,
        Self::EndDate,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::PatientId => "patient_id",
            Self::AssigningAuthority => "assigning_authority",
            Self::FamilyName => "family_name",
            Self::GivenName => "given_name",
            Self::BirthDate => "birth_date",
            Self::Sex => "sex",
            Self::PostalCode => "postal_code",
            Self::Phone => "phone",
            Self::Program => "program",
            Self::EndDate => "end_date",
        }
    }

    /// The column must be in the header (its cells may still be empty).
    fn required(self) -> bool {
        !matches!(
            self,
            Self::PostalCode | Self::Phone | Self::Program | Self::EndDate
        )
    }

    fn from_header(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }
}

/// Maps each header cell to its column. An empty header cell is an unnamed
/// column (spreadsheets add them): allowed, but its cells must stay empty.
fn map_header(names: &[String]) -> Result<Vec<Option<Column>>, CsvError> {
    let (mut map, mut unknown, mut dups) = (Vec::new(), Vec::new(), Vec::new());
    for name in names.iter().map(|n| n.trim()) {
        match Column::from_header(name) {
            _ if name.is_empty() => map.push(None),
            None => unknown.push(name.to_owned()),
            Some(c) if map.contains(&Some(c)) => dups.push(c.name().to_owned()),
            Some(c) => map.push(Some(c)),
        }
    }
    // A first row naming no column at all is no header but the first
    // patient (a file exported without one): say so, without echoing its
    // cells, which are that patient's identifier, name and birth date.
    if !unknown.is_empty() && map.iter().all(Option::is_none) {
        // Cells naming columns between other separators: say which. The
        // names may each be quoted (`"patient_id";"family_name"`, as some
        // exports quote every cell), which the comma tokenizer leaves in
        // place, and a comma inside a later name can split the row into
        // more than one cell.
        for sep in [';', '\t', '|'] {
            let known = names
                .iter()
                .flat_map(|n| n.split(sep))
                .filter(|n| Column::from_header(n.trim().trim_matches('"').trim()).is_some())
                .count();
            if known >= 2 {
                return Err(CsvError::WrongDelimiter(sep));
            }
        }
        return Err(CsvError::NoKnownColumn);
    }
    // A misspelt name also makes a column "missing": report the cause.
    if !unknown.is_empty() {
        return Err(CsvError::UnknownColumns(unknown));
    }
    if !dups.is_empty() {
        return Err(CsvError::DuplicateColumns(dups));
    }
    let missing: Vec<String> = Column::ALL
        .into_iter()
        .filter(|c| c.required() && !map.contains(&Some(*c)))
        .map(|c| c.name().to_owned())
        .collect();
    if !missing.is_empty() {
        return Err(CsvError::MissingColumns(missing));
    }
    Ok(map)
}

/// One data row on its way to a [`RosterRow`] or a list of problems.
struct RowCheck<'r> {
    row: usize,
    /// Trimmed cells by `Column as usize`.
    cells: [Cell<'r>; Column::ALL.len()],
    problems: Vec<Problem>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cell<'r> {
    Empty,
    /// Present but already reported (too long, control characters):
    /// counts as given, is not normalised, so it is reported once.
    Rejected,
    Value(&'r str),
}

impl<'r> RowCheck<'r> {
    fn new(record: &'r Record, columns: &[Option<Column>]) -> Self {
        let mut check = Self {
            row: record.row,
            cells: [Cell::Empty; Column::ALL.len()],
            problems: Vec::new(),
        };
        // Cells past the header count only when they hold something: report
        // writers end every data line, but not the header, with a comma.
        let cells = record
            .fields
            .iter()
            .rposition(|f| !f.trim().is_empty())
            .map_or(0, |i| i + 1);
        if cells > columns.len() {
            check.whole_row(format!(
                "row has {cells} cells but the header has {}; put values containing commas in double quotes",
                columns.len()
            ));
        }
        for (i, value) in record.fields.iter().map(|f| f.trim()).enumerate() {
            match columns.get(i) {
                Some(Some(column)) => check.cell(*column, value),
                Some(None) if !value.is_empty() => check.whole_row(format!(
                    "column {} has a value but no header name; name the column or clear it",
                    i + 1
                )),
                _ => {}
            }
        }
        check
    }

    /// Stores a cell, or a problem if it is too long or holds line breaks.
    fn cell(&mut self, column: Column, value: &'r str) {
        // Excel's way to keep a number's leading zeros, `="00123"` (a
        // formula giving text): the text it gives.
        let value = value
            .strip_prefix("=\"")
            .and_then(|v| v.strip_suffix('"'))
            .filter(|v| !v.contains('"'))
            .map_or(value, str::trim);
        if value.is_empty() {
            return;
        }
        let name = column.name();
        let cell = if value.chars().count() > MAX_FIELD_CHARS {
            self.fail(
                column,
                format!("{name} is longer than {MAX_FIELD_CHARS} characters"),
            );
            Cell::Rejected
        } else if value.chars().any(char::is_control) {
            self.fail(
                column,
                format!("{name} contains a line break or control character"),
            );
            Cell::Rejected
        } else {
            Cell::Value(value)
        };
        if let Some(slot) = self.cells.get_mut(column as usize) {
            *slot = cell;
        }
    }

    /// The accepted row, or every problem found in it.
    fn finish(mut self, today: u32) -> Result<RosterRow, Vec<Problem>> {
        self.identity_rule();
        let text = |s: &str| Ok::<_, String>(s.to_owned());
        let row = RosterRow {
            row: self.row,
            patient_id: self.value(Column::PatientId, patient_id),
            assigning_authority: self.value(Column::AssigningAuthority, text),
            family_name: self.value(Column::FamilyName, text),
            given_name: self.value(Column::GivenName, text),
            birth_date: self.value(Column::BirthDate, |s| birth_date(s, today)),
            sex: self.value(Column::Sex, sex),
            postal_code: self.value(Column::PostalCode, postal_code),
            phone: self.value(Column::Phone, phone),
            program: self.value(Column::Program, text),
            end_date: self.value(Column::EndDate, end_date),
        };
        if self.problems.is_empty() {
            Ok(row)
        } else {
            Err(self.problems)
        }
    }

    /// A patient is named by an identifier or by full demographics.
    fn identity_rule(&mut self) {
        use Column::*;
        match (self.has(PatientId), self.has(AssigningAuthority)) {
            (true, false) => self.fail(
                AssigningAuthority,
                "assigning_authority is required with patient_id: add who issued the ID".into(),
            ),
            (false, true) => self.fail(
                PatientId,
                "patient_id is required with assigning_authority: add the ID or clear both".into(),
            ),
            _ => {}
        }
        let cell = |c: Column| match self.cells.get(c as usize) {
            Some(Cell::Value(v)) => Some(*v),
            _ => None,
        };
        if let (Some(id), Some(authority)) = (cell(PatientId), cell(AssigningAuthority))
            && crate::notify::mpi::placeholder_identifier(id, authority)
        {
            self.fail(
                PatientId,
                "patient_id is a placeholder (one digit repeated, 123456789, UNKNOWN, or an SSN \
                 never issued) that names no one: clear patient_id and assigning_authority and \
                 name the patient by family_name, given_name, birth_date and sex"
                    .into(),
            );
        }
        let id_missing = self.missing(&[PatientId, AssigningAuthority]);
        let demo_missing = self.missing(&[FamilyName, GivenName, BirthDate, Sex]);
        if !id_missing.is_empty() && !demo_missing.is_empty() {
            self.whole_row(format!(
                "patient cannot be identified: add {}, or add {}",
                id_missing.join(" and "),
                demo_missing.join(" and ")
            ));
        }
    }

    /// Whether the cell has a value (valid or not: a bad one is reported on its own).
    fn has(&self, column: Column) -> bool {
        self.cells
            .get(column as usize)
            .is_some_and(|c| *c != Cell::Empty)
    }

    fn missing(&self, columns: &[Column]) -> Vec<&'static str> {
        columns
            .iter()
            .filter(|c| !self.has(**c))
            .map(|c| c.name())
            .collect()
    }

    /// Normalises a present cell; a rejected one becomes a problem.
    fn value<T>(
        &mut self,
        column: Column,
        norm: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let Some(Cell::Value(raw)) = self.cells.get(column as usize).copied() else {
            return None;
        };
        norm(raw).map_err(|msg| self.fail(column, msg)).ok()
    }

    fn fail(&mut self, column: Column, problem: String) {
        self.push(column.name(), problem);
    }

    fn whole_row(&mut self, problem: String) {
        self.push("", problem);
    }

    fn push(&mut self, column: &str, problem: String) {
        self.problems.push(Problem {
            row: self.row,
            column: column.to_owned(),
            problem,
        });
    }
}

/// `YYYYMMDD`: real, not in the future, not implausibly old.
fn birth_date(s: &str, today: u32) -> Result<String, String> {
    let (y, m, d) = date(s, "birth_date")?;
    if key(y, m, d) > today {
        return Err("birth_date is in the future".into());
    }
    if y < EARLIEST_BIRTH_YEAR {
        return Err(format!(
            "birth_date is before {EARLIEST_BIRTH_YEAR}; check the year"
        ));
    }
    Ok(format!("{y:04}{m:02}{d:02}"))
}

/// `YYYY-MM-DD`. A date already past is not a mistake: the practice says the
/// patient's enrolment ended (they left the programme), and the import ends
/// the patient's entry (`Hisp::roster_import`). One before
/// [`EARLIEST_BIRTH_YEAR`] is an export's placeholder for "no end date"
/// (`1900-01-01`), not an enrolment that ended: refused, as a birth date
/// that early is. Before, a panel exported so ended every patient's entry
/// and the report said nothing was wrong.
fn end_date(s: &str) -> Result<String, String> {
    let (y, m, d) = date(s, "end_date")?;
    if y < EARLIEST_BIRTH_YEAR {
        return Err(format!(
            "end_date is before {EARLIEST_BIRTH_YEAR}, an export's placeholder rather than \
             an end date; leave it empty while the patient is enrolled"
        ));
    }
    Ok(format!("{y:04}-{m:02}-{d:02}"))
}

fn key(y: u32, m: u32, d: u32) -> u32 {
    y * 10_000 + m * 100 + d
}

/// `YYYY-MM-DD`, `YYYYMMDD` or `MM/DD/YYYY` (month and day may be one digit,
/// as Excel writes them), and a day that exists.
fn date(s: &str, name: &str) -> Result<(u32, u32, u32), String> {
    let (y, m, d) = date_parts(s).ok_or_else(|| {
        format!("{name} is not a date; write it as YYYY-MM-DD, YYYYMMDD or MM/DD/YYYY")
    })?;
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        if slash_date(s).is_some_and(|d| d.real_day_first()) {
            return Err(format!(
                "{name} is written day first (DD/MM/YYYY); write it as YYYY-MM-DD or MM/DD/YYYY"
            ));
        }
        return Err(format!(
            "{name} is not a real calendar date; check the month and day"
        ));
    }
    Ok((y, m, d))
}

fn date_parts(s: &str) -> Option<(u32, u32, u32)> {
    if let [y, m, d] = s.split('-').collect::<Vec<_>>()[..] {
        return Some((digits(y, 4, 4)?, digits(m, 2, 2)?, digits(d, 2, 2)?));
    }
    if let [m, d, y] = s.split('/').collect::<Vec<_>>()[..] {
        return Some((digits(y, 4, 4)?, digits(m, 1, 2)?, digits(d, 1, 2)?));
    }
    let (y, md) = s.split_at_checked(4)?;
    let (m, d) = md.split_at_checked(2)?;
    Some((digits(y, 4, 4)?, digits(m, 2, 2)?, digits(d, 2, 2)?))
}

/// `s` as a number if it is `min..=max` ASCII digits.
fn digits(s: &str, min: usize, max: usize) -> Option<u32> {
    let ok = (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| s.parse().ok()).flatten()
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// HL7 table 0001's codes (and their words): `A` (ambiguous), `N` (not
/// applicable) and `X` (non-binary, as US states' IDs write it) as
/// written. Matching weighs only M, F and O; the others count as missing,
/// as `U` does, so a row naming one is identified by its other fields.
/// Before, they refused the row, even one with a patient_id.
fn sex(s: &str) -> Result<char, String> {
    match s.to_ascii_lowercase().as_str() {
        "m" | "male" => Ok('M'),
        "f" | "female" => Ok('F'),
        "o" | "other" => Ok('O'),
        "u" | "unknown" => Ok('U'),
        "a" | "ambiguous" => Ok('A'),
        "n" | "not applicable" => Ok('N'),
        "x" | "non-binary" | "nonbinary" => Ok('X'),
        _ => Err("sex must be M, F, O, U, A, N or X (or male, female, other, unknown)".into()),
    }
}

/// US ZIP or ZIP+4, kept as written; one of 4 digits is a ZIP whose
/// leading 0 a spreadsheet dropped (Excel reads `06101` as the number 6101;
/// no ZIP has 4 digits; New England's and New Jersey's start with 0), and
/// gets it back. So does one of 3 digits from 501 to 988, whose two leading
/// 0s were dropped: Puerto Rico's and the Virgin Islands' ZIPs (00601 to
/// 00988) and Holtsville's (00501, 00544); no ZIP has 3 digits, and none
/// outside that range starts with 00. Before, such a row was refused, so a
/// Connecticut panel saved from Excel applied no row (and, until session
/// 39, a San Juan one).
fn postal_code(s: &str) -> Result<String, String> {
    let all_digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    let (zip, plus4) = match s.split_once('-') {
        Some((zip, plus4)) if all_digits(plus4, 4) => (zip, Some(plus4)),
        Some(_) => ("", None),
        None => (s, None),
    };
    let zip = if all_digits(zip, 5) {
        zip.to_owned()
    } else if all_digits(zip, 4) {
        format!("0{zip}")
    } else if all_digits(zip, 3) && ("501"..="988").contains(&zip) {
        format!("00{zip}")
    } else {
        return Err("postal_code must be a 5-digit ZIP code or ZIP+4 (12345-6789)".into());
    };
    Ok(match plus4 {
        Some(plus4) => format!("{zip}-{plus4}"),
        None => zip,
    })
}

/// Ten digits after dropping punctuation; `1` before them is the country code.
fn phone(s: &str) -> Result<String, String> {
    let punctuation = |c: char| matches!(c, ' ' | '-' | '.' | '(' | ')' | '+' | '/');
    if !s.chars().all(|c| c.is_ascii_digit() || punctuation(c)) {
        return Err(
            "phone may hold only digits, spaces and ( ) - . + /; leave out extensions".into(),
        );
    }
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    match (digits.len(), digits.strip_prefix('1')) {
        (10, _) => Ok(digits),
        (11, Some(national)) => Ok(national.to_owned()),
        _ => Err("phone must have 10 digits: area code and number".into()),
    }
}

/// One CSV record: its spreadsheet row and its cells, unquoted, untrimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    row: usize,
    fields: Vec<String>,
}

impl Record {
    /// An empty line, or one of spaces and commas (an exported empty row).
    fn is_blank(&self) -> bool {
        self.fields.iter().all(|f| f.trim().is_empty())
    }
}

/// RFC 4180 records from text. "Each record is located on a separate line,
/// delimited by a line break (CRLF)"; LF and a lone CR (old Mac exports)
/// end a record too. "The last record in the file may or may not have an
/// ending line break." Lenient where spreadsheets are: a `"` inside an
/// unquoted cell is literal, text after a closing quote is appended, and
/// spaces before an opening quote are dropped.
struct Records<'t> {
    text: &'t str,
    pos: usize,
    row: usize,
}

impl<'t> Records<'t> {
    fn new(text: &'t str) -> Self {
        Self {
            text,
            pos: 0,
            row: 0,
        }
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.text.as_bytes().get(at).copied()
    }

    /// Position of the first byte at or after `from` matching `hit`, or the end.
    fn seek(&self, from: usize, hit: impl Fn(u8) -> bool) -> usize {
        let rest = self.text.as_bytes().get(from..).unwrap_or_default();
        rest.iter()
            .position(|&b| hit(b))
            .map_or(self.text.len(), |i| from + i)
    }

    /// Text between two positions that sit on ASCII bytes (or the ends).
    fn slice(&self, from: usize, to: usize) -> &'t str {
        self.text.get(from..to).unwrap_or_default()
    }

    fn field(&mut self) -> Result<String, CsvError> {
        let mut out = String::new();
        let quote = self.seek(self.pos, |b| b != b' ' && b != b'\t');
        if self.byte(quote) == Some(b'"') {
            self.pos = quote + 1;
            self.quoted(&mut out)?;
        }
        let end = self.seek(self.pos, |b| matches!(b, b',' | b'\r' | b'\n'));
        out.push_str(self.slice(self.pos, end));
        self.pos = end;
        Ok(out)
    }

    /// "Fields containing line breaks (CRLF), double quotes, and commas
    /// should be enclosed in double-quotes." "If double-quotes are used to
    /// enclose fields, then a double-quote appearing inside a field must be
    /// escaped by preceding it with another double quote."
    fn quoted(&mut self, out: &mut String) -> Result<(), CsvError> {
        loop {
            let close = self.seek(self.pos, |b| b == b'"');
            if close >= self.text.len() {
                return Err(CsvError::Unterminated { row: self.row });
            }
            out.push_str(self.slice(self.pos, close));
            self.pos = close + 1;
            if self.byte(self.pos) != Some(b'"') {
                return Ok(());
            }
            out.push('"');
            self.pos += 1;
        }
    }
}

impl Iterator for Records<'_> {
    type Item = Result<Record, CsvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.text.len() {
            return None;
        }
        self.row += 1;
        let mut fields = Vec::new();
        loop {
            match self.field() {
                Ok(field) => fields.push(field),
                Err(e) => {
                    self.pos = self.text.len();
                    return Some(Err(e));
                }
            }
            let sep = self.byte(self.pos);
            self.pos += 1;
            match sep {
                Some(b',') => {}
                Some(b'\r') if self.byte(self.pos) == Some(b'\n') => {
                    self.pos += 1;
                    break;
                }
                _ => break,
            }
        }
        Some(Ok(Record {
            row: self.row,
            fields,
        }))
    }
}

#[cfg(test)]
#[path = "roster_csv_tests.rs"]
mod tests;

//! Table tests for the roster CSV reader: tokenizer, header, every row rule,
//! row numbering, messages, plus a pseudo-random no-panic sweep.

use super::*;

const TODAY: u32 = 20261122;
const HEADER: &str = "patient_id,assigning_authority,family_name,given_name,birth_date,sex,postal_code,phone,program,end_date\n";
const END_PLACEHOLDER: &str = "end_date is before 1901, an export's placeholder rather than an end date; leave it empty while the patient is enrolled";
/// A valid row to edit one cell of: column index and new value.
const GOOD: [&str; 10] = [
    "123",
    "HOSP",
    "Doe",
    "Jane",
    "1980-02-29",
    "F",
    "02134",
    "617-555-0100",
    "CHF",
    "2027-01-01",
];

fn parse_ok(csv: &str) -> Parsed {
    parse(csv.as_bytes(), 1 << 20, TODAY).expect("file-level error")
}

/// `GOOD` with cell `i` replaced, parsed as the only data row.
fn with(i: usize, value: &str) -> Result<RosterRow, Vec<String>> {
    let mut cells = GOOD.map(str::to_owned);
    if let Some(c) = cells.get_mut(i) {
        *c = value.to_owned();
    }
    one(&cells.join(","))
}

/// The single data row after `HEADER`: accepted, or its problem texts.
fn one(line: &str) -> Result<RosterRow, Vec<String>> {
    let parsed = parse_ok(&format!("{HEADER}{line}\n"));
    assert_eq!(parsed.data_rows, 1);
    match parsed.rows.into_iter().next() {
        Some(row) => Ok(row),
        None => Err(parsed.problems.into_iter().map(|p| p.problem).collect()),
    }
}

fn records(text: &str) -> Vec<Vec<String>> {
    Records::new(text)
        .map(|r| r.expect("record").fields)
        .collect()
}

#[test]
fn tokenizer() {
    let table: &[(&str, &[&[&str]])] = &[
        ("a,b\r\nc,d\r\n", &[&["a", "b"], &["c", "d"]]),
        ("a,b\nc,d", &[&["a", "b"], &["c", "d"]]),
        ("a,b\rc,d\r", &[&["a", "b"], &["c", "d"]]),
        ("a,,\n", &[&["a", "", ""]]),
        ("\"x,y\",z\n", &[&["x,y", "z"]]),
        ("\"say \"\"hi\"\"\"\n", &[&["say \"hi\""]]),
        ("\"two\r\nlines\",b\n", &[&["two\r\nlines", "b"]]),
        ("\"\"\n", &[&[""]]),
        ("  \"q\" ,b\n", &[&["q ", "b"]]),
        ("\"q\"tail,b\n", &[&["qtail", "b"]]),
        ("O\"Neil,b\n", &[&["O\"Neil", "b"]]),
        ("a\n\nb\n", &[&["a"], &[""], &["b"]]),
        ("é,ü\n", &[&["é", "ü"]]),
    ];
    for (text, want) in table {
        let want: Vec<Vec<String>> = want
            .iter()
            .map(|r| r.iter().map(|f| (*f).to_owned()).collect())
            .collect();
        assert_eq!(records(text), want, "{text:?}");
    }
}

#[test]
fn file_errors() {
    let table: &[(&[u8], CsvError)] = &[
        (b"", CsvError::NoHeader),
        (b"\n\r\n ,, \n", CsvError::NoHeader),
        (b"\xEF\xBB\xBF", CsvError::NoHeader),
        // A file without a header: its first row is a patient, not echoed.
        (
            b"MRN1,NORTH,Doe,Jane,1980-01-02,F\n",
            CsvError::NoKnownColumn,
        ),
        (b"patient_id\n\xFF\n", CsvError::NotUtf8 { line: 2 }),
        // Another separator: named, not "no known column".
        (
            b"patient_id;assigning_authority;family_name;given_name;birth_date;sex\nMRN1;NORTH;Doe;Jane;1980-01-02;F\n",
            CsvError::WrongDelimiter(';'),
        ),
        (
            b"patient_id\tassigning_authority\tfamily_name\tgiven_name\tbirth_date\tsex\n",
            CsvError::WrongDelimiter('\t'),
        ),
        // Every name quoted, as some exports write every cell.
        (
            b"\"patient_id\";\"assigning_authority\";\"family_name\";\"given_name\"\n",
            CsvError::WrongDelimiter(';'),
        ),
        (
            b"patient_id|family_name|given_name|birth_date|sex\n",
            CsvError::WrongDelimiter('|'),
        ),
        // A comma in a later name splits the row into more than one cell.
        (
            b"patient_id;family_name;given_name;Notes, misc\n",
            CsvError::WrongDelimiter(';'),
        ),
        // A patient's cells between semicolons are still no header.
        (b"MRN1;NORTH;Doe;Jane\n", CsvError::NoKnownColumn),
        (b"\"patient_id\n", CsvError::Unterminated { row: 1 }),
        (
            b"patient_id,assigning_authority,family_name,given_name,birth_date,sex,mrn, Zip \n",
            CsvError::UnknownColumns(vec!["mrn".into(), "Zip".into()]),
        ),
        (
            b"patient_id,family_name,given_name,sex\n",
            CsvError::MissingColumns(vec!["assigning_authority".into(), "birth_date".into()]),
        ),
        (
            b"patient_id,assigning_authority,family_name,given_name,birth_date,sex,SEX\n",
            CsvError::DuplicateColumns(vec!["sex".into()]),
        ),
    ];
    for (bytes, want) in table {
        assert_eq!(
            parse(bytes, 1 << 20, TODAY).as_ref(),
            Err(want),
            "{bytes:?}"
        );
    }
    let unterminated = format!("{HEADER}\n1,A,,,,\n\"2,A\n");
    assert_eq!(
        parse(unterminated.as_bytes(), 1 << 20, TODAY),
        Err(CsvError::Unterminated { row: 4 })
    );
    let csv = format!("{HEADER}1,A\n");
    let size = csv.len();
    assert_eq!(
        parse(csv.as_bytes(), size - 1, TODAY),
        Err(CsvError::TooLarge { max: size - 1 })
    );
    assert!(parse(csv.as_bytes(), size, TODAY).is_ok());
    // A file of rows that are no roster rows (two problems each) is refused
    // whole once it passes MAX_PROBLEMS, not reported row by row.
    let junk = |rows: usize| format!("{HEADER}{}", "x\n".repeat(rows));
    let within = parse_ok(&junk(MAX_PROBLEMS / 2));
    assert_eq!(within.problems.len(), MAX_PROBLEMS);
    assert_eq!(
        parse(junk(MAX_PROBLEMS / 2 + 1).as_bytes(), 1 << 20, TODAY),
        Err(CsvError::TooManyProblems {
            row: MAX_PROBLEMS / 2 + 2
        })
    );
}

#[test]
fn a_file_of_more_rows_than_a_roster_holds_is_refused_whole() {
    // Bare identifiers, about 20 bytes a row: far under the byte limit.
    let ids = |rows: usize| {
        let mut csv = String::from(HEADER);
        for i in 0..rows {
            csv.push_str(&format!("P{i},A,,,,,,,,\n"));
        }
        csv
    };
    let within = ids(MAX_ROWS);
    let parsed = parse(within.as_bytes(), MAX_ROWS * 32, TODAY).expect("within the limit");
    assert_eq!(
        (parsed.data_rows, parsed.rows.len(), parsed.problems.len()),
        (MAX_ROWS, MAX_ROWS, 0)
    );
    let over = ids(MAX_ROWS + 1);
    assert_eq!(
        parse(over.as_bytes(), MAX_ROWS * 32, TODAY).map(|p| p.data_rows),
        Err(CsvError::TooManyRows { max: MAX_ROWS })
    );
}

#[test]
fn header_is_flexible() {
    let table = [
        // Case, spaces, any order, BOM, CRLF, optional columns absent.
        "\u{FEFF} SEX ,Birth_Date,Given_Name,FAMILY_NAME,assigning_authority,patient_id\r\nF,1980-02-29,Jane,Doe,HOSP,123\r\n",
        "sex,birth_date,given_name,family_name,assigning_authority,patient_id,,\nF,1980-02-29,Jane,Doe,HOSP,123,,\n",
        "sex,birth_date,given_name,family_name,assigning_authority,patient_id\n\n\nF,19800229,Jane,Doe,HOSP,123",
    ];
    for csv in table {
        let parsed = parse_ok(csv);
        assert_eq!(parsed.problems, [], "{csv:?}");
        let row = parsed.rows.first().expect("one row");
        assert_eq!(row.birth_date.as_deref(), Some("19800229"));
        assert_eq!((row.sex, row.phone.as_deref()), (Some('F'), None));
        assert_eq!(row.patient_id.as_deref(), Some("123"));
    }
}

#[test]
fn good_row_is_normalised() {
    let want = RosterRow {
        row: 2,
        patient_id: Some("123".into()),
        assigning_authority: Some("HOSP".into()),
        family_name: Some("Doe".into()),
        given_name: Some("Jane".into()),
        birth_date: Some("19800229".into()),
        sex: Some('F'),
        postal_code: Some("02134".into()),
        phone: Some("6175550100".into()),
        program: Some("CHF".into()),
        end_date: Some("2027-01-01".into()),
    };
    assert_eq!(one(&GOOD.join(",")), Ok(want));
    let padded: Vec<String> = GOOD.iter().map(|c| format!("  \"{c}\" ")).collect();
    assert_eq!(
        one(&padded.join(",")).map(|r| r.given_name),
        Ok(Some("Jane".into()))
    );
}

#[test]
fn identity_rule() {
    // (patient_id, authority, family, given, birth, sex) → problem or Ok.
    let table: &[([&str; 6], Option<&str>)] = &[
        (["1", "A", "", "", "", ""], None),
        (["", "", "Doe", "Jane", "1980-01-01", "F"], None),
        (["1", "A", "Doe", "", "", ""], None),
        (
            ["", "", "", "", "", ""],
            Some(
                "patient cannot be identified: add patient_id and assigning_authority, or add family_name and given_name and birth_date and sex",
            ),
        ),
        (
            ["", "", "Doe", "Jane", "", "F"],
            Some(
                "patient cannot be identified: add patient_id and assigning_authority, or add birth_date",
            ),
        ),
        (
            ["1", "", "Doe", "Jane", "1980-01-01", "F"],
            Some("assigning_authority is required with patient_id: add who issued the ID"),
        ),
        (
            ["", "A", "Doe", "Jane", "1980-01-01", "F"],
            Some("patient_id is required with assigning_authority: add the ID or clear both"),
        ),
        (
            ["1", "", "", "", "", ""],
            Some(
                "patient cannot be identified: add assigning_authority, or add family_name and given_name and birth_date and sex",
            ),
        ),
        (
            ["999-99-9999", "SSA", "", "", "", ""],
            Some(
                "patient_id is a placeholder (one digit repeated, 123456789, UNKNOWN, or an SSN never issued) that names no one: clear patient_id and assigning_authority and name the patient by family_name, given_name, birth_date and sex",
            ),
        ),
    ];
    for (cells, want) in table {
        let got = one(&format!("{},,,CHF,", cells.join(",")));
        match want {
            None => assert!(got.is_ok(), "{cells:?}: {got:?}"),
            Some(msg) => {
                let problems = got.expect_err("rejected");
                assert!(problems.iter().any(|p| p == msg), "{cells:?}: {problems:?}");
            }
        }
    }
    // A present but invalid birth_date is reported as invalid, not missing.
    let problems = one(",,Doe,Jane,1980-13-01,F").expect_err("rejected");
    assert_eq!(
        problems,
        ["birth_date is not a real calendar date; check the month and day"]
    );
}

/// Column index, value, the normalised value (Debug of the field) or a problem.
fn check_cells(table: &[(usize, &str, Result<&str, &str>)], field: impl Fn(&RosterRow) -> String) {
    for (i, value, want) in table {
        let got = with(*i, value).map(|r| field(&r));
        let want = want.map(str::to_owned).map_err(|p| vec![p.to_owned()]);
        assert_eq!(got, want, "column {i} = {value:?}");
    }
}

#[test]
fn dates() {
    const BAD: &str = "birth_date is not a date; write it as YYYY-MM-DD, YYYYMMDD or MM/DD/YYYY";
    const UNREAL: &str = "birth_date is not a real calendar date; check the month and day";
    check_cells(
        &[
            (4, "1980-02-29", Ok("19800229")),
            (4, "19800229", Ok("19800229")),
            (4, "02/29/1980", Ok("19800229")),
            (4, "2/9/1980", Ok("19800209")),
            (4, "2000-02-29", Ok("20000229")),
            (4, "2026-11-22", Ok("20261122")),
            (4, "1901-01-01", Ok("19010101")),
            (4, "1981-02-29", Err(UNREAL)),
            (4, "1901-02-29", Err(UNREAL)),
            (4, "1980-04-31", Err(UNREAL)),
            (4, "1980-00-10", Err(UNREAL)),
            (
                4,
                "13/01/1980",
                Err(
                    "birth_date is written day first (DD/MM/YYYY); write it as YYYY-MM-DD or MM/DD/YYYY",
                ),
            ),
            (4, "13/13/1980", Err(UNREAL)),
            (4, "1980-1-5", Err(BAD)),
            (4, "1/5/80", Err(BAD)),
            (4, "Jan 5 1980", Err(BAD)),
            (4, "1980010", Err(BAD)),
            (4, "+980-01-05", Err(BAD)),
            (4, "2026-11-23", Err("birth_date is in the future")),
            (
                4,
                "1900-01-01",
                Err("birth_date is before 1901; check the year"),
            ),
        ],
        |r| r.birth_date.clone().unwrap_or_default(),
    );
    check_cells(
        &[
            (9, "2026-11-22", Ok("2026-11-22")),
            (9, "20270301", Ok("2027-03-01")),
            (9, "3/1/2027", Ok("2027-03-01")),
            (9, "", Ok("")),
            (9, "2026-11-21", Ok("2026-11-21")),
            (
                9,
                "2027-02-29",
                Err("end_date is not a real calendar date; check the month and day"),
            ),
            (
                9,
                "soon",
                Err("end_date is not a date; write it as YYYY-MM-DD, YYYYMMDD or MM/DD/YYYY"),
            ),
            // An export's "no end date": not an enrolment that ended.
            (9, "1900-01-01", Err(END_PLACEHOLDER)),
            (9, "01/01/1900", Err(END_PLACEHOLDER)),
            (9, "1901-01-01", Ok("1901-01-01")),
        ],
        |r| r.end_date.clone().unwrap_or_default(),
    );
}

#[test]
fn a_file_writing_dates_day_first_has_its_two_way_dates_refused_not_misread() {
    let row = |id: &str, born: &str| format!("{id},HOSP,Doe,Jane,{born},F,,,,\n");
    // Exported where the day comes first: 25/03 shows it, so 03/04 (the
    // 3rd of April there) is not read as the 4th of March.
    let uk = parse_ok(&format!(
        "{HEADER}{}{}{}{}",
        row("1", "1980-01-02"),
        row("2", "25/03/1970"),
        row("3", "03/04/1970"),
        row("4", "05/05/1970"),
    ));
    let accepted: Vec<_> = uk.rows.iter().map(|r| r.row).collect();
    assert_eq!(accepted, [2, 5], "ISO and same-day-and-month dates stand");
    let problems: Vec<_> = uk
        .problems
        .iter()
        .map(|p| (p.row, p.problem.as_str()))
        .collect();
    assert_eq!(
        problems,
        [
            (
                3,
                "birth_date is written day first (DD/MM/YYYY); write it as YYYY-MM-DD or MM/DD/YYYY"
            ),
            (
                4,
                "birth_date reads two ways: this file writes dates day first (DD/MM/YYYY, as row 3 \
                 shows), and hisp reads MM/DD/YYYY; write dates as YYYY-MM-DD"
            ),
        ]
    );
    // A month-first file with one date typed day first keeps its two-way
    // dates, read MM/DD/YYYY as documented.
    let us = parse_ok(&format!(
        "{HEADER}{}{}{}{}",
        row("1", "03/25/1970"),
        row("2", "04/30/1971"),
        row("3", "25/03/1972"),
        row("4", "03/04/1973"),
    ));
    let accepted: Vec<_> = us
        .rows
        .iter()
        .map(|r| (r.row, r.birth_date.clone()))
        .collect();
    assert_eq!(
        accepted,
        [
            (2, Some("19700325".into())),
            (3, Some("19710430".into())),
            (5, Some("19730304".into())),
        ]
    );
    assert_eq!(us.problems.len(), 1);
    // End dates count as evidence and are judged too.
    let ends = parse_ok(&format!(
        "{HEADER}1,HOSP,Doe,Jane,1980-01-02,F,,,,31/12/2027\n2,HOSP,Roe,Ann,1981-01-02,F,,,,01/06/2027\n"
    ));
    assert!(ends.rows.is_empty(), "{:?}", ends.rows);
    assert_eq!(ends.problems[1].column, "end_date");
    // Without evidence either way, a two-way date is read MM/DD/YYYY; a
    // date real neither way round (31/02) is no evidence.
    let alone = parse_ok(&format!(
        "{HEADER}{}{}",
        row("1", "03/04/1970"),
        row("2", "31/02/1971")
    ));
    assert_eq!(alone.rows[0].birth_date.as_deref(), Some("19700304"));
    assert_eq!(
        alone.problems[0].problem,
        "birth_date is not a real calendar date; check the month and day"
    );
    // A row refused for its date does not count as seen: the same patient
    // written again with an ISO date is taken. A row refused for another
    // reason is told of its date too, so one upload names both.
    let again = parse_ok(&format!(
        "{HEADER}{}{}{}{}",
        row("7", "03/04/1970"),
        row("7", "1970-04-03"),
        row("8", "25/12/1960"),
        "9,,Doe,Jane,04/05/1970,F,,,,\n",
    ));
    let accepted: Vec<_> = again.rows.iter().map(|r| r.row).collect();
    assert_eq!(accepted, [3]);
    let problems: Vec<_> = again
        .problems
        .iter()
        .map(|p| (p.row, p.column.as_str()))
        .collect();
    assert_eq!(
        problems,
        [
            (2, "birth_date"),
            (4, "birth_date"),
            (5, "assigning_authority"),
            (5, "birth_date")
        ]
    );
    // A whole file exported day first says so, not "check the commas".
    let mut big = HEADER.to_string();
    for n in 0..1_200 {
        big.push_str(&row(&format!("P{n}"), &format!("{}/03/1970", 13 + n % 15)));
    }
    assert_eq!(
        parse(big.as_bytes(), 1 << 20, TODAY),
        Err(CsvError::DayFirstDates { shown: 2 })
    );
}

#[test]
fn sex_postal_phone() {
    const SEX: &str = "sex must be M, F, O, U, A, N or X (or male, female, other, unknown)";
    const ZIP: &str = "postal_code must be a 5-digit ZIP code or ZIP+4 (12345-6789)";
    const PHONE: &str = "phone must have 10 digits: area code and number";
    let table: &[(usize, &str, Result<&str, &str>)] = &[
        (5, "m", Ok("Some('M')")),
        (5, "Female", Ok("Some('F')")),
        (5, "OTHER", Ok("Some('O')")),
        (5, "u", Ok("Some('U')")),
        (5, "unknown", Ok("Some('U')")),
        // HL7 table 0001's other codes, as written.
        (5, "x", Ok("Some('X')")),
        (5, "A", Ok("Some('A')")),
        (5, "n", Ok("Some('N')")),
        (5, "Non-binary", Ok("Some('X')")),
        (5, "woman", Err(SEX)),
        (6, "02134", Ok("Some(\"02134\")")),
        (6, "02134-1234", Ok("Some(\"02134-1234\")")),
        (6, "", Ok("None")),
        // A leading 0 a spreadsheet dropped comes back.
        (6, "2134", Ok("Some(\"02134\")")),
        (6, "2134-1234", Ok("Some(\"02134-1234\")")),
        // Two leading 0s dropped: Puerto Rico, the Virgin Islands, Holtsville.
        (6, "601", Ok("Some(\"00601\")")),
        (6, "802-1234", Ok("Some(\"00802-1234\")")),
        (6, "501", Ok("Some(\"00501\")")),
        (6, "988", Ok("Some(\"00988\")")),
        (6, "989", Err(ZIP)),
        (6, "500", Err(ZIP)),
        (6, "213", Err(ZIP)),
        (6, "21", Err(ZIP)),
        (6, "-1234", Err(ZIP)),
        (6, "0213-", Err(ZIP)),
        (6, "021341234", Err(ZIP)),
        (6, "02134-12", Err(ZIP)),
        (6, "A2134", Err(ZIP)),
        (6, "02134-1234-5", Err(ZIP)),
        (7, "(617) 555-0100", Ok("Some(\"6175550100\")")),
        (7, "+1 617.555.0100", Ok("Some(\"6175550100\")")),
        (7, "16175550100", Ok("Some(\"6175550100\")")),
        (7, "617/555 0100", Ok("Some(\"6175550100\")")),
        (7, "26175550100", Err(PHONE)),
        (7, "555-0100", Err(PHONE)),
        (
            7,
            "617-555-0100 x12",
            Err("phone may hold only digits, spaces and ( ) - . + /; leave out extensions"),
        ),
    ];
    for (i, value, want) in table {
        let got = with(*i, value).map(|r| match i {
            5 => format!("{:?}", r.sex),
            6 => format!("{:?}", r.postal_code),
            _ => format!("{:?}", r.phone),
        });
        let want = want.map(str::to_owned).map_err(|p| vec![p.to_owned()]);
        assert_eq!(got, want, "column {i} = {value:?}");
    }
}

#[test]
fn cell_and_shape_rules() {
    let long = "x".repeat(MAX_FIELD_CHARS + 1);
    let just = "é".repeat(MAX_FIELD_CHARS);
    assert!(with(8, &just).is_ok(), "200 two-byte characters fit");
    assert_eq!(
        with(8, &long),
        Err(vec!["program is longer than 200 characters".into()])
    );
    assert_eq!(
        with(4, &format!("1980-01-01{long}")),
        Err(vec!["birth_date is longer than 200 characters".into()])
    );
    assert_eq!(
        with(2, "\"Doe\nSmith\""),
        Err(vec![
            "family_name contains a line break or control character".into()
        ])
    );
    assert_eq!(
        one(&format!("{},extra", GOOD.join(","))),
        Err(vec![
            "row has 11 cells but the header has 10; put values containing commas in double quotes"
                .into()
        ])
    );
    // Fewer cells than the header: the rest are empty.
    assert_eq!(one("123,HOSP").map(|r| r.family_name), Ok(None));
    // Blank cells are None, padded cells trimmed.
    assert_eq!(with(8, "   ").map(|r| r.program), Ok(None));
    assert_eq!(with(8, " CHF ").map(|r| r.program), Ok(Some("CHF".into())));
    // Empty cells past the header (a trailing comma on data lines only) are
    // nothing.
    let parsed = parse_ok(&format!(
        "{HEADER}1,A,Doe,Jane,1980-01-01,F,,,,,\n2,A,Roe,Ray,1980-01-01,M,,,,, ,\n"
    ));
    assert_eq!(parsed.rows.len(), 2, "{:?}", parsed.problems);
    assert_eq!(parsed.problems, []);
    let parsed = parse_ok(&format!("{HEADER}1,A,Doe,Jane,1980-01-01,F,,,,,x\n"));
    assert_eq!(
        parsed.problems.first().map(|p| p.problem.as_str()),
        Some(
            "row has 11 cells but the header has 10; put values containing commas in double quotes"
        )
    );
    // An unnamed column may exist but must stay empty.
    let csv = "patient_id,assigning_authority,family_name,given_name,birth_date,sex,\n1,A,,,,,\n2,A,,,,,x\n";
    let parsed = parse_ok(csv);
    assert_eq!(parsed.rows.len(), 1);
    assert_eq!(
        parsed.problems.first().map(|p| p.problem.as_str()),
        Some("column 7 has a value but no header name; name the column or clear it")
    );
}

#[test]
fn every_problem_of_a_row_is_listed() {
    let parsed = parse_ok(&format!(
        "{HEADER}1,,Doe,Jane,1980-02-30,q,123,555,CHF,2020-02-30\n"
    ));
    let got: Vec<(usize, &str)> = parsed
        .problems
        .iter()
        .map(|p| (p.row, p.column.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (2, "assigning_authority"),
            (2, "birth_date"),
            (2, "sex"),
            (2, "postal_code"),
            (2, "phone"),
            (2, "end_date"),
        ]
    );
    assert_eq!(parsed.rows, []);
}

#[test]
fn rows_are_numbered_as_a_spreadsheet_shows_them() {
    let csv = format!("{HEADER}1,A\n\n,,,\n\"2\",\"A\nB\"\n3,\n4,A\n");
    let parsed = parse_ok(&csv);
    assert_eq!(parsed.data_rows, 4);
    let rows: Vec<usize> = parsed.rows.iter().map(|r| r.row).collect();
    assert_eq!(rows, [2, 7]);
    let problem_rows: Vec<usize> = parsed.problems.iter().map(|p| p.row).collect();
    assert_eq!(problem_rows, [5, 6, 6]);
}

/// (row, column, problem) of every problem of `rows` after `HEADER`.
fn problems(rows: &str) -> Vec<(usize, String, String)> {
    parse_ok(&format!("{HEADER}{rows}"))
        .problems
        .into_iter()
        .map(|p| (p.row, p.column, p.problem))
        .collect()
}

/// The spreadsheet rows accepted from `rows` after `HEADER`.
fn accepted(rows: &str) -> Vec<usize> {
    parse_ok(&format!("{HEADER}{rows}"))
        .rows
        .iter()
        .map(|r| r.row)
        .collect()
}

#[test]
fn a_patient_listed_twice_is_reported_at_the_later_row() {
    // One patient under two programs, then the same row pasted again: the
    // first row stands, the others name it.
    let rows = "MRN1,NORTH,Doe,Jane,1980-01-02,F,,,CHF,\n\
                MRN2,NORTH,Roe,John,1970-03-04,M,,,CHF,\n\
                MRN1, north ,Doe,Jane,1980-01-02,F,,,COPD,\n\
                MRN1,NORTH,Doe,Jane,1980-01-02,F,,,CHF,\n";
    assert_eq!(accepted(rows), [2, 3]);
    let by_id = "the same patient as row 2 (same patient_id and assigning_authority); \
                 list each patient once, in one row even when enrolled in two programs";
    assert_eq!(
        problems(rows),
        [
            (4, "patient_id".to_owned(), by_id.to_owned()),
            (5, "patient_id".to_owned(), by_id.to_owned()),
        ]
    );
    // Without an identifier: the name folded, the date and sex however
    // written, as the patient index compares them.
    // A sex of U, O or blank agrees with F or M, as a re-submitted roster
    // renews her entry (two entries would be twins to the index, and every
    // ADT about her would go to review).
    let rows = ",,Doe,José,1980-01-02,F,,,CHF,\n\
                ,,DOE,jose,01/02/1980,female,06101,,COPD,\n\
                ,,Doe,José,1980-01-02,U,,,CHF,\n\
                ,,Doe,José,1980-01-02,unknown,,,CHF,\n\
                ,,Doe,José,1980-01-02,O,,,CHF,\n";
    assert_eq!(accepted(rows), [2]);
    let by_name = "the same patient as row 2 (same family_name, given_name, birth_date and sex); \
                   list each patient once, in one row even when enrolled in two programs";
    let agrees = by_name.replace(
        "given_name, birth_date and sex)",
        "given_name and birth_date; a sex of U, O or blank agrees with any)",
    );
    let got = problems(rows);
    assert_eq!(
        got,
        [
            (3, String::new(), by_name.to_owned()),
            (4, String::new(), agrees.clone()),
            (5, String::new(), agrees.clone()),
            (6, String::new(), agrees),
        ]
    );
    // U first, then F: the same.
    assert_eq!(
        accepted(",,Doe,Jane,1980-01-02,U,,,,\n,,Doe,Jane,1980-01-02,F,,,,\n"),
        [2]
    );
    // A row by identifier and one by demographics alone, either way round:
    // the one without an identifier would be a second entry for her.
    for rows in [
        "MRN1,NORTH,Doe,Jane,1980-01-02,F,,,,\n,,Doe,Jane,1980-01-02,F,,,,\n",
        ",,Doe,Jane,1980-01-02,F,,,,\nMRN1,NORTH,Doe,Jane,1980-01-02,F,,,,\n",
    ] {
        assert_eq!(accepted(rows), [2], "{rows}");
        assert_eq!(
            problems(rows),
            [(3, String::new(), by_name.to_owned())],
            "{rows}"
        );
    }
}

#[test]
fn rows_that_may_be_two_patients_are_both_kept() {
    let table = [
        // The index compares identifier values exactly.
        "MRN1,NORTH,Doe,Jane,1980-01-02,F,,,,\nmrn1,NORTH,Doe,Jane,1980-01-02,F,,,,\n",
        // One identifier at two authorities.
        "MRN1,NORTH,Doe,Jane,1980-01-02,F,,,,\nMRN1,SOUTH,Doe,Jane,1980-01-02,F,,,,\n",
        // Two identifiers from one authority: two people of one name and DOB.
        "MRN1,NORTH,Doe,Jane,1980-01-02,F,,,,\nMRN2,NORTH,Doe,Jane,1980-01-02,F,,,,\n",
        // Another birth date, sex or given name.
        ",,Doe,Jane,1980-01-02,F,,,,\n,,Doe,Jane,1980-01-03,F,,,,\n",
        ",,Doe,Sam,1980-01-02,F,,,,\n,,Doe,Sam,1980-01-02,M,,,,\n",
        ",,Doe,Jane,1980-01-02,F,,,,\n,,Doe,Janet,1980-01-02,F,,,,\n",
        // Placeholder names name no one: newborn twins.
        ",,Doe,Baby Girl,2026-11-20,F,,,,\n,,Doe,Baby Girl,2026-11-20,F,,,,\n",
    ];
    for rows in table {
        assert_eq!(accepted(rows), [2, 3], "{rows}");
        assert_eq!(problems(rows), [], "{rows}");
    }
}

#[test]
fn namesakes_with_identifiers_stay_apart_and_a_row_without_one_names_the_first() {
    let mut rows: String = (1..=2000)
        .map(|i| format!("MRN{i},NORTH,Doe,Jane,1980-01-02,F,,,,\n"))
        .collect();
    rows.push_str(",,Doe,Jane,1980-01-02,U,,,,\n");
    let parsed = parse_ok(&format!("{HEADER}{rows}"));
    assert_eq!(parsed.rows.len(), 2000);
    let problems: Vec<(usize, &str)> = parsed
        .problems
        .iter()
        .map(|p| (p.row, p.problem.as_str()))
        .collect();
    assert!(
        matches!(&problems[..], [(2002, p)] if p.starts_with("the same patient as row 2 ")),
        "{problems:?}"
    );
}

#[test]
fn a_rejected_row_does_not_shadow_its_patient() {
    // Row 2 is refused (bad phone), so row 3 is the patient's only entry.
    let rows = "MRN1,NORTH,Doe,Jane,1980-01-02,F,,555,,\nMRN1,NORTH,Doe,Jane,1980-01-02,F,,,,\n";
    assert_eq!(accepted(rows), [3]);
    let got: Vec<(usize, String)> = problems(rows).into_iter().map(|p| (p.0, p.1)).collect();
    assert_eq!(got, [(2, "phone".to_owned())]);
}

#[test]
fn messages_are_one_line() {
    let errors = [
        CsvError::TooLarge { max: 10 },
        CsvError::TooManyRows { max: 10 },
        CsvError::NotUtf8 { line: 3 },
        CsvError::NoHeader,
        CsvError::NoKnownColumn,
        CsvError::WrongDelimiter('\t'),
        CsvError::WrongDelimiter(';'),
        CsvError::WrongDelimiter('|'),
        CsvError::UnknownColumns(vec!["a\nb".into()]),
        CsvError::MissingColumns(vec!["sex".into()]),
        CsvError::DuplicateColumns(vec!["sex".into()]),
        CsvError::Unterminated { row: 4 },
    ];
    for e in errors {
        let text = e.to_string();
        assert!(!text.contains('\n') && !text.is_empty(), "{text}");
    }
    assert_eq!(
        CsvError::UnknownColumns(vec!["mrn".into()]).to_string(),
        "unknown column(s) \"mrn\"; the columns are patient_id, assigning_authority, family_name, given_name, birth_date, sex, postal_code, phone, program, end_date"
    );
    let p = Problem {
        row: 7,
        column: "sex".into(),
        problem: "sex must be M".into(),
    };
    assert_eq!(p.to_string(), "row 7: sex must be M");
}

/// Pieces that make interesting CSV when strung together at random.
const PIECES: &[&[u8]] = &[
    b"patient_id,assigning_authority,family_name,given_name,birth_date,sex",
    b",phone",
    b",end_date",
    b",postal_code",
    b",",
    b"\"",
    b"\"\"",
    b"\n",
    b"\r\n",
    b"\r",
    b" ",
    b"1",
    b"A",
    b"Doe",
    b"1980-02-29",
    b"02/30/2000",
    b"20261122",
    b"M",
    b"female",
    b"02134-1234",
    b"+1 (617) 555-0100",
    b"\xEF\xBB\xBF",
    b"\xFF",
    b"\xC3",
    b"\xC3\xA9",
    b"\0",
];

#[test]
fn random_inputs_do_not_panic() {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut accepted, mut rejected) = (0, 0);
    for _ in 0..4000 {
        let mut input = Vec::new();
        // Most inputs start with a valid header so the row checks run.
        if next() % 4 != 0 {
            input.extend_from_slice(HEADER.as_bytes());
        }
        for _ in 0..next() % 40 {
            let piece = PIECES
                .get(next() as usize % PIECES.len())
                .copied()
                .unwrap_or_default();
            input.extend_from_slice(piece);
        }
        let max = if next() % 8 == 0 {
            input.len() / 2
        } else {
            1 << 20
        };
        let Ok(parsed) = parse(&input, max, TODAY) else {
            continue;
        };
        assert!(parsed.rows.len() <= parsed.data_rows);
        accepted += parsed.rows.len();
        rejected += parsed.problems.len();
        for row in &parsed.rows {
            assert!(row.row >= 2 && !parsed.problems.iter().any(|p| p.row == row.row));
            assert!(row.phone.as_ref().is_none_or(|p| p.len() == 10));
            assert!(row.birth_date.as_ref().is_none_or(|d| d.len() == 8));
        }
    }
    // The sweep reaches the row checks both ways.
    assert!(
        accepted > 0 && rejected > 0,
        "accepted {accepted}, problems {rejected}"
    );
}

#[test]
fn spreadsheet_forms_of_an_identifier_are_read_or_refused() {
    // Excel keeps leading zeros as a formula giving text: `="00123"`,
    // quoted in the CSV or not.
    for cell in ["\"=\"\"00123\"\"\"", "=\"00123\""] {
        let row = one(&format!("{cell},NORTH,Doe,Jane,1980-01-02,F,,,,")).expect("row");
        assert_eq!(row.patient_id.as_deref(), Some("00123"), "{cell}");
    }
    // A number shortened to scientific notation has lost its digits.
    for cell in ["1.23457E+11", "1E+11", "4.5e+12"] {
        let problems = one(&format!("{cell},NORTH,Doe,Jane,1980-01-02,F,,,,")).expect_err(cell);
        assert!(
            problems.iter().any(|p| p.contains("scientific notation")),
            "{cell}: {problems:?}"
        );
        assert!(
            !problems.iter().any(|p| p.contains(cell)),
            "no value echoed"
        );
    }
    // Identifiers that only look like it are identifiers.
    for cell in ["123E4", "12E45X", "E12345", "1.5"] {
        let row = one(&format!("{cell},NORTH,Doe,Jane,1980-01-02,F,,,,")).expect(cell);
        assert_eq!(row.patient_id.as_deref(), Some(cell));
    }
    // An invisible character would keep it from ever matching.
    let problems = one("00123\u{200B},NORTH,Doe,Jane,1980-01-02,F,,,,").expect_err("zwsp");
    assert!(
        problems.iter().any(|p| p.contains("invisible")),
        "{problems:?}"
    );
}

//! Reading a care manager's roster CSV upload: any bytes give rows and
//! problems or an error, never a panic. Every accepted row carries
//! normalised values and no row is both accepted and reported.
#![no_main]

use hisp::notify::roster_csv;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = roster_csv::parse(data, 1 << 20, 20261122) else {
        return;
    };
    assert!(parsed.rows.len() <= parsed.data_rows);
    for row in &parsed.rows {
        assert!(row.row >= 2, "data rows are numbered after the header");
        assert!(!parsed.problems.iter().any(|p| p.row == row.row));
        if let Some(d) = &row.birth_date {
            assert!(d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()));
        }
        if let Some(p) = &row.phone {
            assert!(p.len() == 10 && p.bytes().all(|b| b.is_ascii_digit()));
        }
        if let Some(s) = row.sex {
            assert!(matches!(s, 'M' | 'F' | 'O' | 'U'));
        }
    }
    for p in &parsed.problems {
        assert!(!p.problem.contains('\n'), "problems are one line");
    }
});

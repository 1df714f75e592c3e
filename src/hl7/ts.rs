//! HL7 timestamps (TS/DTM): read as shown to people and as Unix seconds.

/// An HL7 TS (`YYYYMMDD[HHMM[SS[.S…]]][±ZZZZ]`) as shown
/// (`2026-11-22 05:59`, with the sender's UTC offset when it gave one) and
/// as Unix seconds for ordering. `None` when it is not a timestamp.
pub fn timestamp(ts: &str) -> Option<(String, i64)> {
    let ts = ts.trim();
    let (body, offset) = match ts.get(8..).and_then(|t| t.find(['+', '-'])) {
        Some(i) => (&ts[..8 + i], Some(&ts[8 + i..])),
        None => (ts, None),
    };
    let digits = body.split('.').next().unwrap_or(body);
    if digits.len() < 8 || digits.len() % 2 != 0 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| digits.get(r).and_then(|s| s.parse::<i64>().ok());
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (
        num(8..10).unwrap_or(0),
        num(10..12).unwrap_or(0),
        num(12..14).unwrap_or(0),
    );
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let shift = match offset {
        Some(o) if o.len() == 5 && o[1..].bytes().all(|b| b.is_ascii_digit()) => {
            let mins = o[1..3].parse::<i64>().ok()? * 60 + o[3..5].parse::<i64>().ok()?;
            if o.starts_with('-') { -mins } else { mins }
        }
        Some(_) => return None,
        None => 0,
    };
    let utc =
        crate::clock::days_from_civil(y, m, d)? * 86_400 + hh * 3600 + mm * 60 + ss - shift * 60;
    let mut shown = format!("{y:04}-{m:02}-{d:02}");
    if digits.len() >= 12 {
        shown.push_str(&format!(" {hh:02}:{mm:02}"));
    }
    if let Some(o) = offset {
        shown.push_str(&format!(" (UTC{}:{})", &o[..3], &o[3..]));
    }
    Some((shown, utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_with_and_without_offsets() {
        assert_eq!(
            timestamp("20261122055900"),
            Some(("2026-11-22 05:59".into(), 1_795_327_140))
        );
        let (shown, at) = timestamp("20290801070624+0115").expect("offset");
        assert_eq!(shown, "2029-08-01 07:06 (UTC+01:15)");
        assert_eq!(at, timestamp("20290801055124").expect("utc").1);
        assert_eq!(
            timestamp("20050110").map(|t| t.0),
            Some("2005-01-10".into())
        );
        assert_eq!(
            timestamp("20050110045502.1234-0500").map(|t| t.1),
            timestamp("20050110095502").map(|t| t.1)
        );
        for bad in [
            "",
            "2026",
            "2026112",
            "2026-11-22",
            "20261122256000",
            "20261122+01",
        ] {
            assert_eq!(timestamp(bad), None, "{bad}");
        }
    }
}

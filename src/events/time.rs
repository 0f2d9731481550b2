//! Times as people write them on the command line (`30m`, `7d`, RFC 3339) and as exports
//! show them (RFC 3339 UTC). Small enough to keep here rather than add a date crate.

use super::EventsError;

/// A point in time given either relative to now or absolutely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// This many seconds before now.
    Ago(i64),
    /// Unix seconds.
    At(i64),
}

impl When {
    pub fn resolve(self, now: i64) -> i64 {
        match self {
            When::Ago(secs) => now.saturating_sub(secs),
            When::At(t) => t,
        }
    }
}

/// Parses `30m`, `1h`, `7d`, `2w`, `45s` or an RFC 3339 time (`2026-01-31T12:00:00Z`,
/// `2026-01-31T13:00:00+01:00`, or a date `2026-01-31`, meaning midnight UTC).
pub fn parse_when(text: &str) -> Result<When, EventsError> {
    let text = text.trim();
    // Dates and times have separators a duration never has.
    if text.contains(['-', ':', 'T']) {
        return parse_rfc3339(text)
            .map(When::At)
            .ok_or_else(|| EventsError::BadTime(text.to_string()));
    }
    parse_duration(text)
        .map(When::Ago)
        .ok_or_else(|| EventsError::BadDuration(text.to_string()))
}

fn parse_duration(text: &str) -> Option<i64> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    let n: i64 = digits.parse().ok()?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `2026-01-31T12:00:00Z` for Unix seconds.
pub fn format_rfc3339(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// Unix seconds of an RFC 3339 time (fractions of a second are dropped) or a bare date.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = text.get(from..from + len)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    if b.len() == 10 {
        return Some(days * 86_400);
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 19 || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, s) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    // 60 admits a leap second, counted as the next second.
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let oh = rest.get(1..3).filter(|p| p.bytes().all(|c| c.is_ascii_digit()))?;
            let om = rest.get(4..6).filter(|p| p.bytes().all(|c| c.is_ascii_digit()))?;
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let (oh, om): (i64, i64) = (oh.parse().ok()?, om.parse().ok()?);
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
    };
    Some(days * 86_400 + h * 3600 + mi * 60 + s - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_when("30m").unwrap(), When::Ago(1800));
        assert_eq!(parse_when("1h").unwrap(), When::Ago(3600));
        assert_eq!(parse_when("7d").unwrap(), When::Ago(7 * 86_400));
        assert_eq!(parse_when("2w").unwrap(), When::Ago(14 * 86_400));
        assert_eq!(parse_when("45s").unwrap().resolve(1000), 955);
        for bad in ["1x", "", "h", "10", "-5m", "99999999999999999999d", "1.5h"] {
            let err = parse_when(bad).unwrap_err().to_string();
            assert!(
                err.contains("use e.g. 30m, 1h, 7d") || err.contains("RFC 3339"),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            parse_when("1x").unwrap_err().to_string(),
            "bad duration '1x': use e.g. 30m, 1h, 7d, or an RFC 3339 time such as 2026-01-31T12:00:00Z"
        );
    }

    #[test]
    fn rfc3339_round_trips() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59Z");
        for t in [0, 1, 59, 86_399, 951_782_400, 1_767_225_599, 4_102_444_800, -86_401] {
            assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t), "{t}");
        }
        assert_eq!(
            parse_rfc3339("2026-01-31T13:00:00+01:00"),
            parse_rfc3339("2026-01-31T12:00:00Z")
        );
        assert_eq!(
            parse_rfc3339("2026-01-31t12:00:00.123z"),
            parse_rfc3339("2026-01-31T12:00:00Z")
        );
        assert_eq!(
            parse_rfc3339("2026-01-31T07:00:00-05:00"),
            parse_rfc3339("2026-01-31T12:00:00Z")
        );
        assert_eq!(parse_rfc3339("2026-01-31"), parse_rfc3339("2026-01-31T00:00:00Z"));
        assert_eq!(parse_when("2026-01-31T12:00:00Z").unwrap(), When::At(1_769_860_800));
    }

    #[test]
    fn bad_times_are_refused() {
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "2026-01-31T25:00:00Z",
            "2026-01-31T12:00:00",
            "2026-01-31T12:00Z",
            "2026-01-31T12:00:00+1:00",
            "2026-01-31T12:00:00.Z",
            "2026-1-31",
            "yesterday-ish",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        let err = parse_when("2026-02-30").unwrap_err().to_string();
        assert!(err.starts_with("bad time '2026-02-30'"), "{err}");
    }
}

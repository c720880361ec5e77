//! Helpers for common data-type changes.

use bson::DateTime;

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses a strict `YYYY-MM-DD` date to midnight UTC. `None` for anything
/// else (wrong length, not digits, month 13, February 30th, …).
pub fn parse_ymd(s: &str) -> Option<DateTime> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |acc, c| c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0')))
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(DateTime::from_millis(days_from_civil(y, m, d) * 86_400_000))
}

/// Formats the date part of `dt` (UTC) as `YYYY-MM-DD`.
pub fn format_ymd(dt: DateTime) -> String {
    let days = dt.timestamp_millis().div_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_bad_ones_are_refused() {
        for s in ["1970-01-01", "2000-02-29", "2024-12-31", "1999-03-01", "2026-11-25"] {
            let dt = parse_ymd(s).unwrap_or_else(|| panic!("{s}"));
            assert_eq!(format_ymd(dt), s);
        }
        assert_eq!(parse_ymd("1970-01-02").map(|d| d.timestamp_millis()), Some(86_400_000));
        for bad in ["2023-02-29", "2024-13-01", "2024-00-10", "2024-1-10", "20240110", "abcd-ef-gh", "2024-04-31", ""] {
            assert!(parse_ymd(bad).is_none(), "{bad}");
        }
    }
}

//! Months ("YYYY-MM") in China Standard Time, the unit of clearing, and the
//! clock. CST is UTC+8 all year (no daylight saving), so the month of an
//! instant is plain arithmetic on the Unix time.

use std::{
    fmt,
    time::{SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};

use crate::field::FieldError;

const CST_OFFSET_SECONDS: i64 = 8 * 3600;

/// A calendar month in China Standard Time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Period {
    year: u16,
    month: u8,
}

impl Period {
    pub fn new(year: u16, month: u8) -> Option<Period> {
        ((1..=12).contains(&month) && (1970..=9999).contains(&year)).then_some(Period { year, month })
    }

    pub fn parse(field: &str, text: &str) -> Result<Period, FieldError> {
        let bad = || FieldError::new(field, format!("{text:?} is not a month (\"YYYY-MM\", e.g. \"2026-11\")"));
        let (year, month) = text.split_once('-').ok_or_else(bad)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(bad());
        }
        let year: u16 = year.parse().map_err(|_| bad())?;
        let month: u8 = month.parse().map_err(|_| bad())?;
        Period::new(year, month).ok_or_else(bad)
    }

    /// The CST month containing a Unix time in milliseconds.
    pub fn of_unix_millis(millis: i64) -> Period {
        let days = (millis.div_euclid(1000) + CST_OFFSET_SECONDS).div_euclid(86_400);
        let (year, month, _) = civil_from_days(days);
        Period {
            year: year as u16,
            month: month as u8,
        }
    }

    /// The CST month now.
    pub fn current() -> Period {
        Period::of_unix_millis(now_millis())
    }

    pub fn next(self) -> Period {
        if self.month == 12 {
            Period {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Period {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// The month before (the first month stays itself: there is none before).
    /// The Unix time in milliseconds at which the month begins (00:00 CST of its first day).
    pub fn first_millis(self) -> i64 {
        cst_day_hour_millis(days_from_civil(i64::from(self.year), u32::from(self.month), 1), 0)
    }

    pub fn previous(self) -> Period {
        match (self.year, self.month) {
            (0, 1) => self,
            (year, 1) => Period { year: year - 1, month: 12 },
            (year, month) => Period { year, month: month - 1 },
        }
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day); Howard
/// Hinnant's `civil_from_days`.
/// Days since 1970-01-01 of a date of the proleptic Gregorian calendar
/// (the inverse of [`civil_from_days`]).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A CST day written `YYYY-MM-DD`, as days since 1970-01-01 CST.
pub fn parse_cst_day(field: &str, text: &str) -> Result<i64, FieldError> {
    let bad = || FieldError::new(field, format!("{text:?} is not a day (\"YYYY-MM-DD\", e.g. \"2026-11-05\")"));
    let mut parts = text.split('-');
    let (Some(year), Some(month), Some(day), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    if year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return Err(bad());
    }
    let period = Period::parse(field, &format!("{year}-{month}")).map_err(|_| bad())?;
    let day: u32 = day.parse().map_err(|_| bad())?;
    let days = days_from_civil(i64::from(period.year), u32::from(period.month), day);
    // A day past the month's end (2026-02-30) would land in the next month.
    match day >= 1 && civil_from_days(days) == (i64::from(period.year), u32::from(period.month), day) {
        true => Ok(days),
        false => Err(bad()),
    }
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl From<Period> for String {
    fn from(p: Period) -> String {
        p.to_string()
    }
}

impl TryFrom<String> for Period {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Period::parse("period", &text).map_err(|e| e.to_string())
    }
}

/// A Unix time in seconds as `YYYY-MM-DD HH:MM:SS +08:00`, China Standard
/// Time (the clock of every Gongji month).
pub fn cst_datetime(seconds: i64) -> String {
    let local = seconds + CST_OFFSET_SECONDS;
    let (days, second_of_day) = (local.div_euclid(86_400), local.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} +08:00",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    )
}

/// The China Standard Time day of a Unix time in milliseconds (days since
/// 1970-01-01 CST) and the second of that day.
pub fn cst_day_and_second(millis: i64) -> (i64, i64) {
    let local = millis.div_euclid(1000) + CST_OFFSET_SECONDS;
    (local.div_euclid(86_400), local.rem_euclid(86_400))
}

/// The Unix time in milliseconds at `hour`:00 CST of CST day `day`.
pub fn cst_day_hour_millis(day: i64, hour: u8) -> i64 {
    (day * 86_400 + i64::from(hour) * 3600 - CST_OFFSET_SECONDS) * 1000
}

/// Milliseconds since the Unix epoch, the timestamp stored in records.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A stored millisecond timestamp as a protobuf `Timestamp`.
pub fn timestamp(millis: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: millis.div_euclid(1000),
        nanos: (millis.rem_euclid(1000) * 1_000_000) as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_china_standard_time() {
        // 2026-10-31T16:00:00Z is 2026-11-01 00:00 in Beijing.
        assert_eq!(Period::of_unix_millis(1_793_462_400_000).to_string(), "2026-11");
        assert_eq!(Period::of_unix_millis(1_793_462_399_999).to_string(), "2026-10");
        // 2024-02-29T12:00:00Z, a leap day.
        assert_eq!(Period::of_unix_millis(1_709_208_000_000).to_string(), "2024-02");
        assert_eq!(Period::of_unix_millis(0).to_string(), "1970-01");
        assert_eq!(cst_datetime(1_793_462_400), "2026-11-01 00:00:00 +08:00");
    }

    #[test]
    fn a_month_begins_at_midnight_cst_and_days_parse_strictly() {
        assert_eq!(Period::parse("p", "2026-11").unwrap().first_millis(), 1_793_462_400_000);
        assert_eq!(cst_day_hour_millis(parse_cst_day("d", "2026-11-01").unwrap(), 0), 1_793_462_400_000);
        assert_eq!(
            parse_cst_day("d", "2024-02-29").unwrap() + 1,
            parse_cst_day("d", "2024-03-01").unwrap()
        );
        for bad in [
            "2026-02-29",
            "2026-11-31",
            "2026-11-00",
            "2026-11-1",
            "2026-11",
            "2026-11-01-02",
            "",
        ] {
            assert_eq!(parse_cst_day("from", bad).unwrap_err().field, "from", "{bad}");
        }
    }

    #[test]
    fn parses_and_steps_months() {
        let p = Period::parse("period", "2026-12").unwrap();
        assert_eq!(p.next().to_string(), "2027-01");
        for bad in ["2026-13", "2026-1", "26-11", "2026/11", "abcd-ef", ""] {
            assert!(Period::parse("period", bad).is_err(), "{bad}");
        }
    }
}

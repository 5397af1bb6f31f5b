//! Timer triggers: the five-field cron expressions that ACR's `--schedule` takes, evaluated in UTC.
//!
//! ACR documents `{minute} {hour} {day} {month} {day-of-week}` with `*`, numbers, lists, ranges,
//! steps and names (its own example is `0 12 * * Mon-Fri`), at most one tick a minute. Matching follows
//! Vixie cron, including its rule that a day matches on day-of-month OR day-of-week when both are
//! restricted. Dates come from `crate::calendar`: no date library.

use std::fmt;
use std::str::FromStr;

use crate::calendar::{civil_from_days, days_from_civil};

/// Why a cron expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("a cron schedule has 5 fields (minute hour day-of-month month day-of-week); found {0}")]
    FieldCount(usize),
    #[error("cron {field} field {text:?}: {why}")]
    Field { field: &'static str, text: String, why: String },
}

/// A parsed schedule: one bit set per allowed value of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u32,
    days_of_month: u32,
    months: u16,
    days_of_week: u8,
    /// Vixie cron treats a day field that starts with `*` as unrestricted for the OR rule.
    dom_star: bool,
    dow_star: bool,
}

struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: FieldSpec = FieldSpec { name: "minute", min: 0, max: 59, names: &[] };
const HOUR: FieldSpec = FieldSpec { name: "hour", min: 0, max: 23, names: &[] };
const DAY_OF_MONTH: FieldSpec = FieldSpec { name: "day-of-month", min: 1, max: 31, names: &[] };
/// Month names map to 1..=12: index + 1.
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
};
/// Day names map to 0..=6; 7 is accepted as a second Sunday.
const DAY_OF_WEEK: FieldSpec =
    FieldSpec { name: "day-of-week", min: 0, max: 7, names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] };

/// How far ahead `next_after` looks before giving up on a schedule that never fires (such as Feb 30).
const HORIZON_DAYS: i64 = 5 * 366;
const SECS_PER_DAY: i64 = 86_400;

impl FieldSpec {
    fn err(&self, text: &str, why: impl fmt::Display) -> Error {
        Error::Field { field: self.name, text: text.to_owned(), why: why.to_string() }
    }

    fn value(&self, field: &str, s: &str) -> Result<u32, Error> {
        let offset = if self.name == MONTH.name { 1 } else { 0 };
        if let Some(i) = self.names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(i as u32 + offset);
        }
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.err(field, format_args!("{s:?} is not a number or a name")));
        }
        let v: u32 = s.parse().map_err(|_| self.err(field, format_args!("{s} is out of range")))?;
        if v < self.min || v > self.max {
            return Err(self.err(field, format_args!("{v} is outside {}-{}", self.min, self.max)));
        }
        Ok(v)
    }

    /// Parses one field into a bit set; the bool says whether it started with `*`.
    fn parse(&self, field: &str) -> Result<(u64, bool), Error> {
        let mut bits = 0u64;
        for item in field.split(',') {
            let (range, step) = match item.split_once('/') {
                Some((r, s)) => {
                    let step: u32 =
                        s.parse().map_err(|_| self.err(field, format_args!("step {s:?} is not a positive number")))?;
                    if step == 0 {
                        return Err(self.err(field, "a step of 0 never advances"));
                    }
                    (r, Some(step))
                }
                None => (item, None),
            };
            let (lo, hi) = if range == "*" {
                (self.min, self.max)
            } else if let Some((a, b)) = range.split_once('-') {
                let (lo, hi) = (self.value(field, a)?, self.value(field, b)?);
                if lo > hi {
                    return Err(self.err(field, format_args!("range {range} runs backwards")));
                }
                (lo, hi)
            } else {
                let v = self.value(field, range)?;
                // `5/15` means 5 through the maximum, every 15 (cronie and NCrontab read it so).
                (v, if step.is_some() { self.max } else { v })
            };
            let mut v = lo;
            while v <= hi {
                bits |= 1 << v;
                v += step.unwrap_or(1);
            }
        }
        Ok((bits, field.starts_with('*')))
    }
}

impl FromStr for Schedule {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let fields: Vec<&str> = s.split_whitespace().collect();
        let [min, hour, dom, month, dow] = fields[..] else {
            return Err(Error::FieldCount(fields.len()));
        };
        let (minutes, _) = MINUTE.parse(min)?;
        let (hours, _) = HOUR.parse(hour)?;
        let (days_of_month, dom_star) = DAY_OF_MONTH.parse(dom)?;
        let (months, _) = MONTH.parse(month)?;
        let (mut dow_bits, dow_star) = DAY_OF_WEEK.parse(dow)?;
        if dow_bits & (1 << 7) != 0 {
            dow_bits = (dow_bits & 0x7f) | 1;
        }
        // The masks fit: each field's maximum bounds its highest bit.
        Ok(Schedule {
            minutes,
            hours: hours as u32,
            days_of_month: days_of_month as u32,
            months: months as u16,
            days_of_week: dow_bits as u8,
            dom_star,
            dow_star,
        })
    }
}

impl Schedule {
    /// The first tick strictly after `after` (Unix seconds, UTC), or None if none within 5 years (e.g. Feb 30).
    pub fn next_after(&self, after: i64) -> Option<i64> {
        // Ticks fall on whole minutes; start from the minute after `after`.
        let start = after.div_euclid(60).checked_add(1)?.checked_mul(60)?;
        let first_day = start.div_euclid(SECS_PER_DAY);
        let start_minute = (start.rem_euclid(SECS_PER_DAY) / 60) as u32;
        let mut day = first_day;
        while day <= first_day + HORIZON_DAYS {
            let (y, m, d) = civil_from_days(day);
            if self.months & (1 << m) == 0 {
                // Skip the rest of the month in one step.
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                day = days_from_civil(ny, nm, 1);
                continue;
            }
            if self.day_matches(d, weekday(day)) {
                let from = if day == first_day { start_minute } else { 0 };
                if let Some(minute_of_day) = self.first_time_from(from) {
                    return Some(day * SECS_PER_DAY + i64::from(minute_of_day) * 60);
                }
            }
            day += 1;
        }
        None
    }

    fn day_matches(&self, dom: u32, dow: u32) -> bool {
        let dom_ok = self.days_of_month & (1 << dom) != 0;
        let dow_ok = self.days_of_week & (1 << dow) != 0;
        if self.dom_star || self.dow_star { dom_ok && dow_ok } else { dom_ok || dow_ok }
    }

    /// The earliest allowed minute of the day at or after `from` (minutes since midnight).
    fn first_time_from(&self, from: u32) -> Option<u32> {
        let (from_h, from_m) = (from / 60, from % 60);
        (from_h..24).filter(|h| self.hours & (1 << h) != 0).find_map(|h| {
            let lo = if h == from_h { from_m } else { 0 };
            let rest = self.minutes >> lo;
            (rest != 0).then(|| h * 60 + lo + rest.trailing_zeros())
        })
    }
}

/// 0 = Sunday; 1970-01-01 was a Thursday.
fn weekday(days: i64) -> u32 {
    (days + 4).rem_euclid(7) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i64, mo: u32, d: u32, h: i64, mi: i64) -> i64 {
        days_from_civil(y, mo, d) * SECS_PER_DAY + h * 3600 + mi * 60
    }

    fn sched(s: &str) -> Schedule {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn daily_at_21() {
        let s = sched("0 21 * * *");
        assert_eq!(s.next_after(at(2024, 5, 1, 20, 59)), Some(at(2024, 5, 1, 21, 0)));
        assert_eq!(s.next_after(at(2024, 5, 1, 21, 0)), Some(at(2024, 5, 2, 21, 0)));
        assert_eq!(s.next_after(at(2024, 5, 1, 21, 0) - 1), Some(at(2024, 5, 1, 21, 0)));
    }

    #[test]
    fn every_quarter_hour() {
        let s = sched("*/15 * * * *");
        assert_eq!(s.next_after(at(2024, 5, 1, 10, 0)), Some(at(2024, 5, 1, 10, 15)));
        assert_eq!(s.next_after(at(2024, 5, 1, 10, 50) + 7), Some(at(2024, 5, 1, 11, 0)));
        assert_eq!(s.next_after(at(2024, 12, 31, 23, 45)), Some(at(2025, 1, 1, 0, 0)));
    }

    #[test]
    fn leap_day_waits_for_a_leap_year() {
        let s = sched("0 0 29 2 *");
        assert_eq!(s.next_after(at(2025, 3, 1, 0, 0)), Some(at(2028, 2, 29, 0, 0)));
        // 2100 is no leap year: from 2099 the next is 2104, but from 2096 that is past the 5-year horizon.
        assert_eq!(s.next_after(at(2099, 3, 1, 0, 0)), Some(at(2104, 2, 29, 0, 0)));
        assert_eq!(s.next_after(at(2096, 3, 1, 0, 0)), None);
    }

    #[test]
    fn impossible_date_gives_none() {
        assert_eq!(sched("0 0 30 2 *").next_after(0), None);
        assert_eq!(sched("0 0 31 4,6,9,11 *").next_after(0), None);
    }

    #[test]
    fn day_of_month_or_day_of_week() {
        let s = sched("0 0 1 * MON");
        // 2024-04-01 is a Monday; next Monday 04-08; then 04-15 ...; 05-01 is a Wednesday.
        assert_eq!(s.next_after(at(2024, 3, 31, 12, 0)), Some(at(2024, 4, 1, 0, 0)));
        assert_eq!(s.next_after(at(2024, 4, 1, 0, 0)), Some(at(2024, 4, 8, 0, 0)));
        assert_eq!(s.next_after(at(2024, 4, 29, 0, 0)), Some(at(2024, 5, 1, 0, 0)));
        // A `*`-led day field is unrestricted: `*/2` days AND Monday.
        let s = sched("0 0 */2 * 1");
        assert_eq!(s.next_after(at(2024, 4, 1, 0, 0)), Some(at(2024, 4, 15, 0, 0)));
    }

    #[test]
    fn year_rollover() {
        let s = sched("59 23 31 12 *");
        assert_eq!(s.next_after(at(2024, 12, 31, 23, 59)), Some(at(2025, 12, 31, 23, 59)));
        assert_eq!(s.next_after(at(2024, 6, 1, 0, 0)), Some(at(2024, 12, 31, 23, 59)));
    }

    #[test]
    fn weekdays_at_noon_with_names() {
        let s = sched("0 12 * * Mon-Fri");
        // 2024-05-03 is a Friday.
        assert_eq!(s.next_after(at(2024, 5, 3, 12, 0)), Some(at(2024, 5, 6, 12, 0)));
        assert_eq!(sched("0 12 * * mon-fri"), s);
        assert_eq!(sched("0 12 * * 1-5"), s);
        assert_eq!(sched("0 0 * JAN-mar *"), sched("0 0 * 1-3 *"));
    }

    #[test]
    fn sunday_is_0_or_7() {
        assert_eq!(sched("0 0 * * 7"), sched("0 0 * * 0"));
        assert_eq!(sched("0 0 * * 5-7"), sched("0 0 * * 0,5,6"));
        assert_eq!(sched("0 0 * * SUN"), sched("0 0 * * 0"));
    }

    #[test]
    fn lists_ranges_and_steps() {
        let s = sched("10-50/20 1,5 * * *");
        assert_eq!(s.next_after(at(2024, 1, 1, 0, 0)), Some(at(2024, 1, 1, 1, 10)));
        assert_eq!(s.next_after(at(2024, 1, 1, 1, 10)), Some(at(2024, 1, 1, 1, 30)));
        assert_eq!(s.next_after(at(2024, 1, 1, 1, 50)), Some(at(2024, 1, 1, 5, 10)));
        assert_eq!(sched("5/20 * * * *"), sched("5,25,45 * * * *"));
    }

    #[test]
    fn strictly_increasing_sequence() {
        for expr in ["*/7 * * * *", "0 12 * * Mon-Fri", "0 0 1,15 * 3", "30 */5 * FEB *"] {
            let s = sched(expr);
            let mut t = at(2023, 12, 30, 23, 59) + 30;
            for _ in 0..500 {
                let next = s.next_after(t).unwrap_or_else(|| panic!("{expr} stopped"));
                assert!(next > t && next % 60 == 0, "{expr}: {next} after {t}");
                t = next;
            }
        }
    }

    #[test]
    fn before_1970() {
        let s = sched("0 0 1 1 *");
        assert_eq!(s.next_after(at(1969, 6, 1, 0, 0)), Some(0));
    }

    #[test]
    fn refusals() {
        let bad = [
            ("* * * *", "5 fields"),
            ("* * * * * *", "found 6"),
            ("60 * * * *", "outside 0-59"),
            ("* 24 * * *", "outside 0-23"),
            ("* * 0 * *", "outside 1-31"),
            ("* * * 13 *", "outside 1-12"),
            ("* * * * 8", "outside 0-7"),
            ("5-1 * * * *", "backwards"),
            ("*/0 * * * *", "step of 0"),
            ("*/x * * * *", "not a positive number"),
            ("1,,2 * * * *", "not a number"),
            ("* * * FOO *", "not a number or a name"),
            ("* * * * MON-", "not a number"),
            ("-1 * * * *", "not a number"),
        ];
        for (expr, want) in bad {
            match expr.parse::<Schedule>() {
                Ok(_) => panic!("{expr} was accepted"),
                Err(e) => assert!(e.to_string().contains(want), "{expr}: {e}"),
            }
        }
        let e = "61 * * * *".parse::<Schedule>().err();
        assert_eq!(e.map(|e| e.to_string()).as_deref(), Some("cron minute field \"61\": 61 is outside 0-59"));
    }
}

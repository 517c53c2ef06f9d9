//! The ISO week that names an issue.
//!
//! An issue is the week's, not the day's: `2026-W48` covers Monday 23 to
//! Sunday 29 November 2026, and its issue date is that Sunday. Which week
//! "now" is depends on the newsletter's time zone: Sunday 23:30 in Los Angeles
//! is already Monday in UTC, and a cron job there must still send the issue
//! of the week that is ending, not the next one.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IssueWeek {
    year: i32,
    week: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "`{input}` is not a week: {reason}; write an ISO week as YYYY-Www, e.g. 2026-W48 (weeks run 01 to 52, or 53 in long years such as 2026)"
)]
pub struct BadWeek {
    input: String,
    reason: String,
}

impl IssueWeek {
    /// The week `week` of ISO year `year`, if that year has it.
    pub fn new(year: i32, week: u32) -> Option<Self> {
        NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).map(|_| IssueWeek { year, week })
    }

    /// The ISO week containing `date`.
    pub fn containing(date: NaiveDate) -> Self {
        let iso = date.iso_week();
        IssueWeek {
            year: iso.year(),
            week: iso.week(),
        }
    }

    /// The week that `now` falls in, seen from the newsletter's time zone.
    pub fn current(now: DateTime<Utc>, tz: Tz) -> Self {
        Self::containing(now.with_timezone(&tz).date_naive())
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn week(self) -> u32 {
        self.week
    }

    pub fn monday(self) -> NaiveDate {
        NaiveDate::from_isoywd_opt(self.year, self.week, Weekday::Mon).expect("validated week")
    }

    /// The issue date: the week's Sunday.
    pub fn sunday(self) -> NaiveDate {
        NaiveDate::from_isoywd_opt(self.year, self.week, Weekday::Sun).expect("validated week")
    }

    pub fn next(self) -> Self {
        Self::containing(self.sunday() + chrono::Days::new(1))
    }

    pub fn previous(self) -> Self {
        Self::containing(self.monday() - chrono::Days::new(1))
    }
}

impl fmt::Display for IssueWeek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-W{:02}", self.year, self.week)
    }
}

impl Serialize for IssueWeek {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl FromStr for IssueWeek {
    type Err = BadWeek;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| BadWeek {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let s = input.trim();
        let (year, week) = s
            .split_once(['W', 'w'])
            .ok_or_else(|| bad("expected a `W` between year and week"))?;
        let year = year.strip_suffix('-').unwrap_or(year);
        if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the year must be four digits"));
        }
        if week.len() != 2 || !week.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the week must be two digits"));
        }
        let year: i32 = year.parse().map_err(|_| bad("bad year"))?;
        let week: u32 = week.parse().map_err(|_| bad("bad week"))?;
        IssueWeek::new(year, week).ok_or_else(|| {
            let weeks_in_year =
                IssueWeek::containing(NaiveDate::from_ymd_opt(year, 12, 28).expect("valid")).week;
            bad(&format!("{year} has weeks 01 to {weeks_in_year}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn weeks_parse_and_print() {
        let cases: &[(&str, Option<&str>)] = &[
            ("2026-W48", Some("2026-W48")),
            ("2026w48", Some("2026-W48")),
            ("2026-W53", Some("2026-W53")),
            ("2027-W01", Some("2027-W01")),
            ("2026-W54", None),
            ("2027-W53", None),
            ("2026-W00", None),
            ("2026-W4", None),
            ("last week", None),
            ("26-W01", None),
            ("", None),
        ];
        for (input, expected) in cases {
            let got = input.parse::<IssueWeek>().ok().map(|w| w.to_string());
            assert_eq!(got.as_deref(), *expected, "{input}");
        }
    }

    #[test]
    fn a_bad_week_says_the_accepted_form() {
        let err = "2026-W54".parse::<IssueWeek>().unwrap_err().to_string();
        assert!(err.contains("2026 has weeks 01 to 53"), "{err}");
        assert!(err.contains("YYYY-Www"), "{err}");
    }

    #[test]
    fn weeks_run_monday_to_sunday() {
        let cases = [
            ("2026-W48", "2026-11-23", "2026-11-29"),
            ("2026-W53", "2026-12-28", "2027-01-03"),
            ("2027-W01", "2027-01-04", "2027-01-10"),
            ("2026-W01", "2025-12-29", "2026-01-04"),
        ];
        for (week, monday, sunday) in cases {
            let w: IssueWeek = week.parse().unwrap();
            assert_eq!(w.monday(), d(monday), "{week}");
            assert_eq!(w.sunday(), d(sunday), "{week}");
            assert_eq!(IssueWeek::containing(d(monday)), w);
            assert_eq!(IssueWeek::containing(d(sunday)), w);
        }
    }

    #[test]
    fn next_and_previous_cross_long_years() {
        let w53: IssueWeek = "2026-W53".parse().unwrap();
        assert_eq!(w53.next().to_string(), "2027-W01");
        assert_eq!(w53.next().previous(), w53);
        assert_eq!("2026-W52".parse::<IssueWeek>().unwrap().next(), w53);
    }

    #[test]
    fn the_time_zone_decides_which_week_now_is() {
        // Sunday 29 Nov 2026, 23:30 in Los Angeles = Monday 30 Nov 07:30 UTC.
        let now: DateTime<Utc> = "2026-11-30T07:30:00Z".parse().unwrap();
        let cases = [
            (chrono_tz::America::Los_Angeles, "2026-W48"),
            (chrono_tz::UTC, "2026-W49"),
            (chrono_tz::Asia::Tokyo, "2026-W49"),
        ];
        for (tz, expected) in cases {
            assert_eq!(IssueWeek::current(now, tz).to_string(), expected, "{tz}");
        }
    }
}

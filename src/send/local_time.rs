//! Delivery at the reader's local time: `[send] local_time = "08:00"`.
//!
//! Everyone is queued when the issue is frozen, as always; a run sends
//! only to readers whose Sunday at that time, in their own zone, has come,
//! and leaves the rest queued for a later run (cron every hour over the
//! weekend). The zone is read when the row is sent, so a reader who moves
//! is served by the zone they have then.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone as _, Utc};
use chrono_tz::Tz;

/// When each reader's issue is due.
#[derive(Debug, Clone, Copy)]
pub struct LocalTime {
    pub at: NaiveTime,
    /// `[newsletter] timezone`: for readers without a zone of their own.
    pub default: Tz,
    /// The Sunday.
    pub sunday: NaiveDate,
}

impl LocalTime {
    /// The moment a reader in `zone` is due (an unknown zone name counts
    /// as the default). A time that a clock change skips that day is due
    /// at the first moment after it; one that happens twice, the first.
    pub fn due(&self, zone: Option<&str>) -> DateTime<Utc> {
        let tz = zone
            .and_then(|z| z.parse::<Tz>().ok())
            .unwrap_or(self.default);
        let local = self.sunday.and_time(self.at);
        let mut probe = local;
        for _ in 0..=180 {
            if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                return t.with_timezone(&Utc);
            }
            probe += chrono::Duration::minutes(1);
        }
        // No zone skips three hours; kept total all the same.
        Utc.from_utc_datetime(&local)
    }
}

/// How many queued readers still wait, and when the next is due.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Waiting {
    pub readers: u64,
    pub next_due: Option<DateTime<Utc>>,
}

impl Waiting {
    /// From the queued rows counted by zone, as seen at `now`.
    pub fn count(
        local: &LocalTime,
        zones: &[(Option<String>, u64)],
        now: DateTime<Utc>,
    ) -> Waiting {
        let mut waiting = Waiting::default();
        for (zone, n) in zones {
            let due = local.due(zone.as_deref());
            if due > now {
                waiting.readers += n;
                waiting.next_due = Some(waiting.next_due.map_or(due, |d| d.min(due)));
            }
        }
        waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(at: &str) -> LocalTime {
        LocalTime {
            at: NaiveTime::parse_from_str(at, "%H:%M").unwrap(),
            default: Tz::Europe__London,
            sunday: NaiveDate::from_ymd_opt(2026, 11, 29).unwrap(),
        }
    }

    #[test]
    fn each_zone_is_due_at_its_own_sunday_morning() {
        let cases = [
            (Some("Pacific/Kiritimati"), "2026-11-28T18:00:00Z"),
            (Some("Europe/Paris"), "2026-11-29T07:00:00Z"),
            (Some("America/Los_Angeles"), "2026-11-29T16:00:00Z"),
            (None, "2026-11-29T08:00:00Z"),
            (Some("Not/AZone"), "2026-11-29T08:00:00Z"),
        ];
        for (zone, due) in cases {
            assert_eq!(
                local("08:00").due(zone).to_rfc3339(),
                due.replace('Z', "+00:00"),
                "{zone:?}"
            );
        }
    }

    #[test]
    fn a_time_skipped_by_a_clock_change_is_due_just_after_it() {
        // Europe/Paris moves from 02:00 to 03:00 on 2027-03-28, a Sunday.
        let spring = LocalTime {
            sunday: NaiveDate::from_ymd_opt(2027, 3, 28).unwrap(),
            ..local("02:30")
        };
        assert_eq!(
            spring.due(Some("Europe/Paris")).to_rfc3339(),
            "2027-03-28T01:00:00+00:00"
        );
    }

    #[test]
    fn waiting_counts_the_readers_not_yet_due_and_the_next_due() {
        let zones = vec![
            (Some("Pacific/Kiritimati".to_string()), 3),
            (Some("Europe/Paris".to_string()), 5),
            (Some("America/Los_Angeles".to_string()), 7),
        ];
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let w = Waiting::count(&local("08:00"), &zones, at("2026-11-29T07:30:00Z"));
        assert_eq!(w.readers, 7);
        assert_eq!(w.next_due, Some(at("2026-11-29T16:00:00Z")));
        let none = Waiting::count(&local("08:00"), &zones, at("2026-11-30T00:00:00Z"));
        assert_eq!(none, Waiting::default());
    }
}

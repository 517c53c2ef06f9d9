//! A point in time as the database stores it and people read it.
//!
//! RFC 3339 in UTC with second precision (`2026-11-29T07:00:00Z`): it sorts
//! correctly as text, reads well in `sqlite3`, and is what exports carry.
//! The store converts it to and from SQL; nothing else formats times for
//! storage.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    pub fn at(&self) -> DateTime<Utc> {
        self.0
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(t: DateTime<Utc>) -> Timestamp {
        // Stored with second precision: drop what would not survive a
        // round trip through the text form.
        Timestamp(DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Secs, true))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not an RFC 3339 time such as 2026-11-29T07:00:00Z")]
pub struct BadTimestamp(pub String);

impl FromStr for Timestamp {
    type Err = BadTimestamp;

    fn from_str(s: &str) -> Result<Timestamp, BadTimestamp> {
        DateTime::parse_from_rfc3339(s.trim())
            .map(|t| Timestamp::from(t.with_timezone(&Utc)))
            .map_err(|_| BadTimestamp(s.to_string()))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_their_text_at_second_precision() {
        let cases = [
            ("2026-11-29T07:00:00Z", "2026-11-29T07:00:00Z"),
            ("2026-11-29T08:00:00+01:00", "2026-11-29T07:00:00Z"),
            ("2026-11-29T07:00:00.999Z", "2026-11-29T07:00:00Z"),
        ];
        for (input, shown) in cases {
            let t: Timestamp = input.parse().unwrap();
            assert_eq!(t.to_string(), shown, "{input}");
            assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t);
        }
        assert!("yesterday".parse::<Timestamp>().is_err());
    }
}

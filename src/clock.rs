//! The clock every command reads "now" from.
//!
//! Tests and `DIGEST_NOW` pin the start of a run; time then moves on with
//! the monotonic clock, so leases expire and renewals happen as they would,
//! while every timestamp written stays predictable.

use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::timestamp::Timestamp;

/// The wall clock, or a pinned start plus elapsed time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start_wall: DateTime<Utc>,
    start: Instant,
}

impl Clock {
    pub fn starting_at(now: DateTime<Utc>) -> Clock {
        Clock {
            start_wall: now,
            start: Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.start_wall + chrono::Duration::from_std(self.start.elapsed()).unwrap_or_default()
    }

    /// Now, as the database stores it.
    pub fn stamp(&self) -> Timestamp {
        Timestamp::from(self.now())
    }
}

//! One delivery: who gets the message, and how it ended.
//!
//! These are the values the send engine and the ledger exchange; the
//! ledger stores them, the engine produces them, and neither needs the
//! other's types.

use serde::Serialize;

use crate::role::Role;
use crate::timestamp::Timestamp;
use crate::token::Token;

/// A recipient waiting for their message: a queued ledger row, an address
/// given to `send --test`, or the one address of a confirmation mail.
#[derive(Debug, Clone)]
pub struct Job {
    /// The subscriber's id (its position, for addresses that are not
    /// subscribers); jobs are handed out in this order.
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    pub role: Option<Role>,
    pub token: Token,
    /// The reader's IANA time zone, for delivery at their local time.
    pub timezone: Option<String>,
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// Accepted, with the server's reply.
    Sent {
        at: Timestamp,
        reply: String,
        /// The relay that took it, when the transport is one.
        relay: Option<String>,
    },
    Failed {
        error: String,
        permanent: bool,
    },
}

/// A delivery's result, waiting to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub id: i64,
    pub attempts: u32,
    pub outcome: Delivered,
}

/// How many rows of an issue are in each state.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub queued: u64,
    pub sent: u64,
    pub failed: u64,
    pub skipped: u64,
}

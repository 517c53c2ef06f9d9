//! What provider webhooks need from the store beyond the events
//! themselves: the delivery an address-only event is about, and the
//! Mailgun tokens already accepted.

use rusqlite::{OptionalExtension as _, params};

use super::Store;
use crate::timestamp::Timestamp;
use crate::week::IssueWeek;

/// A provider's clock may run this far ahead of ours.
const CLOCK_SKEW_SECS: i64 = 10 * 60;
/// Tokens are remembered this long: far past Mailgun's five-minute
/// window, so a replay inside the window always meets its token.
const TOKEN_DAYS: i64 = 2;

impl Store {
    /// The issue of the subscriber's latest delivery sent by `at` (any
    /// latest one when `at` is unknown): the one an event that names only
    /// an address is about.
    pub fn delivery_before(
        &self,
        subscriber: i64,
        at: Option<Timestamp>,
    ) -> anyhow::Result<Option<IssueWeek>> {
        let by = at.map(|t| Timestamp::from(t.at() + chrono::Duration::seconds(CLOCK_SKEW_SECS)));
        let issue: Option<String> = self
            .conn
            .query_row(
                "SELECT issue FROM deliveries
                 WHERE subscriber_id = ?1 AND status = 'sent' AND (?2 IS NULL OR sent_at <= ?2)
                 ORDER BY issue DESC LIMIT 1",
                params![subscriber, by],
                |r| r.get(0),
            )
            .optional()?;
        issue
            .map(|w| {
                w.parse()
                    .map_err(|e| anyhow::anyhow!("stored issue {w}: {e}"))
            })
            .transpose()
    }

    pub fn webhook_token_seen(&self, token: &str) -> anyhow::Result<bool> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM webhook_tokens WHERE token = ?1)",
            [token],
            |r| r.get(0),
        )?)
    }

    /// Remember an accepted token, and forget the ones too old to matter.
    pub fn remember_webhook_token(&mut self, token: &str, now: Timestamp) -> anyhow::Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO webhook_tokens (token, at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![token, now],
        )?;
        let old = Timestamp::from(now.at() - chrono::Duration::days(TOKEN_DAYS));
        tx.execute("DELETE FROM webhook_tokens WHERE at < ?1", [old])?;
        tx.commit()?;
        Ok(())
    }
}

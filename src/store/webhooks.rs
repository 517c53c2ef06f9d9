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

#[cfg(test)]
mod tests {
    use rusqlite::params;

    use super::*;
    use crate::address::SubscriberEmail;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    /// Ada, sent 2026-W46, W47 and W48 on their Sundays at noon, and W49
    /// refused.
    fn store() -> (Store, i64) {
        let mut store = Store::in_memory().unwrap();
        let ada = SubscriberEmail::parse("ada@example.com").unwrap();
        store
            .subscribe(&ada, None, None, false, at("2026-11-01T00:00:00Z"))
            .unwrap();
        let id = store.subscriber_by_email(&ada).unwrap().unwrap().id;
        for (w, sent, status) in [
            (46, "2026-11-15T12:00:00Z", "sent"),
            (47, "2026-11-22T12:00:00Z", "sent"),
            (48, "2026-11-29T12:00:00Z", "sent"),
            (49, "2026-12-06T12:00:00Z", "failed"),
        ] {
            let week = format!("2026-W{w}");
            store
                .conn
                .execute(
                    "INSERT INTO issues (week, subject, featured, new_terms, created_at) VALUES (?1, 's', 'f', '[]', ?2)",
                    params![week, at(sent)],
                )
                .unwrap();
            store
                .conn
                .execute(
                    "INSERT INTO deliveries (issue, subscriber_id, status, sent_at) VALUES (?1, ?2, ?3, ?4)",
                    params![week, id, status, at(sent)],
                )
                .unwrap();
        }
        (store, id)
    }

    #[test]
    fn an_event_belongs_to_the_latest_issue_sent_by_its_time() {
        let (store, id) = store();
        let cases = [
            (Some("2026-11-15T13:00:00Z"), Some("2026-W46")),
            (Some("2026-11-22T11:55:00Z"), Some("2026-W47")), // within the clock skew
            (Some("2026-11-22T11:00:00Z"), Some("2026-W46")),
            (Some("2026-12-01T00:00:00Z"), Some("2026-W48")),
            (Some("2026-12-07T00:00:00Z"), Some("2026-W48")), // W49 was not sent
            (Some("2026-11-10T00:00:00Z"), None),
            (None, Some("2026-W48")),
        ];
        for (when, expected) in cases {
            let got = store.delivery_before(id, when.map(at)).unwrap();
            assert_eq!(got.map(|w| w.to_string()).as_deref(), expected, "{when:?}");
        }
        assert_eq!(store.delivery_before(id + 1, None).unwrap(), None);
    }

    #[test]
    fn tokens_are_remembered_then_forgotten_after_two_days() {
        let (mut store, _) = store();
        let day = |d: u32| at(&format!("2026-12-{d:02}T00:00:00Z"));
        store.remember_webhook_token("t-1", day(1)).unwrap();
        store.remember_webhook_token("t-1", day(1)).unwrap();
        assert!(store.webhook_token_seen("t-1").unwrap());
        assert!(!store.webhook_token_seen("t-2").unwrap());
        store.remember_webhook_token("t-2", day(3)).unwrap();
        assert!(store.webhook_token_seen("t-1").unwrap());
        store.remember_webhook_token("t-3", day(4)).unwrap();
        assert!(!store.webhook_token_seen("t-1").unwrap());
        assert!(store.webhook_token_seen("t-2").unwrap());
    }
}

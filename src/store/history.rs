//! A subscriber's history, as `digest subscribers show` prints it: the
//! events recorded, each issue delivered or refused, and when they
//! subscribed and confirmed, newest first.

use serde::Serialize;

use super::Store;
use super::subscribers::Subscriber;
use crate::timestamp::Timestamp;

/// One line of a subscriber's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub at: Timestamp,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issue: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub how: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Store {
    /// The subscriber's history, newest first: the events recorded, each
    /// issue delivered or refused, and when they subscribed and confirmed.
    pub fn history_of(&self, subscriber: &Subscriber) -> anyhow::Result<Vec<Event>> {
        let event = |at, kind: &str, issue, how, detail| Event {
            at,
            kind: kind.to_string(),
            issue,
            how,
            detail,
        };
        // (event, rank, sequence): at the same second, what happens later
        // in a subscriber's life sorts first.
        let mut all: Vec<(Event, u8, i64)> = vec![(
            event(subscriber.created_at, "subscribed", None, None, None),
            0,
            0,
        )];
        if let Some(at) = subscriber.confirmed_at {
            all.push((event(at, "confirmed", None, None, None), 1, 0));
        }
        let mut stmt = self.conn.prepare(
            "SELECT d.issue, d.status, d.sent_at, d.last_error, d.permanent, i.sent_started_at
             FROM deliveries d JOIN issues i ON i.week = d.issue
             WHERE d.subscriber_id = ?1 AND d.status IN ('sent', 'failed') ORDER BY d.issue",
        )?;
        let rows = stmt.query_map([subscriber.id], |r| {
            let status: String = r.get(1)?;
            let sent_at: Option<Timestamp> = r.get(2)?;
            let started: Option<Timestamp> = r.get(5)?;
            let permanent: bool = r.get(4)?;
            let kind = match (status.as_str(), permanent) {
                ("sent", _) => "sent",
                (_, true) => "refused",
                (_, false) => "not_delivered",
            };
            Ok(event(
                sent_at.or(started).unwrap_or(subscriber.created_at),
                kind,
                r.get(0)?,
                None,
                r.get(3)?,
            ))
        })?;
        for (i, row) in rows.enumerate() {
            all.push((row?, 2, i as i64));
        }
        let mut stmt = self.conn.prepare(
            "SELECT at, kind, issue, how, detail, id FROM events WHERE subscriber_id = ?1",
        )?;
        let rows = stmt.query_map([subscriber.id], |r| {
            Ok((
                event(
                    r.get(0)?,
                    &r.get::<_, String>(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                ),
                3,
                r.get(5)?,
            ))
        })?;
        for row in rows {
            all.push(row?);
        }
        all.sort_by(|(a, ra, sa), (b, rb, sb)| (b.at, rb, sb).cmp(&(a.at, ra, sa)));
        Ok(all.into_iter().map(|(e, _, _)| e).collect())
    }
}

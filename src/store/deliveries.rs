//! The delivery ledger's SQL: freezing an issue, its rows, and the send
//! lease.
//!
//! Each (issue, subscriber) row is the truth about that delivery: a rerun
//! sends only rows still `queued`, so a crash or a kill loses nothing. The
//! functions take a plain `Connection` so the ledger can run several
//! of them in one transaction (group commit).

use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};
use serde::Serialize;

use super::Store;
use crate::delivery::{Counts, Delivered, Job, Recorded};
use crate::select::Selection;
use crate::status::{DeliveryStatus, Status};
use crate::timestamp::Timestamp;
use crate::week::IssueWeek;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frozen {
    /// True when this call froze the issue; false when it already was.
    pub new: bool,
    pub queued_now: u64,
}

/// One line of `digest history`.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryRow {
    pub week: String,
    pub subject: String,
    pub featured: String,
    pub queued: u64,
    pub sent: u64,
    pub failed: u64,
    pub skipped: u64,
    /// Subscribers whose delivery bounced later (a DSN), hard or soft.
    pub bounced: u64,
    /// Of those, hard bounces.
    pub hard_bounced: u64,
    /// Subscribers who reported the issue as spam.
    pub complained: u64,
    /// Deliveries sent, by the relay that took them.
    pub relays: std::collections::BTreeMap<String, u64>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

impl Store {
    /// Freeze the issue of `selection.week` and queue one delivery for every
    /// subscriber active now, in one transaction. An issue frozen before is
    /// left as it is.
    pub fn freeze(
        &mut self,
        selection: &Selection,
        subject: &str,
        now: Timestamp,
    ) -> anyhow::Result<Frozen> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let week = selection.week.to_string();
        let inserted = tx.execute(
            "INSERT INTO issues (week, subject, featured, new_terms, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (week) DO NOTHING",
            params![
                week,
                subject,
                selection.featured,
                serde_json::to_string(&selection.new_terms)?,
                now
            ],
        )?;
        let queued_now = if inserted == 1 {
            tx.execute(
                "INSERT INTO deliveries (issue, subscriber_id, status)
                 SELECT ?1, id, 'queued' FROM subscribers
                 WHERE status = 'active' AND (paused_until IS NULL OR paused_until <= ?2)",
                params![week, selection.week.sunday().to_string()],
            )? as u64
        } else {
            0
        };
        tx.commit()?;
        Ok(Frozen {
            new: inserted == 1,
            queued_now,
        })
    }

    /// The queued deliveries of `week` by their reader's time zone (none:
    /// the newsletter's): what waits for a local delivery time.
    pub fn queued_by_zone(&self, week: IssueWeek) -> anyhow::Result<Vec<(Option<String>, u64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT s.timezone, count(*) FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
             WHERE d.issue = ?1 AND d.status = 'queued' GROUP BY s.timezone",
        )?;
        let rows = stmt.query_map([week.to_string()], |r| {
            Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deliveries each relay took since `since`, whatever the issue: what
    /// its `max_per_day` is counted against.
    pub fn sent_by_relay_since(
        &self,
        since: Timestamp,
    ) -> anyhow::Result<std::collections::BTreeMap<String, u64>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT relay, count(*) FROM deliveries
             WHERE relay IS NOT NULL AND sent_at > ?1 AND status = 'sent' GROUP BY relay",
        )?;
        let rows = stmt.query_map([since], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn counts(&self, week: IssueWeek) -> anyhow::Result<Counts> {
        counts(&self.conn, &week.to_string())
    }

    /// Up to `limit` queued rows of `week` after subscriber `after`, in id
    /// order, without claiming them (a dry run's view of the queue).
    pub fn queued_page(&self, week: IssueWeek, after: i64, limit: u32) -> anyhow::Result<Vec<Job>> {
        queued_page(&self.conn, &week.to_string(), after, limit)
    }

    /// Up to `limit` active subscribers after id `after`, in id order: who
    /// an issue not frozen yet would be queued for.
    pub fn active_page(&self, after: i64, limit: u32) -> anyhow::Result<Vec<Job>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, email, name, role, token, timezone FROM subscribers
             WHERE status = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![Status::Active, after, limit], job)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Put failed rows back in the queue (`--retry-failed`), for subscribers
    /// still active: a bounced address stays failed.
    pub fn requeue_failed(&mut self, week: IssueWeek) -> anyhow::Result<u64> {
        Ok(self.conn.execute(
            "UPDATE deliveries SET status = 'queued'
             WHERE issue = ?1 AND status = 'failed'
               AND subscriber_id IN (SELECT id FROM subscribers WHERE status = 'active')",
            [week.to_string()],
        )? as u64)
    }

    pub fn history(&self) -> anyhow::Result<Vec<HistoryRow>> {
        // A database from before hearing back (read as it is) has no events.
        let events = if self.schema_version()? >= 4 {
            "(SELECT count(DISTINCT subscriber_id) FROM events e WHERE e.issue = i.week AND e.kind IN ('hard_bounce', 'soft_bounce')),
             (SELECT count(DISTINCT subscriber_id) FROM events e WHERE e.issue = i.week AND e.kind = 'hard_bounce'),
             (SELECT count(DISTINCT subscriber_id) FROM events e WHERE e.issue = i.week AND e.kind = 'complaint')"
        } else {
            "0, 0, 0"
        };
        let mut stmt = self.conn.prepare(&format!(
            "SELECT i.week, i.subject, i.featured,
                    count(CASE d.status WHEN 'queued' THEN 1 END),
                    count(CASE d.status WHEN 'sent' THEN 1 END),
                    count(CASE d.status WHEN 'failed' THEN 1 END),
                    count(CASE d.status WHEN 'skipped' THEN 1 END),
                    i.sent_started_at, i.sent_finished_at, {events}
             FROM issues i LEFT JOIN deliveries d ON d.issue = i.week
             GROUP BY i.week ORDER BY i.week DESC"
        ))?;
        let rows = stmt.query_map([], |r| {
            Ok(HistoryRow {
                week: r.get(0)?,
                subject: r.get(1)?,
                featured: r.get(2)?,
                queued: r.get::<_, i64>(3)? as u64,
                sent: r.get::<_, i64>(4)? as u64,
                failed: r.get::<_, i64>(5)? as u64,
                skipped: r.get::<_, i64>(6)? as u64,
                started_at: r.get(7)?,
                finished_at: r.get(8)?,
                bounced: r.get::<_, i64>(9)? as u64,
                hard_bounced: r.get::<_, i64>(10)? as u64,
                complained: r.get::<_, i64>(11)? as u64,
                relays: Default::default(),
            })
        })?;
        let mut rows: Vec<HistoryRow> = rows.collect::<Result<_, _>>()?;
        // A database from before relays were recorded (read as it is) has
        // no relay column.
        if self.schema_version()? >= 6 {
            let mut stmt = self.conn.prepare(
                "SELECT relay, count(*) FROM deliveries
                 WHERE issue = ?1 AND status = 'sent' AND relay IS NOT NULL GROUP BY relay",
            )?;
            for row in &mut rows {
                let relays =
                    stmt.query_map([&row.week], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
                row.relays = relays.collect::<Result<_, _>>()?;
            }
        }
        Ok(rows)
    }
}

pub(super) fn counts(conn: &Connection, week: &str) -> anyhow::Result<Counts> {
    let mut stmt = conn.prepare_cached(
        "SELECT status, count(*) FROM deliveries WHERE issue = ?1 GROUP BY status",
    )?;
    let mut rows = stmt.query([week])?;
    let mut c = Counts::default();
    while let Some(row) = rows.next()? {
        let n = row.get::<_, i64>(1)? as u64;
        match row.get::<_, DeliveryStatus>(0)? {
            DeliveryStatus::Queued => c.queued = n,
            DeliveryStatus::Sent => c.sent = n,
            DeliveryStatus::Failed => c.failed = n,
            DeliveryStatus::Skipped => c.skipped = n,
        }
    }
    Ok(c)
}

fn job(r: &rusqlite::Row<'_>) -> rusqlite::Result<Job> {
    Ok(Job {
        id: r.get(0)?,
        email: r.get(1)?,
        name: r.get(2)?,
        role: r.get(3)?,
        token: r.get(4)?,
        timezone: r.get(5)?,
    })
}

/// Up to `limit` queued deliveries after subscriber `after`, in id order.
pub(super) fn queued_page(
    conn: &Connection,
    week: &str,
    after: i64,
    limit: u32,
) -> anyhow::Result<Vec<Job>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.id, s.email, s.name, s.role, s.token, s.timezone
         FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
         WHERE d.issue = ?1 AND d.status = 'queued' AND d.subscriber_id > ?2
         ORDER BY d.subscriber_id LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![week, after, limit], job)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Right before sending: is the row still queued and the subscriber still
/// active and not paused past the issue's Sunday? A subscriber who left
/// or paused since the issue was queued gets `skipped`.
pub(super) fn claim(conn: &Connection, week: &str, subscriber_id: i64) -> anyhow::Result<bool> {
    let sunday = week
        .parse::<crate::week::IssueWeek>()
        .map(|w| w.sunday().to_string())
        .unwrap_or_default();
    let state: Option<(DeliveryStatus, Status, bool)> = conn
        .prepare_cached(
            "SELECT d.status, s.status, coalesce(s.paused_until > ?3, 0)
             FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
             WHERE d.issue = ?1 AND d.subscriber_id = ?2",
        )?
        .query_row(params![week, subscriber_id, sunday], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    match state {
        Some((DeliveryStatus::Queued, subscriber, paused)) => {
            if subscriber == Status::Active && !paused {
                Ok(true)
            } else {
                conn.prepare_cached(
                    "UPDATE deliveries SET status = 'skipped' WHERE issue = ?1 AND subscriber_id = ?2 AND status = 'queued'",
                )?
                .execute(params![week, subscriber_id])?;
                Ok(false)
            }
        }
        _ => Ok(false),
    }
}

pub(super) fn record(conn: &Connection, week: &str, recorded: &Recorded) -> anyhow::Result<()> {
    let Recorded {
        id: subscriber_id,
        attempts,
        outcome,
    } = recorded;
    match outcome {
        Delivered::Sent { at, relay, .. } => conn
            .prepare_cached(
                "UPDATE deliveries SET status = 'sent', sent_at = ?3, attempts = attempts + ?4, last_error = NULL, permanent = 0,
                    relay = ?5
                 WHERE issue = ?1 AND subscriber_id = ?2",
            )?
            .execute(params![week, subscriber_id, at, attempts, relay])?,
        Delivered::Failed { error, permanent } => conn
            .prepare_cached(
                "UPDATE deliveries SET status = 'failed', last_error = ?3, attempts = attempts + ?4, permanent = ?5
                 WHERE issue = ?1 AND subscriber_id = ?2",
            )?
            .execute(params![week, subscriber_id, error, attempts, i64::from(*permanent)])?,
    };
    Ok(())
}

pub(super) fn mark_started(conn: &Connection, week: &str, now: Timestamp) -> anyhow::Result<()> {
    conn.execute(
        "UPDATE issues SET sent_started_at = coalesce(sent_started_at, ?2) WHERE week = ?1",
        params![week, now],
    )?;
    Ok(())
}

/// Record the finish time once nothing is left queued.
pub(super) fn mark_finished_if_done(
    conn: &Connection,
    week: &str,
    now: Timestamp,
) -> anyhow::Result<()> {
    conn.execute(
        "UPDATE issues SET sent_finished_at = ?2
         WHERE week = ?1 AND NOT EXISTS (SELECT 1 FROM deliveries WHERE issue = ?1 AND status = 'queued')",
        params![week, now],
    )?;
    Ok(())
}

/// Subscribers whose last `after` deliveries all failed permanently become
/// `bounced`, each with an event saying why. Returns how many.
pub(super) fn apply_bounces(
    conn: &Connection,
    week: &str,
    after: u32,
    now: Timestamp,
) -> anyhow::Result<u64> {
    const BOUNCING: &str = "status = 'active' AND id IN (
             SELECT d.subscriber_id FROM deliveries d
             WHERE d.issue = ?1 AND d.status = 'failed' AND d.permanent = 1
               AND ?2 <= (SELECT count(*) FROM (
                   SELECT d2.status, d2.permanent FROM deliveries d2
                   WHERE d2.subscriber_id = d.subscriber_id AND d2.issue <= ?1 AND d2.status <> 'skipped'
                   ORDER BY d2.issue DESC LIMIT ?2) recent
                 WHERE recent.status = 'failed' AND recent.permanent = 1))";
    let tx = conn.unchecked_transaction()?;
    tx.execute(
        &format!(
            "INSERT INTO events (subscriber_id, at, kind, issue, detail)
             SELECT id, ?3, 'bounced', ?1, ?4 FROM subscribers WHERE {BOUNCING}"
        ),
        params![
            week,
            after,
            now,
            match after {
                1 => "refused by the receiving server".to_string(),
                n => format!("refused by the receiving server on {n} issues in a row"),
            }
        ],
    )?;
    let n = tx.execute(
        &format!("UPDATE subscribers SET status = 'bounced' WHERE {BOUNCING}"),
        params![week, after],
    )?;
    tx.commit()?;
    Ok(n as u64)
}

/// Take the lease `name` for `owner` until `until`, if it is free, expired,
/// or already ours. Returns the current holder when it is someone else's.
pub(super) fn try_lease(
    conn: &Connection,
    name: &str,
    owner: &str,
    now: Timestamp,
    until: Timestamp,
) -> anyhow::Result<Option<String>> {
    conn.execute(
        "INSERT INTO leases (name, owner, expires_at) VALUES (?1, ?2, ?4)
         ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
         WHERE leases.owner = excluded.owner OR leases.expires_at < ?3",
        params![name, owner, now, until],
    )?;
    let holder: String =
        conn.query_row("SELECT owner FROM leases WHERE name = ?1", [name], |r| {
            r.get(0)
        })?;
    Ok((holder != owner).then_some(holder))
}

/// Take the lease `name` from `from` (known to be gone) for `owner`, if
/// `from` still holds it.
pub(super) fn take_over_lease(
    conn: &Connection,
    name: &str,
    owner: &str,
    from: &str,
    until: Timestamp,
) -> anyhow::Result<bool> {
    let n = conn.execute(
        "UPDATE leases SET owner = ?2, expires_at = ?4 WHERE name = ?1 AND owner = ?3",
        params![name, owner, from, until],
    )?;
    Ok(n == 1)
}

pub(super) fn release_lease(conn: &Connection, name: &str, owner: &str) -> anyhow::Result<()> {
    conn.execute(
        "DELETE FROM leases WHERE name = ?1 AND owner = ?2",
        params![name, owner],
    )?;
    Ok(())
}

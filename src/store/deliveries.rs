//! The delivery ledger and the send lease.
//!
//! Each (issue, subscriber) row is the truth about that delivery: a rerun
//! sends only rows still `queued`, so a crash or a kill loses nothing. The
//! functions take a plain `Connection` so the sender can run several of
//! them in one transaction (group commit) from its ledger thread.

use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};
use serde::Serialize;

use super::Store;
use crate::role::Role;
use crate::select::Selection;
use crate::week::IssueWeek;

/// How many rows of an issue are in each state.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub queued: u64,
    pub sent: u64,
    pub failed: u64,
    pub skipped: u64,
}

/// A queued delivery with what it takes to build the message.
#[derive(Debug, Clone)]
pub struct QueuedDelivery {
    pub subscriber_id: i64,
    pub email: String,
    pub name: Option<String>,
    pub role: Option<Role>,
    pub token: String,
}

/// How a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    Sent { at: String },
    Failed { error: String, permanent: bool },
}

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
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

impl Store {
    /// Freeze the issue of `selection.week` and queue one delivery for every
    /// subscriber active now, in one transaction. An issue frozen before is
    /// left as it is.
    pub fn freeze(
        &mut self,
        selection: &Selection,
        subject: &str,
        now: &str,
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
                 SELECT ?1, id, 'queued' FROM subscribers WHERE status = 'active'",
                [&week],
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

    pub fn counts(&self, week: IssueWeek) -> anyhow::Result<Counts> {
        counts(&self.conn, week)
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
        let mut stmt = self.conn.prepare(
            "SELECT i.week, i.subject, i.featured,
                    count(CASE d.status WHEN 'queued' THEN 1 END),
                    count(CASE d.status WHEN 'sent' THEN 1 END),
                    count(CASE d.status WHEN 'failed' THEN 1 END),
                    count(CASE d.status WHEN 'skipped' THEN 1 END),
                    i.sent_started_at, i.sent_finished_at
             FROM issues i LEFT JOIN deliveries d ON d.issue = i.week
             GROUP BY i.week ORDER BY i.week DESC",
        )?;
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
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The connection, for the sender's ledger thread.
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

pub fn counts(conn: &Connection, week: IssueWeek) -> anyhow::Result<Counts> {
    let mut stmt = conn.prepare_cached(
        "SELECT status, count(*) FROM deliveries WHERE issue = ?1 GROUP BY status",
    )?;
    let mut rows = stmt.query([week.to_string()])?;
    let mut c = Counts::default();
    while let Some(row) = rows.next()? {
        let status: String = row.get(0)?;
        let n = row.get::<_, i64>(1)? as u64;
        match status.as_str() {
            "queued" => c.queued = n,
            "sent" => c.sent = n,
            "failed" => c.failed = n,
            "skipped" => c.skipped = n,
            _ => {}
        }
    }
    Ok(c)
}

/// Up to `limit` queued deliveries after subscriber `after`, in id order.
pub fn queued_page(
    conn: &Connection,
    week: &str,
    after: i64,
    limit: u32,
) -> anyhow::Result<Vec<QueuedDelivery>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.id, s.email, s.name, s.role, s.token
         FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
         WHERE d.issue = ?1 AND d.status = 'queued' AND d.subscriber_id > ?2
         ORDER BY d.subscriber_id LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![week, after, limit], |r| {
        let role: Option<String> = r.get(3)?;
        Ok(QueuedDelivery {
            subscriber_id: r.get(0)?,
            email: r.get(1)?,
            name: r.get(2)?,
            role: role.and_then(|r| r.parse().ok()),
            token: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Right before sending: is the row still queued and the subscriber still
/// active? A subscriber who left since the issue was queued gets `skipped`.
pub fn claim(conn: &Connection, week: &str, subscriber_id: i64) -> anyhow::Result<bool> {
    let state: Option<(String, String)> = conn
        .prepare_cached(
            "SELECT d.status, s.status FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
             WHERE d.issue = ?1 AND d.subscriber_id = ?2",
        )?
        .query_row(params![week, subscriber_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match state {
        Some((delivery, subscriber)) if delivery == "queued" => {
            if subscriber == "active" {
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

pub fn record(
    conn: &Connection,
    week: &str,
    subscriber_id: i64,
    attempts: u32,
    outcome: &Delivered,
) -> anyhow::Result<()> {
    match outcome {
        Delivered::Sent { at } => conn
            .prepare_cached(
                "UPDATE deliveries SET status = 'sent', sent_at = ?3, attempts = attempts + ?4, last_error = NULL, permanent = 0
                 WHERE issue = ?1 AND subscriber_id = ?2",
            )?
            .execute(params![week, subscriber_id, at, attempts])?,
        Delivered::Failed { error, permanent } => conn
            .prepare_cached(
                "UPDATE deliveries SET status = 'failed', last_error = ?3, attempts = attempts + ?4, permanent = ?5
                 WHERE issue = ?1 AND subscriber_id = ?2",
            )?
            .execute(params![week, subscriber_id, error, attempts, i64::from(*permanent)])?,
    };
    Ok(())
}

pub fn mark_started(conn: &Connection, week: &str, now: &str) -> anyhow::Result<()> {
    conn.execute(
        "UPDATE issues SET sent_started_at = coalesce(sent_started_at, ?2) WHERE week = ?1",
        params![week, now],
    )?;
    Ok(())
}

/// Record the finish time once nothing is left queued.
pub fn mark_finished_if_done(conn: &Connection, week: &str, now: &str) -> anyhow::Result<()> {
    conn.execute(
        "UPDATE issues SET sent_finished_at = ?2
         WHERE week = ?1 AND NOT EXISTS (SELECT 1 FROM deliveries WHERE issue = ?1 AND status = 'queued')",
        params![week, now],
    )?;
    Ok(())
}

/// Subscribers whose last `after` deliveries all failed permanently become
/// `bounced`. Returns how many.
pub fn apply_bounces(conn: &Connection, week: &str, after: u32) -> anyhow::Result<u64> {
    let n = conn.execute(
        "UPDATE subscribers SET status = 'bounced'
         WHERE status = 'active' AND id IN (
             SELECT d.subscriber_id FROM deliveries d
             WHERE d.issue = ?1 AND d.status = 'failed' AND d.permanent = 1
               AND ?2 <= (SELECT count(*) FROM (
                   SELECT d2.status, d2.permanent FROM deliveries d2
                   WHERE d2.subscriber_id = d.subscriber_id AND d2.issue <= ?1 AND d2.status <> 'skipped'
                   ORDER BY d2.issue DESC LIMIT ?2) recent
                 WHERE recent.status = 'failed' AND recent.permanent = 1))",
        params![week, after],
    )?;
    Ok(n as u64)
}

/// Take the lease `name` for `owner` until `until`, if it is free, expired,
/// or already ours. Returns the current holder when it is someone else's.
pub fn try_lease(
    conn: &Connection,
    name: &str,
    owner: &str,
    now: &str,
    until: &str,
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

pub fn release_lease(conn: &Connection, name: &str, owner: &str) -> anyhow::Result<()> {
    conn.execute(
        "DELETE FROM leases WHERE name = ?1 AND owner = ?2",
        params![name, owner],
    )?;
    Ok(())
}

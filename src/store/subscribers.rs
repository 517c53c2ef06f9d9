//! The subscriber list.

use rusqlite::{OptionalExtension as _, Row, params};
use serde::Serialize;

use super::Store;
use super::events::{How, unsubscribe_in};
use crate::address::{SubscriberEmail, SubscriberName};
use crate::role::Role;
use crate::status::Status;
use crate::timestamp::Timestamp;
use crate::token::Token;

/// A subscriber as stored. The token is here for the sender and the web
/// server; listing and export never print it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscriber {
    #[serde(skip)]
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    pub role: Option<Role>,
    pub status: Status,
    #[serde(skip)]
    pub token: Token,
    pub created_at: Timestamp,
    pub confirmed_at: Option<Timestamp>,
    pub unsubscribed_at: Option<Timestamp>,
    /// How they left (`one-click`, `page`, `mailto`, `cli`, `complaint`).
    #[serde(skip)]
    pub unsubscribed_how: Option<String>,
    /// Their IANA time zone; none: the newsletter's.
    pub timezone: Option<String>,
    /// No issue whose Sunday falls before this date (`YYYY-MM-DD`) is
    /// queued for them.
    pub paused_until: Option<String>,
    /// Why they left, when they said (`too-many`, …, and their words).
    pub unsubscribe_reason: Option<String>,
}

const COLUMNS: &str = "id, email, name, role, status, token, created_at, confirmed_at, unsubscribed_at, unsubscribed_how, timezone, paused_until, unsubscribe_reason";

/// The one subscriber matching `condition` (SQL with one parameter).
pub(super) fn select_subscriber(
    conn: &rusqlite::Connection,
    condition: &str,
    param: impl rusqlite::ToSql,
) -> anyhow::Result<Option<Subscriber>> {
    let sql = format!("SELECT {COLUMNS} FROM subscribers WHERE {condition}");
    Ok(conn.query_row(&sql, [param], from_row).optional()?)
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<Subscriber> {
    Ok(Subscriber {
        id: row.get(0)?,
        email: row.get(1)?,
        name: row.get(2)?,
        role: row.get(3)?,
        status: row.get(4)?,
        token: row.get(5)?,
        created_at: row.get(6)?,
        confirmed_at: row.get(7)?,
        unsubscribed_at: row.get(8)?,
        unsubscribed_how: row.get(9)?,
        timezone: row.get(10)?,
        paused_until: row.get(11)?,
        unsubscribe_reason: row.get(12)?,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribeOutcome {
    Added {
        status: Status,
    },
    AlreadyActive,
    AlreadyPending,
    /// Was pending; now active.
    Confirmed,
    /// Was unsubscribed or bounced; now `status` again. `how`: how they
    /// had left (a complaint must be said out loud).
    Reactivated {
        was: Status,
        status: Status,
        how: Option<&'static str>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnsubscribeOutcome {
    Unsubscribed,
    AlreadyUnsubscribed,
    NotFound,
}

impl Store {
    pub fn subscriber_by_email(
        &self,
        email: &SubscriberEmail,
    ) -> anyhow::Result<Option<Subscriber>> {
        let sql = format!("SELECT {COLUMNS} FROM subscribers WHERE email_key = ?1");
        Ok(self
            .conn
            .query_row(&sql, [email.key()], from_row)
            .optional()?)
    }

    pub fn subscriber_by_token(&self, token: &str) -> anyhow::Result<Option<Subscriber>> {
        let sql = format!("SELECT {COLUMNS} FROM subscribers WHERE token = ?1");
        Ok(self.conn.query_row(&sql, [token], from_row).optional()?)
    }

    /// The subscriber whose token is `token` in any case: a mail system
    /// on the way may have lower-cased the address the token came in.
    /// Only an exact match, or exactly one match ignoring case, counts.
    pub fn subscriber_by_token_any_case(&self, token: &str) -> anyhow::Result<Option<Subscriber>> {
        if let Some(sub) = self.subscriber_by_token(token)? {
            return Ok(Some(sub));
        }
        let sql =
            format!("SELECT {COLUMNS} FROM subscribers WHERE lower(token) = lower(?1) LIMIT 2");
        let mut stmt = self.conn.prepare(&sql)?;
        let found: Vec<Subscriber> = stmt
            .query_map([token], from_row)?
            .collect::<Result<_, _>>()?;
        Ok(match <[Subscriber; 1]>::try_from(found) {
            Ok([one]) => Some(one),
            Err(_) => None,
        })
    }

    /// Add a subscriber, or bring an existing one back. `pending`: awaiting
    /// confirmation rather than active. A name or role given for an existing
    /// subscriber replaces the stored one.
    pub fn subscribe(
        &mut self,
        email: &SubscriberEmail,
        name: Option<&SubscriberName>,
        role: Option<Role>,
        pending: bool,
        now: Timestamp,
    ) -> anyhow::Result<SubscribeOutcome> {
        let tx = self.conn.transaction()?;
        let existing: Option<(i64, Status, Option<String>)> = tx
            .query_row(
                "SELECT id, status, unsubscribed_how FROM subscribers WHERE email_key = ?1",
                [email.key()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let target = if pending {
            Status::Pending
        } else {
            Status::Active
        };
        let confirmed_at = (!pending).then_some(now);
        let outcome = match existing {
            None => {
                tx.execute(
                    "INSERT INTO subscribers (email, email_key, name, role, status, token, created_at, confirmed_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        email.as_str(),
                        email.key(),
                        name.map(SubscriberName::as_str),
                        role,
                        target,
                        Token::generate()?,
                        now,
                        confirmed_at,
                    ],
                )?;
                SubscribeOutcome::Added { status: target }
            }
            Some((id, status, how)) => {
                if let Some(name) = name {
                    tx.execute(
                        "UPDATE subscribers SET name = ?1 WHERE id = ?2",
                        params![name.as_str(), id],
                    )?;
                }
                if let Some(role) = role {
                    tx.execute(
                        "UPDATE subscribers SET role = ?1 WHERE id = ?2",
                        params![role, id],
                    )?;
                }
                match (status, pending) {
                    (Status::Active, _) => SubscribeOutcome::AlreadyActive,
                    (Status::Pending, true) => SubscribeOutcome::AlreadyPending,
                    (Status::Pending, false) => {
                        tx.execute(
                            "UPDATE subscribers SET status = 'active', confirmed_at = ?1 WHERE id = ?2",
                            params![now, id],
                        )?;
                        SubscribeOutcome::Confirmed
                    }
                    (was @ (Status::Unsubscribed | Status::Bounced), _) => {
                        tx.execute(
                            "UPDATE subscribers SET status = ?1, confirmed_at = ?2, unsubscribed_at = NULL, unsubscribed_how = NULL WHERE id = ?3",
                            params![target, confirmed_at, id],
                        )?;
                        let how = match how.as_deref() {
                            Some("complaint") => Some("complaint"),
                            _ => None,
                        };
                        tx.execute(
                            "INSERT INTO events (subscriber_id, at, kind, detail) VALUES (?1, ?2, 'resubscribed', ?3)",
                            params![id, now, format!("was {was}{}", if how.is_some() { " after a spam complaint" } else { "" })],
                        )?;
                        SubscribeOutcome::Reactivated {
                            was,
                            status: target,
                            how,
                        }
                    }
                }
            }
        };
        tx.commit()?;
        Ok(outcome)
    }

    /// `digest unsubscribe EMAIL`.
    pub fn unsubscribe(
        &mut self,
        email: &SubscriberEmail,
        now: Timestamp,
    ) -> anyhow::Result<UnsubscribeOutcome> {
        let Some(sub) = self.subscriber_by_email(email)? else {
            return Ok(UnsubscribeOutcome::NotFound);
        };
        self.unsubscribe_id(sub.id, How::Cli, now)
    }

    pub fn unsubscribe_id(
        &mut self,
        id: i64,
        how: How,
        now: Timestamp,
    ) -> anyhow::Result<UnsubscribeOutcome> {
        let tx = self.conn.transaction()?;
        let changed = unsubscribe_in(&tx, id, how, now)?;
        tx.commit()?;
        Ok(if changed {
            UnsubscribeOutcome::Unsubscribed
        } else {
            UnsubscribeOutcome::AlreadyUnsubscribed
        })
    }

    /// Call `f` for each subscriber (optionally of one status) in id order,
    /// streaming: memory stays flat however long the list.
    pub fn for_each_subscriber(
        &self,
        status: Option<Status>,
        mut f: impl FnMut(&Subscriber) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let sql = format!(
            "SELECT {COLUMNS} FROM subscribers WHERE ?1 IS NULL OR status = ?1 ORDER BY id"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query([status])?;
        while let Some(row) = rows.next()? {
            f(&from_row(row)?)?;
        }
        Ok(())
    }

    pub fn count_subscribers(&self, status: Status) -> anyhow::Result<u64> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM subscribers WHERE status = ?1",
            [status],
            |r| r.get(0),
        )?;
        Ok(n.max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(s: &str) -> SubscriberEmail {
        SubscriberEmail::parse(s).unwrap()
    }

    fn now() -> Timestamp {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn subscribe_walks_through_every_state() {
        let mut store = Store::in_memory().unwrap();
        let ada = email("ada@example.com");
        let steps: &[(bool, SubscribeOutcome)] = &[
            (
                true,
                SubscribeOutcome::Added {
                    status: Status::Pending,
                },
            ),
            (true, SubscribeOutcome::AlreadyPending),
            (false, SubscribeOutcome::Confirmed),
            (false, SubscribeOutcome::AlreadyActive),
        ];
        for (pending, expected) in steps {
            assert_eq!(
                store.subscribe(&ada, None, None, *pending, now()).unwrap(),
                *expected
            );
        }
        assert_eq!(
            store.unsubscribe(&email("ADA@example.com"), now()).unwrap(),
            UnsubscribeOutcome::Unsubscribed
        );
        assert_eq!(
            store.unsubscribe(&ada, now()).unwrap(),
            UnsubscribeOutcome::AlreadyUnsubscribed
        );
        assert_eq!(
            store.subscribe(&ada, None, None, false, now()).unwrap(),
            SubscribeOutcome::Reactivated {
                was: Status::Unsubscribed,
                status: Status::Active,
                how: None,
            }
        );
        let sub = store.subscriber_by_email(&ada).unwrap().unwrap();
        assert_eq!(sub.status, Status::Active);
        assert!(sub.unsubscribed_at.is_none());
        assert_eq!(
            store
                .unsubscribe(&email("nobody@example.com"), now())
                .unwrap(),
            UnsubscribeOutcome::NotFound
        );
    }
}

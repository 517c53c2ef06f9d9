//! Double opt-in: confirmation tokens for pending subscribers.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, params};

use super::Store;
use super::events::How;
use crate::address::{SubscriberEmail, SubscriberName};
use crate::role::Role;
use crate::status::Status;
use crate::timestamp::Timestamp;
use crate::token::Token;

/// What a request to subscribe led to. The web form answers every case with
/// the same page, so it never tells who is on the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptIn {
    /// Send a confirmation mail with this token.
    SendConfirmation {
        token: Token,
        name: Option<String>,
        /// The status before: `None` for a new address.
        was: Option<Status>,
        /// They had left by reporting the digest as spam.
        complained: bool,
    },
    /// A confirmation mail went out less than the minimum interval ago.
    RecentlySent,
    /// Already active: nothing to confirm, nothing sent.
    AlreadyActive,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    Now {
        email: String,
    },
    Already {
        email: String,
    },
    /// Unknown or expired token.
    NotFound,
}

/// The minimum time between two confirmation mails to one address.
pub const RESEND_AFTER: chrono::Duration = chrono::Duration::minutes(10);

impl Store {
    /// A subscribe request from the web form or `subscribe --pending`: a
    /// new, pending, unsubscribed or bounced address becomes pending and
    /// gets a fresh confirmation token, unless a mail went out recently.
    pub fn request_opt_in(
        &mut self,
        email: &SubscriberEmail,
        name: Option<&SubscriberName>,
        role: Option<Role>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<OptIn> {
        let now_s = Timestamp::from(now);
        let tx = self.conn.transaction()?;
        type Row = (
            i64,
            Status,
            Option<Timestamp>,
            Option<String>,
            Option<String>,
        );
        let existing: Option<Row> = tx
            .query_row(
                "SELECT id, status, confirm_sent_at, name, unsubscribed_how FROM subscribers WHERE email_key = ?1",
                [email.key()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let token = Token::generate()?;
        let outcome = match existing {
            None => {
                tx.execute(
                    "INSERT INTO subscribers (email, email_key, name, role, status, token, created_at, confirm_token, confirm_sent_at)
                     VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?7, ?6)",
                    params![
                        email.as_str(),
                        email.key(),
                        name.map(SubscriberName::as_str),
                        role,
                        Token::generate()?,
                        now_s,
                        token
                    ],
                )?;
                OptIn::SendConfirmation {
                    token,
                    name: name.map(|n| n.as_str().to_string()),
                    was: None,
                    complained: false,
                }
            }
            Some((_, Status::Active, ..)) => OptIn::AlreadyActive,
            Some((id, status, sent, stored_name, how)) => {
                let recent = sent.is_some_and(|t| now - t.at() < RESEND_AFTER);
                if recent {
                    OptIn::RecentlySent
                } else {
                    tx.execute(
                        "UPDATE subscribers SET status = 'pending', unsubscribed_at = NULL, unsubscribed_how = NULL,
                             name = coalesce(?2, name), role = coalesce(?3, role),
                             confirm_token = ?4, confirm_sent_at = ?5
                         WHERE id = ?1",
                        params![id, name.map(SubscriberName::as_str), role, token, now_s],
                    )?;
                    let complained = how.as_deref() == Some("complaint");
                    if status != Status::Pending {
                        tx.execute(
                            "INSERT INTO events (subscriber_id, at, kind, detail) VALUES (?1, ?2, 'resubscribed', ?3)",
                            params![
                                id,
                                now_s,
                                format!(
                                    "asked again, pending confirmation (was {status}{})",
                                    if complained { " after a spam complaint" } else { "" }
                                )
                            ],
                        )?;
                    }
                    OptIn::SendConfirmation {
                        token,
                        name: name.map(|n| n.as_str().to_string()).or(stored_name),
                        was: Some(status),
                        complained,
                    }
                }
            }
        };
        tx.commit()?;
        Ok(outcome)
    }

    /// Forget that a confirmation mail was sent (it could not be), so the
    /// next request sends one at once.
    pub fn confirmation_not_sent(&mut self, token: &str) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE subscribers SET confirm_sent_at = NULL WHERE confirm_token = ?1",
            [token],
        )?;
        Ok(())
    }

    /// The confirmation link was opened.
    pub fn confirm(
        &mut self,
        token: &str,
        now: DateTime<Utc>,
        expiry: chrono::Duration,
    ) -> anyhow::Result<Confirmed> {
        let row: Option<(i64, String, Status, Option<Timestamp>)> = self
            .conn
            .query_row(
                "SELECT id, email, status, confirm_sent_at FROM subscribers WHERE confirm_token = ?1",
                [token],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((id, email, status, sent)) = row else {
            return Ok(Confirmed::NotFound);
        };
        match status {
            Status::Active => Ok(Confirmed::Already { email }),
            Status::Pending => {
                // A link whose mail never went out (sent is NULL) or that
                // is older than the expiry is dead.
                let fresh = sent.is_some_and(|t| now - t.at() <= expiry);
                if !fresh {
                    return Ok(Confirmed::NotFound);
                }
                self.conn.execute(
                    "UPDATE subscribers SET status = 'active', confirmed_at = ?2 WHERE id = ?1",
                    params![id, Timestamp::from(now)],
                )?;
                Ok(Confirmed::Now { email })
            }
            _ => Ok(Confirmed::NotFound),
        }
    }

    /// The welcome email is to go to the subscriber confirmed with
    /// `confirm_token`: claims it, so that it goes once. `None` when it
    /// went before (or the token is unknown). Their email, name and token.
    pub fn claim_welcome(
        &mut self,
        confirm_token: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<(String, Option<String>, Token)>> {
        let claimed = self.conn.execute(
            "UPDATE subscribers SET welcomed_at = ?2
             WHERE confirm_token = ?1 AND status = 'active' AND welcomed_at IS NULL",
            params![confirm_token, Timestamp::from(now)],
        )?;
        if claimed == 0 {
            return Ok(None);
        }
        Ok(self
            .conn
            .query_row(
                "SELECT email, name, token FROM subscribers WHERE confirm_token = ?1",
                [confirm_token],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?)
    }

    /// The welcome email could not be sent: it may be tried again.
    pub fn welcome_not_sent(&mut self, token: &Token) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE subscribers SET welcomed_at = NULL WHERE token = ?1",
            [token.as_str()],
        )?;
        Ok(())
    }

    /// The newest issue that has gone out to someone: week and subject.
    pub fn latest_sent_issue(&self) -> anyhow::Result<Option<(String, String)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT week, subject FROM issues i
                 WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.issue = i.week AND d.status = 'sent')
                 ORDER BY week DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Unsubscribe by the token in a link. `None` for an unknown token.
    pub fn unsubscribe_token(
        &mut self,
        token: &str,
        how: How,
        now: Timestamp,
    ) -> anyhow::Result<Option<String>> {
        let Some(sub) = self.subscriber_by_token(token)? else {
            return Ok(None);
        };
        self.unsubscribe_id(sub.id, how, now)?;
        Ok(Some(sub.email))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn opt_in_confirms_once_and_expires() {
        let mut store = Store::in_memory().unwrap();
        let ada = SubscriberEmail::parse("ada@example.com").unwrap();
        let now = t("2026-11-29T12:00:00Z");
        let OptIn::SendConfirmation { token, .. } =
            store.request_opt_in(&ada, None, None, now).unwrap()
        else {
            panic!("a new address gets a confirmation mail");
        };
        // A second request within 10 minutes sends nothing.
        assert_eq!(
            store
                .request_opt_in(&ada, None, None, t("2026-11-29T12:05:00Z"))
                .unwrap(),
            OptIn::RecentlySent
        );
        // After 10 minutes, a new token; the old link is dead.
        let OptIn::SendConfirmation { token: token2, .. } = store
            .request_opt_in(&ada, None, None, t("2026-11-29T12:11:00Z"))
            .unwrap()
        else {
            panic!("resend after 10 minutes");
        };
        let week = chrono::Duration::hours(168);
        assert_eq!(
            store.confirm(token.as_str(), now, week).unwrap(),
            Confirmed::NotFound
        );
        // Expired after 7 days.
        assert_eq!(
            store
                .confirm(token2.as_str(), t("2026-12-07T12:00:00Z"), week)
                .unwrap(),
            Confirmed::NotFound
        );
        assert_eq!(
            store
                .confirm(token2.as_str(), t("2026-11-30T12:00:00Z"), week)
                .unwrap(),
            Confirmed::Now {
                email: "ada@example.com".into()
            }
        );
        assert_eq!(
            store
                .confirm(token2.as_str(), t("2026-11-30T12:01:00Z"), week)
                .unwrap(),
            Confirmed::Already {
                email: "ada@example.com".into()
            }
        );
        assert_eq!(
            store.request_opt_in(&ada, None, None, now).unwrap(),
            OptIn::AlreadyActive
        );
    }

    #[test]
    fn lookups_by_confirmation_token_use_the_partial_index() {
        let store = Store::in_memory().unwrap();
        let index: String = store
            .conn
            .query_row(
                "SELECT sql FROM sqlite_schema WHERE name = 'subscribers_by_confirm_token'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(
            index.ends_with("WHERE confirm_token IS NOT NULL"),
            "{index}"
        );
        for sql in [
            "SELECT id FROM subscribers WHERE confirm_token = ?1",
            "UPDATE subscribers SET confirm_sent_at = NULL WHERE confirm_token = ?1",
        ] {
            let plan: Vec<String> = store
                .conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(["t"], |r| r.get::<_, String>(3))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert!(
                plan.iter()
                    .any(|p| p.contains("INDEX subscribers_by_confirm_token (confirm_token=?)")),
                "{sql}: {plan:?}"
            );
        }
    }
}

//! Hearing back, as the store records it: bounces, complaints and
//! unsubscribes become events in a subscriber's history, and the status
//! changes they cause happen in the same transaction.
//!
//! Every way an outcome arrives (an MTA pipe, an IMAP mailbox, later a
//! provider's webhook) ends in these methods, so the rules live in one
//! place: one hard bounce makes an address `bounced`; soft bounces on
//! `soft_bounce_limit` consecutive issues, with no delivery between them
//! that did not bounce, do too; a complaint unsubscribes. A report that
//! was recorded already is recognised and changes nothing.

use rusqlite::{Transaction, params};

use super::Store;
use super::subscribers::{Subscriber, select_subscriber};
use crate::status::Status;
use crate::timestamp::Timestamp;
use crate::week::IssueWeek;

/// How a subscriber left, as their history shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// RFC 8058: the mail client's unsubscribe button.
    OneClick,
    /// The button on the unsubscribe page.
    Page,
    /// A message to the mailto address in `List-Unsubscribe`.
    Mailto,
    /// `digest unsubscribe`.
    Cli,
    /// A spam complaint from a feedback loop.
    Complaint,
}

impl How {
    pub fn as_str(self) -> &'static str {
        match self {
            How::OneClick => "one-click",
            How::Page => "page",
            How::Mailto => "mailto",
            How::Cli => "cli",
            How::Complaint => "complaint",
        }
    }
}

/// What a DSN says about one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BounceKind {
    Hard,
    Soft,
    /// `delayed`, `delivered`, `relayed`, `expanded`: recorded, not counted.
    Event(&'static str),
}

impl BounceKind {
    fn column(self) -> &'static str {
        match self {
            BounceKind::Hard => "hard_bounce",
            BounceKind::Soft => "soft_bounce",
            BounceKind::Event(action) => action,
        }
    }
}

/// What recording a bounce did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bounced {
    /// Recorded. `soft_in_a_row`: for a soft bounce, how many consecutive
    /// issues now bounced softly. `now_bounced`: the subscriber became
    /// `bounced` because of it.
    Recorded {
        soft_in_a_row: u32,
        now_bounced: bool,
    },
    /// The same report was recorded before.
    Repeat,
}

/// What recording a complaint did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Complained {
    Unsubscribed,
    /// Recorded before: nothing changed.
    Repeat,
    /// Recorded, but the subscriber had left already (the reason is now
    /// the complaint).
    AlreadyGone,
}

impl Store {
    /// The subscriber of a delivery of `week`, if that delivery exists.
    pub fn delivery_subscriber(
        &self,
        week: IssueWeek,
        subscriber: i64,
    ) -> anyhow::Result<Option<Subscriber>> {
        let exists: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM deliveries WHERE issue = ?1 AND subscriber_id = ?2)",
            params![week.to_string(), subscriber],
            |r| r.get(0),
        )?;
        if !exists {
            return Ok(None);
        }
        select_subscriber(&self.conn, "id = ?1", subscriber)
    }

    /// Record a DSN about the delivery of `week` to `subscriber`.
    pub fn record_bounce(
        &mut self,
        subscriber: i64,
        week: IssueWeek,
        kind: BounceKind,
        detail: &str,
        soft_bounce_limit: u32,
        now: Timestamp,
    ) -> anyhow::Result<Bounced> {
        let tx = self.conn.transaction()?;
        let week_s = week.to_string();
        let added = tx.execute(
            "INSERT INTO events (subscriber_id, at, kind, issue, detail) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT DO NOTHING",
            params![subscriber, now, kind.column(), week_s, detail],
        )?;
        if added == 0 {
            return Ok(Bounced::Repeat);
        }
        let mut soft_in_a_row = 0;
        let reason = match kind {
            BounceKind::Hard => Some(format!("hard bounce on {week}")),
            BounceKind::Soft => {
                soft_in_a_row = soft_bounces_in_a_row(&tx, subscriber, &week_s)?;
                (soft_in_a_row >= soft_bounce_limit)
                    .then(|| format!("soft bounces on {soft_in_a_row} consecutive issues"))
            }
            BounceKind::Event(_) => None,
        };
        let now_bounced = match reason {
            Some(reason) => mark_bounced(&tx, subscriber, &week_s, &reason, now)?,
            None => false,
        };
        tx.commit()?;
        Ok(Bounced::Recorded {
            soft_in_a_row,
            now_bounced,
        })
    }

    /// Record a spam complaint: the subscriber is unsubscribed, the reason
    /// kept. `week` when the report names the issue.
    pub fn record_complaint(
        &mut self,
        subscriber: i64,
        week: Option<IssueWeek>,
        detail: &str,
        now: Timestamp,
    ) -> anyhow::Result<Complained> {
        let tx = self.conn.transaction()?;
        let week_s = week.map(|w| w.to_string());
        let (status, how): (Status, Option<String>) = tx.query_row(
            "SELECT status, unsubscribed_how FROM subscribers WHERE id = ?1",
            [subscriber],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if status == Status::Unsubscribed && how.as_deref() == Some(How::Complaint.as_str()) {
            return Ok(Complained::Repeat);
        }
        let added = tx.execute(
            "INSERT INTO events (subscriber_id, at, kind, issue, detail) VALUES (?1, ?2, 'complaint', ?3, ?4)
             ON CONFLICT DO NOTHING",
            params![subscriber, now, week_s, detail],
        )?;
        if added == 0 {
            return Ok(Complained::Repeat);
        }
        let outcome = if status == Status::Unsubscribed {
            Complained::AlreadyGone
        } else {
            Complained::Unsubscribed
        };
        unsubscribe_in(&tx, subscriber, How::Complaint, now)?;
        tx.commit()?;
        Ok(outcome)
    }
}

/// The length of the run of consecutive deliveries to the subscriber that
/// bounced (softly or hard) and holds `week`: a delivery between that did
/// not bounce breaks it. DSNs can arrive out of order, so the run is looked
/// for on both sides of `week`.
fn soft_bounces_in_a_row(tx: &Transaction<'_>, subscriber: i64, week: &str) -> anyhow::Result<u32> {
    let mut stmt = tx.prepare(
        "SELECT d.issue, EXISTS (SELECT 1 FROM events e WHERE e.subscriber_id = d.subscriber_id
                          AND e.issue = d.issue AND e.kind IN ('soft_bounce', 'hard_bounce'))
         FROM deliveries d
         WHERE d.subscriber_id = ?1 AND d.status IN ('sent', 'failed')
         ORDER BY d.issue",
    )?;
    let rows: Vec<(String, bool)> = stmt
        .query_map([subscriber], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let Some(at) = rows.iter().position(|(w, _)| w == week) else {
        return Ok(0);
    };
    let before = rows[..at].iter().rev().take_while(|(_, b)| *b).count();
    let after = rows[at..].iter().take_while(|(_, b)| *b).count();
    Ok(u32::try_from(before + after).unwrap_or(u32::MAX))
}

/// Make an active (or pending) subscriber `bounced`, with an event saying
/// why. False when they were bounced or unsubscribed already.
fn mark_bounced(
    tx: &Transaction<'_>,
    subscriber: i64,
    week: &str,
    reason: &str,
    now: Timestamp,
) -> anyhow::Result<bool> {
    let changed = tx.execute(
        "UPDATE subscribers SET status = 'bounced' WHERE id = ?1 AND status IN ('active', 'pending')",
        [subscriber],
    )?;
    if changed == 1 {
        tx.execute(
            "INSERT INTO events (subscriber_id, at, kind, issue, detail) VALUES (?1, ?2, 'bounced', ?3, ?4)",
            params![subscriber, now, week, reason],
        )?;
    }
    Ok(changed == 1)
}

/// Unsubscribe inside a transaction, with an event saying how. False when
/// the subscriber had left already: the reason is then left as it was,
/// unless it is a complaint, which always wins.
pub(super) fn unsubscribe_in(
    tx: &Transaction<'_>,
    subscriber: i64,
    how: How,
    now: Timestamp,
) -> anyhow::Result<bool> {
    let changed = tx.execute(
        "UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = ?2, unsubscribed_how = ?3
         WHERE id = ?1 AND status <> 'unsubscribed'",
        params![subscriber, now, how.as_str()],
    )?;
    if changed == 0 && how == How::Complaint {
        tx.execute(
            "UPDATE subscribers SET unsubscribed_how = 'complaint' WHERE id = ?1",
            [subscriber],
        )?;
    }
    if changed == 1 {
        tx.execute(
            "INSERT INTO events (subscriber_id, at, kind, how) VALUES (?1, ?2, 'unsubscribed', ?3)",
            params![subscriber, now, how.as_str()],
        )?;
    }
    Ok(changed == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::SubscriberEmail;

    fn at(day: u32) -> Timestamp {
        format!("2026-11-{day:02}T10:00:00Z").parse().unwrap()
    }

    fn week(w: u32) -> IssueWeek {
        IssueWeek::new(2026, w).unwrap()
    }

    /// A list with `ada` sent the issues of weeks 44 to 48.
    fn store() -> (Store, i64) {
        let mut store = Store::in_memory().unwrap();
        let ada = SubscriberEmail::parse("ada@example.com").unwrap();
        store.subscribe(&ada, None, None, false, at(1)).unwrap();
        let id = store.subscriber_by_email(&ada).unwrap().unwrap().id;
        for w in 44..=48 {
            store
                .conn
                .execute(
                    "INSERT INTO issues (week, subject, featured, new_terms, created_at) VALUES (?1, 's', 'f', '[]', ?2)",
                    params![week(w).to_string(), at(1)],
                )
                .unwrap();
            store
                .conn
                .execute(
                    "INSERT INTO deliveries (issue, subscriber_id, status, sent_at) VALUES (?1, ?2, 'sent', ?3)",
                    params![week(w).to_string(), id, at(2)],
                )
                .unwrap();
        }
        (store, id)
    }

    fn status(store: &Store, id: i64) -> Status {
        select_subscriber(&store.conn, "id = ?1", id)
            .unwrap()
            .unwrap()
            .status
    }

    #[test]
    fn one_hard_bounce_bounces_and_a_repeat_is_recognised() {
        let (mut store, ada) = store();
        let hard = |store: &mut Store| {
            store
                .record_bounce(ada, week(48), BounceKind::Hard, "550 5.1.1", 3, at(20))
                .unwrap()
        };
        assert_eq!(
            hard(&mut store),
            Bounced::Recorded {
                soft_in_a_row: 0,
                now_bounced: true
            }
        );
        assert_eq!(status(&store, ada), Status::Bounced);
        assert_eq!(hard(&mut store), Bounced::Repeat);
        let sub = select_subscriber(&store.conn, "id = ?1", ada)
            .unwrap()
            .unwrap();
        let kinds: Vec<String> = store
            .history_of(&sub)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds.iter().filter(|k| *k == "hard_bounce").count(), 1);
        assert!(kinds.contains(&"bounced".to_string()), "{kinds:?}");
    }

    #[test]
    fn soft_bounces_count_only_on_consecutive_issues() {
        let cases: &[(&[u32], u32, u32, bool)] = &[
            // (issues that bounced softly, in the order the DSNs arrive), limit, run, bounced
            (&[48], 3, 1, false),
            (&[47, 48], 3, 2, false),
            (&[46, 47, 48], 3, 3, true),
            (&[44, 45, 47, 48], 3, 2, false),
            // Out of order: the run is found on both sides.
            (&[48, 46, 47], 3, 3, true),
            (&[44, 45, 46, 47, 48], 3, 5, true),
            (&[48], 1, 1, true),
        ];
        for &(weeks, limit, run, bounced) in cases {
            let (mut store, ada) = store();
            let mut last = None;
            for &w in weeks {
                last = Some(
                    store
                        .record_bounce(ada, week(w), BounceKind::Soft, "452 4.2.2", limit, at(20))
                        .unwrap(),
                );
            }
            let Some(Bounced::Recorded { soft_in_a_row, .. }) = last else {
                panic!("{weeks:?}: {last:?}")
            };
            assert_eq!(soft_in_a_row, run, "{weeks:?}");
            assert_eq!(status(&store, ada) == Status::Bounced, bounced, "{weeks:?}");
        }
    }

    #[test]
    fn events_are_recorded_but_never_counted() {
        let (mut store, ada) = store();
        for w in 44..=48 {
            let got = store
                .record_bounce(
                    ada,
                    week(w),
                    BounceKind::Event("delayed"),
                    "4.4.1",
                    1,
                    at(20),
                )
                .unwrap();
            assert_eq!(
                got,
                Bounced::Recorded {
                    soft_in_a_row: 0,
                    now_bounced: false
                }
            );
        }
        assert_eq!(status(&store, ada), Status::Active);
    }

    #[test]
    fn a_complaint_unsubscribes_once_and_resubscribing_says_so() {
        let (mut store, ada) = store();
        assert_eq!(
            store
                .record_complaint(ada, Some(week(48)), "abuse", at(20))
                .unwrap(),
            Complained::Unsubscribed
        );
        assert_eq!(status(&store, ada), Status::Unsubscribed);
        assert_eq!(
            store.record_complaint(ada, None, "abuse", at(21)).unwrap(),
            Complained::Repeat
        );
        let email = SubscriberEmail::parse("ada@example.com").unwrap();
        let back = store.subscribe(&email, None, None, false, at(22)).unwrap();
        assert_eq!(
            back,
            crate::store::SubscribeOutcome::Reactivated {
                was: Status::Unsubscribed,
                status: Status::Active,
                how: Some("complaint")
            }
        );
    }
}

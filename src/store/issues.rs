//! Frozen issues: what each week's issue featured and announced.

use rusqlite::{OptionalExtension as _, Row};

use super::Store;
use crate::select::{PastIssue, Selection};
use crate::timestamp::Timestamp;
use crate::week::IssueWeek;

/// An issue as frozen when its sending started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrozenIssue {
    pub selection: Selection,
    pub subject: String,
    pub created_at: Timestamp,
    pub sent_started_at: Option<Timestamp>,
    pub sent_finished_at: Option<Timestamp>,
}

impl FrozenIssue {
    /// When the issue went out: the moment its sending began, which never
    /// moves afterwards (a later retry run does not make it a new issue),
    /// or, for an issue never started, when it was frozen.
    pub fn published_at(&self) -> Timestamp {
        self.sent_started_at.unwrap_or(self.created_at)
    }
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<FrozenIssue> {
    let week: String = row.get(0)?;
    let new_terms: String = row.get(3)?;
    let bad = |what: &str, e: String| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("{what}: {e}").into(),
        )
    };
    Ok(FrozenIssue {
        selection: Selection {
            week: week
                .parse()
                .map_err(|e: crate::week::BadWeek| bad("issues.week", e.to_string()))?,
            featured: row.get(2)?,
            new_terms: serde_json::from_str(&new_terms)
                .map_err(|e| bad("issues.new_terms", e.to_string()))?,
        },
        subject: row.get(1)?,
        created_at: row.get(4)?,
        sent_started_at: row.get(5)?,
        sent_finished_at: row.get(6)?,
    })
}

const COLUMNS: &str =
    "week, subject, featured, new_terms, created_at, sent_started_at, sent_finished_at";

/// The issues the public archive shows: sending began and at least one
/// delivery went out. An issue frozen by a run that reached no relay, or
/// whose every message was refused, was sent to nobody. The check stops at
/// the first sent row of the issue's ledger, so it stays cheap however
/// long the list is.
const ARCHIVED: &str = "sent_started_at IS NOT NULL AND EXISTS (
    SELECT 1 FROM deliveries d WHERE d.issue = issues.week AND d.status = 'sent')";

impl Store {
    /// Every frozen issue, oldest first: the history selection works from.
    pub fn issues(&self) -> anyhow::Result<Vec<FrozenIssue>> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM issues ORDER BY week"))?;
        let rows = stmt.query_map([], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn issue(&self, week: IssueWeek) -> anyhow::Result<Option<FrozenIssue>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM issues WHERE week = ?1"),
                [week.to_string()],
                from_row,
            )
            .optional()?)
    }

    /// The issues in the public archive, newest first; at most `limit`.
    pub fn archived_issues(&self, limit: Option<u32>) -> anyhow::Result<Vec<FrozenIssue>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM issues WHERE {ARCHIVED} ORDER BY week DESC LIMIT ?1"
        ))?;
        // SQLite reads a negative limit as none.
        let limit = limit.map_or(-1, i64::from);
        let rows = stmt.query_map([limit], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The issue of `week` if the public archive shows it.
    pub fn archived_issue(&self, week: IssueWeek) -> anyhow::Result<Option<FrozenIssue>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM issues WHERE week = ?1 AND {ARCHIVED}"),
                [week.to_string()],
                from_row,
            )
            .optional()?)
    }

    /// The history as selection sees it.
    pub fn past_issues(&self) -> anyhow::Result<Vec<PastIssue>> {
        Ok(self
            .issues()?
            .into_iter()
            .map(|i| PastIssue {
                week: i.selection.week,
                featured: i.selection.featured,
                new_terms: i.selection.new_terms,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::params;

    use super::*;
    use crate::address::SubscriberEmail;

    fn at(day: u32) -> Timestamp {
        format!("2026-11-{day:02}T10:00:00Z").parse().unwrap()
    }

    fn week(w: u32) -> IssueWeek {
        IssueWeek::new(2026, w).unwrap()
    }

    #[test]
    fn the_archive_holds_the_issues_that_reached_someone_newest_first() {
        let mut store = Store::in_memory().unwrap();
        let mut ids = Vec::new();
        for email in ["ada@example.com", "bob@example.com"] {
            let email = SubscriberEmail::parse(email).unwrap();
            store.subscribe(&email, None, None, false, at(1)).unwrap();
            ids.push(store.subscriber_by_email(&email).unwrap().unwrap().id);
        }
        // (week, started, the two deliveries' statuses)
        let cases: [(u32, bool, [&str; 2]); 5] = [
            (45, true, ["sent", "sent"]),
            (46, true, ["failed", "failed"]),
            (47, false, ["queued", "queued"]),
            (48, true, ["failed", "sent"]),
            (49, true, ["queued", "skipped"]),
        ];
        for (w, started, statuses) in cases {
            store
                .conn
                .execute(
                    "INSERT INTO issues (week, subject, featured, new_terms, created_at, sent_started_at)
                     VALUES (?1, 's', 'f', '[]', ?2, ?3)",
                    params![week(w).to_string(), at(w - 40), started.then(|| at(w - 39))],
                )
                .unwrap();
            for (id, status) in ids.iter().zip(statuses) {
                store
                    .conn
                    .execute(
                        "INSERT INTO deliveries (issue, subscriber_id, status, sent_at) VALUES (?1, ?2, ?3, ?4)",
                        params![week(w).to_string(), id, status, (status == "sent").then(|| at(w - 38))],
                    )
                    .unwrap();
            }
        }
        let weeks = |issues: Vec<FrozenIssue>| -> Vec<String> {
            issues
                .iter()
                .map(|i| i.selection.week.to_string())
                .collect()
        };
        assert_eq!(
            weeks(store.archived_issues(None).unwrap()),
            ["2026-W48", "2026-W45"]
        );
        assert_eq!(weeks(store.archived_issues(Some(1)).unwrap()), ["2026-W48"]);
        for (w, archived) in [
            (45, true),
            (46, false),
            (47, false),
            (48, true),
            (49, false),
        ] {
            assert_eq!(
                store.archived_issue(week(w)).unwrap().is_some(),
                archived,
                "week {w}"
            );
        }
        let w48 = store.archived_issue(week(48)).unwrap().unwrap();
        assert_eq!(w48.published_at(), at(9));
        let never_started = store.issue(week(47)).unwrap().unwrap();
        assert_eq!(never_started.published_at(), at(7));
    }
}

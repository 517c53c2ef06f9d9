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

//! Importing a list: many rows, from one file or several, in one transaction.
//!
//! Rows go first into an unindexed temporary table, in the order they are
//! read. A pass over it sorted by address decides what stands for each
//! address:
//! - a second row for it in the same file is rejected as a duplicate of the
//!   first;
//! - rows of different files (Mailchimp's subscribed, unsubscribed and
//!   cleaned members) are reconciled: the later change wins, and leaving
//!   without a time beats joining, so nobody who left is mailed again.
//!
//! A second pass, one `INSERT … SELECT` in the order the rows were read,
//! moves the rows that stand into the list, so it keeps the order of the
//! file; an address already in the list is never overwritten. Deciding over
//! a sorted table costs one sort, where checking each row against an index
//! as it came cost a probe per row; and the insert runs inside SQLite, where
//! reading each row into Rust and binding it back cost more than the insert
//! itself.

use std::collections::BTreeMap;

use anyhow::Context as _;

use super::Store;
use crate::address::{SubscriberEmail, SubscriberName};
use crate::role::Role;
use crate::status::Status;
use crate::timestamp::Timestamp;
use crate::token::SortedTokens;

/// One valid row of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// Which file of the import it comes from (0 for the first).
    pub file: u32,
    /// Where the record starts in the file (1-based; the header is line 1).
    pub line: u64,
    pub email: SubscriberEmail,
    pub name: Option<SubscriberName>,
    pub role: Option<Role>,
    /// From the file's `status` column, else the `--status` default.
    pub status: Status,
    pub created_at: Option<Timestamp>,
    pub confirmed_at: Option<Timestamp>,
    pub unsubscribed_at: Option<Timestamp>,
    /// When the file says the row took its status (joined, left, was
    /// cleaned): how rows of two files about one address are reconciled.
    pub changed_at: Option<Timestamp>,
    /// An IANA zone name, checked.
    pub timezone: Option<String>,
    /// `YYYY-MM-DD`, checked.
    pub paused_until: Option<String>,
    /// Why they left, as the tool they come from recorded it.
    pub unsubscribe_reason: Option<String>,
}

impl ImportRow {
    /// An unsubscribed or bounced row: the person left, or cannot be mailed.
    fn leaves(&self) -> bool {
        matches!(self.status, Status::Unsubscribed | Status::Bounced)
    }

    /// How the row ranks against rows of other files for the same address;
    /// the greatest wins. Times are RFC 3339 in UTC, so they sort as text; a
    /// leave without a time ranks above every time, a join without one below.
    fn rank(&self) -> String {
        match (self.changed_at, self.leaves()) {
            (Some(t), _) => t.to_string(),
            (None, true) => "~".into(),
            (None, false) => String::new(),
        }
    }
}

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Which file of the import it comes from (0 for the first).
    pub file: u32,
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportOutcome {
    pub imported: u64,
    /// What was imported, by status.
    pub by_status: BTreeMap<Status, u64>,
    pub skipped_existing: u64,
    /// Addresses found in more than one file, each settled by the rule above.
    pub in_several_files: u64,
    /// In file and line order.
    pub rejected: Vec<Rejected>,
}

/// What the deciding pass reads of each staged row, in address order.
const DECIDE: &str = "SELECT email_key, file, seq, line, rank, leaves, email, status FROM temp.import_rows ORDER BY email_key, file, seq";

/// The rows that stand and are not in the list yet, by status; before the
/// insert, so that what it skipped is known without a row coming back.
const EXISTING: &str = "SELECT i.status, count(*) FROM temp.import_rows i
     WHERE import_stands(i.seq) AND EXISTS (SELECT 1 FROM subscribers s WHERE s.email_key = i.email_key)
     GROUP BY i.status";

/// The inserting pass, in the order rows were read, as one statement: the
/// rows cross from the staging table to the list inside SQLite, without
/// a round trip through Rust per row.
const INSERT: &str = "INSERT INTO subscribers (email, email_key, name, role, status, created_at, confirmed_at, unsubscribed_at, timezone, paused_until, unsubscribe_reason, token)
     SELECT email, email_key, name, role, status, created_at, confirmed_at, unsubscribed_at, timezone, paused_until, unsubscribe_reason, import_token()
     FROM temp.import_rows WHERE import_stands(seq) ORDER BY seq
     ON CONFLICT (email_key) DO NOTHING";

impl Store {
    /// Import rows in one transaction (see the module docs for the rules).
    /// With `dry_run` nothing is committed.
    pub fn import(
        &mut self,
        rows: impl Iterator<Item = anyhow::Result<Result<ImportRow, Rejected>>>,
        now: Timestamp,
        dry_run: bool,
    ) -> anyhow::Result<ImportOutcome> {
        // The sort by address is the one big sort of the program: let
        // SQLite's sorter use a helper thread for it.
        self.conn.pragma_update(None, "threads", SORT_THREADS)?;
        let outcome = self.import_in_one_transaction(rows, now, dry_run);
        self.conn.pragma_update(None, "threads", 0)?;
        outcome
    }

    fn import_in_one_transaction(
        &mut self,
        rows: impl Iterator<Item = anyhow::Result<Result<ImportRow, Rejected>>>,
        now: Timestamp,
        dry_run: bool,
    ) -> anyhow::Result<ImportOutcome> {
        let tx = self.conn.transaction()?;
        tx.execute_batch(
            "DROP TABLE IF EXISTS temp.import_rows;
             CREATE TEMP TABLE import_rows (
                 seq INTEGER PRIMARY KEY, file INTEGER NOT NULL, line INTEGER NOT NULL,
                 email TEXT NOT NULL, email_key TEXT NOT NULL, name TEXT, role TEXT,
                 status TEXT NOT NULL, created_at TEXT NOT NULL, confirmed_at TEXT,
                 unsubscribed_at TEXT, timezone TEXT, paused_until TEXT,
                 unsubscribe_reason TEXT, rank TEXT NOT NULL, leaves INTEGER NOT NULL
             );",
        )?;
        let mut outcome = ImportOutcome::default();
        let staged = stage(&tx, rows, now, &mut outcome)?;
        let winners = decide(&tx, staged, &mut outcome)?;
        insert_winners(&tx, winners, &mut outcome)?;
        tx.execute_batch("DROP TABLE temp.import_rows")?;
        if dry_run {
            tx.rollback()?;
        } else {
            tx.commit().context("cannot commit the import")?;
        }
        outcome.rejected.sort_by_key(|r| (r.file, r.line));
        Ok(outcome)
    }
}

/// Helper threads for the sort by address (besides the connection's own).
const SORT_THREADS: i64 = 1;

/// Rows staged by one statement: binding a batch and stepping once costs
/// far less than stepping a statement per row.
const STAGE_BATCH: usize = 64;
/// The staging table's columns, as each row binds them.
const STAGE_COLUMNS: usize = 15;

/// An `INSERT` into the staging table of `rows` rows.
fn stage_sql(rows: usize) -> String {
    let row = |r: usize| {
        let params: Vec<String> = (1..=STAGE_COLUMNS)
            .map(|c| format!("?{}", r * STAGE_COLUMNS + c))
            .collect();
        format!("({})", params.join(", "))
    };
    let values: Vec<String> = (0..rows).map(row).collect();
    format!(
        "INSERT INTO temp.import_rows (file, line, email, email_key, name, role, status, created_at, confirmed_at, unsubscribed_at, timezone, paused_until, unsubscribe_reason, rank, leaves) VALUES {}",
        values.join(", ")
    )
}

/// Write every valid row to the staging table; returns how many.
fn stage(
    tx: &rusqlite::Transaction<'_>,
    rows: impl Iterator<Item = anyhow::Result<Result<ImportRow, Rejected>>>,
    now: Timestamp,
    outcome: &mut ImportOutcome,
) -> anyhow::Result<usize> {
    // Most rows of a plain list take their times from the import: write
    // that time out once, not once or twice per row.
    let now_text = now.to_string();
    let mut one = tx.prepare(&stage_sql(1))?;
    let mut many = tx.prepare(&stage_sql(STAGE_BATCH))?;
    let mut batch: Vec<ImportRow> = Vec::with_capacity(STAGE_BATCH);
    let mut staged = 0;
    for row in rows {
        match row? {
            Ok(row) => batch.push(row),
            Err(rejected) => outcome.rejected.push(rejected),
        }
        if batch.len() == STAGE_BATCH {
            stage_rows(&mut many, &batch, &now_text)?;
            staged += batch.len();
            batch.clear();
        }
    }
    for row in &batch {
        stage_rows(&mut one, std::slice::from_ref(row), &now_text)?;
    }
    Ok(staged + batch.len())
}

/// Bind `rows` to a statement of as many rows and run it.
fn stage_rows(
    insert: &mut rusqlite::Statement<'_>,
    rows: &[ImportRow],
    now: &str,
) -> anyhow::Result<()> {
    for (i, row) in rows.iter().enumerate() {
        let text = |t: Option<Timestamp>| t.map(|t| t.to_string());
        let created = text(row.created_at);
        let created_at = created.as_deref().unwrap_or(now);
        let confirmed = text(row.confirmed_at);
        let confirmed_at = confirmed
            .as_deref()
            .or((row.status == Status::Active).then_some(created_at));
        let unsubscribed = text(row.unsubscribed_at);
        let unsubscribed_at = unsubscribed
            .as_deref()
            .or((row.status == Status::Unsubscribed).then_some(now));
        let values: [&dyn rusqlite::ToSql; STAGE_COLUMNS] = [
            &row.file,
            &(row.line as i64),
            &row.email.as_str(),
            &row.email.key(),
            &row.name.as_ref().map(SubscriberName::as_str),
            &row.role,
            &row.status,
            &created_at,
            &confirmed_at,
            &unsubscribed_at,
            &row.timezone,
            &row.paused_until,
            &row.unsubscribe_reason,
            &row.rank(),
            &row.leaves(),
        ];
        for (c, value) in values.iter().enumerate() {
            insert.raw_bind_parameter(i * STAGE_COLUMNS + c + 1, value)?;
        }
    }
    insert.raw_execute()?;
    Ok(())
}

/// One staged row as the deciding pass sees it: enough to rank it against
/// the address's rows of other files, and to name it when it is rejected.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Candidate {
    rank: String,
    leaves: bool,
    file: u32,
    seq: u64,
    line: u64,
    status: Status,
}

/// The staged rows that stand, one bit per `seq` (a million rows cost
/// 125 kB), and how many of each status.
struct Winners {
    bits: Vec<u64>,
    by_status: BTreeMap<Status, u64>,
}

impl Winners {
    fn new(rows: usize) -> Winners {
        Winners {
            bits: vec![0; rows / 64 + 1],
            by_status: BTreeMap::new(),
        }
    }

    fn set(&mut self, candidate: &Candidate) {
        let seq = candidate.seq;
        self.bits[(seq / 64) as usize] |= 1 << (seq % 64);
        *self.by_status.entry(candidate.status).or_default() += 1;
    }

    fn has(&self, seq: i64) -> bool {
        usize::try_from(seq / 64)
            .ok()
            .and_then(|i| self.bits.get(i))
            .is_some_and(|w| w & (1 << (seq % 64)) != 0)
    }

    fn count(&self) -> usize {
        self.by_status.values().sum::<u64>() as usize
    }
}

/// The pass in address order: which row stands for each address. A second
/// row of an address in the same file is rejected; of the rows of several
/// files the one that ranks highest stands.
fn decide(
    tx: &rusqlite::Transaction<'_>,
    staged: usize,
    outcome: &mut ImportOutcome,
) -> anyhow::Result<Winners> {
    let mut winners = Winners::new(staged + 1);
    let mut select = tx.prepare(DECIDE)?;
    let mut rows = select.query([])?;
    let mut key = String::new();
    // The first row of each file for the current address.
    let mut candidates: Vec<Candidate> = Vec::new();
    while let Some(row) = rows.next()? {
        let this_key = row.get_ref(0)?.as_str()?;
        if this_key != key {
            settle(&mut candidates, &mut winners, outcome);
            key.clear();
            key.push_str(this_key);
        }
        let file = row.get::<_, u32>(1)?;
        let line = row.get::<_, i64>(3)? as u64;
        if let Some(first) = candidates.last().filter(|c| c.file == file) {
            let email = row.get_ref(6)?.as_str()?;
            outcome.rejected.push(Rejected {
                file,
                line,
                reason: format!("duplicate of line {} ({email})", first.line),
            });
            continue;
        }
        candidates.push(Candidate {
            rank: row.get(4)?,
            leaves: row.get(5)?,
            file,
            seq: row.get::<_, i64>(2)? as u64,
            line,
            status: row.get(7)?,
        });
    }
    settle(&mut candidates, &mut winners, outcome);
    Ok(winners)
}

/// Mark the row that stands among one address's rows (one per file): the
/// later change; at the same rank the leave; then the later file.
fn settle(candidates: &mut Vec<Candidate>, winners: &mut Winners, outcome: &mut ImportOutcome) {
    outcome.in_several_files += u64::from(candidates.len() > 1);
    if let Some(winner) = candidates.drain(..).max() {
        winners.set(&winner);
    }
}

/// Insert the rows that stand, in the order they were read, so that the
/// list keeps the file's order; an address already in the list is skipped.
/// Two functions serve the one statement: whether a row stands, and the
/// next token, drawn from a sorted batch so the token index fills from
/// left to right.
fn insert_winners(
    tx: &rusqlite::Transaction<'_>,
    winners: Winners,
    outcome: &mut ImportOutcome,
) -> anyhow::Result<()> {
    use rusqlite::functions::FunctionFlags;
    let tokens = std::sync::Mutex::new(SortedTokens::generate(winners.count())?);
    let by_status = winners.by_status.clone();
    let winners = std::sync::Arc::new(winners);
    let stands = winners.clone();
    tx.create_scalar_function(
        "import_stands",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        move |ctx| Ok(stands.has(ctx.get::<i64>(0)?)),
    )?;
    tx.create_scalar_function("import_token", 0, FunctionFlags::SQLITE_UTF8, move |_| {
        let mut tokens = tokens.lock().map_err(|_| {
            rusqlite::Error::UserFunctionError("the import's tokens were poisoned".into())
        })?;
        tokens.next_token().map(str::to_string).ok_or_else(|| {
            rusqlite::Error::UserFunctionError("an import ran out of fresh tokens".into())
        })
    })?;
    let result = (|| -> anyhow::Result<()> {
        let mut existing: BTreeMap<Status, u64> = BTreeMap::new();
        // Into an empty list (a newsletter moving in) nothing can clash.
        let empty: bool =
            tx.query_row("SELECT NOT EXISTS (SELECT 1 FROM subscribers)", [], |r| {
                r.get(0)
            })?;
        if !empty {
            let mut select = tx.prepare(EXISTING)?;
            let mut rows = select.query([])?;
            while let Some(row) = rows.next()? {
                existing.insert(row.get(0)?, row.get::<_, i64>(1)? as u64);
            }
        }
        let inserted = tx.execute(INSERT, [])? as u64;
        outcome.skipped_existing = existing.values().sum();
        for (status, n) in by_status {
            let n = n - existing.get(&status).copied().unwrap_or(0);
            if n > 0 {
                outcome.by_status.insert(status, n);
            }
        }
        outcome.imported = outcome.by_status.values().sum();
        anyhow::ensure!(
            inserted == outcome.imported,
            "the import inserted {inserted} rows where {} were expected",
            outcome.imported
        );
        Ok(())
    })();
    tx.remove_function("import_stands", 1)?;
    tx.remove_function("import_token", 0)?;
    result
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

    /// An import row with only an address and a status.
    fn row(file: u32, line: u64, address: &str, status: Status) -> ImportRow {
        ImportRow {
            file,
            line,
            email: email(address),
            name: None,
            role: None,
            status,
            created_at: None,
            confirmed_at: None,
            unsubscribed_at: None,
            changed_at: None,
            timezone: None,
            paused_until: None,
            unsubscribe_reason: None,
        }
    }

    fn active_row(line: u64, address: &str) -> ImportRow {
        row(0, line, address, Status::Active)
    }

    fn ok(
        rows: Vec<ImportRow>,
    ) -> impl Iterator<Item = anyhow::Result<Result<ImportRow, Rejected>>> {
        rows.into_iter().map(|r| Ok(Ok(r)))
    }

    #[test]
    fn import_skips_existing_and_names_duplicates() {
        let mut store = Store::in_memory().unwrap();
        store
            .subscribe(&email("old@example.com"), None, None, false, now())
            .unwrap();
        store.unsubscribe(&email("old@example.com"), now()).unwrap();
        let rows = vec![
            Ok(Ok(active_row(2, "a@example.com"))),
            Ok(Ok(active_row(3, "OLD@example.com"))),
            Ok(Ok(active_row(4, "b@example.com"))),
            Ok(Ok(active_row(5, "A@Example.com"))),
            Ok(Ok(active_row(7, "a@example.com"))),
            Ok(Err(Rejected {
                file: 0,
                line: 6,
                reason: "bad".into(),
            })),
        ];
        let outcome = store.import(rows.into_iter(), now(), false).unwrap();
        assert_eq!(outcome.imported, 2);
        assert_eq!(outcome.skipped_existing, 1);
        // The skipped row is not counted among those imported.
        assert_eq!(outcome.by_status, BTreeMap::from([(Status::Active, 2)]));
        assert_eq!(outcome.in_several_files, 0);
        let rejected: Vec<(u64, &str)> = outcome
            .rejected
            .iter()
            .map(|r| (r.line, r.reason.as_str()))
            .collect();
        assert_eq!(
            rejected,
            [
                (5, "duplicate of line 2 (A@example.com)"),
                (6, "bad"),
                (7, "duplicate of line 2 (a@example.com)"),
            ]
        );
        // The unsubscribed address stays unsubscribed.
        let old = store
            .subscriber_by_email(&email("old@example.com"))
            .unwrap()
            .unwrap();
        assert_eq!(old.status, Status::Unsubscribed);
        // Every imported row has its own token.
        let a = store
            .subscriber_by_email(&email("a@example.com"))
            .unwrap()
            .unwrap();
        let b = store
            .subscriber_by_email(&email("b@example.com"))
            .unwrap()
            .unwrap();
        assert_ne!(a.token, b.token);
        assert_eq!(a.token.as_str().len(), 24);
    }

    #[test]
    fn rows_staged_in_batches_and_the_rest_one_by_one_all_arrive() {
        let mut store = Store::in_memory().unwrap();
        let n = 2 * STAGE_BATCH as u64 + 3;
        let mut rows: Vec<ImportRow> = (0..n)
            .map(|i| active_row(i + 2, &format!("r{i}@example.com")))
            .collect();
        // A repeat in the second batch of the first row of the first.
        rows[STAGE_BATCH + 5] = active_row(STAGE_BATCH as u64 + 7, "r0@example.com");
        let outcome = store.import(ok(rows), now(), false).unwrap();
        assert_eq!(outcome.imported, n - 1);
        assert_eq!(outcome.rejected.len(), 1);
        assert_eq!(store.count_subscribers(Status::Active).unwrap(), n - 1);
        let last = format!("r{}@example.com", n - 1);
        assert!(store.subscriber_by_email(&email(&last)).unwrap().is_some());
    }

    #[test]
    fn a_dry_run_import_writes_nothing() {
        let mut store = Store::in_memory().unwrap();
        let outcome = store
            .import(ok(vec![active_row(2, "a@example.com")]), now(), true)
            .unwrap();
        assert_eq!(outcome.imported, 1);
        assert_eq!(store.count_subscribers(Status::Active).unwrap(), 0);
        // The staging table went with the rollback; a second import works.
        let outcome = store
            .import(ok(vec![active_row(2, "a@example.com")]), now(), false)
            .unwrap();
        assert_eq!(outcome.imported, 1);
    }

    #[test]
    fn rows_of_several_files_for_one_address_keep_the_later_change() {
        let at = |s: &str| Some(s.parse::<Timestamp>().unwrap());
        use Status::{Active, Bounced, Unsubscribed};
        // (files' rows as (status, changed_at), the status that stands)
        type Files<'a> = &'a [(Status, Option<&'a str>)];
        let cases: &[(Files<'_>, Status)] = &[
            // Left after joining; joined again after leaving.
            (
                &[
                    (Active, Some("2024-01-01T00:00:00Z")),
                    (Unsubscribed, Some("2024-06-01T00:00:00Z")),
                ],
                Unsubscribed,
            ),
            (
                &[
                    (Unsubscribed, Some("2024-01-01T00:00:00Z")),
                    (Active, Some("2024-06-01T00:00:00Z")),
                ],
                Active,
            ),
            // A leave without a time beats any join.
            (
                &[(Active, Some("2025-01-01T00:00:00Z")), (Unsubscribed, None)],
                Unsubscribed,
            ),
            (
                &[(Unsubscribed, None), (Active, Some("2025-01-01T00:00:00Z"))],
                Unsubscribed,
            ),
            // A leave with a time beats a join without one.
            (
                &[(Active, None), (Bounced, Some("2020-01-01T00:00:00Z"))],
                Bounced,
            ),
            // The same time: the leave.
            (
                &[
                    (Bounced, Some("2024-01-01T00:00:00Z")),
                    (Active, Some("2024-01-01T00:00:00Z")),
                ],
                Bounced,
            ),
            // Three files: the latest change of the three.
            (
                &[
                    (Active, Some("2024-01-01T00:00:00Z")),
                    (Unsubscribed, Some("2024-02-01T00:00:00Z")),
                    (Bounced, Some("2024-03-01T00:00:00Z")),
                ],
                Bounced,
            ),
        ];
        for (i, (files, expected)) in cases.iter().enumerate() {
            let mut store = Store::in_memory().unwrap();
            let rows = files
                .iter()
                .enumerate()
                .map(|(file, (status, changed))| ImportRow {
                    changed_at: changed.and_then(at),
                    ..row(file as u32, 2, "ada@example.com", *status)
                })
                .collect();
            let outcome = store.import(ok(rows), now(), false).unwrap();
            assert_eq!(outcome.imported, 1, "case {i}");
            assert_eq!(outcome.in_several_files, 1, "case {i}");
            assert!(outcome.rejected.is_empty(), "case {i}");
            let ada = store
                .subscriber_by_email(&email("ada@example.com"))
                .unwrap()
                .unwrap();
            assert_eq!(ada.status, *expected, "case {i}");
        }
    }

    #[test]
    fn a_duplicate_within_one_file_is_rejected_even_beside_another_file() {
        let mut store = Store::in_memory().unwrap();
        let rows = vec![
            row(0, 2, "ada@example.com", Status::Active),
            row(0, 9, "ada@example.com", Status::Active),
            row(1, 4, "ada@example.com", Status::Unsubscribed),
        ];
        let outcome = store.import(ok(rows), now(), false).unwrap();
        assert_eq!(outcome.imported, 1);
        assert_eq!(outcome.by_status.get(&Status::Unsubscribed), Some(&1));
        assert_eq!(
            outcome.rejected,
            [Rejected {
                file: 0,
                line: 9,
                reason: "duplicate of line 2 (ada@example.com)".into()
            }]
        );
    }
}

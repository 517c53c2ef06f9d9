//! The import's writer: the thread that holds the connection, puts the
//! rows it is handed into the list, and settles them once all are in.

use std::sync::mpsc::Receiver;

use anyhow::Context as _;
use rusqlite::{Connection, Statement, Transaction, TransactionBehavior};

use super::ImportRow;
use super::settle::{self, OldKeys, Settled, Stored, Written};
use crate::address::SubscriberName;
use crate::status::Status;
use crate::timestamp::Timestamp;

/// What the reading thread hands the writer.
pub(super) enum Message {
    /// Valid rows, in the order they were read.
    Rows(Vec<Pending>),
    /// Every row was read: what settling needs to know of each, with ids
    /// counted from 0 in the order they were handed over.
    Done(Vec<Written>),
}

/// A valid row, ready to bind: its address's key, its token and its
/// times written out, so the writer's thread only binds.
pub(super) struct Pending {
    pub row: ImportRow,
    pub key: String,
    token: String,
    created_at: Option<String>,
    confirmed_at: Option<String>,
    unsubscribed_at: Option<String>,
}

impl Pending {
    pub fn new(row: ImportRow, token: &str) -> Pending {
        let text = |t: Option<Timestamp>| t.map(|t| t.to_string());
        Pending {
            key: row.email.key(),
            token: token.to_string(),
            created_at: text(row.created_at),
            confirmed_at: text(row.confirmed_at),
            unsubscribed_at: text(row.unsubscribed_at),
            row,
        }
    }
}

/// Builds the index that keeps addresses unique (see migration 010).
const ADDRESS_INDEX: &str =
    "CREATE UNIQUE INDEX subscribers_by_email_key ON subscribers (email_key)";

/// Helper threads for the sort that builds the address index (besides the
/// connection's own).
const SORT_THREADS: i64 = 1;

/// Take the rows from `rows` until the reader is done, then settle them,
/// all in one transaction, committed unless `dry_run` (or nobody was
/// added). If the reader stops without saying it is done, nothing is kept.
pub(super) fn run(
    conn: &mut Connection,
    rows: Receiver<Message>,
    now: Timestamp,
    dry_run: bool,
) -> anyhow::Result<Settled> {
    // Building the address index is the one big sort of the program: let
    // SQLite's sorter use a helper thread for it.
    conn.pragma_update(None, "threads", SORT_THREADS)?;
    let settled = in_one_transaction(conn, rows, now, dry_run);
    conn.pragma_update(None, "threads", 0)?;
    settled
}

fn in_one_transaction(
    conn: &mut Connection,
    rows: Receiver<Message>,
    now: Timestamp,
    dry_run: bool,
) -> anyhow::Result<Settled> {
    // The write lock from the start: the ids handed out below stay free.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let old = OldKeys::read(&tx)?;
    let first_id: i64 = tx.query_row(
        "SELECT coalesce(max(id), 0) + 1 FROM subscribers",
        [],
        |r| r.get(0),
    )?;
    tx.execute_batch("DROP INDEX subscribers_by_email_key")?;
    let mut written = insert_all(&tx, rows, first_id, now)?;
    for w in &mut written {
        w.id += first_id;
    }
    let settled = settle_written(&tx, &mut written, &old)?;
    drop(written);
    {
        let mut remove = tx.prepare("DELETE FROM subscribers WHERE id = ?1")?;
        for &id in &settled.delete {
            remove.execute([id])?;
        }
    }
    tx.execute_batch(ADDRESS_INDEX)
        .context("the import left an address in the list twice")?;
    // An import that adds no one leaves the file as it found it, not with
    // its address index rebuilt.
    if dry_run || settled.by_status.is_empty() {
        tx.rollback()?;
    } else {
        tx.commit().context("cannot commit the import")?;
    }
    Ok(settled)
}

fn settle_written(
    tx: &Transaction<'_>,
    written: &mut [Written],
    old: &OldKeys,
) -> anyhow::Result<Settled> {
    let mut stored = tx.prepare("SELECT email_key, email FROM subscribers WHERE id = ?1")?;
    let mut lookup = |id: i64| -> anyhow::Result<Stored> {
        Ok(stored.query_row([id], |r| {
            Ok(Stored {
                key: r.get(0)?,
                email: r.get(1)?,
            })
        })?)
    };
    settle::settle(written, old, &mut lookup)
}

/// Rows written by one statement: binding a batch and stepping once costs
/// far less than stepping a statement per row.
pub(super) const BATCH: usize = 64;
/// The list's columns an imported row writes.
const COLUMNS: usize = 13;

/// An `INSERT` into the list of `rows` rows.
fn insert_sql(rows: usize) -> String {
    let row = |r: usize| {
        let params: Vec<String> = (1..=COLUMNS)
            .map(|c| format!("?{}", r * COLUMNS + c))
            .collect();
        format!("({})", params.join(", "))
    };
    let values: Vec<String> = (0..rows).map(row).collect();
    format!(
        "INSERT INTO subscribers (id, email, email_key, name, role, status, token, created_at, confirmed_at, unsubscribed_at, timezone, paused_until, unsubscribe_reason) VALUES {}",
        values.join(", ")
    )
}

/// Write every row handed over, ids counting up from `first_id`; returns
/// what the reader knew of each, once it is done.
fn insert_all(
    tx: &Transaction<'_>,
    rows: Receiver<Message>,
    first_id: i64,
    now: Timestamp,
) -> anyhow::Result<Vec<Written>> {
    // Most rows of a plain list take their times from the import: write
    // that time out once, not once or twice per row.
    let now = now.to_string();
    let mut one = tx.prepare(&insert_sql(1))?;
    let mut many = tx.prepare(&insert_sql(BATCH))?;
    let mut id = first_id;
    loop {
        match rows.recv() {
            Ok(Message::Rows(batch)) => {
                let mut chunks = batch.chunks_exact(BATCH);
                for chunk in &mut chunks {
                    insert_rows(&mut many, chunk, id, &now)?;
                    id += BATCH as i64;
                }
                for pending in chunks.remainder() {
                    insert_rows(&mut one, std::slice::from_ref(pending), id, &now)?;
                    id += 1;
                }
            }
            Ok(Message::Done(written)) => return Ok(written),
            // The reader failed and says why; nothing here is kept.
            Err(_) => anyhow::bail!("the import stopped before its last row"),
        }
    }
}

/// Bind `rows` to a statement of as many rows, ids from `first_id`, and
/// run it.
fn insert_rows(
    insert: &mut Statement<'_>,
    rows: &[Pending],
    first_id: i64,
    now: &str,
) -> anyhow::Result<()> {
    for (i, pending) in rows.iter().enumerate() {
        let row = &pending.row;
        let created_at = pending.created_at.as_deref().unwrap_or(now);
        let confirmed_at = pending
            .confirmed_at
            .as_deref()
            .or((row.status == Status::Active).then_some(created_at));
        let unsubscribed_at = pending
            .unsubscribed_at
            .as_deref()
            .or((row.status == Status::Unsubscribed).then_some(now));
        let id = first_id + i as i64;
        let values: [&dyn rusqlite::ToSql; COLUMNS] = [
            &id,
            &row.email.as_str(),
            &pending.key,
            &row.name.as_ref().map(SubscriberName::as_str),
            &row.role,
            &row.status,
            &pending.token,
            &created_at,
            &confirmed_at,
            &unsubscribed_at,
            &row.timezone,
            &row.paused_until,
            &row.unsubscribe_reason,
        ];
        for (c, value) in values.iter().enumerate() {
            insert.raw_bind_parameter(i * COLUMNS + c + 1, value)?;
        }
    }
    insert.raw_execute()?;
    Ok(())
}

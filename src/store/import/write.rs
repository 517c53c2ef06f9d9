//! The import's writer: the thread that holds the connection, puts the
//! rows it is handed into the list, and settles them once all are in.

use std::sync::Arc;

use anyhow::Context as _;
use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::ImportRow;
use super::feed::Feed;
use super::settle::{self, OldKeys, Settled, Stored, Written};
use crate::timestamp::Timestamp;

/// What the reading thread hands the writer.
pub(super) enum Message {
    /// Valid rows, in the order they were read.
    Rows(Vec<Pending>),
    /// Every row was read: what settling needs to know of each, with ids
    /// counted from 0 in the order they were handed over.
    Done(Vec<Written>),
}

/// A valid row, ready to write: its address's key, its token and its
/// times written out, so the writer's thread only hands them to SQLite.
pub(super) struct Pending {
    pub row: ImportRow,
    pub key: String,
    pub token: String,
    pub created_at: Option<String>,
    pub confirmed_at: Option<String>,
    pub unsubscribed_at: Option<String>,
}

impl Pending {
    pub fn new(row: ImportRow, token: String) -> Pending {
        let text = |t: Option<Timestamp>| t.map(|t| t.to_string());
        Pending {
            key: row.email.key(),
            token,
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
    feed: &Arc<Feed>,
    dry_run: bool,
) -> anyhow::Result<Settled> {
    // Building the address index is the one big sort of the program: let
    // SQLite's sorter use a helper thread for it.
    conn.pragma_update(None, "threads", SORT_THREADS)?;
    let settled = in_one_transaction(conn, feed, dry_run);
    conn.pragma_update(None, "threads", 0)?;
    settled
}

fn in_one_transaction(
    conn: &mut Connection,
    feed: &Arc<Feed>,
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
    feed.register(&tx)?;
    tx.execute(INSERT, [first_id])?;
    let mut written = feed.take_written()?;
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

/// The one statement that writes the import: every row of the feed, in
/// the order it was read, ids counting up from `?1`.
const INSERT: &str = "INSERT INTO subscribers (id, email, email_key, name, role, status, token, created_at, confirmed_at, unsubscribed_at, timezone, paused_until, unsubscribe_reason)
     SELECT ?1 + seq, email, email_key, name, role, status, token, created_at, confirmed_at, unsubscribed_at, timezone, paused_until, unsubscribe_reason
     FROM import_feed";

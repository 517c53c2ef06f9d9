//! Importing a list: many rows, from one file or several, in one transaction.
//!
//! Rows go straight into the list, in the order they are read, each with
//! the id it will keep. What an address's rows mean together is decided
//! once all are in (see [`settle`]):
//! - a second row for it in the same file is rejected as a duplicate of the
//!   first;
//! - rows of different files (Mailchimp's subscribed, unsubscribed and
//!   cleaned members) are reconciled: the later change wins, and leaving
//!   without a time beats joining, so nobody who left is mailed again;
//! - an address already in the list before the import is never
//!   overwritten: its new rows are skipped.
//!
//! While the rows go in, the index that keeps addresses unique is set
//! aside, and built again, sorted, once the rows that do not stand have
//! been deleted: a million rows in the file's order would each land at a
//! random place in that index, which costs more than everything else the
//! import does. To find an address's rows without it, the import keeps a
//! hash of every address it wrote (and of every address already in the
//! list); rows that share a hash are told apart by their stored address.
//! The rebuilt index, unique, is the proof that every address stands once.
//!
//! The work is split between two threads (see [`Store::import`]): this
//! one reads, the writer ([`write`]) takes the rows through a virtual
//! table ([`feed`]) in one statement, then settles them.

use std::collections::BTreeMap;

use super::Store;
use crate::address::{SubscriberEmail, SubscriberName};
use crate::role::Role;
use crate::status::Status;
use crate::timestamp::Timestamp;
use crate::token::AscendingTokens;

mod feed;
mod settle;
#[cfg(test)]
mod tests;
mod write;

use settle::{Settled, Written};

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
    /// How the row ranks against rows of other files for the same address;
    /// the greatest wins: the time of the change, where a leave without a
    /// time ranks above every time and a join without one below.
    fn rank(&self) -> i64 {
        match (self.changed_at, self.status.left()) {
            (Some(t), _) => t.at().timestamp(),
            (None, true) => i64::MAX,
            (None, false) => i64::MIN,
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

impl Store {
    /// Import rows in one transaction (see the module docs for the rules).
    /// With `dry_run` nothing is committed.
    ///
    /// Two threads share the work: this one reads and checks the rows and
    /// makes each ready to write; a writer holding the connection puts them
    /// into the list and then settles them. Reading a million rows and
    /// writing them cost about the same, so side by side they take half
    /// the time. At most `QUEUE` batches wait between the two.
    pub fn import(
        &mut self,
        rows: impl Iterator<Item = anyhow::Result<Result<ImportRow, Rejected>>>,
        now: Timestamp,
        dry_run: bool,
    ) -> anyhow::Result<ImportOutcome> {
        let conn = &mut self.conn;
        std::thread::scope(|scope| {
            let (sender, receiver) = std::sync::mpsc::sync_channel(QUEUE);
            let (spent_sender, spent) = std::sync::mpsc::channel();
            let feed = feed::Feed::new(receiver, spent_sender, now);
            let writer = scope.spawn(move || write::run(conn, &feed, dry_run));
            let mut rejected = Vec::new();
            let read = read(rows, &sender, &spent, &mut rejected);
            drop(sender);
            let written = writer
                .join()
                .map_err(|_| anyhow::anyhow!("the import's writer stopped unexpectedly"))?;
            // A row that could not be read stops the import; so does a
            // write that failed, which also stops the reading.
            read?;
            let settled = written?;
            Ok(settled.into_outcome(rejected))
        })
    }
}

/// Batches waiting for the writer, at most.
const QUEUE: usize = 8;
/// Rows handed to the writer at a time.
const HANDOFF: usize = 1024;

/// Read every row, hand the valid ones to the writer in batches, keep the
/// rejected. Stops quietly when the writer has stopped (it says why).
fn read(
    rows: impl Iterator<Item = anyhow::Result<Result<ImportRow, Rejected>>>,
    writer: &std::sync::mpsc::SyncSender<write::Message>,
    spent: &std::sync::mpsc::Receiver<Vec<write::Pending>>,
    rejected: &mut Vec<Rejected>,
) -> anyhow::Result<()> {
    let mut tokens = AscendingTokens::new();
    let mut batch = Vec::with_capacity(HANDOFF);
    let mut written = Vec::new();
    for row in rows {
        let row = match row? {
            Ok(row) => row,
            Err(r) => {
                rejected.push(r);
                continue;
            }
        };
        let pending = write::Pending::new(row, tokens.next_token()?);
        written.push(Written {
            hash: settle::hash(&pending.key),
            id: written.len() as i64,
            line: pending.row.line,
            rank: pending.row.rank(),
            file: pending.row.file,
            status: pending.row.status,
        });
        batch.push(pending);
        if batch.len() == HANDOFF {
            // A batch the writer is done with comes back to be freed here,
            // and its room used again.
            let next = match spent.try_recv() {
                Ok(mut done) => {
                    done.clear();
                    done
                }
                Err(_) => Vec::with_capacity(HANDOFF),
            };
            let full = std::mem::replace(&mut batch, next);
            if writer.send(write::Message::Rows(full)).is_err() {
                return Ok(());
            }
        }
    }
    if !batch.is_empty() && writer.send(write::Message::Rows(batch)).is_err() {
        return Ok(());
    }
    let _ = writer.send(write::Message::Done(written));
    Ok(())
}

impl Settled {
    fn into_outcome(self, mut rejected: Vec<Rejected>) -> ImportOutcome {
        rejected.extend(self.rejected);
        rejected.sort_by_key(|r| (r.file, r.line));
        ImportOutcome {
            imported: self.by_status.values().sum(),
            by_status: self.by_status,
            skipped_existing: self.skipped_existing,
            in_several_files: self.in_several_files,
            rejected,
        }
    }
}

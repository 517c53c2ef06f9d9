//! The rows handed to the writer, as a table SQLite reads: the whole
//! import goes into the list by one `INSERT … SELECT … FROM import_feed`.
//!
//! Binding a row's thirteen values to a statement and stepping it costs
//! more than SQLite's own work of writing the row; one statement that
//! reads its rows from a virtual table pays for opening its cursors once
//! and takes each value straight from the row in memory. The table's
//! cursor waits on the channel from the reading thread: it is empty when
//! the reader says it is done, and fails when the reader stops without
//! saying so, which fails the statement and leaves nothing written.
//!
//! The only `unsafe` of the program is here, in the two `unsafe impl`s
//! SQLite's virtual tables ask for: the structs begin with the C structs
//! SQLite knows (`#[repr(C)]`, the `base` fields), and nothing else is
//! shared with C.

use std::borrow::Cow;
use std::ffi::{CStr, c_int};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender};

use rusqlite::vtab::{
    Context, Filters, IndexInfo, Module, VTab, VTabConfig, VTabConnection, VTabCursor,
};
use rusqlite::{Connection, Error, ffi};

use super::settle::Written;
use super::write::{Message, Pending};
use crate::address::SubscriberName;
use crate::status::Status;
use crate::timestamp::Timestamp;

/// The table's name in SQL.
pub(super) const NAME: &CStr = c"import_feed";

/// The table's columns, in the order [`FeedCursor::column`] numbers them.
const SCHEMA: &CStr = c"CREATE TABLE x(seq, email, email_key, name, role, status, token, created_at, confirmed_at, unsubscribed_at, timezone, paused_until, unsubscribe_reason)";

/// One import's channels, and what the reader sent once it was done.
pub(super) struct Feed {
    rows: Mutex<Option<Receiver<Message>>>,
    /// Batches read to their end go back to the reading thread, to be
    /// freed where they were allocated: memory freed on another thread
    /// than the one that took it is the slow case of the allocator.
    spent: Mutex<Option<Sender<Vec<Pending>>>>,
    done: Mutex<Option<Vec<Written>>>,
    /// The import's time, for rows that carry none.
    now: String,
}

/// Why the feed, or the import, ends without its last row.
pub(super) const STOPPED: &str = "the import stopped before its last row";

impl Feed {
    /// The feed of the rows that come from `rows`, handing each spent
    /// batch back through `spent`.
    pub fn new(
        rows: Receiver<Message>,
        spent: Sender<Vec<Pending>>,
        now: Timestamp,
    ) -> std::sync::Arc<Feed> {
        std::sync::Arc::new(Feed {
            rows: Mutex::new(Some(rows)),
            spent: Mutex::new(Some(spent)),
            done: Mutex::new(None),
            now: now.to_string(),
        })
    }

    /// Make the feed readable as [`NAME`] on `conn`, replacing an earlier
    /// import's.
    pub fn register(self: &std::sync::Arc<Feed>, conn: &Connection) -> rusqlite::Result<()> {
        const MODULE: Module<FeedTable> = Module::eponymous_only_module();
        conn.create_module(NAME, &MODULE, Some(self.clone()))
    }

    /// What the reader knew of each row, once the table was read to its
    /// end.
    pub fn take_written(&self) -> anyhow::Result<Vec<Written>> {
        self.done
            .lock()
            .ok()
            .and_then(|mut done| done.take())
            .ok_or_else(|| anyhow::anyhow!(STOPPED))
    }
}

#[repr(C)]
struct FeedTable {
    base: ffi::sqlite3_vtab,
    feed: std::sync::Arc<Feed>,
}

// SAFETY: `FeedTable` is `#[repr(C)]` and begins with `sqlite3_vtab`.
unsafe impl<'vtab> VTab<'vtab> for FeedTable {
    type Aux = std::sync::Arc<Feed>;
    type Cursor = FeedCursor;

    fn connect(
        db: &mut VTabConnection,
        aux: Option<&std::sync::Arc<Feed>>,
        _module: &[u8],
        _database: &[u8],
        _table: &[u8],
        _args: &[&[u8]],
    ) -> rusqlite::Result<(Cow<'static, CStr>, FeedTable)> {
        // Only this program's own statements may read it, never a view or
        // trigger in the database file.
        db.config(VTabConfig::DirectOnly)?;
        let feed = aux
            .cloned()
            .ok_or_else(|| Error::ModuleError("the import feed has no rows".into()))?;
        Ok((
            Cow::Borrowed(SCHEMA),
            FeedTable {
                base: ffi::sqlite3_vtab::default(),
                feed,
            },
        ))
    }

    fn best_index(&self, info: &mut IndexInfo) -> rusqlite::Result<bool> {
        info.set_estimated_cost(1_000_000.0);
        Ok(true)
    }

    fn open(&'vtab mut self) -> rusqlite::Result<FeedCursor> {
        Ok(FeedCursor {
            base: ffi::sqlite3_vtab_cursor::default(),
            feed: self.feed.clone(),
            rows: None,
            spent: None,
            batch: Vec::new(),
            at: 0,
            seq: 0,
            eof: false,
        })
    }
}

#[repr(C)]
struct FeedCursor {
    base: ffi::sqlite3_vtab_cursor,
    feed: std::sync::Arc<Feed>,
    rows: Option<Receiver<Message>>,
    spent: Option<Sender<Vec<Pending>>>,
    batch: Vec<Pending>,
    at: usize,
    /// The number of the current row in the whole import, from 0.
    seq: i64,
    eof: bool,
}

impl FeedCursor {
    /// Move to the next batch's first row, waiting for it.
    fn next_batch(&mut self) -> rusqlite::Result<()> {
        let stopped = || Error::ModuleError(STOPPED.into());
        loop {
            let rows = self.rows.as_ref().ok_or_else(stopped)?;
            match rows.recv() {
                Ok(Message::Rows(batch)) if batch.is_empty() => continue,
                Ok(Message::Rows(batch)) => {
                    let spent = std::mem::replace(&mut self.batch, batch);
                    if let Some(back) = &self.spent {
                        // A reader that is gone frees nothing more.
                        let _ = back.send(spent);
                    }
                    self.at = 0;
                    return Ok(());
                }
                Ok(Message::Done(written)) => {
                    if let Ok(mut done) = self.feed.done.lock() {
                        *done = Some(written);
                    }
                    self.batch.clear();
                    self.eof = true;
                    return Ok(());
                }
                Err(_) => return Err(stopped()),
            }
        }
    }
}

// SAFETY: `FeedCursor` is `#[repr(C)]` and begins with `sqlite3_vtab_cursor`.
unsafe impl VTabCursor for FeedCursor {
    fn filter(
        &mut self,
        _idx_num: c_int,
        _idx_str: Option<&str>,
        _args: &Filters<'_>,
    ) -> rusqlite::Result<()> {
        // The channel can be read once: a second scan finds no rows.
        self.rows = self.feed.rows.lock().ok().and_then(|mut r| r.take());
        self.spent = self.feed.spent.lock().ok().and_then(|mut s| s.take());
        if self.rows.is_none() {
            self.eof = true;
            return Ok(());
        }
        self.next_batch()
    }

    fn next(&mut self) -> rusqlite::Result<()> {
        self.at += 1;
        self.seq += 1;
        if self.at == self.batch.len() {
            self.next_batch()?;
        }
        Ok(())
    }

    fn eof(&self) -> bool {
        self.eof
    }

    fn column(&self, ctx: &mut Context, i: c_int) -> rusqlite::Result<()> {
        let pending = &self.batch[self.at];
        let row = &pending.row;
        let now = self.feed.now.as_str();
        let created_at = pending.created_at.as_deref().unwrap_or(now);
        match i {
            0 => ctx.set_result(&self.seq),
            1 => ctx.set_result(&row.email.as_str()),
            2 => ctx.set_result(&pending.key.as_str()),
            3 => ctx.set_result(&row.name.as_ref().map(SubscriberName::as_str)),
            4 => ctx.set_result(&row.role),
            5 => ctx.set_result(&row.status),
            6 => ctx.set_result(&pending.token.as_str()),
            7 => ctx.set_result(&created_at),
            8 => ctx.set_result(
                &pending
                    .confirmed_at
                    .as_deref()
                    .or((row.status == Status::Active).then_some(created_at)),
            ),
            9 => ctx.set_result(
                &pending
                    .unsubscribed_at
                    .as_deref()
                    .or((row.status == Status::Unsubscribed).then_some(now)),
            ),
            10 => ctx.set_result(&row.timezone),
            11 => ctx.set_result(&row.paused_until),
            12 => ctx.set_result(&row.unsubscribe_reason),
            _ => Err(Error::ModuleError(format!(
                "the import feed has no column {i}"
            ))),
        }
    }

    fn rowid(&self) -> rusqlite::Result<i64> {
        Ok(self.seq)
    }
}

//! The SQLite database: subscribers, frozen issues and the delivery ledger.
//!
//! One file shared by cron, the CLI and the web server, so it runs in WAL
//! mode with a busy timeout: a reader never blocks the sender and a short
//! write waits its turn instead of failing. The schema is migrated in code
//! when a command opens the file; a file written by a newer version of the
//! program is refused and left untouched, because an older binary cannot
//! know what the newer columns mean.

mod deliveries;
mod events;
mod history;
mod import;
mod issues;
mod keys;
pub mod ledger;
mod optin;
mod preferences;
mod sql;
mod subscribers;
mod webhooks;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::{M, Migrations};

pub use deliveries::{Frozen, HistoryRow};
pub use events::{BounceKind, Bounced, Complained, How};
pub use history::Event;
pub use import::{ImportOutcome, ImportRow, Rejected};
pub use issues::FrozenIssue;
pub use ledger::{Finished, Ledger};
pub use optin::{Confirmed, OptIn};
pub use preferences::{Pause, Preferences, REASON_TEXT_MAX, REASONS, Reason};
pub use subscribers::{SubscribeOutcome, Subscriber, UnsubscribeOutcome};

const MIGRATIONS: &[M<'static>] = &[
    M::up(include_str!("migrations/001-initial.sql")),
    M::up(include_str!("migrations/002-confirmation.sql")),
    M::up(include_str!("migrations/003-delivery-indexes.sql")),
    M::up(include_str!("migrations/004-hearing-back.sql")),
    M::up(include_str!("migrations/005-webhooks.sql")),
    M::up(include_str!("migrations/006-relays.sql")),
    M::up(include_str!("migrations/007-relay-day.sql")),
    M::up(include_str!("migrations/008-preferences.sql")),
    M::up(include_str!("migrations/009-confirm-token-partial.sql")),
    M::up(include_str!("migrations/010-subscribers-rebuilt.sql")).foreign_key_check(),
];

/// How long a write waits for another writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Store {
    conn: Connection,
}

/// How many migrations the database at hand lacks. A file that is not a
/// database fails here (reading the schema version is the first real
/// read), and so does one written by a newer version of the program.
fn pending_migrations(conn: &Connection, shown: &str) -> anyhow::Result<i64> {
    let pending = Migrations::from_slice(MIGRATIONS).pending_migrations(conn).map_err(|e| {
        anyhow::anyhow!(
            "{shown} is not a glossary-digest database (SQLite says: {e}); check --db / DIGEST_DB / [paths] database"
        )
    })?;
    if pending < 0 {
        anyhow::bail!(
            "{shown} was written by a newer version of glossary-digest (schema version {}, this \
             program knows up to {}); it was left untouched: upgrade digest to use it",
            MIGRATIONS.len() as i64 - i64::from(pending),
            MIGRATIONS.len()
        );
    }
    Ok(i64::from(pending))
}

impl Store {
    /// Open the database at `path`, creating it and its folder if missing.
    pub fn open_or_create(path: &Path) -> anyhow::Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the database folder {}", dir.display()))?;
        }
        Store::open_with(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )
    }

    /// Open the database at `path` if it exists; `None` if it does not.
    /// Commands that only read use this, so they never create a database.
    pub fn open_existing(path: &Path) -> anyhow::Result<Option<Store>> {
        if !path.exists() {
            return Ok(None);
        }
        Store::open_with(path, OpenFlags::SQLITE_OPEN_READ_WRITE).map(Some)
    }

    /// Open the database at `path` read-only if it exists: for commands
    /// that only look (`preview`, `list`, `export`, `history`, a dry run),
    /// which must neither create nor change the file, not even to migrate
    /// it. A schema older than this program's is read as it is.
    pub fn open_read_only(path: &Path) -> anyhow::Result<Option<Store>> {
        if !path.exists() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("cannot open the database {}", path.display()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        pending_migrations(&conn, &path.display().to_string())?;
        Ok(Some(Store { conn }))
    }

    /// A private in-memory database with the full schema (dry runs).
    pub fn in_memory() -> anyhow::Result<Store> {
        let conn = Connection::open_in_memory()?;
        Store::init(conn, PathBuf::from(":memory:"))
    }

    fn open_with(path: &Path, flags: OpenFlags) -> anyhow::Result<Store> {
        let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        Store::init(conn, path.to_path_buf())
    }

    fn init(mut conn: Connection, path: PathBuf) -> anyhow::Result<Store> {
        let shown = path.display().to_string();
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let pending = pending_migrations(&conn, &shown)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .with_context(|| format!("cannot switch {shown} to WAL mode"))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        if pending > 0 {
            // A migration that rebuilds a table others refer to drops the
            // old one first, which foreign keys would refuse; each such
            // migration checks the keys itself before it commits.
            conn.pragma_update(None, "foreign_keys", "OFF")?;
            Migrations::from_slice(MIGRATIONS)
                .to_latest(&mut conn)
                .with_context(|| format!("cannot migrate the database {shown}"))?;
        }
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(Store { conn })
    }

    /// The schema version this program writes (the number of migrations
    /// it knows).
    pub fn latest_schema() -> i64 {
        MIGRATIONS.len() as i64
    }

    /// The schema version (number of migrations applied).
    pub fn schema_version(&self) -> anyhow::Result<i64> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_schema_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("digest.db");
        Store::open_or_create(&path).unwrap();
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let before = std::fs::read(&path).unwrap();
        let err = Store::open_existing(&path).err().unwrap().to_string();
        assert!(err.contains("written by a newer version"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn reading_an_older_database_leaves_it_as_it_is_and_writing_migrates_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let mut conn = Connection::open(&path).unwrap();
        Migrations::from_slice(&MIGRATIONS[..1])
            .to_latest(&mut conn)
            .unwrap();
        drop(conn);
        let before = std::fs::read(&path).unwrap();
        let store = Store::open_read_only(&path).unwrap().unwrap();
        assert_eq!(store.schema_version().unwrap(), 1);
        assert!(store.issues().unwrap().is_empty());
        drop(store);
        assert_eq!(std::fs::read(&path).unwrap(), before);
        let store = Store::open_existing(&path).unwrap().unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    }

    #[test]
    fn rebuilding_subscribers_keeps_every_row_and_what_refers_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let mut conn = Connection::open(&path).unwrap();
        Migrations::from_slice(&MIGRATIONS[..9])
            .to_latest(&mut conn)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO subscribers (id, email, email_key, name, status, token, created_at, confirm_token, timezone)
                 VALUES (7, 'Ada@example.com', 'ada@example.com', 'Ada', 'active', 'tok-ada', '2026-01-01T00:00:00Z', 'ct', 'Europe/Paris');
             INSERT INTO issues (week, subject, featured, new_terms, created_at)
                 VALUES ('2026-W01', 's', 'tokens', '[]', '2026-01-01T00:00:00Z');
             INSERT INTO deliveries (issue, subscriber_id, status) VALUES ('2026-W01', 7, 'sent');
             INSERT INTO events (subscriber_id, at, kind) VALUES (7, '2026-01-02T00:00:00Z', 'delivered');",
        )
        .unwrap();
        drop(conn);
        let store = Store::open_existing(&path).unwrap().unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
        let row: (i64, String, String, String) = store
            .conn
            .query_row(
                "SELECT s.id, s.email, s.timezone, d.status FROM subscribers s JOIN deliveries d ON d.subscriber_id = s.id",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(
            row,
            (
                7,
                "Ada@example.com".into(),
                "Europe/Paris".into(),
                "sent".into()
            )
        );
        // The address is still unique, now by a named index; keys still hold.
        let twice = store.conn.execute(
            "INSERT INTO subscribers (email, email_key, status, token, created_at) VALUES ('ADA@example.com', 'ada@example.com', 'active', 't2', 'now')",
            [],
        );
        assert!(twice.unwrap_err().to_string().contains("UNIQUE"));
        let orphan = store.conn.execute(
            "INSERT INTO deliveries (issue, subscriber_id, status) VALUES ('2026-W01', 99, 'sent')",
            [],
        );
        assert!(orphan.unwrap_err().to_string().contains("FOREIGN KEY"));
        let indexes: Vec<String> = store
            .conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'subscribers' AND sql IS NOT NULL ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            indexes,
            [
                "subscribers_by_confirm_token",
                "subscribers_by_email_key",
                "subscribers_by_status"
            ]
        );
    }

    #[test]
    fn a_file_that_is_not_a_database_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(
            &path,
            "hello, this is not SQLite at all, just some text in a file",
        )
        .unwrap();
        let err = Store::open_existing(&path).err().unwrap().to_string();
        assert!(err.contains("is not a glossary-digest database"), "{err}");
    }

    #[test]
    fn the_schema_enforces_statuses() {
        let store = Store::in_memory().unwrap();
        let err = store
            .conn
            .execute(
                "INSERT INTO subscribers (email, email_key, status, token, created_at) VALUES ('a@b.c', 'a@b.c', 'gone', 't', 'now')",
                [],
            )
            .unwrap_err();
        assert!(err.to_string().contains("CHECK"), "{err}");
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    }
}

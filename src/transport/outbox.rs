//! The dry-run transport: every message is accepted and, when a folder is
//! given, written to it as `NNNNNN-address.eml`, in the order sent. Nothing
//! leaves the machine.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{ConnectError, ConnectFailure, Connection, Outcome, Outgoing, Transport};

#[derive(Debug, Clone, Default)]
pub struct Outbox {
    dir: Option<PathBuf>,
    tally: Arc<Tally>,
}

/// What went through an outbox.
#[derive(Debug, Default)]
pub struct Tally {
    messages: AtomicU64,
    bytes: AtomicU64,
}

impl Tally {
    pub fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

impl Outbox {
    /// Accepts and counts every message; writes them to `dir` when given.
    pub fn new(dir: Option<PathBuf>) -> Outbox {
        Outbox {
            dir,
            tally: Arc::default(),
        }
    }

    pub fn tally(&self) -> Arc<Tally> {
        self.tally.clone()
    }
}

impl Transport for Outbox {
    type Connection = Outbox;

    fn describe(&self) -> String {
        match &self.dir {
            Some(dir) => format!("the outbox {}", dir.display()),
            None => "nowhere (dry run)".into(),
        }
    }

    async fn connect(&self) -> Result<Outbox, ConnectError> {
        if let Some(dir) = &self.dir {
            std::fs::create_dir_all(dir).map_err(|e| ConnectError {
                kind: ConnectFailure::Broken,
                message: format!("cannot create the outbox {}: {e}", dir.display()),
            })?;
        }
        Ok(self.clone())
    }
}

impl Connection for Outbox {
    async fn send(&mut self, message: &Outgoing) -> Outcome {
        let n = self.tally.messages.fetch_add(1, Ordering::Relaxed) + 1;
        self.tally
            .bytes
            .fetch_add(message.raw.len() as u64, Ordering::Relaxed);
        let Some(dir) = &self.dir else {
            return Outcome::Accepted("counted".into());
        };
        let safe: String = message
            .recipient()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@' | '+') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!("{n:06}-{safe}.eml"));
        match crate::fsutil::write_atomically(&path, &message.raw) {
            Ok(()) => Outcome::Accepted(format!("written to {}", path.display())),
            Err(e) => Outcome::Permanent(format!("{e:#}")),
        }
    }

    fn broken(&self) -> bool {
        false
    }

    async fn close(self) {}
}

//! What every command starts from: the configuration, the clock, and the
//! glossary loaded on demand.

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};

use crate::cli::Global;
use crate::config::Config;
use crate::content::{self, Glossary};
use crate::week::IssueWeek;

pub struct App {
    pub config: Config,
    now: DateTime<Utc>,
}

impl App {
    pub fn new(global: &Global) -> anyhow::Result<App> {
        let mut config = Config::discover(global.config.as_deref())?;
        if let Some(db) = &global.db {
            config.paths.database = db.clone();
        }
        Ok(App {
            config,
            now: global.now.unwrap_or_else(Utc::now),
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Today in the newsletter's time zone.
    pub fn today(&self) -> NaiveDate {
        self.now
            .with_timezone(&self.config.newsletter.timezone)
            .date_naive()
    }

    /// The week "now" falls in, in the newsletter's time zone.
    pub fn current_week(&self) -> IssueWeek {
        IssueWeek::current(self.now, self.config.newsletter.timezone)
    }

    pub fn content_dir(&self) -> &PathBuf {
        &self.config.paths.content
    }

    /// The glossary, or every problem in it (exit code 2).
    pub fn glossary(&self) -> anyhow::Result<Glossary> {
        let dir = self.content_dir();
        content::load(dir)?.into_result(dir)
    }
}

/// Write command output to standard output. A closed pipe (`digest terms
/// list | head`) is not an error: the reader has what it wanted.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("cannot write to standard output"))
        }
        _ => Ok(()),
    }
}

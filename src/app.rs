//! What every command starts from: the configuration, the clock, and the
//! glossary loaded on demand.

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};

use crate::cli::Global;
use crate::config::Config;
use crate::content::{self, Glossary};
use crate::store::Store;
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

    /// The week `digest send` works on by default. With `[send]
    /// local_time`, deliveries spread from Saturday to Monday around the
    /// issue's Sunday (Sunday morning in Kiritimati is Saturday evening in
    /// UTC; in Los Angeles, Monday morning in Tokyo): so from Monday to
    /// Wednesday the default is the week before, whose last readers a
    /// Monday run reaches, and not the new week's issue.
    pub fn send_week(&self) -> IssueWeek {
        match self.config.send.local_time {
            Some(_) => IssueWeek::containing(self.today() - chrono::Days::new(3)),
            None => self.current_week(),
        }
    }

    pub fn content_dir(&self) -> &PathBuf {
        &self.config.paths.content
    }

    /// The current time as stored in the database.
    pub fn now_stamp(&self) -> crate::timestamp::Timestamp {
        crate::timestamp::Timestamp::from(self.now)
    }

    /// The database, created (with its folder) if missing: for commands
    /// that write.
    pub fn store_for_writing(&self) -> anyhow::Result<Store> {
        Store::open_or_create(&self.config.paths.database)
    }

    /// The database if it exists, for a command that may change it but
    /// must not create it (`unsubscribe`, an import's dry run).
    pub fn store_if_exists(&self) -> anyhow::Result<Option<Store>> {
        Store::open_existing(&self.config.paths.database)
    }

    /// The database if it exists, read-only: for commands that only look.
    pub fn store_to_read(&self) -> anyhow::Result<Option<Store>> {
        Store::open_read_only(&self.config.paths.database)
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

/// A column of a plain-text table: its header, its narrowest width, and
/// whether it is right-aligned (numbers).
pub struct Column {
    pub header: &'static str,
    pub min: usize,
    pub right: bool,
}

impl Column {
    pub const fn left(header: &'static str, min: usize) -> Column {
        Column {
            header,
            min,
            right: false,
        }
    }

    pub const fn right(header: &'static str, min: usize) -> Column {
        Column {
            header,
            min,
            right: true,
        }
    }
}

/// Rows aligned under their headers, two spaces between columns; the last
/// column is not padded.
pub fn table(columns: &[Column], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|cell| cell.chars().count())
                .chain([c.min, c.header.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (i, cell) in cells.enumerate() {
            let last = i + 1 == columns.len();
            if i > 0 {
                out.push_str("  ");
            }
            let w = widths[i];
            match (columns[i].right, last) {
                (true, _) => out.push_str(&format!("{cell:>w$}")),
                (false, false) => out.push_str(&format!("{cell:w$}")),
                (false, true) => out.push_str(cell),
            }
        }
        out.push('\n');
        out
    };
    let mut out = line(&mut columns.iter().map(|c| c.header));
    for row in rows {
        out += &line(&mut row.iter().map(String::as_str));
    }
    out
}

/// `9812` as `9,812`: counts in summaries are read by people.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_leave_the_last_unpadded() {
        let rows = vec![
            vec!["a".to_string(), "1,000".to_string(), "x".to_string()],
            vec!["longer".to_string(), "7".to_string(), "yy".to_string()],
        ];
        let got = table(
            &[
                Column::left("NAME", 0),
                Column::right("N", 3),
                Column::left("LAST", 0),
            ],
            &rows,
        );
        assert_eq!(
            got,
            "NAME        N  LAST\na       1,000  x\nlonger      7  yy\n"
        );
    }

    #[test]
    fn thousands_are_separated() {
        for (n, s) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (9812, "9,812"),
            (1000000, "1,000,000"),
        ] {
            assert_eq!(super::thousands(n), s);
        }
    }
}

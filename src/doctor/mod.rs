//! `digest doctor`: is this setup ready to send? Every check runs, each
//! gives one line (ok, warn or FAIL, a failure with what to change), and
//! nothing is sent or written.
//!
//! A wrong DNS record sends a whole list to spam without a single error
//! on our side, and a template that fails only on this week's content
//! fails on Sunday: the doctor runs what a send depends on, before it
//! matters. The checks are grouped by what they look at: the files on
//! this server (`setup.rs`), the relays (`relays.rs`), and the From
//! domain's DNS records (`domain.rs`, read with `records.rs`).

mod domain;
mod records;
mod relays;
mod setup;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::week::IssueWeek;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

impl Level {
    pub fn label(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub level: Level,
    /// What was checked: `dkim record`, `smtp relay ses`.
    pub topic: String,
    pub message: String,
    /// Each problem found, when there are several (a glossary's).
    pub details: Vec<String>,
    /// What to change; set for every warning and failure.
    pub fix: Option<String>,
}

/// Every check's result, in the order they ran.
#[derive(Debug, Default)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    /// A message of several lines (a template's compile error) keeps its
    /// first on the check's line and the rest as details.
    fn push(&mut self, level: Level, topic: &str, message: String, fix: Option<String>) {
        let mut lines = message.lines();
        let first = lines.next().unwrap_or_default().trim_end().to_string();
        self.checks.push(Check {
            level,
            topic: topic.to_string(),
            message: first,
            details: lines.map(|l| l.trim_end().to_string()).collect(),
            fix,
        });
    }

    fn ok(&mut self, topic: &str, message: impl Into<String>) {
        self.push(Level::Ok, topic, message.into(), None);
    }

    fn warn(&mut self, topic: &str, message: impl Into<String>, fix: impl Into<String>) {
        self.push(Level::Warn, topic, message.into(), Some(fix.into()));
    }

    fn fail(&mut self, topic: &str, message: impl Into<String>, fix: impl Into<String>) {
        self.push(Level::Fail, topic, message.into(), Some(fix.into()));
    }

    /// How many checks came out at `level`.
    pub fn count(&self, level: Level) -> usize {
        self.checks.iter().filter(|c| c.level == level).count()
    }

    /// The report as printed: a line per check, its details and fix
    /// indented below it, then the tally.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            out.push_str(&format!(
                "{:<4}  {}: {}\n",
                c.level.label(),
                c.topic,
                c.message
            ));
            for d in &c.details {
                out.push_str(&format!("        {d}\n"));
            }
            if let Some(fix) = &c.fix {
                out.push_str(&format!("      fix: {fix}\n"));
            }
        }
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        out.push_str(&format!(
            "{}, {}, {}\n",
            plural(self.count(Level::Ok), "ok", "ok"),
            plural(self.count(Level::Warn), "warning", "warnings"),
            plural(self.count(Level::Fail), "failure", "failures"),
        ));
        out
    }
}

/// Run every check against `config`, as of `now` (whose week's issue the
/// templates must render).
pub fn examine(config: &Config, now: DateTime<Utc>, week: IssueWeek) -> Report {
    let mut report = Report::default();
    setup::check(config, now, week, &mut report);
    relays::check(config, &mut report);
    domain::check(config, &mut report);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_prints_a_line_per_check_with_fixes_and_a_tally() {
        let mut r = Report::default();
        r.ok("config", "digest.toml");
        r.warn(
            "postal_address",
            "not set",
            "set [newsletter] postal_address",
        );
        r.fail("content", "2 problems in content", "fix the files named");
        r.checks[2].details = vec!["content/a.md:3: bad".into()];
        assert_eq!(
            r.render(),
            "ok    config: digest.toml\n\
             warn  postal_address: not set\n      fix: set [newsletter] postal_address\n\
             FAIL  content: 2 problems in content\n        content/a.md:3: bad\n      fix: fix the files named\n\
             1 ok, 1 warning, 1 failure\n"
        );
    }
}

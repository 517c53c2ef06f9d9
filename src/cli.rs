//! The command line: `digest <command>`. Doc comments are the help text.

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::role::Role;
use crate::week::IssueWeek;

#[derive(Debug, Parser)]
#[command(
    name = "digest",
    version,
    about = "The weekly email digest of an AI glossary",
    long_about = "Builds each week's issue from the glossary's Markdown files (one featured term, \
                  the terms new this week), renders it as HTML and plain-text email, and sends it \
                  to the subscribers kept in SQLite."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Configuration file [default: ./digest.toml when it exists, else built-in defaults]
    #[arg(long, global = true, env = "DIGEST_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// SQLite database, overriding `[paths] database`
    #[arg(long, global = true, env = "DIGEST_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// Pretend the current time is this (RFC 3339 or YYYY-MM-DD); for
    /// testing and reproducing a past run
    #[arg(long, global = true, env = "DIGEST_NOW", value_name = "TIME", value_parser = parse_now, hide = true)]
    pub now: Option<DateTime<Utc>>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render an issue to local files without sending anything
    Preview(PreviewArgs),
    /// Check or list the glossary's terms
    #[command(subcommand)]
    Terms(TermsCommand),
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// The ISO week of the issue, e.g. 2026-W48 [default: the current week]
    #[arg(long, value_parser = parse_week)]
    pub week: Option<IssueWeek>,

    /// Render the variant for a reader with this role
    #[arg(long, value_parser = parse_role)]
    pub role: Option<Role>,

    /// Feature this term (its slug) instead of the one the rotation picks
    #[arg(long, value_name = "SLUG")]
    pub feature: Option<String>,

    /// Folder to write YYYY-Www.html and YYYY-Www.txt into
    #[arg(long, value_name = "DIR", default_value = "preview")]
    pub out: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum TermsCommand {
    /// Validate every term file; exit 2 and list every problem when any
    Check,
    /// List the terms: slug, title, added, tags, published or scheduled
    List {
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

pub fn parse_week(s: &str) -> Result<IssueWeek, String> {
    s.parse().map_err(|e: crate::week::BadWeek| e.to_string())
}

pub fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
        .map_err(|e: crate::role::UnknownRole| e.to_string())
}

fn parse_now(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(|d| d.and_hms_opt(12, 0, 0).expect("valid").and_utc())
        .map_err(|_| {
            format!("`{s}` is not an RFC 3339 time (2026-11-29T18:00:00Z) or a date (2026-11-29)")
        })
}

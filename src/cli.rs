//! The command line: `digest <command>`. Doc comments are the help text.

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::role::Role;
use crate::status::Status;
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
    /// Add a subscriber (active: you vouch for the address), or bring one back
    Subscribe(SubscribeArgs),
    /// Unsubscribe an address
    Unsubscribe {
        /// The subscriber's email address
        email: String,
    },
    /// List, import or export subscribers
    #[command(subcommand)]
    Subscribers(SubscribersCommand),
    /// Send the week's issue to every active subscriber (resumable)
    Send(SendArgs),
    /// Serve the subscribe form, confirmation and one-click unsubscribe
    /// links, and the web archive
    Serve {
        /// Address to listen on [default: `[serve] listen`, 127.0.0.1:8080]
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
    },
    /// Read bounces, spam complaints and mailto unsubscribes: one raw
    /// message from FILE or standard input (an MTA pipe), or with --imap
    /// the unseen messages of the `[inbound.imap]` mailbox
    Inbound(InboundArgs),
    /// Check the setup before a send: config, content, templates, the
    /// database, each relay (connect, TLS, login) and the From domain's
    /// DKIM, SPF, DMARC and MX records. Sends and writes nothing
    Doctor,
    /// The issues sent so far, with their delivery, bounce and complaint counts
    History {
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
}

#[derive(Debug, Args)]
pub struct InboundArgs {
    /// The raw message, or `-` for standard input [default: -]
    #[arg(value_name = "FILE|-", conflicts_with = "imap")]
    pub file: Option<PathBuf>,

    /// Read the unseen messages of the `[inbound.imap]` mailbox instead
    #[arg(long)]
    pub imap: bool,
}

impl InboundArgs {
    /// True when one message comes from a file or an MTA pipe.
    pub fn is_one_message(&self) -> bool {
        !self.imap
    }
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The ISO week of the issue, e.g. 2026-W48 [default: the current week]
    #[arg(long, value_parser = parse_week)]
    pub week: Option<IssueWeek>,

    /// Feature this term (its slug); only when the week's issue is not frozen yet
    #[arg(long, value_name = "SLUG")]
    pub feature: Option<String>,

    /// Build every message but send nothing and write nothing to the database
    #[arg(long)]
    pub dry_run: bool,

    /// With --dry-run: write each message to DIR as an .eml file
    #[arg(long, value_name = "DIR", requires = "dry_run")]
    pub outbox: Option<PathBuf>,

    /// Also retry the deliveries that failed in an earlier run
    #[arg(long, conflicts_with_all = ["dry_run", "test"])]
    pub retry_failed: bool,

    /// Send the issue now to ADDRESS only (repeatable), subject marked
    /// `[TEST]`, with the inert preview unsubscribe link; the database is
    /// neither read for subscribers nor written
    #[arg(long, value_name = "ADDRESS", conflicts_with = "dry_run")]
    pub test: Vec<String>,

    /// With --test: the variant for a reader with this role
    #[arg(long, value_parser = parse_role, requires = "test")]
    pub role: Option<Role>,

    /// Connect to the SMTP relay, say EHLO, start TLS and log in, and
    /// report what it offers; send nothing, write nothing
    #[arg(long, conflicts_with_all = ["dry_run", "test", "retry_failed", "feature", "week"])]
    pub check_relays: bool,

    /// Print the summary as a JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SubscribeArgs {
    /// The email address
    pub email: String,
    /// Display name, used in the To header (at most 100 characters)
    #[arg(long)]
    pub name: Option<String>,
    /// The reader's role: their paragraph comes first in every issue
    #[arg(long, value_parser = parse_role)]
    pub role: Option<Role>,
    /// Add as pending and send the confirmation email (double opt-in)
    #[arg(long)]
    pub pending: bool,
    /// The reader's IANA time zone (e.g. Europe/Paris), for `[send]
    /// local_time`; also sets it for an address already on the list
    #[arg(long, value_parser = parse_timezone)]
    pub timezone: Option<chrono_tz::Tz>,
}

#[derive(Debug, Subcommand)]
pub enum SubscribersCommand {
    /// List subscribers (tokens are never shown)
    List {
        /// Only subscribers with this status
        #[arg(long, value_parser = parse_status)]
        status: Option<Status>,
        #[arg(long, value_enum, default_value_t = SubscriberFormat::Table)]
        format: SubscriberFormat,
    },
    /// Import subscribers from a CSV file with an `email` column (and
    /// optionally `name`, `role`, `status`, `created_at`); `-` reads standard input
    Import {
        /// The CSV file, or `-` for standard input; several files (such as
        /// Mailchimp's subscribed, unsubscribed and cleaned members) are one
        /// import
        #[arg(required = true, num_args = 1..)]
        file: Vec<PathBuf>,
        /// Status for rows without a `status` value
        #[arg(long, value_parser = parse_import_status, default_value = "active")]
        status: Status,
        /// Check the file and report what would happen; write nothing
        #[arg(long)]
        dry_run: bool,
        /// The tool the file was exported from; without it, the header row
        /// says (`csv` is our own format)
        #[arg(long, value_enum)]
        from: Option<crate::import::Source>,
    },
    /// One subscriber and their history: subscribed, confirmed, each issue
    /// sent, each bounce, complaint and unsubscribe
    Show {
        /// The subscriber's email address
        email: String,
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Export subscribers to standard output
    Export {
        /// Only subscribers with this status
        #[arg(long, value_parser = parse_status)]
        status: Option<Status>,
        #[arg(long, value_enum, default_value_t = ExportFormat::Csv)]
        format: ExportFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SubscriberFormat {
    Table,
    Csv,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Csv,
    Json,
}

fn parse_status(s: &str) -> Result<Status, String> {
    s.parse()
}

fn parse_import_status(s: &str) -> Result<Status, String> {
    match s.parse()? {
        st @ (Status::Active | Status::Pending) => Ok(st),
        _ => Err("an import adds subscribers as `active` or `pending`".into()),
    }
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

    /// Serve a live preview of every week and role instead of writing
    /// files: it reloads when a file under content/ or templates/ changes
    #[arg(long, conflicts_with_all = ["week", "role", "feature", "out"])]
    pub serve: bool,

    /// Address for --serve to listen on [default: 127.0.0.1:8081]
    #[arg(long, value_name = "ADDR", requires = "serve")]
    pub listen: Option<std::net::SocketAddr>,
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

pub fn parse_timezone(s: &str) -> Result<chrono_tz::Tz, String> {
    s.trim().parse().map_err(|_| {
        format!(
            "`{s}` is not a time zone; give an IANA name such as Europe/Paris or America/New_York"
        )
    })
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

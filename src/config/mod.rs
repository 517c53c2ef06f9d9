//! `digest.toml`: every key optional, every section known from the start.
//!
//! The whole schema is accepted even where the feature behind a key lands
//! later, so a config file written today stays valid as the product grows;
//! anything *not* in the schema is an error naming the line and the nearest
//! known key, because a misspelt key silently ignored is a newsletter sent
//! with the wrong settings. Values are parsed once, here, into the types
//! the rest of the program takes: nothing re-parses a config string later.

mod imap_url;
mod parse;
mod relays;
mod smtp_url;
mod webhooks;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use chrono_tz::Tz;
use lettre::message::Mailbox;

pub use imap_url::{ImapTls, ImapUrl};
pub use relays::{Relay, SMTP_RELAY};
pub use smtp_url::{SmtpUrl, TlsMode};
pub use webhooks::{P256_SPKI_PREFIX, Webhooks};

use crate::urls::PublicUrl;

/// The validated configuration, with paths resolved.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from; `None` for built-in defaults.
    pub source: Option<PathBuf>,
    pub newsletter: Newsletter,
    pub paths: Paths,
    pub smtp: Smtp,
    pub send: Send,
    pub dkim: Option<Dkim>,
    pub serve: Serve,
    pub inbound: Inbound,
    pub webhooks: Webhooks,
    /// Where mail goes: every `[[relay]]`, or `[smtp]` as the one relay
    /// named `smtp`. Never empty.
    pub relays: Vec<Relay>,
    pub dns: Dns,
}

/// `[dns]`: where `digest doctor` asks about the sender's DNS records.
#[derive(Debug, Clone)]
pub struct Dns {
    /// Unset: the system resolver's first `nameserver` in /etc/resolv.conf.
    pub nameserver: Option<SocketAddr>,
}

#[derive(Debug, Clone)]
pub struct Newsletter {
    pub name: String,
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    /// The glossary site the term links point to.
    pub site_url: PublicUrl,
    /// Where `digest serve` answers: every link in the mail starts here.
    pub public_url: PublicUrl,
    pub timezone: Tz,
    /// How dates are written, and the email's `lang`.
    pub locale: crate::locale::Locale,
    pub postal_address: Option<String>,
    pub list_id: String,
}

#[derive(Debug, Clone)]
pub struct Paths {
    pub content: PathBuf,
    pub templates: PathBuf,
    pub database: PathBuf,
    /// Where `digest inbound` keeps the messages it did not apply.
    pub inbound: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Smtp {
    pub url: SmtpUrl,
    pub timeout: Duration,
    /// An extra trusted root certificate (PEM) for a relay with a private CA.
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Send {
    pub concurrency: u32,
    pub rate_per_second: Option<f64>,
    pub max_attempts: u32,
    /// The first retry's wait; each further one doubles it.
    pub retry_base: Duration,
    pub bounce_after: u32,
    /// Deliver each reader's issue at or after this time on the issue's
    /// Sunday, in their own zone.
    pub local_time: Option<chrono::NaiveTime>,
}

#[derive(Debug, Clone)]
pub struct Dkim {
    pub domain: String,
    pub selector: String,
    pub private_key_file: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Serve {
    pub listen: SocketAddr,
    /// At most a year.
    pub confirm_expiry_hours: u64,
}

impl Serve {
    /// How long a confirmation link stays valid.
    pub fn confirm_expiry(&self) -> chrono::Duration {
        chrono::Duration::hours(self.confirm_expiry_hours.min(8760) as i64)
    }

    /// The same, in whole days, as the mail tells the reader.
    pub fn confirm_expiry_days(&self) -> u64 {
        self.confirm_expiry_hours.div_ceil(24)
    }
}

/// `[inbound]`: hearing back from the mail that was sent.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The VERP envelope sender's base: `bounces+TAG@…` when set.
    pub bounce_address: Option<lettre::Address>,
    /// The mailto unsubscribe base: `unsubscribe+TOKEN@…` when set.
    pub unsubscribe_address: Option<lettre::Address>,
    /// Soft bounces on this many consecutive issues make an address bounced.
    pub soft_bounce_limit: u32,
    pub imap: Option<Imap>,
}

/// `[inbound.imap]`: the mailbox `digest inbound --imap` reads.
#[derive(Debug, Clone)]
pub struct Imap {
    pub url: ImapUrl,
    pub folder: String,
    pub processed_folder: String,
    /// An extra trusted root certificate (PEM) for a server with a private CA.
    pub ca_file: Option<PathBuf>,
}

pub const DEFAULT_FILE: &str = "digest.toml";

impl Config {
    /// Find and load the configuration: `explicit` (the `--config` flag or
    /// `DIGEST_CONFIG`), else `./digest.toml` when it exists, else defaults.
    pub fn discover(explicit: Option<&Path>) -> anyhow::Result<Config> {
        match explicit {
            Some(path) => {
                if !path.is_file() {
                    crate::bad_input!(
                        "config file {} does not exist; check --config / DIGEST_CONFIG, or leave both unset to use ./{DEFAULT_FILE}",
                        path.display()
                    );
                }
                Config::load(path)
            }
            None if Path::new(DEFAULT_FILE).is_file() => Config::load(Path::new(DEFAULT_FILE)),
            None => Config::parse("", None),
        }
    }

    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Config::parse(&text, Some(path))
    }
}

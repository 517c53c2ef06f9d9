//! What the command modules share, in one place:
//!
//! - [`site`]: the temporary site (folder, config, content, database) every
//!   test starts from, and the generated subscriber lists;
//! - [`config`]: a builder for `digest.toml`;
//! - [`run`]: `digest` as a test runs it (pinned clock, clean environment)
//!   and its exit code, standard output and error;
//! - [`ports`]: free and closed ports on 127.0.0.1;
//! - [`db`]: reading the database (for assertions) and the subscriber list;
//! - [`mail`]: header fields of raw messages;
//! - [`dkim`]: the DKIM verification by dkimpy;
//! - [`dnsmasq`]: a private name server serving the records a test gives;
//! - [`smtp`]: the in-process SMTP server;
//! - [`pipelining`]: a scripted SMTP server with PIPELINING and CHUNKING;
//! - [`fmt`]: numbers as the commands print them;
//! - [`server`]: `digest serve` as a child process, and raw HTTP to it;
//! - [`postfix`], [`dovecot`]: a private Postfix (a real MTA that writes
//!   DSNs and pipes them into a command) and a private Dovecot (a real IMAP
//!   mailbox), for the inbound tests.
//!
//! The external tools some tests need (Chromium, SpamAssassin, dkimpy,
//! html-validate, flufl.bounce, feedparser, Postfix, Dovecot, dnsmasq) are looked for by `build.rs`: a test whose tool is missing
//! is compiled `#[ignore]`d outside CI (see there).

pub mod config;
mod daemon;
pub mod db;
pub mod dkim;
pub mod dnsmasq;
pub mod dovecot;
pub mod fmt;
pub mod mail;
pub mod pipelining;
pub mod ports;
pub mod postfix;
pub mod run;
pub mod server;
pub mod site;
pub mod smtp;

pub use config::Config;
pub use run::{Run, finish, output, run};
pub use site::{Site, copy_dir, fixture, repo, shared_smtp};

//! glossary-digest: the weekly email digest of an AI glossary.
//!
//! The pipeline is pure in the middle and has its edges at the ends:
//! `content` loads the Markdown glossary, `select` picks the week's terms,
//! `render` turns them into an email; the database and SMTP come later and
//! only at the edges.

// Domain: values every layer shares.
pub mod address;
pub mod clock;
pub mod delivery;
pub mod error;
pub mod lease;
pub mod role;
pub mod secret;
pub mod status;
pub mod timestamp;
pub mod token;
pub mod urls;
pub mod week;

// Input: the configuration and the TOML helpers it shares with content.
pub mod config;
pub mod toml_keys;

// Pure steps: glossary → selection → rendering → messages.
pub mod content;
pub mod mail;
pub mod render;
pub mod select;

// Edges: the database, where mail goes, the web server.
pub mod fsutil;
pub mod http;
pub mod store;
pub mod transport;

// Use cases.
pub mod import;
pub mod issue;
pub mod optin;
pub mod send;

// The command line.
pub mod app;
pub mod cli;
pub mod cmd;

use clap::Parser as _;

use crate::cli::{Cli, Command};

/// Parse the command line and run the command.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing();
    let app = app::App::new(&cli.global)?;
    match &cli.command {
        Command::Preview(args) => cmd::preview::run(&app, args),
        Command::Terms(command) => cmd::terms::run(&app, command),
        Command::Subscribe(args) => cmd::subscribe::subscribe(&app, args),
        Command::Unsubscribe { email } => cmd::subscribe::unsubscribe(&app, email),
        Command::Subscribers(command) => cmd::subscribers::run(&app, command),
        Command::Send(args) => cmd::send::run(&app, args),
        Command::History { format } => cmd::history::run(&app, *format),
        Command::Serve { listen } => cmd::serve::run(&app, *listen),
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    // lettre logs every SMTP command it writes at debug level, the AUTH
    // exchange (the password, base64-encoded) included: those targets are
    // capped whatever RUST_LOG says, so a secret never reaches a log.
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| EnvFilter::new("warn,glossary_digest=info"))
        .add_directive(
            "lettre::transport::smtp::client=info"
                .parse()
                .expect("valid directive"),
        )
        .add_directive(
            "lettre::transport::smtp::commands=info"
                .parse()
                .expect("valid directive"),
        )
        // The HTML parser behind CSS inlining traces every token: hundreds
        // of megabytes for one issue, and nothing about the digest.
        .add_directive("html5ever=info".parse().expect("valid directive"))
        .add_directive("selectors=info".parse().expect("valid directive"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

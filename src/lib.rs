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
pub mod locale;
pub mod role;
pub mod secret;
pub mod status;
pub mod tag;
pub mod timestamp;
pub mod token;
pub mod urls;
pub mod week;

// Input: the configuration and the TOML helpers it shares with content.
pub mod config;
pub mod toml_keys;

// Pure steps: glossary → selection → rendering → messages.
pub mod classify;
pub mod content;
pub mod mail;
pub mod render;
pub mod select;
pub mod webhook;

// Edges: the database, where mail goes, the web server.
pub mod dns;
pub mod fetch;
pub mod fsutil;
pub mod http;
pub mod imap;
pub mod store;
pub mod tls;
pub mod transport;

// Use cases.
pub mod callbacks;
pub mod doctor;
pub mod import;
pub mod inbound;
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
    let app = match app::App::new(&cli.global) {
        Ok(app) => app,
        // A message handed over by an MTA must not be bounced (or lost)
        // because the config is broken: the MTA keeps it and retries.
        Err(e) if matches!(&cli.command, Command::Inbound(a) if a.is_one_message()) => {
            return Err(cmd::inbound::try_again_later(e));
        }
        Err(e) => return Err(e),
    };
    match &cli.command {
        Command::Preview(args) => cmd::preview::run(&app, args),
        Command::Terms(command) => cmd::terms::run(&app, command),
        Command::Subscribe(args) => cmd::subscribe::subscribe(&app, args),
        Command::Unsubscribe { email } => cmd::subscribe::unsubscribe(&app, email),
        Command::Subscribers(command) => cmd::subscribers::run(&app, command),
        Command::Send(args) => cmd::send::run(&app, args),
        Command::Doctor => cmd::doctor::run(&app),
        Command::History { format } => cmd::history::run(&app, *format),
        Command::Serve { listen } => cmd::serve::run(&app, *listen),
        Command::Inbound(args) => cmd::inbound::run(&app, args),
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

/// The layers of the code, lowest first, as the README's "How the code is
/// laid out" describes them. A module may use its own layer and those
/// below; the test below reads every source file and holds it to that.
#[cfg(test)]
mod layers {
    const LAYERS: &[&[&str]] = &[
        // Domain values.
        &[
            "address",
            "clock",
            "delivery",
            "error",
            "bad_input",
            "lease",
            "role",
            "secret",
            "status",
            "timestamp",
            "token",
            "tag",
            "urls",
            "week",
            "locale",
            "fsutil",
        ],
        // The configuration.
        &["config", "toml_keys"],
        // Pure steps, in the order the data flows.
        &["content"],
        &["select"],
        &["render"],
        &["mail"],
        &["classify", "webhook"],
        // Outbound edges.
        &["store", "transport", "imap", "tls", "fetch", "dns"],
        // Use cases.
        &[
            "callbacks",
            "doctor",
            "import",
            "inbound",
            "issue",
            "send",
            "optin",
        ],
        // Entry points: the command line and the web server.
        &["http", "app", "cli", "cmd", "lib", "main"],
    ];

    fn layer(module: &str) -> Option<usize> {
        LAYERS.iter().position(|l| l.contains(&module))
    }

    fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn no_module_uses_a_layer_above_its_own() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut all = Vec::new();
        files(&src, &mut all);
        let mut wrong = Vec::new();
        for path in all {
            let rel = path.strip_prefix(&src).unwrap();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let module = first.trim_end_matches(".rs").to_string();
            let own = layer(&module).unwrap_or_else(|| panic!("{module} has no layer"));
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in text.lines().enumerate() {
                for (i, _) in line.match_indices("crate::") {
                    let used: String = line[i + 7..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    match layer(&used) {
                        _ if used.is_empty() => {}
                        Some(l) if l <= own => {}
                        _ => {
                            wrong.push(format!("{}:{}: {module} uses {used}", rel.display(), n + 1))
                        }
                    }
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}

//! `digest inbound [FILE|-]` and `digest inbound --imap`.
//!
//! One message from a file or an MTA pipe speaks the MTA's language: exit
//! 0 when the message was applied or kept, 75 (EX_TEMPFAIL) when it could
//! not be recorded now, so the MTA keeps it and tries again. A message
//! that simply is not ours is kept and exits 0: a failure code would make
//! the MTA bounce the bounce. The IMAP run is a cron job like `send`: 0,
//! or 1 naming what failed.

use std::io::Read as _;
use std::time::Duration;

use anyhow::Context as _;

use crate::app::App;
use crate::cli::InboundArgs;
use crate::error::{Exit, InputError};
use crate::imap::{Credentials, Mailbox};
use crate::inbound::{Heard, Hearing, Tally, hear, keep};
use crate::lease::Holder;
use crate::store::Store;

/// EX_TEMPFAIL from sysexits.h: "try again later".
pub const EX_TEMPFAIL: u8 = 75;

/// `err` as exit 75, saying the message is still the MTA's to keep.
pub fn try_again_later(err: anyhow::Error) -> anyhow::Error {
    Exit {
        code: EX_TEMPFAIL,
        message: format!(
            "{err:#}\nthe message was not recorded; exit {EX_TEMPFAIL} asks the mail system to keep it and try again"
        ),
    }
    .into()
}

/// Recipients an MTA passes beside the message: Postfix's pipe to a
/// command sets these.
const ENVELOPE_VARIABLES: [&str; 2] = ["ORIGINAL_RECIPIENT", "RECIPIENT"];

pub fn run(app: &App, args: &InboundArgs) -> anyhow::Result<()> {
    if args.imap {
        return imap(app);
    }
    let raw = match &args.file {
        Some(path) if path.as_os_str() != "-" => std::fs::read(path).map_err(|e| {
            InputError(format!(
                "cannot read the message {}: {e}; give the path of a raw message, or - for standard input",
                path.display()
            ))
        })?,
        _ => {
            let mut raw = Vec::new();
            std::io::stdin()
                .read_to_end(&mut raw)
                .context("cannot read the message from standard input")
                .map_err(try_again_later)?;
            raw
        }
    };
    let envelope: Vec<String> = ENVELOPE_VARIABLES
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .filter(|v| !v.is_empty())
        .collect();
    let line = one_message(app, &raw, &envelope).map_err(try_again_later)?;
    println!("{line}");
    Ok(())
}

fn hearing(app: &App, store: &mut Store) -> anyhow::Result<Hearing> {
    Ok(Hearing::new(&app.config.inbound, store.tag_key()?))
}

/// The list's database, which must exist: a database made here would
/// know no delivery, and every bounce would only be kept.
fn existing_store(app: &App) -> anyhow::Result<Store> {
    app.store_if_exists()?.ok_or_else(|| {
        anyhow::anyhow!(
            "there is no database at {}; check [paths] database (or --db / DIGEST_DB) in the config `digest inbound` runs with",
            app.config.paths.database.display()
        )
    })
}

fn one_message(app: &App, raw: &[u8], envelope: &[String]) -> anyhow::Result<String> {
    let mut store = existing_store(app)?;
    let hearing = hearing(app, &mut store)?;
    let heard = hear(&mut store, &hearing, raw, envelope, app.now_stamp())?;
    Ok(match heard {
        Heard::NotApplied(reason) => {
            let kept = keep(&app.config.paths.inbound, raw)?;
            format!(
                "kept: {reason}: {} {}",
                if kept.already {
                    "already saved as"
                } else {
                    "saved as"
                },
                kept.path.display()
            )
        }
        heard => heard.line(),
    })
}

/// The lease an IMAP run holds, so that two overlapping cron runs never
/// work on the same mailbox at once.
const IMAP_LEASE: &str = "inbound-imap";

/// How long the IMAP lease lasts without a release (a killed run's lease
/// is taken over at once on the same host).
const IMAP_LEASE_TTL: Duration = Duration::from_secs(30 * 60);

fn credentials(app: &App) -> anyhow::Result<Credentials> {
    let url_user = app
        .config
        .inbound
        .imap
        .as_ref()
        .and_then(|i| i.url.user.clone());
    let username = std::env::var("DIGEST_IMAP_USERNAME")
        .ok()
        .filter(|u| !u.is_empty())
        .or(url_user)
        .ok_or_else(|| {
            InputError(
                "no IMAP user: set DIGEST_IMAP_USERNAME (or write it in [inbound.imap] url, imaps://USER@host)"
                    .into(),
            )
        })?;
    let password = crate::secret::from_env("DIGEST_IMAP_PASSWORD")?.ok_or_else(|| {
        InputError(
            "no IMAP password: set DIGEST_IMAP_PASSWORD, or DIGEST_IMAP_PASSWORD_FILE to a file holding it"
                .into(),
        )
    })?;
    Ok(Credentials { username, password })
}

fn imap(app: &App) -> anyhow::Result<()> {
    let Some(config) = &app.config.inbound.imap else {
        crate::bad_input!(
            "`digest inbound --imap` reads the mailbox of [inbound.imap]; add it to {}, e.g.\n[inbound.imap]\nurl = \"imaps://imap.example.com:993\"",
            app.config
                .source
                .as_ref()
                .map_or_else(|| "digest.toml".into(), |p| p.display().to_string())
        );
    };
    let credentials = credentials(app)?;
    let mut store = existing_store(app)?;
    let hearing = hearing(app, &mut store)?;
    let holder = Holder::this_process()?;
    if let Some(other) =
        store.take_run_lease(IMAP_LEASE, &holder, app.now_stamp(), IMAP_LEASE_TTL)?
    {
        println!("another `digest inbound --imap` is reading the mailbox ({other}); nothing to do");
        return Ok(());
    }
    let runtime = super::send::runtime()?;
    let timeout = app.config.smtp.timeout;
    let result = runtime.block_on(async {
        let mut mailbox = Mailbox::open(config, &credentials, timeout).await?;
        let mut tally = Tally::default();
        for uid in mailbox.unseen().await? {
            let Some(raw) = mailbox.fetch(uid).await? else {
                continue;
            };
            let heard = hear(&mut store, &hearing, &raw, &[], app.now_stamp())
                .with_context(|| format!("message UID {uid} of {}", config.folder))?;
            match &heard {
                Heard::NotApplied(reason) => {
                    println!(
                        "kept: {reason}: left in {} (UID {uid}), marked seen",
                        config.folder
                    );
                    mailbox.mark_seen(uid).await?;
                }
                applied => {
                    println!("{}", applied.line());
                    mailbox.move_to_processed(uid).await?;
                }
            }
            tally.add(&heard);
        }
        mailbox.logout().await;
        anyhow::Ok(tally)
    });
    store.release_run_lease(IMAP_LEASE, &holder)?;
    let tally = result?;
    println!("{}", tally.summary());
    Ok(())
}

//! `digest subscribe` and `digest unsubscribe`: one address at a time, by
//! an administrator.

use crate::address::{SubscriberEmail, SubscriberName};
use crate::app::App;
use crate::cli::SubscribeArgs;
use crate::clock::Clock;
use crate::error::InputError;
use crate::mail::dkim_config;
use crate::render::Templates;
use crate::status::Status;
use crate::store::{OptIn, Store, SubscribeOutcome, UnsubscribeOutcome};
use crate::transport::Transport as _;
use crate::transport::smtp::Smtp;

pub fn parse_email(input: &str) -> anyhow::Result<SubscriberEmail> {
    SubscriberEmail::parse(input)
        .map_err(|e| InputError(format!("{e}; give an address like ada@example.com")).into())
}

pub fn subscribe(app: &App, args: &SubscribeArgs) -> anyhow::Result<()> {
    let email = parse_email(&args.email)?;
    let name = match &args.name {
        Some(n) => SubscriberName::parse(n).map_err(|e| InputError(format!("--name: {e}")))?,
        None => None,
    };
    let mut store = app.store_for_writing()?;
    if args.pending {
        opt_in(app, &mut store, &email, name.as_ref(), args.role)?;
        if let Some(zone) = args.timezone {
            store.set_timezone(&email, zone)?;
        }
        return Ok(());
    }
    let outcome = store.subscribe(&email, name.as_ref(), args.role, false, app.now_stamp())?;
    let message = match outcome {
        SubscribeOutcome::Added { .. } => format!("subscribed {email}"),
        SubscribeOutcome::AlreadyActive => format!("already subscribed: {email}"),
        SubscribeOutcome::AlreadyPending => format!("already pending confirmation: {email}"),
        SubscribeOutcome::Confirmed => format!("subscribed {email} (was pending confirmation)"),
        SubscribeOutcome::Reactivated { was, status, how } => {
            let now = if status == Status::Pending {
                "pending again"
            } else {
                "re-subscribed"
            };
            match how {
                Some(_) => format!(
                    "{now}: {email} (was {was} after marking the digest as spam; their mail provider may file it as spam again)"
                ),
                None => format!("{now}: {email} (was {was})"),
            }
        }
    };
    match args.timezone {
        Some(zone) => {
            store.set_timezone(&email, zone)?;
            println!("{message} (time zone {})", zone.name());
        }
        None => println!("{message}"),
    }
    Ok(())
}

pub fn unsubscribe(app: &App, email: &str) -> anyhow::Result<()> {
    let email = parse_email(email)?;
    let outcome = match app.store_if_exists()? {
        Some(mut store) => store.unsubscribe(&email, app.now_stamp())?,
        None => UnsubscribeOutcome::NotFound,
    };
    match outcome {
        UnsubscribeOutcome::Unsubscribed => println!("unsubscribed {email}"),
        UnsubscribeOutcome::AlreadyUnsubscribed => println!("already unsubscribed: {email}"),
        UnsubscribeOutcome::NotFound => anyhow::bail!("no subscriber {email}"),
    }
    Ok(())
}

/// `--pending`: the address awaits its owner's confirmation, and gets the
/// same confirmation email as the web form sends.
fn opt_in(
    app: &App,
    store: &mut Store,
    email: &SubscriberEmail,
    name: Option<&SubscriberName>,
    role: Option<crate::role::Role>,
) -> anyhow::Result<()> {
    let (token, name, was, complained) = match store.request_opt_in(email, name, role, app.now())? {
        OptIn::AlreadyActive => {
            println!("already subscribed: {email}");
            return Ok(());
        }
        OptIn::RecentlySent => {
            println!(
                "already pending: a confirmation email went to {email} less than 10 minutes ago"
            );
            return Ok(());
        }
        OptIn::SendConfirmation {
            token,
            name,
            was,
            complained,
        } => (token, name, was, complained),
    };
    let config = &app.config;
    let templates = Templates::load(&config.paths.templates)?;
    let dkim = config.dkim.as_ref().map(dkim_config).transpose()?;
    let transport = Smtp::from_config(config)?;
    let endpoint = transport.describe();
    let runtime = super::send::runtime()?;
    let sent = runtime
        .block_on(crate::optin::send_confirmation(
            config,
            &templates,
            dkim.as_ref(),
            email.as_str(),
            name.as_deref(),
            &token,
            transport,
            Clock::starting_at(app.now()),
        ))
        .map_err(|e| e.context(endpoint));
    match sent {
        Ok(_) => {
            match was {
                None => println!("added {email} as pending and sent the confirmation email"),
                Some(Status::Pending) => {
                    println!("sent another confirmation email to {email} (pending)")
                }
                Some(was) if complained => println!(
                    "pending again: {email} (was {was} after marking the digest as spam); sent the confirmation email"
                ),
                Some(was) => {
                    println!("pending again: {email} (was {was}); sent the confirmation email")
                }
            }
            Ok(())
        }
        Err(e) => {
            store.confirmation_not_sent(token.as_str())?;
            Err(e.context(format!(
                "added {email} as pending, but the confirmation email could not be sent; run the command again to retry"
            )))
        }
    }
}

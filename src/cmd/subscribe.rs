//! `digest subscribe` and `digest unsubscribe`: one address at a time, by
//! an administrator.

use crate::address::{SubscriberEmail, SubscriberName};
use crate::app::App;
use crate::cli::SubscribeArgs;
use crate::error::InputError;
use crate::store::{Status, SubscribeOutcome, UnsubscribeOutcome};

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
    let outcome = store.subscribe(
        &email,
        name.as_ref(),
        args.role,
        args.pending,
        &app.now_stamp(),
    )?;
    let message = match outcome {
        SubscribeOutcome::Added {
            status: Status::Pending,
        } => format!("added {email} as pending: they become active once the address is confirmed"),
        SubscribeOutcome::Added { .. } => format!("subscribed {email}"),
        SubscribeOutcome::AlreadyActive => format!("already subscribed: {email}"),
        SubscribeOutcome::AlreadyPending => format!("already pending confirmation: {email}"),
        SubscribeOutcome::Confirmed => format!("subscribed {email} (was pending confirmation)"),
        SubscribeOutcome::Reactivated { was, status } => {
            let now = if status == Status::Pending {
                "pending again"
            } else {
                "re-subscribed"
            };
            format!("{now}: {email} (was {was})")
        }
    };
    println!("{message}");
    Ok(())
}

pub fn unsubscribe(app: &App, email: &str) -> anyhow::Result<()> {
    let email = parse_email(email)?;
    let outcome = match app.store_if_exists()? {
        Some(mut store) => store.unsubscribe(&email, &app.now_stamp())?,
        None => UnsubscribeOutcome::NotFound,
    };
    match outcome {
        UnsubscribeOutcome::Unsubscribed => println!("unsubscribed {email}"),
        UnsubscribeOutcome::AlreadyUnsubscribed => println!("already unsubscribed: {email}"),
        UnsubscribeOutcome::NotFound => anyhow::bail!("no subscriber {email}"),
    }
    Ok(())
}

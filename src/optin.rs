//! Double opt-in: the confirmation mail, built and sent the same way for
//! `digest subscribe --pending` and the web form, through the delivery
//! engine like every other message.

use lettre::message::dkim::DkimConfig;

use crate::clock::Clock;
use crate::config::Config;
use crate::render::Templates;
use crate::send::Settings;
use crate::token::Token;
use crate::transport::Transport;

/// Send the "confirm your subscription" mail for `token` to `email`; the
/// server's reply, or why it was not accepted (after the usual retries).
#[allow(clippy::too_many_arguments)]
pub async fn send_confirmation<T: Transport>(
    config: &Config,
    templates: &Templates,
    dkim: Option<&DkimConfig>,
    email: &str,
    name: Option<&str>,
    token: &Token,
    transport: T,
    clock: Clock,
) -> anyhow::Result<String> {
    let message = crate::mail::confirmation(
        &config.newsletter,
        templates,
        email,
        name,
        &config.newsletter.public_url.confirm(token.as_str()),
        config.serve.confirm_expiry_days(),
        dkim,
    )?;
    crate::send::send_one(&message, transport, Settings::for_one(&config.send), clock).await
}

/// Send the welcome email to a reader who has just confirmed; the
/// server's reply, or why it was not accepted.
#[allow(clippy::too_many_arguments)]
pub async fn send_welcome<T: Transport>(
    config: &Config,
    templates: &Templates,
    dkim: Option<&DkimConfig>,
    email: &str,
    name: Option<&str>,
    token: &Token,
    latest: Option<&crate::mail::Latest>,
    transport: T,
    clock: Clock,
) -> anyhow::Result<String> {
    let message = crate::mail::welcome(
        &config.newsletter,
        templates,
        email,
        name,
        token.as_str(),
        latest,
        dkim,
    )?;
    crate::send::send_one(&message, transport, Settings::for_one(&config.send), clock).await
}

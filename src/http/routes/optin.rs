//! Joining: the subscribe form, its post, and the confirmation link.
//!
//! The form answers every valid post with the same "check your inbox"
//! page, whether the address is new, pending or already subscribed, and
//! sends the confirmation mail in the background, so neither the page nor
//! its timing tells who is on the list.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::address::{SubscriberEmail, SubscriberName};
use crate::http::ratelimit::client_ip;
use crate::http::state::{AppState, mask};
use crate::role::Role;
use crate::store::{Confirmed, OptIn};
use crate::token::Token;

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct SubscribeForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    /// The honeypot: hidden from people, filled in by bots.
    #[serde(default)]
    website: String,
    /// The browser's time zone, filled in by the page's one script.
    #[serde(default)]
    timezone: String,
}

pub async fn form(State(state): State<Arc<AppState>>) -> Response {
    state.page(StatusCode::OK, "web/form.html", |ctx| {
        ctx.insert("form", &SubscribeForm::default());
        ctx.insert("error", &None::<String>);
    })
}

pub async fn subscribe(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<SubscribeForm>, FormRejection>,
) -> Response {
    if !state.limiter.allow(client_ip(peer, &headers)) {
        return state.page(StatusCode::TOO_MANY_REQUESTS, "web/too_many.html", |_| {});
    }
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return state.page(StatusCode::PAYLOAD_TOO_LARGE, "web/error.html", |_| {});
        }
        Err(_) => {
            return state.page(StatusCode::UNPROCESSABLE_ENTITY, "web/form.html", |ctx| {
                ctx.insert("form", &SubscribeForm::default());
                ctx.insert("error", &Some("Please fill in the form."));
            });
        }
    };
    let check_inbox = |state: &AppState| state.page(StatusCode::OK, "web/check_inbox.html", |_| {});
    if !form.website.trim().is_empty() {
        return check_inbox(&state);
    }
    let invalid = |error: String| {
        state.page(StatusCode::UNPROCESSABLE_ENTITY, "web/form.html", |ctx| {
            ctx.insert("form", &form);
            ctx.insert("error", &Some(error));
        })
    };
    let email = match SubscriberEmail::parse(&form.email) {
        Ok(email) => email,
        Err(e) => return invalid(format!("That address does not look right: {e}.")),
    };
    let name = match SubscriberName::parse(&form.name) {
        Ok(name) => name,
        Err(e) => return invalid(format!("Please check the name: {e}.")),
    };
    let role = match form.role.trim() {
        "" => None,
        r => match r.parse::<Role>() {
            Ok(role) => Some(role),
            Err(_) => return invalid("Please pick a role from the list.".into()),
        },
    };
    let now = state.clock.now();
    let outcome = {
        let email = email.clone();
        let zone = form.timezone.clone();
        state
            .db(move |store| {
                let outcome = store.request_opt_in(&email, name.as_ref(), role, now)?;
                // A zone the browser got wrong is left out, not refused:
                // the reader did not type it.
                if let (OptIn::SendConfirmation { .. }, Ok(zone)) =
                    (&outcome, zone.trim().parse::<chrono_tz::Tz>())
                {
                    store.set_timezone(&email, zone)?;
                }
                Ok(outcome)
            })
            .await
    };
    match outcome {
        Ok(OptIn::SendConfirmation { token, name, .. }) => {
            // Sent in the background: a reply that waited for SMTP would
            // take longer for a new address than for a subscribed one, and
            // the timing would tell who is on the list.
            let state2 = state.clone();
            tokio::spawn(async move {
                let state = state2;
                if let Err(e) =
                    send_confirmation(&state, email.as_str(), name.as_deref(), &token).await
                {
                    tracing::error!(
                        "the confirmation mail to {} could not be sent: {e:#}",
                        mask(email.as_str())
                    );
                    let forgotten = state
                        .db(move |store| store.confirmation_not_sent(token.as_str()))
                        .await;
                    if let Err(e) = forgotten {
                        tracing::error!("{e:#}");
                    }
                }
            });
            check_inbox(&state)
        }
        Ok(OptIn::RecentlySent | OptIn::AlreadyActive) => check_inbox(&state),
        Err(e) => state.failed("subscribe", e),
    }
}

/// The welcome email, once per subscriber: claimed first, released again
/// when it could not be sent.
async fn welcome(state: &AppState, confirm_token: String) {
    let now = state.clock.now();
    let claimed = state
        .db(move |store| {
            let Some(who) = store.claim_welcome(&confirm_token, now)? else {
                return Ok(None);
            };
            Ok(Some((who, store.latest_sent_issue()?)))
        })
        .await;
    let ((email, name, token), latest) = match claimed {
        Ok(Some(claimed)) => claimed,
        Ok(None) => return,
        Err(e) => {
            tracing::error!("the welcome mail could not be prepared: {e:#}");
            return;
        }
    };
    let public = &state.config.newsletter.public_url;
    let latest = latest.map(|(week, subject)| crate::mail::Latest {
        url: public.archive_issue(&week),
        subject,
    });
    let sent = crate::optin::send_welcome(
        &state.config,
        &state.templates,
        state.dkim.as_ref(),
        &email,
        name.as_deref(),
        &token,
        latest.as_ref(),
        state.transport.clone(),
        state.clock,
    )
    .await;
    if let Err(e) = sent {
        tracing::error!(
            "the welcome mail to {} could not be sent: {e:#}",
            mask(&email)
        );
        let _ = state.db(move |store| store.welcome_not_sent(&token)).await;
    }
}

async fn send_confirmation(
    state: &AppState,
    email: &str,
    name: Option<&str>,
    token: &Token,
) -> anyhow::Result<String> {
    crate::optin::send_confirmation(
        &state.config,
        &state.templates,
        state.dkim.as_ref(),
        email,
        name,
        token,
        state.transport.clone(),
        state.clock,
    )
    .await
}

pub async fn confirm(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    let (now, expiry) = (state.clock.now(), state.expiry());
    let result = {
        let token = token.clone();
        state
            .db(move |store| store.confirm(&token, now, expiry))
            .await
    };
    if let Ok(Confirmed::Now { .. }) = &result {
        // In the background, like the confirmation mail; whatever becomes
        // of it, the subscription stays confirmed.
        let state = state.clone();
        tokio::spawn(async move { welcome(&state, token).await });
    }
    match result {
        Ok(Confirmed::Now { email } | Confirmed::Already { email }) => {
            state.page(StatusCode::OK, "web/confirmed.html", |ctx| {
                ctx.insert("masked", &mask(&email))
            })
        }
        Ok(Confirmed::NotFound) => state.not_found(),
        Err(e) => state.failed("confirm", e),
    }
}

//! The relays' event callbacks: `POST /webhooks/{ses,postmark,mailgun,sendgrid}`.
//!
//! One handler verifies each request as its provider signs it, reads the
//! events ([`webhook`](crate::webhook)) and records them
//! ([`callbacks`](crate::callbacks)). The answers are what the providers
//! act on: 404 for a route that is not on, 401 for a failed signature or
//! credential (nothing changed), 400 for a body that is not the provider's
//! JSON, 413 past 1 MiB, 429 past `[webhooks] rate_per_minute`, 500 when
//! the database fails (the provider retries, and what was recorded
//! already is recognised), and 200 otherwise, including for events about
//! nobody of ours, which a provider would otherwise retry forever.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::callbacks::{Relays, apply};
use crate::http::ratelimit::client_ip;
use crate::http::state::AppState;
use crate::inbound::Heard;
use crate::timestamp::Timestamp;
use crate::webhook::{Event, Provider, Refusal, mailgun, postmark, sendgrid, ses};

/// The largest webhook body accepted (SendGrid batches are the big ones).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// What a verified request asks for.
enum Verified {
    Events(Vec<Event>, Option<String>),
    /// Answered without touching the list (an SNS confirmation, a topic
    /// that is not ours).
    Answered(&'static str),
}

/// `POST /webhooks/{provider}`.
pub async fn webhook(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let on = Provider::from_route(&provider).and_then(|p| {
        let relays = state.relays.as_ref()?;
        relays.is_on(p).then_some((p, relays))
    });
    let Some((provider, relays)) = on else {
        return text(StatusCode::NOT_FOUND, "no such webhook is configured");
    };
    if !state.webhook_limiter.allow(client_ip(peer, &headers)) {
        return text(
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests; retry later",
        );
    }
    let now = state.clock.now();
    let verified = match provider {
        Provider::Ses => verify_sns(relays, &body).await,
        Provider::Postmark => verify_postmark(relays, &headers, &body),
        Provider::Mailgun => verify_mailgun(&state, relays, &body, now).await,
        Provider::Sendgrid => verify_sendgrid(relays, &headers, &body),
    };
    let (events, token) = match verified {
        Ok(Verified::Events(events, token)) => (events, token),
        Ok(Verified::Answered(what)) => return text(StatusCode::OK, what),
        Err(Ok(refusal)) => {
            let name = provider.as_str();
            tracing::warn!("webhook {name}: refused: {refusal}");
            let status = match refusal {
                Refusal::Unauthorized(_) => StatusCode::UNAUTHORIZED,
                Refusal::Malformed(_) => StatusCode::BAD_REQUEST,
            };
            return text(status, &refusal.to_string());
        }
        Err(Err(e)) => {
            tracing::error!("webhook {}: {e:#}", provider.as_str());
            return text(
                StatusCode::BAD_GATEWAY,
                "cannot verify the request now; retry later",
            );
        }
    };
    let (key, limit) = (relays.key.clone(), relays.soft_bounce_limit);
    let stamp = Timestamp::from(now);
    let result = state
        .db(move |store| {
            let heard = events
                .iter()
                .map(|e| apply(store, &key, limit, e, stamp))
                .collect::<anyhow::Result<Vec<Heard>>>()?;
            if let Some(token) = token {
                store.remember_webhook_token(&token, stamp)?;
            }
            Ok(heard)
        })
        .await;
    match result {
        Ok(heard) => {
            let applied = heard
                .iter()
                .filter(|h| !matches!(h, Heard::NotApplied(_)))
                .count();
            for h in &heard {
                let line = match h {
                    // Nothing is kept here, as inbound keeps a message.
                    Heard::NotApplied(why) => format!("ignored: {why}"),
                    h => h.line(),
                };
                tracing::info!("webhook {}: {line}", provider.as_str());
            }
            text(
                StatusCode::OK,
                &format!(
                    "{} events: {applied} recorded, {} ignored",
                    heard.len(),
                    heard.len() - applied
                ),
            )
        }
        Err(e) => {
            tracing::error!("webhook {}: recording failed: {e:#}", provider.as_str());
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; retry later",
            )
        }
    }
}

/// A refusal (`Ok`), or a failure of ours or of the network (`Err`).
type Outcome = Result<Verified, Result<Refusal, anyhow::Error>>;

async fn verify_sns(relays: &Relays, body: &[u8]) -> Outcome {
    let message = ses::parse(body).map_err(Ok)?;
    let cert_url = message.cert_url().map_err(Ok)?;
    if !relays.ses_topic_arns.contains(&message.topic_arn) {
        tracing::warn!(
            "webhook ses: a message for topic {}, which is not in [webhooks] ses_topic_arns: ignored",
            message.topic_arn
        );
        return Ok(Verified::Answered("not a topic of ours; ignored"));
    }
    let kind = message.kind().map_err(Ok)?;
    let cert = relays.sns.get(&cert_url).await.map_err(Err)?;
    message.verify(&cert).map_err(Ok)?;
    match kind {
        ses::SnsKind::Notification => Ok(Verified::Events(
            ses::events(&message.message).map_err(Ok)?,
            None,
        )),
        ses::SnsKind::SubscriptionConfirmation(url) => {
            relays.sns.confirm(&url).await.map_err(Err)?;
            tracing::info!(
                "webhook ses: confirmed the subscription to {}",
                message.topic_arn
            );
            Ok(Verified::Answered("subscription confirmed"))
        }
        ses::SnsKind::UnsubscribeConfirmation => {
            tracing::warn!(
                "webhook ses: SNS says the subscription to {} was removed",
                message.topic_arn
            );
            Ok(Verified::Answered("noted"))
        }
    }
}

fn verify_postmark(relays: &Relays, headers: &HeaderMap, body: &[u8]) -> Outcome {
    let Some((user, password)) = &relays.postmark else {
        return Err(Ok(Refusal::Unauthorized("not configured".into())));
    };
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    postmark::authorize(auth, user, password).map_err(Ok)?;
    Ok(Verified::Events(postmark::events(body).map_err(Ok)?, None))
}

async fn verify_mailgun(
    state: &AppState,
    relays: &Relays,
    body: &[u8],
    now: chrono::DateTime<chrono::Utc>,
) -> Outcome {
    let Some(key) = &relays.mailgun else {
        return Err(Ok(Refusal::Unauthorized("not configured".into())));
    };
    let parsed = mailgun::parse(body).map_err(Ok)?;
    parsed.signature.verify(key, now).map_err(Ok)?;
    let token = parsed.signature.token.clone();
    let seen = {
        let token = token.clone();
        state
            .db(move |store| store.webhook_token_seen(&token))
            .await
            .map_err(Err)?
    };
    if seen {
        return Err(Ok(Refusal::Unauthorized(
            "the signature token was used before".into(),
        )));
    }
    Ok(Verified::Events(parsed.events(), Some(token)))
}

fn verify_sendgrid(relays: &Relays, headers: &HeaderMap, body: &[u8]) -> Outcome {
    let Some(point) = &relays.sendgrid else {
        return Err(Ok(Refusal::Unauthorized("not configured".into())));
    };
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    sendgrid::verify(
        point,
        get(sendgrid::SIGNATURE_HEADER),
        get(sendgrid::TIMESTAMP_HEADER),
        body,
    )
    .map_err(Ok)?;
    Ok(Verified::Events(sendgrid::events(body).map_err(Ok)?, None))
}

fn text(status: StatusCode, body: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        format!("{body}\n"),
    )
        .into_response()
}

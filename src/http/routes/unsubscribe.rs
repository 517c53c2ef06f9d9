//! Leaving: the unsubscribe page and the one-click POST (RFC 8058).
//!
//! A GET only shows the page with one button, because mail scanners open
//! links; the POST unsubscribes, whether it comes from the button or from
//! a mail provider's one-click request.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::http::state::{AppState, mask};
use crate::status::Status;
use crate::store::{How, Reason};
use crate::timestamp::Timestamp;

pub async fn page(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    let found = {
        let token = token.clone();
        state
            .db(move |store| store.subscriber_by_token(&token))
            .await
    };
    match found {
        Ok(Some(sub)) => state.page(StatusCode::OK, "web/unsubscribe.html", |ctx| {
            ctx.insert("masked", &mask(&sub.email));
            ctx.insert("already", &(sub.status == Status::Unsubscribed));
            ctx.insert(
                "action",
                &state.config.newsletter.public_url.unsubscribe(&token),
            );
        }),
        Ok(None) => state.not_found(),
        Err(e) => state.failed("unsubscribe page", e),
    }
}

/// RFC 8058: a mail provider POSTs `List-Unsubscribe=One-Click`, with no
/// cookie and nothing else; the page's button posts an empty form, and
/// the preferences page `reason` and `reason_text`. All unsubscribe; a
/// reason that is not one of the list, or a text over 500 characters, is
/// a 422 with nothing changed.
pub async fn unsubscribe(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let now = Timestamp::from(state.clock.now());
    let how = if memchr::memmem::find(&body, b"One-Click").is_some() {
        How::OneClick
    } else {
        How::Page
    };
    let (mut code, mut text) = (String::new(), String::new());
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "reason" => code = value.into_owned(),
            "reason_text" => text = value.into_owned(),
            _ => {}
        }
    }
    let reason = match Reason::parse(&code, &text) {
        Ok(reason) => reason,
        Err(error) => {
            return state.page(StatusCode::UNPROCESSABLE_ENTITY, "web/error.html", |ctx| {
                ctx.insert("message", &format!("Nothing was changed: {error}."));
            });
        }
    };
    let result = state
        .db(move |store| {
            let email = store.unsubscribe_token(&token, how, now)?;
            if let (Some(_), Some(reason)) = (&email, &reason) {
                store.set_unsubscribe_reason(&token, reason)?;
            }
            Ok(email)
        })
        .await;
    match result {
        Ok(Some(email)) => state.page(StatusCode::OK, "web/unsubscribed.html", |ctx| {
            ctx.insert("masked", &mask(&email))
        }),
        Ok(None) => state.not_found(),
        Err(e) => state.failed("unsubscribe", e),
    }
}

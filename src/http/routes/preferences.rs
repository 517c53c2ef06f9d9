//! The reader's preferences page: their role, time zone and a pause, and
//! unsubscribing with a reason.
//!
//! The token is the credential, as on the unsubscribe page: the same
//! `no-store` and security headers, and an unknown token is the same 404.
//! A GET only shows the form; a POST saves it, and a value that is not one
//! of the choices is a 422 with nothing changed.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use crate::http::state::{AppState, mask};
use crate::role::Role;
use crate::store::{Pause, Preferences, Subscriber};

/// The form as the page shows it.
#[derive(Debug, Default, Serialize)]
struct Shown {
    role: String,
    timezone: String,
    pause: String,
    paused_until: Option<String>,
}

impl Shown {
    fn of(sub: &Subscriber) -> Shown {
        Shown {
            role: sub.role.map(|r| r.as_str().to_string()).unwrap_or_default(),
            timezone: sub.timezone.clone().unwrap_or_default(),
            pause: if sub.paused_until.is_some() {
                "keep"
            } else {
                "none"
            }
            .into(),
            paused_until: sub.paused_until.clone(),
        }
    }
}

fn show(
    state: &AppState,
    status: StatusCode,
    token: &str,
    sub: &Subscriber,
    shown: &Shown,
    saved: Option<String>,
    error: Option<String>,
) -> Response {
    let public = &state.config.newsletter.public_url;
    state.page(status, "web/preferences.html", |ctx| {
        ctx.insert("masked", &mask(&sub.email));
        ctx.insert("prefs", shown);
        ctx.insert("saved", &saved);
        ctx.insert("error", &error);
        ctx.insert("action", &public.preferences(token));
        ctx.insert("unsubscribe", &public.unsubscribe(token));
        ctx.insert("default_timezone", state.config.newsletter.timezone.name());
        let zones: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
        ctx.insert("zones", &zones);
        let reasons: Vec<serde_json::Value> = crate::store::REASONS
            .iter()
            .map(|(code, label)| serde_json::json!({ "code": code, "label": label }))
            .collect();
        ctx.insert("reasons", &reasons);
        ctx.insert("reason_max", &crate::store::REASON_TEXT_MAX);
    })
}

pub async fn page(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    let found = {
        let token = token.clone();
        state
            .db(move |store| store.subscriber_by_token(&token))
            .await
    };
    match found {
        Ok(Some(sub)) => show(
            &state,
            StatusCode::OK,
            &token,
            &sub,
            &Shown::of(&sub),
            None,
            None,
        ),
        Ok(None) => state.not_found(),
        Err(e) => state.failed("preferences page", e),
    }
}

/// The form's fields, checked; the error says which is wrong. `pause`
/// may also be `keep` (or left out): the pause the reader has, `paused`.
fn read(
    body: &[u8],
    today: chrono::NaiveDate,
    paused: Option<chrono::NaiveDate>,
) -> (Shown, Result<Preferences, String>) {
    let mut shown = Shown {
        pause: "keep".into(),
        paused_until: paused.map(|d| d.to_string()),
        ..Shown::default()
    };
    for (key, value) in url::form_urlencoded::parse(body) {
        match key.as_ref() {
            "role" => shown.role = value.into_owned(),
            "timezone" => shown.timezone = value.into_owned(),
            "pause" => shown.pause = value.into_owned(),
            _ => {}
        }
    }
    let role = match shown.role.trim() {
        "" => Ok(None),
        r => r
            .parse::<Role>()
            .map(Some)
            .map_err(|_| "Please pick a role from the list.".to_string()),
    };
    let timezone = match shown.timezone.trim() {
        "" => Ok(None),
        z => z.parse::<chrono_tz::Tz>().map(Some).map_err(|_| {
            format!("“{z}” is not a time zone: write an IANA name such as Europe/Paris.")
        }),
    };
    let paused_until = match shown.pause.trim() {
        "keep" => Ok(paused),
        choice => Pause::parse(choice)
            .map(|p| p.until(today))
            .map_err(|e| format!("Please pick a pause from the list ({e}).")),
    };
    let prefs = role.and_then(|role| {
        Ok(Preferences {
            role,
            timezone: timezone?,
            paused_until: paused_until?,
        })
    });
    (shown, prefs)
}

pub async fn save(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let found = {
        let token = token.clone();
        state
            .db(move |store| store.subscriber_by_token(&token))
            .await
    };
    let sub = match found {
        Ok(Some(sub)) => sub,
        Ok(None) => return state.not_found(),
        Err(e) => return state.failed("preferences", e),
    };
    let today = state
        .clock
        .now()
        .with_timezone(&state.config.newsletter.timezone)
        .date_naive();
    let paused = sub
        .paused_until
        .as_deref()
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    let (shown, prefs) = read(&body, today, paused);
    let prefs = match prefs {
        Ok(prefs) => prefs,
        Err(error) => {
            return show(
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                &token,
                &sub,
                &shown,
                None,
                Some(error),
            );
        }
    };
    let saved = {
        let (token, prefs) = (token.clone(), prefs.clone());
        state
            .db(move |store| store.set_preferences(&token, &prefs))
            .await
    };
    match saved {
        Ok(Some(sub)) => {
            let role = prefs.role.map_or("Reader", Role::label);
            let zone = prefs
                .timezone
                .map_or(state.config.newsletter.timezone.name(), |tz| tz.name());
            let pause = match prefs.paused_until {
                Some(until) => format!(
                    " Paused until {until}: the first issue after that date comes as usual."
                ),
                None => String::new(),
            };
            let message = format!("{role}; issues timed for {zone}.{pause}");
            show(
                &state,
                StatusCode::OK,
                &token,
                &sub,
                &Shown::of(&sub),
                Some(message),
                None,
            )
        }
        Ok(None) => state.not_found(),
        Err(e) => state.failed("preferences", e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_is_read_into_preferences_or_a_message_naming_the_field() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        type Expected<'a> = Result<(Option<Role>, Option<&'a str>, Option<&'a str>), &'a str>;
        let cases: [(&str, Expected); 6] = [
            (
                "role=executive&timezone=Europe%2FParis&pause=4",
                Ok((
                    Some(Role::Executive),
                    Some("Europe/Paris"),
                    Some("2026-12-30"),
                )),
            ),
            ("role=&timezone=&pause=none", Ok((None, None, None))),
            ("", Ok((None, None, None))),
            ("role=boss", Err("role")),
            ("timezone=Mars%2FOlympus", Err("not a time zone")),
            ("pause=3", Err("pause")),
        ];
        for (body, expected) in cases {
            let (_, got) = read(body.as_bytes(), today, None);
            match (got, expected) {
                (Ok(p), Ok((role, tz, until))) => {
                    assert_eq!(p.role, role, "{body}");
                    assert_eq!(
                        p.timezone.map(|t| t.name().to_string()).as_deref(),
                        tz,
                        "{body}"
                    );
                    assert_eq!(
                        p.paused_until.map(|d| d.to_string()).as_deref(),
                        until,
                        "{body}"
                    );
                }
                (Err(e), Err(want)) => assert!(e.contains(want), "{body}: {e}"),
                (got, want) => panic!("{body}: {got:?} vs {want:?}"),
            }
        }
        // A reader who is paused keeps the pause unless they change it.
        let paused = chrono::NaiveDate::from_ymd_opt(2026, 12, 20);
        for (body, until) in [
            ("role=executive", paused),
            ("role=executive&pause=keep", paused),
            ("role=executive&pause=none", None),
        ] {
            let (_, got) = read(body.as_bytes(), today, paused);
            assert_eq!(got.unwrap().paused_until, until, "{body}");
        }
    }
}

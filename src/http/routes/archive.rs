//! The web archive of sent issues, and the health check.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;

use crate::http::state::AppState;
use crate::render::{IssueView, Links};
use crate::week::IssueWeek;

#[derive(Serialize)]
struct ArchiveEntry {
    week: String,
    subject: String,
    url: String,
    date_long: String,
}

pub async fn archive(State(state): State<Arc<AppState>>) -> Response {
    match state.db(|store| store.issues()).await {
        Ok(issues) => {
            let public = &state.config.newsletter.public_url;
            let mut entries: Vec<ArchiveEntry> = issues
                .into_iter()
                .filter(|i| i.sent_started_at.is_some())
                .map(|i| ArchiveEntry {
                    week: i.selection.week.to_string(),
                    url: public.archive_issue(&i.selection.week.to_string()),
                    date_long: i
                        .selection
                        .week
                        .sunday()
                        .format("%A, %-d %B %Y")
                        .to_string(),
                    subject: i.subject,
                })
                .collect();
            entries.reverse();
            state.page(StatusCode::OK, "web/archive.html", |ctx| {
                ctx.insert("issues", &entries)
            })
        }
        Err(e) => state.failed("archive", e),
    }
}

/// The web version of a sent issue: the email as everyone gets it, with no
/// personal link.
pub async fn issue(State(state): State<Arc<AppState>>, Path(week): Path<String>) -> Response {
    let Ok(week) = week.parse::<IssueWeek>() else {
        return state.not_found();
    };
    let frozen = match state.db(move |store| store.issue(week)).await {
        Ok(Some(f)) if f.sent_started_at.is_some() => f,
        Ok(_) => return state.not_found(),
        Err(e) => return state.failed("archive issue", e),
    };
    let newsletter = &state.config.newsletter;
    let rendered =
        IssueView::new(newsletter, &state.glossary, &frozen.selection).and_then(|mut view| {
            view.frozen_subject = Some(frozen.subject.clone());
            let links = Links::new(newsletter, &view.issue.week, None);
            state.templates.render_issue(&view, None, &links)
        });
    match rendered {
        Ok(r) => (StatusCode::OK, Html(r.html)).into_response(),
        Err(e) => state.failed("rendering the web version", e),
    }
}

pub async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match state.db(|store| store.schema_version()).await {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => state.failed("health check", e),
    }
}

//! The web archive of sent issues, its Atom feed, and the health check.
//!
//! The index, each issue's page and the feed show the same issues (those
//! the store calls archived: sending began and at least one message went
//! out), so a link from one never leads to a 404 in another. Each issue is
//! dated by [`FrozenIssue::published_at`], the start of its sending, which
//! a later retry run leaves alone: a feed reader never sees an old issue
//! as changed.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;

use crate::http::state::AppState;
use crate::render::feed::{self, Entry, Feed};
use crate::render::{IssueView, Links, Rendered};
use crate::store::FrozenIssue;
use crate::week::IssueWeek;

/// How many issues the feed holds: the latest sent.
pub const FEED_ENTRIES: u32 = 20;

const ATOM: &str = "application/atom+xml; charset=utf-8";

#[derive(Serialize)]
struct ArchiveEntry {
    week: String,
    subject: String,
    url: String,
    date_long: String,
    /// The day its sending began, in the newsletter's time zone.
    sent_on: String,
    featured: TermName,
    new_terms: Vec<TermName>,
}

/// A term of an issue: its title from the glossary, or the slug stored
/// with the issue when the term has since left the glossary.
#[derive(Serialize)]
struct TermName {
    slug: String,
    title: String,
}

impl TermName {
    fn new(state: &AppState, slug: &str) -> TermName {
        TermName {
            slug: slug.to_string(),
            title: state
                .glossary
                .get(slug)
                .map_or_else(|| slug.to_string(), |t| t.title.clone()),
        }
    }
}

pub async fn archive(State(state): State<Arc<AppState>>) -> Response {
    match state.db(|store| store.archived_issues(None)).await {
        Ok(issues) => {
            let newsletter = &state.config.newsletter;
            let entries: Vec<ArchiveEntry> = issues
                .into_iter()
                .map(|i| ArchiveEntry {
                    week: i.selection.week.to_string(),
                    url: newsletter
                        .public_url
                        .archive_issue(&i.selection.week.to_string()),
                    date_long: newsletter.locale.date_long(i.selection.week.sunday()),
                    sent_on: i
                        .published_at()
                        .at()
                        .with_timezone(&newsletter.timezone)
                        .format("%Y-%m-%d")
                        .to_string(),
                    featured: TermName::new(&state, &i.selection.featured),
                    new_terms: i
                        .selection
                        .new_terms
                        .iter()
                        .map(|slug| TermName::new(&state, slug))
                        .collect(),
                    subject: i.subject,
                })
                .collect();
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
    let frozen = match state.db(move |store| store.archived_issue(week)).await {
        Ok(Some(f)) => f,
        Ok(None) => return state.not_found(),
        Err(e) => return state.failed("archive issue", e),
    };
    match web_version(&state, &frozen) {
        Ok(r) => (StatusCode::OK, Html(r.html)).into_response(),
        Err(e) => state.failed("rendering the web version", e),
    }
}

/// The latest sent issues as an Atom feed, each entry the web version of
/// its issue.
pub async fn feed(State(state): State<Arc<AppState>>) -> Response {
    let issues = match state
        .db(|store| store.archived_issues(Some(FEED_ENTRIES)))
        .await
    {
        Ok(issues) => issues,
        Err(e) => return state.failed("archive feed", e),
    };
    // Twenty renderings with their CSS inlined: off the async threads.
    let worker = state.clone();
    match tokio::task::spawn_blocking(move || feed_xml(&worker, &issues)).await {
        Ok(xml) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, HeaderValue::from_static(ATOM))],
            xml,
        )
            .into_response(),
        Err(e) => state.failed("archive feed", anyhow::anyhow!("rendering it failed: {e}")),
    }
}

/// An issue the web version cannot be rendered for (a term since removed
/// from the glossary, a broken template override) keeps its entry, without
/// content: its link then answers with the error, as it would anyway.
fn feed_xml(state: &AppState, issues: &[FrozenIssue]) -> String {
    let newsletter = &state.config.newsletter;
    let public = &newsletter.public_url;
    let entries = issues
        .iter()
        .map(|issue| {
            let week = issue.selection.week.to_string();
            let content_html = match web_version(state, issue) {
                Ok(r) => Some(feed::html_body(&r.html).to_string()),
                Err(e) => {
                    tracing::warn!("the feed entry of {week} has no content: {e:#}");
                    None
                }
            };
            Entry {
                id: public.archive_issue(&week),
                title: issue.subject.clone(),
                link: public.archive_issue(&week),
                updated: issue.published_at(),
                content_html,
            }
        })
        .collect();
    feed::atom(&Feed {
        title: newsletter.name.clone(),
        author: newsletter.name.clone(),
        id: public.archive(),
        self_url: public.archive_feed(),
        alternate: public.archive(),
        entries,
    })
}

/// The issue as the archive shows it: rendered for no one, with the links
/// of the web version.
fn web_version(state: &AppState, frozen: &FrozenIssue) -> anyhow::Result<Rendered> {
    let newsletter = &state.config.newsletter;
    let mut view = IssueView::new(newsletter, &state.glossary, &frozen.selection)?;
    view.fixed_subject = Some(frozen.subject.clone());
    view.frozen = true;
    let links = Links::web(newsletter, &view.issue.week);
    state.templates.render_issue(&view, None, &links)
}

pub async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match state.db(|store| store.schema_version()).await {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => state.failed("health check", e),
    }
}

//! `digest serve`: the small web server behind the links in every email.
//!
//! Gmail and Yahoo require bulk mail to carry a one-click unsubscribe that
//! works by HTTPS POST (RFC 8058), and a reader cannot run our CLI, so the
//! confirm, unsubscribe and "view in browser" links need a server. It shares
//! the SQLite file with `send` and the CLI (WAL mode), renders its pages
//! from the same overridable templates as the email, and is built to reveal
//! nothing: the subscribe form answers the same way whoever asks, every
//! unknown token is the same 404, and a GET never changes anything (mail
//! scanners open links).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Form, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use lettre::AsyncTransport as _;
use lettre::message::dkim::DkimConfig;
use serde::{Deserialize, Serialize};
use tera::Context;

use crate::address::{SubscriberEmail, SubscriberName};
use crate::config::Config;
use crate::content::Glossary;
use crate::render::{IssueView, Links, NewsletterView, Templates};
use crate::role::Role;
use crate::send::Clock;
use crate::smtp::Transport;
use crate::store::{Confirmed, OptIn, Store, timestamp};
use crate::week::IssueWeek;

/// Requests to `POST /subscribe` allowed per client per minute.
pub const SUBSCRIBE_PER_MINUTE: usize = 10;
/// Largest request body accepted.
pub const BODY_LIMIT: usize = 16 * 1024;

pub struct AppState {
    pub config: Config,
    pub templates: Templates,
    pub glossary: Glossary,
    pub store: Mutex<Store>,
    pub transport: Transport,
    pub dkim: Option<DkimConfig>,
    pub clock: Clock,
    limiter: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl AppState {
    pub fn new(
        config: Config,
        templates: Templates,
        glossary: Glossary,
        store: Store,
        transport: Transport,
        dkim: Option<DkimConfig>,
        clock: Clock,
    ) -> AppState {
        AppState {
            config,
            templates,
            glossary,
            store: Mutex::new(store),
            transport,
            dkim,
            clock,
            limiter: Mutex::new(HashMap::new()),
        }
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn expiry(&self) -> chrono::Duration {
        chrono::Duration::hours(self.config.serve.confirm_expiry_hours as i64)
    }

    fn expiry_days(&self) -> u64 {
        self.config.serve.confirm_expiry_hours.div_ceil(24)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.newsletter.public_url)
    }

    /// Whether `ip` may post the form again now (sliding one-minute window).
    fn allow(&self, ip: IpAddr) -> bool {
        let ip = rate_key(ip);
        let now = Instant::now();
        let mut limiter = self.limiter.lock().unwrap_or_else(|e| e.into_inner());
        if limiter.len() > 10_000 {
            limiter.retain(|_, hits| {
                hits.back()
                    .is_some_and(|t| now.duration_since(*t) < Duration::from_secs(60))
            });
        }
        let hits = limiter.entry(ip).or_default();
        while hits
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            hits.pop_front();
        }
        if hits.len() >= SUBSCRIBE_PER_MINUTE {
            return false;
        }
        hits.push_back(now);
        true
    }

    fn page(&self, status: StatusCode, name: &str, extra: impl FnOnce(&mut Context)) -> Response {
        let mut ctx = Context::new();
        ctx.insert("newsletter", &NewsletterView::from(&self.config.newsletter));
        ctx.insert("links", &PageLinks::new(self));
        ctx.insert("expiry_days", &self.expiry_days());
        extra(&mut ctx);
        match self.templates.render(name, &ctx) {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!("rendering {name} failed: {e:#}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
            }
        }
    }

    fn not_found(&self) -> Response {
        self.page(StatusCode::NOT_FOUND, "web/not_found.html", |_| {})
    }

    fn failed(&self, what: &str, e: anyhow::Error) -> Response {
        tracing::error!("{what}: {e:#}");
        self.page(StatusCode::INTERNAL_SERVER_ERROR, "web/error.html", |_| {})
    }
}

#[derive(Serialize)]
struct PageLinks {
    home: String,
    subscribe: String,
    archive: String,
    site: String,
}

impl PageLinks {
    fn new(state: &AppState) -> PageLinks {
        PageLinks {
            home: state.url("/"),
            subscribe: state.url("/subscribe"),
            archive: state.url("/archive"),
            site: state.config.newsletter.site_url.clone(),
        }
    }
}

/// The unit the form's rate limit counts: an IPv4 address, or the /64
/// network of an IPv6 address, since one client commonly holds a whole /64.
pub fn rate_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// `j***@example.com`: enough for a reader to recognise their address,
/// not enough to harvest it from a forwarded link.
pub fn mask(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// The routes, at the path of `public_url` (e.g. `/digest/subscribe`) and at
/// the root (for a proxy that strips the prefix).
pub fn router(state: Arc<AppState>) -> Router {
    let prefix = url::Url::parse(&state.config.newsletter.public_url)
        .map(|u| u.path().trim_end_matches('/').to_string())
        .unwrap_or_default();
    let mut app = Router::new();
    let mut prefixes = vec![String::new()];
    if !prefix.is_empty() {
        prefixes.push(prefix.clone());
        app = app.route(&prefix, get(form));
    }
    for p in &prefixes {
        app = app
            .route(&format!("{p}/"), get(form))
            .route(&format!("{p}/subscribe"), post(subscribe).get(form))
            .route(&format!("{p}/confirm/{{token}}"), get(confirm))
            .route(
                &format!("{p}/unsubscribe/{{token}}"),
                get(unsubscribe_page).post(unsubscribe),
            )
            .route(&format!("{p}/archive"), get(archive))
            .route(&format!("{p}/archive/{{week}}"), get(archive_issue))
            .route(&format!("{p}/healthz"), get(healthz));
    }
    app.fallback(fallback)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(headers_and_log))
        .with_state(state)
}

/// Security headers on every response, `no-store` on token pages, and one
/// log line per request with tokens left out.
async fn headers_and_log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = redact(request.uri().path());
    let private = path.contains("/confirm/")
        || path.contains("/unsubscribe/")
        || path.ends_with("/subscribe");
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; \
             form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if private {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    tracing::info!(
        "{method} {path} {} {:.1} ms",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    response
}

/// `/unsubscribe/AbC...` → `/unsubscribe/…`: tokens are secrets.
fn redact(path: &str) -> String {
    let mut out = Vec::new();
    let mut hide_next = false;
    for seg in path.split('/') {
        if hide_next && !seg.is_empty() {
            out.push("…");
        } else {
            out.push(seg);
        }
        hide_next = matches!(seg, "confirm" | "unsubscribe");
    }
    out.join("/")
}

async fn fallback(State(state): State<Arc<AppState>>) -> Response {
    state.not_found()
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match state.store().schema_version() {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(e) => state.failed("health check", e),
    }
}

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
}

async fn form(State(state): State<Arc<AppState>>) -> Response {
    state.page(StatusCode::OK, "web/form.html", |ctx| {
        ctx.insert("form", &SubscribeForm::default());
        ctx.insert("error", &None::<String>);
    })
}

fn client_ip(peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    // Behind a reverse proxy on the same machine, the client is the last
    // address the proxy appended; a remote peer's header is not trusted.
    if peer.ip().is_loopback()
        && let Some(forwarded) = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok())
        && let Some(ip) = forwarded
            .rsplit(',')
            .next()
            .and_then(|s| s.trim().parse().ok())
    {
        return ip;
    }
    peer.ip()
}

async fn subscribe(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<SubscribeForm>, FormRejection>,
) -> Response {
    if !state.allow(client_ip(peer, &headers)) {
        return state.page(StatusCode::TOO_MANY_REQUESTS, "web/too_many.html", |_| {});
    }
    let form = match form {
        Ok(Form(form)) => Ok(form),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return state.page(StatusCode::PAYLOAD_TOO_LARGE, "web/error.html", |_| {});
        }
        Err(rejection) => Err(rejection),
    };
    let Ok(form) = form else {
        return state.page(StatusCode::UNPROCESSABLE_ENTITY, "web/form.html", |ctx| {
            ctx.insert("form", &SubscribeForm::default());
            ctx.insert("error", &Some("Please fill in the form."));
        });
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
    let outcome = state
        .store()
        .request_opt_in(&email, name.as_ref(), role, now);
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
                    if let Err(e) = state.store().confirmation_not_sent(&token) {
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

/// Build and send the confirmation mail for `token`.
pub async fn send_confirmation(
    state: &AppState,
    email: &str,
    name: Option<&str>,
    token: &str,
) -> anyhow::Result<()> {
    let message = crate::mail::confirmation(
        &state.config.newsletter,
        &state.templates,
        email,
        name,
        &state.url(&format!("/confirm/{token}")),
        state.expiry_days(),
        state.dkim.as_ref(),
    )?;
    state
        .transport
        .send(message)
        .await
        .map_err(|e| anyhow::anyhow!(crate::smtp::describe(&e)))?;
    Ok(())
}

async fn confirm(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    let result = state
        .store()
        .confirm(&token, state.clock.now(), state.expiry());
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

async fn unsubscribe_page(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
) -> Response {
    let found = state.store().subscriber_by_token(&token);
    match found {
        Ok(Some(sub)) => state.page(StatusCode::OK, "web/unsubscribe.html", |ctx| {
            ctx.insert("masked", &mask(&sub.email));
            ctx.insert(
                "already",
                &(sub.status == crate::store::Status::Unsubscribed),
            );
            ctx.insert("action", &state.url(&format!("/unsubscribe/{token}")));
        }),
        Ok(None) => state.not_found(),
        Err(e) => state.failed("unsubscribe page", e),
    }
}

/// RFC 8058: a mail provider POSTs `List-Unsubscribe=One-Click`, with no
/// cookie and nothing else; the page's button posts an empty form. Both
/// unsubscribe, every time, whatever the body says.
async fn unsubscribe(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    _body: Bytes,
) -> Response {
    let now = timestamp(state.clock.now());
    let result = state.store().unsubscribe_token(&token, &now);
    match result {
        Ok(Some(email)) => state.page(StatusCode::OK, "web/unsubscribed.html", |ctx| {
            ctx.insert("masked", &mask(&email))
        }),
        Ok(None) => state.not_found(),
        Err(e) => state.failed("unsubscribe", e),
    }
}

#[derive(Serialize)]
struct ArchiveEntry {
    week: String,
    subject: String,
    url: String,
    date_long: String,
}

async fn archive(State(state): State<Arc<AppState>>) -> Response {
    let issues = state.store().issues();
    match issues {
        Ok(issues) => {
            let mut entries: Vec<ArchiveEntry> = issues
                .into_iter()
                .filter(|i| i.sent_started_at.is_some())
                .map(|i| ArchiveEntry {
                    week: i.selection.week.to_string(),
                    url: state.url(&format!("/archive/{}", i.selection.week)),
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
async fn archive_issue(State(state): State<Arc<AppState>>, Path(week): Path<String>) -> Response {
    let Ok(week) = week.parse::<IssueWeek>() else {
        return state.not_found();
    };
    let frozen = state.store().issue(week);
    let frozen = match frozen {
        Ok(Some(f)) if f.sent_started_at.is_some() => f,
        Ok(_) => return state.not_found(),
        Err(e) => return state.failed("archive issue", e),
    };
    let newsletter = &state.config.newsletter;
    let rendered =
        IssueView::new(newsletter, &state.glossary, &frozen.selection).and_then(|mut view| {
            view.frozen_subject = Some(frozen.subject.clone());
            let links = Links::new(newsletter, &view.issue.week, String::new());
            state.templates.render_issue(&view, None, &links)
        });
    match rendered {
        Ok(r) => (StatusCode::OK, Html(r.html)).into_response(),
        Err(e) => state.failed("rendering the web version", e),
    }
}

/// Run the server until SIGINT or SIGTERM, then finish the requests in
/// flight.
pub async fn run(state: Arc<AppState>, listen: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}; is another server using it? Set [serve] listen or --listen"))?;
    let local = listener.local_addr()?;
    if !state.config.newsletter.public_url.starts_with("https://") {
        tracing::warn!(
            "public_url {} is not https: mail providers expect one-click unsubscribe links over HTTPS",
            state.config.newsletter.public_url
        );
    }
    tracing::info!(
        "listening on http://{local} for {}",
        state.config.newsletter.public_url
    );
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .await
    .context("the web server stopped")
}

async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("signal handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_limit_counts_ipv6_clients_by_their_64_network() {
        let cases = [
            ("192.0.2.7", "192.0.2.7"),
            ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::"),
            ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::"),
            ("::ffff:192.0.2.7", "192.0.2.7"),
        ];
        for (ip, key) in cases {
            assert_eq!(rate_key(ip.parse().unwrap()).to_string(), key, "{ip}");
        }
    }

    #[test]
    fn addresses_are_masked_and_tokens_redacted() {
        assert_eq!(mask("jane@example.com"), "j***@example.com");
        assert_eq!(mask("x@y.z"), "x***@y.z");
        assert_eq!(
            redact("/digest/unsubscribe/AbCdEf"),
            "/digest/unsubscribe/…"
        );
        assert_eq!(redact("/confirm/x"), "/confirm/…");
        assert_eq!(redact("/archive/2026-W48"), "/archive/2026-W48");
    }
}

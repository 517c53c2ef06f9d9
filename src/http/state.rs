//! What every handler shares: the configuration, the templates and the
//! glossary, the database, the mail transport, and the page renderer.
//!
//! SQLite calls are blocking, so handlers reach the store only through
//! [`AppState::db`], which runs the call on tokio's blocking pool: a slow
//! write never holds up the runtime's threads, and no `std::sync::Mutex`
//! is held across an await.

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use lettre::message::dkim::DkimConfig;
use serde::Serialize;
use tera::Context;

use super::ratelimit::RateLimit;
use crate::callbacks::Relays;
use crate::clock::Clock;
use crate::config::Config;
use crate::content::Glossary;
use crate::render::{NewsletterView, Templates};
use crate::store::Store;
use crate::transport::smtp::Smtp;

pub struct AppState {
    pub config: Config,
    pub templates: Templates,
    pub glossary: Glossary,
    store: Arc<Mutex<Store>>,
    pub transport: Smtp,
    pub dkim: Option<DkimConfig>,
    pub clock: Clock,
    pub(super) limiter: RateLimit,
    /// The webhook routes that are on; `None`: all answer 404.
    pub relays: Option<Relays>,
    pub(super) webhook_limiter: RateLimit,
}

impl AppState {
    pub fn new(
        config: Config,
        templates: Templates,
        glossary: Glossary,
        store: Store,
        transport: Smtp,
        dkim: Option<DkimConfig>,
        clock: Clock,
    ) -> AppState {
        AppState {
            config,
            templates,
            glossary,
            store: Arc::new(Mutex::new(store)),
            transport,
            dkim,
            clock,
            limiter: RateLimit::default(),
            relays: None,
            webhook_limiter: RateLimit::default(),
        }
    }

    /// Answer the webhooks `relays` has on, within their own rate limit.
    pub fn with_relays(mut self, relays: Relays, rate_per_minute: u32) -> AppState {
        self.relays = Some(relays);
        self.webhook_limiter = RateLimit::per_minute(rate_per_minute);
        self
    }

    /// Run `f` on the store, off the async threads.
    pub async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Store) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = store.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut store)
        })
        .await
        .map_err(|e| anyhow::anyhow!("a database task failed: {e}"))?
    }

    pub fn expiry(&self) -> chrono::Duration {
        self.config.serve.confirm_expiry()
    }

    pub fn expiry_days(&self) -> u64 {
        self.config.serve.confirm_expiry_days()
    }

    pub fn page(
        &self,
        status: StatusCode,
        name: &str,
        extra: impl FnOnce(&mut Context),
    ) -> Response {
        let mut ctx = Context::new();
        ctx.insert("newsletter", &NewsletterView::from(&self.config.newsletter));
        ctx.insert("links", &PageLinks::new(self));
        ctx.insert("expiry_days", &self.expiry_days());
        ctx.insert("timezone_script", super::middleware::TIMEZONE_SCRIPT);
        extra(&mut ctx);
        match self.templates.render(name, &ctx) {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!("rendering {name} failed: {e:#}");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
            }
        }
    }

    pub fn not_found(&self) -> Response {
        self.page(StatusCode::NOT_FOUND, "web/not_found.html", |_| {})
    }

    pub fn failed(&self, what: &str, e: anyhow::Error) -> Response {
        tracing::error!("{what}: {e:#}");
        self.page(StatusCode::INTERNAL_SERVER_ERROR, "web/error.html", |_| {})
    }
}

#[derive(Serialize)]
struct PageLinks {
    home: String,
    subscribe: String,
    archive: String,
    /// The archive's Atom feed, which the archive pages advertise.
    feed: String,
    site: String,
}

impl PageLinks {
    fn new(state: &AppState) -> PageLinks {
        let public = &state.config.newsletter.public_url;
        PageLinks {
            home: public.home(),
            subscribe: public.subscribe(),
            archive: public.archive(),
            feed: public.archive_feed(),
            site: state.config.newsletter.site_url.to_string(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_masked() {
        assert_eq!(mask("jane@example.com"), "j***@example.com");
        assert_eq!(mask("x@y.z"), "x***@y.z");
        assert_eq!(mask("nobody"), "***");
    }
}

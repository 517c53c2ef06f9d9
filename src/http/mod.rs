//! The small web server behind the links in every email (`digest serve`).
//!
//! Gmail and Yahoo require bulk mail to carry a one-click unsubscribe that
//! works by HTTPS POST (RFC 8058), and a reader cannot run our CLI, so the
//! confirm, unsubscribe and "view in browser" links need a server. It shares
//! the SQLite file with `send` and the CLI (WAL mode), renders its pages
//! from the same overridable templates as the email, and is built to reveal
//! nothing: the subscribe form answers the same way whoever asks, every
//! unknown token is the same 404, and a GET never changes anything (mail
//! scanners open links).

pub mod middleware;
pub mod ratelimit;
pub mod routes;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::Response;
use axum::routing::{get, post};

pub use ratelimit::SUBSCRIBE_PER_MINUTE;
use routes::{archive, optin, preferences, unsubscribe, webhooks};
pub use state::AppState;

use crate::urls::route;

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 16 * 1024;

/// The routes, at the path of `public_url` (e.g. `/digest/subscribe`) and at
/// the root (for a proxy that strips the prefix).
pub fn router(state: Arc<AppState>) -> Router {
    let prefix = state.config.newsletter.public_url.path();
    let mut app = Router::new();
    let mut prefixes = vec![String::new()];
    if !prefix.is_empty() {
        prefixes.push(prefix.clone());
        app = app.route(&prefix, get(optin::form));
    }
    for p in &prefixes {
        app = app
            .route(&format!("{p}{}", route::HOME), get(optin::form))
            .route(
                &format!("{p}{}", route::SUBSCRIBE),
                post(optin::subscribe).get(optin::form),
            )
            .route(&format!("{p}{}", route::CONFIRM), get(optin::confirm))
            .route(
                &format!("{p}{}", route::UNSUBSCRIBE),
                get(unsubscribe::page).post(unsubscribe::unsubscribe),
            )
            .route(
                &format!("{p}{}", route::PREFERENCES),
                get(preferences::page).post(preferences::save),
            )
            .route(&format!("{p}{}", route::ARCHIVE), get(archive::archive))
            .route(&format!("{p}{}", route::ARCHIVE_ISSUE), get(archive::issue))
            .route(&format!("{p}{}", route::ARCHIVE_FEED), get(archive::feed))
            .route(&format!("{p}{}", route::HEALTHZ), get(archive::healthz))
            .route(
                &format!("{p}{}", route::WEBHOOK),
                post(webhooks::webhook).layer(DefaultBodyLimit::max(webhooks::BODY_LIMIT)),
            );
    }
    app.fallback(fallback)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(middleware::headers_and_log))
        .with_state(state)
}

async fn fallback(State(state): State<Arc<AppState>>) -> Response {
    state.not_found()
}

/// Run the server until SIGINT or SIGTERM, then finish the requests in
/// flight.
pub async fn run(state: Arc<AppState>, listen: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}; is another server using it? Set [serve] listen or --listen"))?;
    let local = listener.local_addr()?;
    if !state.config.newsletter.public_url.is_https() {
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

pub(crate) async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            tracing::warn!("cannot watch for SIGTERM ({e}); stop the server with SIGINT");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("shutting down");
}

//! `digest serve`: answer the links in the emails.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;

use crate::app::App;
use crate::callbacks::Relays;
use crate::clock::Clock;
use crate::http::{AppState, run as serve};
use crate::mail::dkim_config;
use crate::render::Templates;
use crate::transport::smtp::Smtp;

pub fn run(app: &App, listen: Option<SocketAddr>) -> anyhow::Result<()> {
    let glossary = app.glossary()?;
    let templates = Templates::load(&app.config.paths.templates)?;
    let dkim = app.config.dkim.as_ref().map(dkim_config).transpose()?;
    let mut store = app.store_for_writing()?;
    let relays = match app.config.webhooks.any() {
        true => Some(Relays::from_config(&app.config, store.tag_key()?)?),
        false => None,
    };
    let listen = listen.unwrap_or(app.config.serve.listen);
    // Every database call waits for the one connection, so a few
    // blocking threads serve as well as tokio's default 512, and a burst
    // of webhook requests queues as small tasks instead of parked threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(8)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let transport = Smtp::from_config(&app.config)?;
        let state = AppState::new(
            app.config.clone(),
            templates,
            glossary,
            store,
            transport,
            dkim,
            Clock::starting_at(app.now()),
        );
        let state = match relays {
            Some(relays) => state.with_relays(relays, app.config.webhooks.rate_per_minute),
            None => state,
        };
        serve(Arc::new(state), listen).await
    })
}

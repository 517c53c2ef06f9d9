//! The route handlers, one file per group: joining, leaving, reading,
//! and the relays' webhooks.

pub mod archive;
pub mod optin;
pub mod preferences;
pub mod unsubscribe;
pub mod webhooks;

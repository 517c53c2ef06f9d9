//! The route handlers, one file per group: joining, leaving, reading.

pub mod archive;
pub mod optin;
pub mod unsubscribe;

//! One file per subcommand.

pub mod doctor;
pub mod history;
pub mod import;
pub mod inbound;
pub mod preview;
mod preview_serve;
pub mod send;
pub mod serve;
pub mod subscribe;
pub mod subscribers;
pub mod terms;

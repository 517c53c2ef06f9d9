//! One file per subcommand.

pub mod preview;
pub mod terms;

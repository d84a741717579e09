//! One module per subcommand.

pub mod check;
pub mod debug;
pub mod demo;
pub mod dump;
pub mod follow;
pub mod ft;
pub mod pack;
pub mod record;
pub mod replay;
pub mod status;

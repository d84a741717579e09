//! The fault-tolerance link between a primary (recording) and a follower (replaying live):
//! the wire messages, the Output Rule gate, heartbeats and failure detection, the arbiter
//! that prevents split brain, and the follower's takeover.

pub mod arbiter;
pub mod follower;
mod http;
pub mod join;
mod lag;
pub mod lock;
pub mod log;
pub mod message;
mod outbox;
mod outputs;
pub mod primary;
pub mod status;
pub mod takeover;

pub use arbiter::{Arbiter, EtcdArbiter, FileArbiter};
pub use follower::AckMode;
pub use message::{Hello, LinkError, Message, PROTOCOL_VERSION};

use std::time::Duration;

/// Failure-detection settings shared by both sides.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How often each side sends a heartbeat when it has nothing else to say.
    pub heartbeat: Duration,
    /// Silence after which the peer is declared dead.
    pub timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            heartbeat: Duration::from_millis(50),
            timeout: Duration::from_millis(500),
        }
    }
}

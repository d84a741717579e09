//! Where replayed events come from: a finished trace, or a log still growing (a follower).

use schema::{Event, TraceReader};

use crate::takeover::Takeover;
use crate::ReplayError;

/// A stream of events in their global order.
pub trait EventSource {
    /// The next event; `None` when the log has ended.
    fn next_event(&mut self) -> Result<Option<Event>, ReplayError>;

    /// When `next_event` has just returned `None` at a takeover inside the log (not at its
    /// end): the takeover, which the replayer crosses before reading on.
    fn takeover(&mut self) -> Option<Takeover> {
        None
    }
}

/// Events from a trace directory.
pub struct ReaderSource {
    pub reader: TraceReader,
}

impl EventSource for ReaderSource {
    fn next_event(&mut self) -> Result<Option<Event>, ReplayError> {
        Ok(self.reader.next_event()?)
    }
}

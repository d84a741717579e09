//! Where replayed events come from: a finished trace, or a log still growing (a follower).

use schema::{Event, TraceReader};

use crate::ReplayError;

/// A stream of events in their global order.
pub trait EventSource {
    /// The next event; `None` when the log has ended.
    fn next_event(&mut self) -> Result<Option<Event>, ReplayError>;
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

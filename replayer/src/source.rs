//! Where replayed events come from: a finished trace, or a log still growing (a follower).

use std::collections::VecDeque;

use schema::{Event, TraceReader};

use crate::takeover::Takeover;
use crate::ReplayError;

/// A stream of events in their global order.
pub trait EventSource {
    /// The next event; `None` when the log has ended.
    fn next_event(&mut self) -> Result<Option<Event>, ReplayError>;

    /// Moves up to `max` next events (at least one if any is there) to the end of `out`:
    /// how many, 0 where `next_event` would say `None`. A source whose events are all at
    /// hand moves many at once; one that waits for them (a follower's) gives one at a time.
    fn next_events(&mut self, out: &mut VecDeque<Event>, max: usize) -> Result<usize, ReplayError> {
        if max == 0 {
            return Ok(0);
        }
        match self.next_event()? {
            Some(ev) => {
                out.push_back(ev);
                Ok(1)
            }
            None => Ok(0),
        }
    }

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

    fn next_events(&mut self, out: &mut VecDeque<Event>, max: usize) -> Result<usize, ReplayError> {
        Ok(self.reader.next_events(out, max)?)
    }
}

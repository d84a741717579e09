//! Where recorded events go: a trace on disk, or (for fault tolerance) also a follower.

use schema::{Event, Footer, TraceWriter};

use crate::RecordError;

/// Receives the event stream of a recording.
pub trait EventSink {
    fn push(&mut self, event: Event) -> Result<(), RecordError>;
    /// Called before a syscall whose effect leaves the process runs: a fault-tolerant sink
    /// holds it here until the follower has every earlier event (the Output Rule).
    fn before_output(&mut self) -> Result<(), RecordError> {
        Ok(())
    }
    fn finish(&mut self, footer: Footer) -> Result<(), RecordError>;

    /// True when outputs must wait in `before_output` (the fault-tolerant primary's gate):
    /// the in-process runtime then sends them to the tracer instead of running them.
    fn gates_output(&self) -> bool {
        false
    }
}

/// A plain recording: events into a trace directory.
pub struct TraceSink {
    writer: Option<TraceWriter>,
}

impl TraceSink {
    pub fn new(writer: TraceWriter) -> Self {
        TraceSink {
            writer: Some(writer),
        }
    }

    /// Writes buffered events out, so that what is on disk is replayable now.
    pub fn flush(&mut self) -> Result<(), RecordError> {
        if let Some(w) = self.writer.as_mut() {
            w.flush()?;
        }
        Ok(())
    }
}

impl EventSink for TraceSink {
    fn push(&mut self, event: Event) -> Result<(), RecordError> {
        match self.writer.as_mut() {
            Some(w) => Ok(w.push(event)?),
            None => Ok(()),
        }
    }

    fn finish(&mut self, footer: Footer) -> Result<(), RecordError> {
        if let Some(w) = self.writer.take() {
            w.finish(&footer)?;
        }
        Ok(())
    }
}

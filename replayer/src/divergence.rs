//! Errors of a replay; a divergence names the event and what differed.

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("divergence at event {seq} (thread {tid}): expected {expected}, got {got}")]
    Divergence {
        seq: u64,
        tid: u32,
        expected: String,
        got: String,
    },
    #[error("the trace ends at event {events} without the footer a finished recording writes (the recording was cut short or the file truncated); replay stopped there")]
    TraceEnded { events: u64 },
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Tracee(#[from] tracee::TraceeError),
    #[error(transparent)]
    Trace(#[from] schema::TraceError),
    /// A debug hook gave the replay up (to start it again elsewhere, or on detach).
    #[error("the replay was abandoned by its debugger")]
    Abandoned,
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

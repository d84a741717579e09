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

/// A call and its six arguments as a divergence message shows them: `openat(0xffffff9c, …)`.
pub(crate) fn call_with_args(name: &str, args: &[u64; 6]) -> String {
    let args: Vec<String> = args.iter().map(|a| format!("{a:#x}")).collect();
    format!("{name}({})", args.join(", "))
}

#[cfg(test)]
mod tests {
    #[test]
    fn arguments_read_like_a_call() {
        let args = [0xffff_ff9c, 0x10, 0, 0, 0, 0];
        assert_eq!(
            super::call_with_args("openat", &args),
            "openat(0xffffff9c, 0x10, 0x0, 0x0, 0x0, 0x0)"
        );
    }
}

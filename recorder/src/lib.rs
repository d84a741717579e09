//! The recording session: spawning a program under ptrace, deciding for every syscall,
//! signal and rdtsc what must be logged, and writing the trace.

mod adopt;
mod call_facts;
mod daemons;
pub mod effects;
mod entry_rule;
mod exec_thread;
pub mod files;
pub mod futex;
mod inproc;
pub mod machine;
mod output_gate;
mod output_order;
mod preempt;
pub mod probe;
pub mod rdtsc;
pub mod ring_records;
mod sched;
pub mod session;
mod shared_files;
mod signal_events;
pub mod sink;
pub mod store;
mod sysv_shm;
mod tasks;
mod thread_end;
pub mod ticks;
mod timeslice;
mod tsc_facts;
mod tsc_free;

pub use adopt::{Adopted, AdoptedThread};
pub use session::Recorder;
pub use sink::{EventSink, TraceSink};

/// Why a recording could not go on.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Tracee(#[from] tracee::TraceeError),
    #[error(transparent)]
    Trace(#[from] schema::TraceError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}

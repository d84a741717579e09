//! The replay session: runs a program again from its trace, skipping emulated syscalls and
//! writing their effects back, re-running the ones that shape the process, and placing
//! signals and rdtsc values exactly where they were — checking itself at every event.

pub mod checkpoint;
mod checkpoint_shared;
mod checkpoint_threads;
pub mod debug;
mod divergence;
mod elf;
pub mod fdtable;
pub mod golive;
mod id_maps;
mod inproc;
pub mod kept;
mod landmark_filter;
pub mod landmark_search;
mod mem;
mod pi;
mod process;
mod robust;
mod run_again;
pub mod session;
mod signal;
mod source;
mod stats;
mod sysv_shm;
pub mod takeover;
mod tasks;
mod threads;

pub use checkpoint::{ReplayCheckpoint, SEVERAL_PROCESSES};
pub use debug::{DebugHook, DebugThread, HookResume, StopVerdict};
pub use divergence::ReplayError;
pub use golive::{go_live, go_live_traced, GoLiveReport, LiveHandoff, TracedLive, TracedThread};
pub use session::{ReplayEnd, ReplayOptions, Replayer};
pub use source::{EventSource, ReaderSource};
pub use takeover::{Takeover, TakeoverSource};

//! One traced process: starting it under ptrace, its stops, registers, memory and
//! hardware breakpoints. This is the only crate that calls ptrace or holds `unsafe` for it.
//! Also what record and replay both read from one stopped process: the auxv of a new image,
//! a trapped rdtsc, landmark hashes, siginfo fields.

pub mod auxv;
mod error;
mod inherit;
mod inject;
pub mod landmark;
pub mod le;
mod memory;
pub mod rdtsc;
mod regs;
mod siginfo;
mod sigmask;
mod spawn;
mod stop;
mod tracee;
pub mod vdso;
mod wait;

pub use error::TraceeError;
pub use inherit::InheritedState;
pub use inject::Runner;
pub use regs::{regs_from_words, regs_hash, regs_words, Regs};
pub use siginfo::{exec_breakpoint_hit, is_synchronous, siginfo_code, RawSiginfo};
pub use spawn::{resolve_program, spawn_traced, ResolveError, SpawnSpec};
pub use stop::{PtraceEvent, Stop};
pub use tracee::{former_tid_at_exec, wait_any, wait_any_or_interrupted, Resume, Tracee};
pub use wait::WaitStatus;

//! One traced process: starting it under ptrace, its stops, registers, memory and
//! hardware breakpoints. This is the only crate that calls ptrace or holds `unsafe` for it.

mod error;
mod memory;
mod regs;
mod spawn;
mod stop;
mod tracee;

pub use error::TraceeError;
pub use nix::sys::wait::WaitStatus;
pub use regs::{regs_from_words, regs_hash, regs_words, Regs};
pub use spawn::{resolve_program, spawn_traced, ResolveError, SpawnSpec};
pub use stop::{PtraceEvent, Stop};
pub use tracee::{wait_any, wait_any_or_interrupted, Resume, Tracee};

/// Raw siginfo as the kernel lays it out (128 bytes).
pub type RawSiginfo = [u8; 128];

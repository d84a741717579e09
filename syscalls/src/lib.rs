//! What every x86-64 syscall reads and writes, and how ftrun records and replays it: one
//! table that the recorder, the replayer and (later) code running inside the tracee read.
//!
//! The crate is `no_std` and allocates nothing: the table is a `static` array the compiler
//! builds from the family modules (`fs`, `net`, `mem`, `time`, `signal`, `process`), so it
//! can be linked into freestanding code. Beside it: syscall names, futex operations and
//! lock-word bits, the kernel's restart codes and the calling convention.
//!
//! Helpers that read a traced process live beneath the recorder and the replayer too:
//! those that need only a `Tracee` (auxv, rdtsc, landmark hashes, siginfo) in the `tracee`
//! crate, a file's identity in `schema`; the one that follows the rule types
//! ([`sent::sent_bytes`], the bytes an output syscall sends) is here behind the `tracee`
//! feature, which brings in std and the `tracee` crate.

#![no_std]

#[cfg(feature = "tracee")]
extern crate std;

mod abi;
mod fs;
pub mod futex;
mod mem;
mod names;
mod net;
mod process;
mod quick;
pub mod rule;
#[cfg(feature = "tracee")]
pub mod sent;
mod signal;
mod table;
mod time;

pub use abi::{
    is_restart_code, syscall_args, ERESTARTNOHAND, ERESTARTNOINTR, ERESTARTSYS,
    ERESTART_RESTARTBLOCK,
};
pub use fs::VMSPLICE_FROM_PIPE;
pub use mem::{applies_in_part, changes_address_space};
pub use names::{known_name, syscall_name, MAX_SYSCALL};
pub use process::unfollowed_seccomp_action;
pub use quick::returns_at_once;
pub use rule::{Ipc, Len, Out, Rule, Sent, Special};
pub use table::{leaves_process, never_a_syscall, rule_for, rule_for_call, NOT_A_SYSCALL};

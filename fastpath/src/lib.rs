//! The in-process syscall fast path. A runtime (`runtime/runtime.rs`, freestanding Rust
//! built into a flat image by `build.rs`) is mapped into every recorded process after exec;
//! syscall sites are rewritten, at their first traced call, to jump into it; it runs the
//! calls a server lives on inside the process and appends result and memory effects to a
//! ring in shared memory that the tracer empties at the thread's next stop. A seccomp
//! filter lets only the runtime's own `syscall` instruction through untraced.
//!
//! This crate owns the layout both sides agree on (`layout`), the filter (`seccomp`), the
//! records (`ring`), rewriting (`patch`), one address space's state (`space`) and replay's
//! in-process search for a preempted loop's pass (`landmark`).

pub mod carrier;
pub mod functions;
pub mod gate;
pub mod landmark;
pub mod layout;
pub mod patch;
pub mod ring;
pub mod seccomp;
pub mod space;
pub mod tsc_sites;
pub mod unwind;

pub use gate::Acknowledged;
pub use ring::{records, Diverged, RecordRef, RunAgain, ToLoad};
pub use space::{in_runtime, in_runtime_code, Refusal, Setup, Space};

pub mod runtime_syms {
    //! Addresses in the runtime image, read off its symbol table when it was built.
    include!(concat!(env!("OUT_DIR"), "/runtime_syms.rs"));
}

/// The runtime's code, linked at `layout::RUNTIME_BASE`.
pub static RUNTIME_IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/runtime.bin"));

/// Syscalls the runtime may run in-process; a site is rewritten when one of these is made
/// from it (a site another call uses keeps working: that call takes the traced path).
pub const BUFFERABLE: &[libc::c_long] = &[
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_sendmsg,
    libc::SYS_recvmsg,
    libc::SYS_ioctl,
    libc::SYS_open,
    libc::SYS_close,
    libc::SYS_stat,
    libc::SYS_fstat,
    libc::SYS_lstat,
    libc::SYS_poll,
    libc::SYS_lseek,
    libc::SYS_pread64,
    libc::SYS_access,
    libc::SYS_getpid,
    libc::SYS_sendto,
    libc::SYS_recvfrom,
    libc::SYS_uname,
    libc::SYS_getcwd,
    libc::SYS_readlink,
    libc::SYS_gettimeofday,
    libc::SYS_getuid,
    libc::SYS_getgid,
    libc::SYS_geteuid,
    libc::SYS_getegid,
    libc::SYS_getppid,
    libc::SYS_getpgrp,
    libc::SYS_gettid,
    libc::SYS_time,
    libc::SYS_getdents64,
    libc::SYS_clock_gettime,
    libc::SYS_epoll_wait,
    libc::SYS_openat,
    libc::SYS_newfstatat,
    libc::SYS_readlinkat,
    libc::SYS_faccessat,
    libc::SYS_epoll_pwait,
    libc::SYS_getrandom,
    libc::SYS_statx,
    libc::SYS_faccessat2,
    libc::SYS_nanosleep,
    libc::SYS_clock_nanosleep,
    libc::SYS_futex,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_sysinfo,
    libc::SYS_getrusage,
    libc::SYS_sched_getaffinity,
    libc::SYS_fcntl,
    libc::SYS_mmap,
    libc::SYS_mprotect,
    libc::SYS_munmap,
    libc::SYS_brk,
    libc::SYS_madvise,
    libc::SYS_accept,
    libc::SYS_accept4,
    libc::SYS_getsockname,
    libc::SYS_getpeername,
    libc::SYS_setsockopt,
    libc::SYS_getsockopt,
    libc::SYS_epoll_ctl,
];

pub fn bufferable(nr: u64) -> bool {
    BUFFERABLE.contains(&(nr as libc::c_long))
}

#[derive(Debug, thiserror::Error)]
pub enum FastPathError {
    #[error(transparent)]
    Tracee(#[from] tracee::TraceeError),
    #[error("setting up the in-process runtime: {what} failed: {}", std::io::Error::from_raw_os_error(*errno))]
    Setup { what: String, errno: i32 },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("corrupt in-process record at ring offset {offset}: {why}")]
    CorruptRecord { offset: u64, why: String },
    #[error("replaying the fast path: {0}")]
    Replay(String),
}

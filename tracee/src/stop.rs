//! The kinds of ptrace stop, named, decoded from a wait status.

/// A `PTRACE_EVENT_*` stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PtraceEvent {
    Exec,
    Fork,
    Vfork,
    Clone,
    VforkDone,
    Exit,
    Seccomp,
    /// `PTRACE_EVENT_STOP`: a group-stop or a `PTRACE_INTERRUPT` under `PTRACE_SEIZE`.
    Stop,
    Other(i32),
}

impl PtraceEvent {
    pub(crate) fn from_raw(e: i32) -> Self {
        match e {
            libc::PTRACE_EVENT_EXEC => PtraceEvent::Exec,
            libc::PTRACE_EVENT_FORK => PtraceEvent::Fork,
            libc::PTRACE_EVENT_VFORK => PtraceEvent::Vfork,
            libc::PTRACE_EVENT_CLONE => PtraceEvent::Clone,
            libc::PTRACE_EVENT_VFORK_DONE => PtraceEvent::VforkDone,
            libc::PTRACE_EVENT_EXIT => PtraceEvent::Exit,
            libc::PTRACE_EVENT_SECCOMP => PtraceEvent::Seccomp,
            libc::PTRACE_EVENT_STOP => PtraceEvent::Stop,
            other => PtraceEvent::Other(other),
        }
    }
}

/// Why the tracee is stopped (or that it is gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Stopped on entry to syscall `nr`.
    SyscallEntry { nr: u64 },
    /// Stopped on exit from a syscall with return value `ret`.
    SyscallExit { ret: i64 },
    /// About to receive signal `signo` (the tracer decides whether it is delivered).
    Signal { signo: i32 },
    /// A `PTRACE_EVENT_*` stop; `signo` is the stop signal reported with it.
    Event { event: PtraceEvent, signo: i32 },
    /// The process exited with `code`.
    Exited { code: i32 },
    /// The process was killed by `signo`.
    Killed { signo: i32, core_dumped: bool },
}

impl Stop {
    /// True when the tracee no longer exists.
    pub fn is_gone(&self) -> bool {
        matches!(self, Stop::Exited { .. } | Stop::Killed { .. })
    }

    /// True for a group-stop: the process stopped for a stop signal (`SIGSTOP`, `SIGTSTP`,
    /// `SIGTTIN`, `SIGTTOU`), as `PTRACE_SEIZE` reports it. A `PTRACE_INTERRUPT`, or the end
    /// of a group-stop, reports `SIGTRAP` instead.
    pub fn is_group_stop(&self) -> bool {
        matches!(
            self,
            Stop::Event { event: PtraceEvent::Stop, signo }
                if [libc::SIGSTOP, libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU].contains(signo)
        )
    }
}

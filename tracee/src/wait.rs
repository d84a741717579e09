//! Wait statuses, decoded here rather than through nix: nix's `WaitStatus` names signals by
//! an enum without the real-time ones, and fails on a stop or a death by signal 34 and up
//! (glibc itself sends SIGRTMIN+1 to every thread of a threaded `setuid` caller).

use nix::errno::Errno;

/// What `waitpid` reported for one thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitStatus {
    Exited(i32),
    Signaled {
        signo: i32,
        core_dumped: bool,
    },
    /// A signal-delivery stop or a group stop.
    Stopped(i32),
    /// A `PTRACE_EVENT_*` stop.
    PtraceEvent {
        signo: i32,
        event: i32,
    },
    /// A syscall stop (`PTRACE_O_TRACESYSGOOD`).
    PtraceSyscall,
    Continued,
}

impl WaitStatus {
    /// Decodes a raw status as the `W*` macros of `<sys/wait.h>` do.
    pub fn from_raw(status: i32) -> WaitStatus {
        let low = status & 0x7f;
        if low == 0 {
            return WaitStatus::Exited((status >> 8) & 0xff);
        }
        if status == 0xffff {
            return WaitStatus::Continued;
        }
        if status & 0xff == 0x7f {
            let signo = (status >> 8) & 0xff;
            let event = (status >> 16) & 0xff;
            return match (signo, event) {
                (s, 0) if s == libc::SIGTRAP | 0x80 => WaitStatus::PtraceSyscall,
                (s, 0) => WaitStatus::Stopped(s),
                (s, e) => WaitStatus::PtraceEvent { signo: s, event: e },
            };
        }
        WaitStatus::Signaled {
            signo: low,
            core_dumped: status & 0x80 != 0,
        }
    }
}

/// `waitpid(pid, __WALL)`: the thread that changed state and how.
pub(crate) fn waitpid_all(pid: i32) -> Result<(i32, WaitStatus), Errno> {
    let mut status = 0;
    // SAFETY: waitpid writes one int through a pointer to a live local.
    let got = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
    Errno::result(got).map(|pid| (pid, WaitStatus::from_raw(status)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_time_signals_and_ptrace_stops_decode() {
        // Stopped by SIGRTMIN+1 (35), killed by it, a seccomp event stop, a syscall stop.
        assert_eq!(
            WaitStatus::from_raw(35 << 8 | 0x7f),
            WaitStatus::Stopped(35)
        );
        assert_eq!(
            WaitStatus::from_raw(35),
            WaitStatus::Signaled {
                signo: 35,
                core_dumped: false
            }
        );
        assert_eq!(
            WaitStatus::from_raw(7 << 16 | libc::SIGTRAP << 8 | 0x7f),
            WaitStatus::PtraceEvent {
                signo: libc::SIGTRAP,
                event: 7
            }
        );
        assert_eq!(
            WaitStatus::from_raw((libc::SIGTRAP | 0x80) << 8 | 0x7f),
            WaitStatus::PtraceSyscall
        );
        assert_eq!(WaitStatus::from_raw(42 << 8), WaitStatus::Exited(42));
        assert_eq!(
            WaitStatus::from_raw(libc::SIGSEGV | 0x80),
            WaitStatus::Signaled {
                signo: libc::SIGSEGV,
                core_dumped: true
            }
        );
    }
}

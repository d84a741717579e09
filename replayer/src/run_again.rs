//! Which of the calls the runtime ran in-process while recording it makes again itself at
//! replay: the memory calls of anonymous private memory and the signal dispositions and
//! masks it ran (`RECORD_RUN_AT_REPLAY`). Their effect on the address space or the signal
//! state is real at replay too, so they run for real, their results compared; under the
//! seccomp filter the runtime makes them from its untraced instruction, without a stop.

use fastpath::RunAgain;
use schema::SyscallEvent;
use syscalls::{rule_for, Rule};

use crate::mem;

/// How a buffered call goes into replay's ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InRing {
    /// Its recorded result and memory effects are handed back.
    HandedBack,
    /// The runtime makes it again first.
    MadeAgain(RunAgain),
    /// It is made at a ptrace stop (the batch ends before it).
    Traced,
}

/// How the buffered call `s` is replayed in-process; `filtered`: the process runs under
/// the seccomp filter (without it, the runtime's own syscalls would stop it too).
pub(crate) fn in_ring(s: &SyscallEvent, filtered: bool) -> InRing {
    let rule = rule_for(s.number);
    if !rule.runs_at_replay() {
        return InRing::HandedBack;
    }
    // A failed call changed nothing (but an madvise or mprotect that met a hole): the
    // traced path does not run it again either.
    if s.result < 0 && !syscalls::applies_in_part(s.number, s.result) {
        return InRing::HandedBack;
    }
    if !filtered {
        return InRing::Traced;
    }
    let nr = s.number as libc::c_long;
    let args = match nr {
        libc::SYS_mmap if s.mapping.is_none() && anonymous_private(s.args[3]) => {
            mem::mmap_replay_args(s)
        }
        libc::SYS_munmap
        | libc::SYS_mprotect
        | libc::SYS_madvise
        | libc::SYS_brk
        | libc::SYS_rt_sigaction
        | libc::SYS_rt_sigprocmask => s.args,
        _ => return InRing::Traced,
    };
    InRing::MadeAgain(RunAgain {
        args,
        same_result: !matches!(rule, Rule::Execute { same_result: false }),
    })
}

fn anonymous_private(flags: u64) -> bool {
    let flags = flags as i32;
    flags & libc::MAP_ANONYMOUS != 0 && flags & 0x0f == libc::MAP_PRIVATE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(nr: libc::c_long, args: [u64; 6], result: i64) -> SyscallEvent {
        SyscallEvent {
            number: nr as u64,
            args,
            result,
            mode: schema::SyscallMode::Buffered,
            writes: Default::default(),
            rip: 0,
            regs_hash: 0,
            output_hash: 0,
            echo: schema::Echo::None,
            mapping: None,
        }
    }

    #[test]
    fn an_anonymous_mmap_is_made_again_at_its_recorded_address() {
        let anon = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
        let s = call(
            libc::SYS_mmap,
            [0, 8192, 3, anon, u64::MAX, 0],
            0x7f00_0000_0000,
        );
        let InRing::MadeAgain(run) = in_ring(&s, true) else {
            panic!("not made again: {:?}", in_ring(&s, true));
        };
        assert_eq!(run.args[0], 0x7f00_0000_0000);
        assert_ne!(run.args[3] & libc::MAP_FIXED as u64, 0);
        assert!(run.same_result);
        assert_eq!(in_ring(&s, false), InRing::Traced);
    }

    #[test]
    fn queries_and_failed_calls_are_handed_back_and_file_mappings_traced() {
        let getpid = call(libc::SYS_getpid, [0; 6], 7);
        assert_eq!(in_ring(&getpid, true), InRing::HandedBack);
        let failed = call(libc::SYS_munmap, [1, 4096, 0, 0, 0, 0], -22);
        assert_eq!(in_ring(&failed, true), InRing::HandedBack);
        let file = call(
            libc::SYS_mmap,
            [0, 4096, 1, libc::MAP_PRIVATE as u64, 3, 0],
            0x1000,
        );
        assert_eq!(in_ring(&file, true), InRing::Traced);
    }
}

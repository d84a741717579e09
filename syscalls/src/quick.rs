//! Calls that return at once whatever other threads do: they read or set the calling
//! thread's own state and never wait. With the fast path, a thread that holds its
//! process's token keeps it through one of them made from a traced site, as through a
//! futex wake (and as through the same call made in-process), instead of handing it on at
//! the entry and waiting for it again at the exit (a whole timeslice when another thread
//! computes).

use libc::*;

/// Queries of the process's identity, clocks and limits, and the thread's own signal and
/// thread-library state.
const QUICK: &[c_long] = &[
    SYS_getpid,
    SYS_getppid,
    SYS_gettid,
    SYS_getuid,
    SYS_geteuid,
    SYS_getgid,
    SYS_getegid,
    SYS_getresuid,
    SYS_getresgid,
    SYS_getgroups,
    SYS_getpgrp,
    SYS_getpgid,
    SYS_getsid,
    SYS_clock_gettime,
    SYS_clock_getres,
    SYS_gettimeofday,
    SYS_time,
    SYS_times,
    SYS_getrusage,
    SYS_sysinfo,
    SYS_uname,
    SYS_getrlimit,
    SYS_sched_getaffinity,
    SYS_getcpu,
    SYS_umask,
    SYS_rt_sigaction,
    SYS_sigaltstack,
    SYS_set_robust_list,
    SYS_get_robust_list,
    SYS_set_tid_address,
    SYS_rseq,
    SYS_arch_prctl,
];

/// Whether call `nr` with `args` returns at once, never waiting for anything.
pub fn returns_at_once(nr: u64, args: &[u64; 6]) -> bool {
    if nr == SYS_rt_sigprocmask as u64 {
        // One that may unblock has a pending signal delivered at its exit: it stays a
        // hand-over point, as everything that ends in a signal.
        return args[1] == 0 || args[0] == SIG_BLOCK as u64;
    }
    QUICK.contains(&(nr as c_long))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_return_at_once_and_waits_do_not() {
        let none = [0u64; 6];
        assert!(returns_at_once(SYS_clock_gettime as u64, &none));
        assert!(returns_at_once(SYS_set_robust_list as u64, &none));
        for waits in [
            SYS_nanosleep,
            SYS_read,
            SYS_futex,
            SYS_sched_yield,
            SYS_poll,
        ] {
            assert!(!returns_at_once(waits as u64, &none), "{waits}");
        }
        let block = [SIG_BLOCK as u64, 0x1000, 0, 8, 0, 0];
        let unblock = [SIG_UNBLOCK as u64, 0x1000, 0, 8, 0, 0];
        let query = [SIG_UNBLOCK as u64, 0, 0x1000, 8, 0, 0];
        let mask = SYS_rt_sigprocmask as u64;
        assert!(returns_at_once(mask, &block));
        assert!(returns_at_once(mask, &query));
        assert!(!returns_at_once(mask, &unblock));
    }
}

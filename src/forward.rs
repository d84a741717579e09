//! Signals sent to ftrun (SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT, SIGUSR1, SIGUSR2) are
//! passed on to the tracee, so that stopping ftrun stops the program the usual way and the
//! trace stays whole. One that also reached the program is not passed on: a terminal's
//! (sent by the kernel to the whole foreground group), and an abort or user signal sent by
//! a process of ftrun's own group (the program's `kill(0, SIGABRT)`): ftrun outlives it and
//! records what it does to the program.

use std::sync::atomic::{AtomicI32, Ordering};

static TRACEE: AtomicI32 = AtomicI32::new(0);
const SI_KERNEL: i32 = 0x80;
/// Signals a program sends its whole group (`kill(0, …)`, `abort` of a group leader's
/// child…) rather than to ftrun, which it does not know of.
const GROUP_WIDE: [i32; 3] = [libc::SIGABRT, libc::SIGUSR1, libc::SIGUSR2];

extern "C" fn forward(signo: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let code = unsafe { (*info).si_code };
    // A terminal sends its signals to the whole foreground group, the tracee included:
    // passing those on would deliver them twice.
    if code == SI_KERNEL {
        return;
    }
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler; getpgid and
    // getpgrp are async-signal-safe.
    let from_own_group = unsafe {
        let sender = (*info).si_pid();
        sender > 0 && libc::getpgid(sender) == libc::getpgrp()
    };
    if from_own_group && GROUP_WIDE.contains(&signo) {
        return;
    }
    let pid = TRACEE.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe {
            libc::kill(pid, signo);
        }
    }
}

/// From now on, signals that would stop ftrun go to `pid` instead.
pub fn forward_to(pid: i32) {
    TRACEE.store(pid, Ordering::Relaxed);
    for signo in [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGABRT,
        libc::SIGUSR1,
        libc::SIGUSR2,
    ] {
        // SAFETY: installing a handler that only makes async-signal-safe calls.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = forward as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signo, &action, std::ptr::null_mut());
        }
    }
}

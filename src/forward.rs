//! Signals sent to ftrun (SIGINT, SIGTERM, SIGHUP, SIGQUIT) are passed on to the tracee,
//! so that stopping ftrun stops the program the usual way and the trace stays whole.

use std::sync::atomic::{AtomicI32, Ordering};

static TRACEE: AtomicI32 = AtomicI32::new(0);
const SI_KERNEL: i32 = 0x80;

extern "C" fn forward(signo: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let code = unsafe { (*info).si_code };
    // A terminal sends its signals to the whole foreground group, the tracee included:
    // passing those on would deliver them twice.
    if code == SI_KERNEL {
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
    for signo in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
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

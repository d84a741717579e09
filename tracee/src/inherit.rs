//! What a process hands down through exec that the program can observe: ignored signals,
//! the signal mask and the umask. ftrun changes its own (the Rust runtime ignores SIGPIPE,
//! the recorder installs handlers and blocks its timer signal), so the state it inherited is
//! read before any of that, and the traced program is given exactly that state.

use std::sync::OnceLock;

/// Ignored signals and the mask (bit N-1 for signal N) and the umask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InheritedState {
    pub ignored: u64,
    pub blocked: u64,
    /// `None`: leave the umask as the spawning process has it.
    pub umask: Option<u32>,
}

/// The kernel's `struct sigaction` for `rt_sigaction` (glibc's wrapper refuses the signals
/// it keeps for itself, 32 and 33, which a parent may still have ignored).
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

static AT_STARTUP: OnceLock<InheritedState> = OnceLock::new();

impl InheritedState {
    /// The state of the calling thread now.
    pub fn of_this_thread() -> InheritedState {
        let mut ignored = 0u64;
        for signo in 1..=64u64 {
            let mut old = KernelSigaction {
                handler: 0,
                flags: 0,
                restorer: 0,
                mask: 0,
            };
            // SAFETY: a query (no new action) into a local of the kernel's layout.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    signo,
                    std::ptr::null::<KernelSigaction>(),
                    &mut old as *mut KernelSigaction,
                    8usize,
                )
            };
            if r == 0 && old.handler == libc::SIG_IGN {
                ignored |= 1 << (signo - 1);
            }
        }
        let mut blocked = 0u64;
        // SAFETY: a query of the mask into a local u64 (the kernel's sigset size is 8).
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_BLOCK,
                std::ptr::null::<u64>(),
                &mut blocked as *mut u64,
                8usize,
            );
        }
        InheritedState {
            ignored,
            blocked,
            umask: Some(current_umask()),
        }
    }

    /// Records the state of this process as its parent handed it down. Call it before
    /// anything changes signal dispositions: ftrun calls it from an `.init_array`
    /// constructor, which runs before the Rust runtime ignores SIGPIPE.
    pub fn capture_at_startup() {
        AT_STARTUP.get_or_init(InheritedState::of_this_thread);
    }

    /// The state captured at startup, or the current one if nothing was captured.
    pub fn at_startup() -> InheritedState {
        *AT_STARTUP.get_or_init(InheritedState::of_this_thread)
    }

    /// Sets this state in a forked child before it execs: every signal but the ignored ones
    /// at its default action (handlers would be reset by exec anyway), the mask, the umask.
    ///
    /// # Safety
    /// Only raw syscalls: safe to call in a child between fork and exec.
    pub(crate) unsafe fn apply_in_child(&self) {
        for signo in 1..=64u64 {
            if signo == libc::SIGKILL as u64 || signo == libc::SIGSTOP as u64 {
                continue;
            }
            let handler = if self.ignored & (1 << (signo - 1)) != 0 {
                libc::SIG_IGN
            } else {
                libc::SIG_DFL
            };
            let act = KernelSigaction {
                handler,
                flags: 0,
                restorer: 0,
                mask: 0,
            };
            libc::syscall(
                libc::SYS_rt_sigaction,
                signo,
                &act as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            );
        }
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &self.blocked as *const u64,
            std::ptr::null_mut::<u64>(),
            8usize,
        );
        if let Some(mask) = self.umask {
            libc::umask(mask as libc::mode_t);
        }
    }
}

/// The umask, from `/proc/self/status` (reading it with `umask` means setting it, which
/// another thread could see half-way).
fn current_umask() -> u32 {
    let from_status = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|m| u32::from_str_radix(m.trim(), 8).ok())
        });
    from_status.unwrap_or_else(|| {
        // SAFETY: umask cannot fail; the old value is put back at once.
        unsafe {
            let old = libc::umask(0o022);
            libc::umask(old);
            old as u32
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_threads_mask_and_umask() {
        let state = InheritedState::of_this_thread();
        // SIGKILL can never be ignored or blocked.
        assert_eq!(state.ignored & (1 << (libc::SIGKILL - 1)), 0);
        assert_eq!(state.blocked & (1 << (libc::SIGKILL - 1)), 0);
        assert!(state.umask.is_some_and(|u| u <= 0o777));
    }
}

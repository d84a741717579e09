//! A stopped thread's blocked-signal mask, read and set by ptrace (a checkpoint gives each
//! re-created thread the mask its original had).

use crate::error::TraceeError;
use crate::tracee::Tracee;

const PTRACE_GETSIGMASK: libc::c_uint = 0x420a;
const PTRACE_SETSIGMASK: libc::c_uint = 0x420b;
/// The kernel's `sigset_t`: 64 signals.
const KERNEL_SIGSET: usize = 8;

impl Tracee {
    /// The signals the thread blocks, as the kernel's 64-bit set.
    pub fn sigmask(&self) -> Result<u64, TraceeError> {
        let mut mask = 0u64;
        self.ptrace(
            "PTRACE_GETSIGMASK",
            PTRACE_GETSIGMASK,
            KERNEL_SIGSET,
            &mut mask as *mut u64 as usize,
        )?;
        Ok(mask)
    }

    /// Makes the thread block exactly the signals of `mask`.
    pub fn set_sigmask(&self, mask: u64) -> Result<(), TraceeError> {
        self.ptrace(
            "PTRACE_SETSIGMASK",
            PTRACE_SETSIGMASK,
            KERNEL_SIGSET,
            &mask as *const u64 as usize,
        )?;
        Ok(())
    }
}

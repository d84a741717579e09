//! The x86-64 syscall calling convention and the kernel's internal restart codes, as a
//! tracer sees them in the registers.

/// `-ERESTARTSYS`: restarted after a handler installed with `SA_RESTART`, else `EINTR`.
pub const ERESTARTSYS: i64 = -512;
/// `-ERESTARTNOINTR`: the kernel restarts the syscall after the signal, whatever the handler.
pub const ERESTARTNOINTR: i64 = -513;
/// `-ERESTARTNOHAND`: restarted only when no handler runs.
pub const ERESTARTNOHAND: i64 = -514;
/// `-ERESTART_RESTARTBLOCK`: the call goes on as `restart_syscall` after the signal.
pub const ERESTART_RESTARTBLOCK: i64 = -516;

/// `-ERESTART*`: the syscall was interrupted and the kernel decides, after any signal,
/// whether it restarts.
pub fn is_restart_code(ret: i64) -> bool {
    (ERESTART_RESTARTBLOCK..=ERESTARTSYS).contains(&ret)
}

/// The arguments of a syscall, in the x86-64 calling convention.
pub fn syscall_args(r: &libc::user_regs_struct) -> [u64; 6] {
    [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_codes_are_the_kernels_range() {
        for code in [
            ERESTARTSYS,
            ERESTARTNOINTR,
            ERESTARTNOHAND,
            ERESTART_RESTARTBLOCK,
        ] {
            assert!(is_restart_code(code));
        }
        assert!(!is_restart_code(-(libc::EINTR as i64)));
        assert!(!is_restart_code(-517));
    }
}

//! Small facts about a thread or a call that the recorder's stop handling asks for.

/// Whether the thread blocks `signo` now (from `/proc/PID/status`; only read while a
/// signal is held, which is rare).
pub(crate) fn signal_blocked(pid: i32, signo: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigBlk:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .is_some_and(|mask| mask & (1u64 << (signo - 1)) != 0)
}

/// The destination descriptor of a syscall that copies data inside the kernel.
pub(crate) fn kernel_copy_destination(nr: u64, args: &[u64; 6]) -> Option<u64> {
    match nr as libc::c_long {
        libc::SYS_sendfile => Some(args[0]),
        libc::SYS_copy_file_range | libc::SYS_splice => Some(args[2]),
        libc::SYS_tee => Some(args[1]),
        _ => None,
    }
}

/// `prctl(PR_GET_TSC, &mode)`: the kernel answers with ftrun's own setting (rdtsc faults).
pub(crate) fn is_get_tsc(nr: u64, args: &[u64; 6]) -> bool {
    nr == libc::SYS_prctl as u64 && args[0] == libc::PR_GET_TSC as u64 && args[1] != 0
}

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

/// Whether descriptor `fd` of process `pid` was opened for reading only (a pipe's read
/// end), from `/proc/PID/fdinfo/FD`; false when that cannot be read.
pub(crate) fn opened_read_only(pid: i32, fd: u64) -> bool {
    let Ok(info) = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd as i32)) else {
        return false;
    };
    info.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|f| i32::from_str_radix(f.trim(), 8).ok())
        .is_some_and(|flags| flags & libc::O_ACCMODE == libc::O_RDONLY)
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

/// A successful call with these arguments gave the program a seccomp filter of its own
/// (`seccomp(SECCOMP_SET_MODE_FILTER, …)` or `prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, …)`).
pub(crate) fn installs_seccomp_filter(nr: u64, args: &[u64; 6]) -> bool {
    const SET_MODE_FILTER: u64 = 1;
    const MODE_FILTER: u64 = 2;
    (nr == libc::SYS_seccomp as u64 && args[0] == SET_MODE_FILTER)
        || (nr == libc::SYS_prctl as u64
            && args[0] == libc::PR_SET_SECCOMP as u64
            && args[1] == MODE_FILTER)
}

/// The seccomp mode ftrun itself runs in (2 under a container's filter): what a program it
/// starts has natively before installing filters of its own.
pub(crate) fn inherited_seccomp_mode() -> i64 {
    static MODE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *MODE.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Seccomp:"))
                    .and_then(|m| m.trim().parse().ok())
            })
            .unwrap_or(0)
    })
}

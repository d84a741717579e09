//! Raw siginfo as the kernel lays it out, and what its fields say about a signal.

/// Raw siginfo as the kernel lays it out (128 bytes).
pub type RawSiginfo = [u8; 128];

/// The `si_code` field: positive for a signal the kernel raised.
pub fn siginfo_code(info: &RawSiginfo) -> i32 {
    i32::from_le_bytes(info[8..12].try_into().expect("4 bytes"))
}

/// A signal the CPU raised for the instruction at hand: it will happen again in replay.
pub fn is_synchronous(signo: i32, info: &RawSiginfo) -> bool {
    matches!(
        signo,
        libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP
    ) && siginfo_code(info) > 0
}

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

const TRAP_BRKPT: i32 = 1;
const TRAP_TRACE: i32 = 2;
const TRAP_HWBKPT: i32 = 4;
/// The one-byte debug trap instruction (`int1`).
const ICEBP: u8 = 0xf1;

/// Whether a `SIGTRAP` (`info`) that stopped `tracee` at `rip` is the hit of the tracer's
/// exec breakpoint at `watched`. Some virtual machines (Firecracker) deliver a
/// debug-register hit now and then with nothing in DR6, which the kernel then reports as a
/// single step or an `icebp`: a trap at exactly `watched` is the breakpoint's too, unless
/// an `icebp` of the program's own is right before it.
pub fn exec_breakpoint_hit(
    tracee: &mut crate::Tracee,
    info: &RawSiginfo,
    rip: u64,
    watched: Option<u64>,
) -> bool {
    match siginfo_code(info) {
        TRAP_HWBKPT => true,
        TRAP_BRKPT | TRAP_TRACE if watched == Some(rip) => tracee
            .read_mem(rip.wrapping_sub(1), 1)
            .map_or(true, |b| b != [ICEBP]),
        _ => false,
    }
}

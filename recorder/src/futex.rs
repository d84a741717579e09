//! Which futex calls can block, and waiting for a thread to fall asleep in the kernel.

use std::time::{Duration, Instant};

/// Futex operation numbers (the command part of `futex`'s second argument).
pub mod op {
    pub const WAKE: u64 = 1;
    pub const REQUEUE: u64 = 3;
    pub const CMP_REQUEUE: u64 = 4;
    pub const WAKE_OP: u64 = 5;
    pub const LOCK_PI: u64 = 6;
    pub const UNLOCK_PI: u64 = 7;
    pub const TRYLOCK_PI: u64 = 8;
    pub const WAKE_BITSET: u64 = 10;
    pub const WAIT_REQUEUE_PI: u64 = 11;
    pub const CMP_REQUEUE_PI: u64 = 12;
    pub const LOCK_PI2: u64 = 13;
}

/// `FUTEX_WAITERS`: the lock word's bit saying a thread waits in the kernel.
pub const FUTEX_WAITERS: u32 = 0x8000_0000;
/// The owner's thread id in a PI lock word.
pub const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

/// The operation of a futex call, private and clock flags masked off.
pub fn op_of(args: &[u64; 6]) -> u64 {
    args[1] & 0x7f
}

/// How long the recorder waits for a PI locker to fall asleep before letting others run.
const ASLEEP_WITHIN: Duration = Duration::from_millis(20);

fn futex_op(nr: u64, args: &[u64; 6]) -> Option<u64> {
    (nr == libc::SYS_futex as u64).then(|| op_of(args))
}

/// Futex operations that return without sleeping.
pub fn never_blocks(nr: u64, args: &[u64; 6]) -> bool {
    matches!(
        futex_op(nr, args),
        Some(
            op::WAKE
                | op::REQUEUE
                | op::CMP_REQUEUE
                | op::WAKE_OP
                | op::UNLOCK_PI
                | op::TRYLOCK_PI
                | op::WAKE_BITSET
                | op::CMP_REQUEUE_PI
        )
    )
}

/// `FUTEX_LOCK_PI`: the kernel sets `FUTEX_WAITERS` in the lock word, then sleeps.
pub fn locks_pi(nr: u64, args: &[u64; 6]) -> bool {
    matches!(futex_op(nr, args), Some(op::LOCK_PI | op::LOCK_PI2))
}

/// Waits (briefly) until thread `tid` sleeps in the kernel or is stopped again.
pub fn wait_until_asleep(tid: i32) {
    let deadline = Instant::now() + ASLEEP_WITHIN;
    while Instant::now() < deadline {
        match thread_state(tid) {
            Some('S' | 'D' | 't' | 'T' | 'Z' | 'X') | None => return,
            _ => std::thread::sleep(Duration::from_micros(20)),
        }
    }
}

/// The state letter of `/proc/TID/stat` (R running, S sleeping, t traced-stopped, ...).
fn thread_state(tid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{tid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

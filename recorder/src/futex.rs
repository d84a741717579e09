//! Which futex calls can block, and waiting for a thread to fall asleep in the kernel.

use std::time::{Duration, Instant};

const FUTEX_WAKE: u64 = 1;
const FUTEX_REQUEUE: u64 = 3;
const FUTEX_CMP_REQUEUE: u64 = 4;
const FUTEX_WAKE_OP: u64 = 5;
const FUTEX_LOCK_PI: u64 = 6;
const FUTEX_UNLOCK_PI: u64 = 7;
const FUTEX_TRYLOCK_PI: u64 = 8;
const FUTEX_WAKE_BITSET: u64 = 10;
const FUTEX_CMP_REQUEUE_PI: u64 = 12;
const FUTEX_LOCK_PI2: u64 = 13;
/// How long the recorder waits for a PI locker to fall asleep before letting others run.
const ASLEEP_WITHIN: Duration = Duration::from_millis(20);

fn futex_op(nr: u64, args: &[u64; 6]) -> Option<u64> {
    (nr == libc::SYS_futex as u64).then_some(args[1] & 0x7f)
}

/// Futex operations that return without sleeping.
pub fn never_blocks(nr: u64, args: &[u64; 6]) -> bool {
    matches!(
        futex_op(nr, args),
        Some(
            FUTEX_WAKE
                | FUTEX_REQUEUE
                | FUTEX_CMP_REQUEUE
                | FUTEX_WAKE_OP
                | FUTEX_UNLOCK_PI
                | FUTEX_TRYLOCK_PI
                | FUTEX_WAKE_BITSET
                | FUTEX_CMP_REQUEUE_PI
        )
    )
}

/// `FUTEX_LOCK_PI`: the kernel sets `FUTEX_WAITERS` in the lock word, then sleeps.
pub fn locks_pi(nr: u64, args: &[u64; 6]) -> bool {
    matches!(futex_op(nr, args), Some(FUTEX_LOCK_PI | FUTEX_LOCK_PI2))
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

//! Futex operation numbers, lock-word bits, and which futex calls can block.

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

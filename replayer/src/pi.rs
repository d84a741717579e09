//! Priority-inheritance futex words at replay. While threads wait in `FUTEX_LOCK_PI`, the
//! kernel keeps `FUTEX_WAITERS` set in the lock word, so that the owner's unlock goes
//! through the kernel. The recorder copies the word when a PI call returns, but a waiter
//! that had entered the kernel just before may not have marked the word yet at that moment.
//! Replay knows the waiters from the log (entered `LOCK_PI`, not yet returned) and keeps
//! the bit set while there are any, as the kernel did by the time the owner looked.

use std::collections::{HashMap, HashSet};

use tracee::Tracee;

use crate::ReplayError;

/// `FUTEX_WAITERS`: a thread waits in the kernel for this lock.
const FUTEX_WAITERS: u32 = 0x8000_0000;
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
const LOCK_PI: u64 = 6;
const UNLOCK_PI: u64 = 7;
const TRYLOCK_PI: u64 = 8;
const LOCK_PI2: u64 = 13;

/// The threads in `LOCK_PI`, per lock word.
#[derive(Default)]
pub(crate) struct PiLocks {
    waiters: HashMap<u64, HashSet<u32>>,
}

fn op_of(args: &[u64; 6]) -> u64 {
    args[1] & 0x7f
}

impl PiLocks {
    /// A thread entered `LOCK_PI` and others ran while it was in the kernel: a held lock
    /// is marked as waited for at once.
    pub fn entered(
        &mut self,
        tracee: &mut Tracee,
        tid: u32,
        args: &[u64; 6],
    ) -> Result<(), ReplayError> {
        if !matches!(op_of(args), LOCK_PI | LOCK_PI2) {
            return Ok(());
        }
        self.waiters.entry(args[0]).or_default().insert(tid);
        let word = read_word(tracee, args[0])?;
        if word & FUTEX_TID_MASK != 0 {
            write_word(tracee, args[0], word | FUTEX_WAITERS)?;
        }
        Ok(())
    }

    /// A PI call's result (and its copy of the word) was just replayed for `tid`.
    pub fn returned(
        &mut self,
        tracee: &mut Tracee,
        tid: u32,
        args: &[u64; 6],
    ) -> Result<(), ReplayError> {
        if !matches!(op_of(args), LOCK_PI | LOCK_PI2 | TRYLOCK_PI | UNLOCK_PI) {
            return Ok(());
        }
        let waiters = self.waiters.entry(args[0]).or_default();
        waiters.remove(&tid);
        if waiters.is_empty() {
            return Ok(());
        }
        let word = read_word(tracee, args[0])?;
        if word & FUTEX_TID_MASK != 0 {
            write_word(tracee, args[0], word | FUTEX_WAITERS)?;
        }
        Ok(())
    }
}

fn read_word(tracee: &mut Tracee, addr: u64) -> Result<u32, ReplayError> {
    let bytes = tracee.read_mem(addr, 4)?;
    Ok(u32::from_le_bytes(bytes.try_into().expect("4 bytes")))
}

fn write_word(tracee: &mut Tracee, addr: u64, word: u32) -> Result<(), ReplayError> {
    tracee.write_mem(addr, &word.to_le_bytes())?;
    Ok(())
}

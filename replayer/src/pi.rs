//! Priority-inheritance futex words at replay. While threads wait in `FUTEX_LOCK_PI`, the
//! kernel keeps `FUTEX_WAITERS` set in the lock word, so that the owner's unlock goes
//! through the kernel. Recording copies the word when a PI call returns, but a waiter
//! that had entered the kernel just before may not have marked the word yet at that moment.
//! Replay knows the waiters from the log (entered `LOCK_PI`, not yet returned) and keeps
//! the bit set while there are any, as the kernel did by the time the owner looked.

use std::collections::{HashMap, HashSet};

use syscalls::futex::op::{LOCK_PI, LOCK_PI2, TRYLOCK_PI, UNLOCK_PI};
use syscalls::futex::{op_of, FUTEX_TID_MASK, FUTEX_WAITERS};
use tracee::Tracee;

use crate::ReplayError;

/// The threads in `LOCK_PI`, per lock word.
#[derive(Default)]
pub(crate) struct PiLocks {
    waiters: HashMap<u64, HashSet<u32>>,
}

impl PiLocks {
    /// Whether no thread waits in `LOCK_PI`.
    pub fn is_empty(&self) -> bool {
        self.waiters.values().all(|w| w.is_empty())
    }

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
        mark_waited(tracee, args[0])
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
        mark_waited(tracee, args[0])
    }
}

/// Sets `FUTEX_WAITERS` in a held lock's word (a free lock's word stays as it is).
fn mark_waited(tracee: &mut Tracee, addr: u64) -> Result<(), ReplayError> {
    let bytes = tracee.read_mem(addr, 4)?;
    let word = u32::from_le_bytes(bytes.try_into().expect("4 bytes"));
    if word & FUTEX_TID_MASK != 0 {
        tracee.write_mem(addr, &(word | FUTEX_WAITERS).to_le_bytes())?;
    }
    Ok(())
}

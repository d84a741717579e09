//! Robust futexes at replay. When a thread ends, the kernel walks its robust list and
//! marks each lock the thread still held `FUTEX_OWNER_DIED`, so that the next locker
//! learns of it (`EOWNERDEAD`). It marks only lock words holding the thread's real id, and
//! at replay the words hold the recorded one: so replay walks the lists itself, with the
//! recorded ids, at the points where the recording's threads ended.

use std::collections::HashMap;

use syscalls::futex::{FUTEX_TID_MASK, FUTEX_WAITERS};
use tracee::{Tracee, TraceeError};

const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
/// The kernel's bound on a list's length (it may be corrupt, or circular).
const ROBUST_LIST_LIMIT: usize = 2048;

/// The robust list head each thread registered (`set_robust_list`), by recorded id.
#[derive(Default, Clone)]
pub struct RobustLists {
    heads: HashMap<u32, (u32, u64)>,
}

impl RobustLists {
    /// Thread `tid` of process `tgid` registered the list at `head`.
    pub fn registered(&mut self, tid: u32, tgid: u32, head: u64) {
        self.heads.insert(tid, (tgid, head));
    }

    /// The threads of process `tgid` (or only `tid`) end: the locks they hold, in memory
    /// `tracee` shares with them, are marked as their owner's death marks them.
    pub fn owners_die(
        &mut self,
        tracee: &mut Tracee,
        tgid: u32,
        only: Option<u32>,
    ) -> Result<(), TraceeError> {
        let dying: Vec<(u32, u64)> = self
            .heads
            .iter()
            .filter(|(tid, (group, _))| *group == tgid && only.is_none_or(|t| t == **tid))
            .map(|(tid, (_, head))| (*tid, *head))
            .collect();
        for (tid, head) in dying {
            self.heads.remove(&tid);
            walk(tracee, tid, head)?;
        }
        Ok(())
    }
}

/// `struct robust_list_head`: the list (a pointer to the first entry, the head itself when
/// empty), the offset from an entry to its lock word, and a lock being taken or released.
fn walk(tracee: &mut Tracee, tid: u32, head: u64) -> Result<(), TraceeError> {
    let Ok(fields) = tracee.read_mem(head, 24) else {
        return Ok(()); // unmapped since: nothing the kernel could have walked either
    };
    let word = |i: usize| u64::from_le_bytes(fields[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    let (mut entry, offset, pending) = (word(0), word(1) as i64, word(2));
    let at = |entry: u64| (entry & !1).wrapping_add(offset as u64);
    let mut seen = 0;
    while entry != head && entry != 0 && seen < ROBUST_LIST_LIMIT {
        let next = match tracee.read_u64(entry & !1) {
            Ok(next) => next,
            Err(_) => return Ok(()),
        };
        if entry != pending {
            owner_died(tracee, tid, at(entry))?;
        }
        entry = next;
        seen += 1;
    }
    if pending != 0 {
        owner_died(tracee, tid, at(pending))?;
    }
    Ok(())
}

fn owner_died(tracee: &mut Tracee, tid: u32, addr: u64) -> Result<(), TraceeError> {
    let Ok(bytes) = tracee.read_mem(addr, 4) else {
        return Ok(());
    };
    let value = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes"));
    if value & FUTEX_TID_MASK != tid {
        return Ok(());
    }
    let marked = (value & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
    tracee.write_mem(addr, &marked.to_le_bytes())
}

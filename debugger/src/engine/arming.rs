//! What is armed before a resume: gdb's breakpoints and watchpoints and the goal's trigger,
//! written as int3s into the process and into debug registers 1 to 3 of the thread.

use std::collections::BTreeSet;

use replayer::Replayer;

use super::{Engine, Goal, Slot, Then};
use crate::machine;
use crate::moment::{Moment, Trigger, Watch, WatchKindKey};

impl Engine {
    pub(super) fn user_exec(&self) -> BTreeSet<u64> {
        let mut exec: BTreeSet<u64> = self.t.sw_bps.union(&self.t.hw_bps).copied().collect();
        exec.extend(self.t.catch_points());
        exec
    }

    /// Whether gdb's breakpoints and watchpoints are armed now.
    pub(super) fn user_armed(&self) -> bool {
        match &self.goal {
            Goal::Gdb { .. } => true,
            Goal::RunTo {
                then: Then::Scan(_),
                ..
            } => self.initial.as_ref().is_some_and(|i| match i {
                Moment::At { stop, .. } => self.stops >= *stop,
                Moment::End => false,
            }),
            _ => false,
        }
    }

    /// The trigger the goal counts now, besides gdb's.
    pub(super) fn goal_trigger(&self) -> Option<(Trigger, u32)> {
        if let Some(f) = self.active_fast_step() {
            return Some((Trigger::Exec(f.rip), f.tid));
        }
        match &self.goal {
            Goal::RunTo {
                target: Moment::At { hops, .. },
                idx: Some(i),
                ..
            } => hops.get(*i).map(|h| (h.trig, h.tid)),
            Goal::Search(s) => s.x_trig,
            _ => None,
        }
    }

    /// Addresses armed for arrival (by int3), and watchpoints (in debug registers).
    pub(super) fn armed(&self) -> (BTreeSet<u64>, Vec<Watch>) {
        let mut exec = BTreeSet::new();
        let mut watch = Vec::new();
        if self.user_armed() {
            exec.extend(self.user_exec());
            watch.extend(self.t.watches.iter().copied());
        }
        if let Some((trig, _)) = self.goal_trigger() {
            match trig {
                Trigger::Exec(a) => {
                    exec.insert(a);
                }
                Trigger::Watch(w) if !watch.contains(&w) => watch.push(w),
                _ => {}
            }
        }
        (exec, watch)
    }

    /// The thread that runs by single steps now.
    pub(super) fn stepping(&self) -> Option<u32> {
        if self.active_fast_step().is_some() {
            return None;
        }
        match &self.goal {
            Goal::Gdb { step } => *step,
            Goal::RunTo {
                target: Moment::At { hops, .. },
                idx: Some(i),
                ..
            } => hops
                .get(*i)
                .filter(|h| h.trig == Trigger::Step)
                .map(|h| h.tid),
            Goal::Search(s) => Some(s.tid),
            _ => None,
        }
    }

    /// Writes the debug registers of the thread about to run: slot 0 as the replay left
    /// it, slots 1..3 for what the debugger arms.
    pub(super) fn program_slots(&mut self, pid: i32, landmark: bool, slots: &[Slot]) {
        let dirty = self.dr_dirty.get(&pid).copied().unwrap_or(false);
        if slots.is_empty() && !dirty {
            return;
        }
        let mut dr7: u64 = if landmark { 1 } else { 0 };
        for (i, slot) in slots.iter().enumerate().take(3) {
            let n = i + 1;
            let (addr, rw, len) = match slot {
                Slot::Exec(a) => (*a, 0u64, 0u64),
                Slot::Watch(w) => {
                    let rw = match w.kind {
                        WatchKindKey::Write => 1,
                        WatchKindKey::Read | WatchKindKey::ReadWrite => 3,
                    };
                    let len = match w.len {
                        1 => 0,
                        2 => 1,
                        8 => 2,
                        _ => 3,
                    };
                    (w.addr, rw, len)
                }
            };
            machine::poke_debugreg(pid, n, addr);
            dr7 |= (1 << (2 * n)) | (rw << (16 + 4 * n)) | (len << (18 + 4 * n));
        }
        machine::poke_debugreg(pid, 7, dr7);
        self.dr_dirty.insert(pid, !slots.is_empty());
        for (i, s) in self.slots.iter_mut().enumerate().skip(1) {
            *s = slots.get(i - 1).copied();
        }
    }

    pub(super) fn insert(&mut self, pid: i32, addrs: impl IntoIterator<Item = u64>) {
        let mut addrs = addrs.into_iter().peekable();
        if addrs.peek().is_none() {
            return;
        }
        let Some(mem) = machine::Memory::open(pid) else {
            return;
        };
        for a in addrs {
            let old = mem.read(a, 1);
            if old.len() == 1 && mem.write(a, &[0xcc]) {
                self.inserted.push((pid, a, old[0]));
            }
        }
    }

    pub(super) fn remove_inserted(&mut self, r: &mut Replayer<'_>, also: Option<i32>) {
        let threads = r.threads();
        let mut open: Option<(i32, Option<machine::Memory>)> = None;
        for (pid, a, byte) in std::mem::take(&mut self.inserted) {
            if open.as_ref().is_none_or(|(p, _)| *p != pid) {
                open = Some((pid, machine::Memory::open(pid)));
            }
            let mem = open.as_ref().and_then(|(_, m)| m.as_ref());
            if let Some(m) = mem {
                // Code written over or unmapped since the resume took the int3 away: the
                // address may have run without a trap.
                let now = m.read(a, 1);
                if now.first().is_some_and(|&b| b != 0xcc) {
                    self.history.int3_lost();
                }
            }
            let mut done = mem.is_some_and(|m| m.write(a, &[byte]));
            if !done {
                // The thread is gone: any other thread of its process will do.
                let tgid = threads.iter().find(|t| t.pid == pid).map(|t| t.tgid);
                for t in threads
                    .iter()
                    .filter(|t| Some(t.tgid) == tgid || tgid.is_none())
                {
                    if machine::read_mem(t.pid, a, 1) == [0xcc]
                        && machine::write_mem(t.pid, a, &[byte])
                    {
                        done = true;
                        break;
                    }
                }
            }
            if let Some(child) = also {
                if machine::read_mem(child, a, 1) == [0xcc] {
                    machine::write_mem(child, a, &[byte]);
                }
            }
        }
    }
}

//! A moment of the replay, without a tick counter.
//!
//! Replay runs one thread at a time and the log decides whose turn it is, so the whole run
//! is one deterministic sequence. A moment is named by where it stands in that sequence:
//!
//! - an *anchor*: the point right before the replay resumes a thread for the first time
//!   after its n-th stop handled by the replay (a syscall entry or exit, a signal, an
//!   event); anchors do not depend on what the debugger has armed, because its own stops
//!   (breakpoints, steps) are never seen by the replay;
//! - then *hops*: each hop is "the k-th occurrence of a trigger in one thread since the
//!   previous hop (or the anchor)", a trigger being the arrival at an address (a breakpoint
//!   trap, or a step landing on an armed address), a data watchpoint's trap, a step of the
//!   thread, or the thread's next stop handled by the replay (a fault shown before the
//!   replay delivers it). Counting restarts at each hop, so a count never depends on what
//!   was armed before it: between two hops the armed set does not change.
//!
//! A moment is reached again by replaying from the start (or from a later point that is
//! known to precede it), waiting for the anchor, then arming each hop's trigger in turn and
//! counting. `End` is the end of the trace: the point where all that is left of the log is
//! the program's last exit.

use gdbstub::target::ext::breakpoints::WatchKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// Arrival of the thread at this instruction.
    Exec(u64),
    /// A data watchpoint's trap (after the access).
    Watch(Watch),
    /// One step of the thread (one instruction; a rewritten syscall site or a `syscall`
    /// counts as one).
    Step,
    /// The thread's next stop handled by the replay, seen before the replay handles it.
    ReplayStop,
}

/// A hardware watchpoint as gdb set it (already split into aligned pieces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Watch {
    pub addr: u64,
    pub len: u64,
    pub kind: WatchKindKey,
}

/// `WatchKind` with `Hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchKindKey {
    Write,
    Read,
    ReadWrite,
}

impl From<WatchKind> for WatchKindKey {
    fn from(k: WatchKind) -> Self {
        match k {
            WatchKind::Write => WatchKindKey::Write,
            WatchKind::Read => WatchKindKey::Read,
            WatchKind::ReadWrite => WatchKindKey::ReadWrite,
        }
    }
}

impl From<WatchKindKey> for WatchKind {
    fn from(k: WatchKindKey) -> Self {
        match k {
            WatchKindKey::Write => WatchKind::Write,
            WatchKindKey::Read => WatchKind::Read,
            WatchKindKey::ReadWrite => WatchKind::ReadWrite,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Hop {
    pub tid: u32,
    pub trig: Trigger,
    pub k: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Moment {
    At { stop: u64, hops: Vec<Hop> },
    End,
}

impl Moment {
    pub fn anchor(stop: u64) -> Moment {
        Moment::At {
            stop,
            hops: Vec::new(),
        }
    }

    /// This moment followed by one more hop; consecutive steps of one thread are one hop.
    pub fn then(&self, hop: Hop) -> Moment {
        let Moment::At { stop, hops } = self else {
            return Moment::End;
        };
        let mut hops = hops.clone();
        match hops.last_mut() {
            Some(last)
                if last.trig == Trigger::Step
                    && hop.trig == Trigger::Step
                    && last.tid == hop.tid =>
            {
                last.k += hop.k
            }
            _ => hops.push(hop),
        }
        Moment::At { stop: *stop, hops }
    }
}

//! Checkpoints taken as the replay runs forward (see `replayer::checkpoint`): one where gdb's
//! session begins, then one at the first quiet anchor past each 50 ms of replay since
//! the last one taken, restored or passed, and the one a way back starts from: the latest before the goal's anchor. The
//! debugger's own state at the anchor (stops counted, per-thread syscall state, the
//! original bytes of rewritten sites) is kept with it, and so are the code pages the
//! stretch from it to the next checkpoint ran (see `pages`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use replayer::{ReplayCheckpoint, ReplayError, Replayer};

use super::pages::{Executed, PageTracker};
use super::{debug_on, Engine, Goal, Report, ScanFrom, Then};
use crate::moment::Moment;

/// Replay time between two checkpoints (`FTRUN_GDB_CHECKPOINT_MS` sets another, for tests:
/// 0 takes one at every quiet anchor).
fn checkpoint_every() -> Duration {
    static EVERY: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *EVERY.get_or_init(|| {
        let ms = std::env::var("FTRUN_GDB_CHECKPOINT_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(50);
        Duration::from_millis(ms)
    })
}
/// In-process calls the replay puts into a ring at once (`FTRUN_GDB_RING_BATCH` sets
/// another): a thread that lives on in-process calls stops after each batch, and those
/// stops are where checkpoints can go. The same in every pass of a session, since moments
/// are named by stops.
pub fn ring_batch() -> usize {
    static BATCH: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *BATCH.get_or_init(|| {
        std::env::var("FTRUN_GDB_RING_BATCH")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(32)
    })
}

/// Most checkpoints kept; past it every other one is dropped (the first stays).
const MOST_CHECKPOINTS: usize = 256;

pub struct Saved {
    pub cp: ReplayCheckpoint,
    /// Its anchor: the replay stops handled before it.
    pub stop: u64,
    /// Events read from the log when it was taken.
    pub pulled: u64,
    exec_seen: bool,
    ready: bool,
    in_syscall: HashMap<u32, bool>,
    syscall_nr: HashMap<u32, u64>,
    stub_nr: HashMap<u32, (u64, u64)>,
    just_returned: HashSet<u32>,
    /// A call's return at this very anchor (its exit was the stop before).
    pending_return: Option<Report>,
    sites: BTreeMap<u64, Vec<u8>>,
    stubs: BTreeMap<u64, u64>,
    /// The code pages the stretch from here to the next checkpoint may have run (`None`:
    /// not known), and the pages followed as the copy was taken.
    pub executed: Option<Executed>,
    /// `executed` is what a pass from here to the next checkpoint found (not a set it
    /// inherited from a longer stretch), the same on every pass.
    pub closed: bool,
    pages: Option<PageTracker>,
}

impl Engine {
    /// At an anchor: takes a checkpoint if one is due and the replay can be checkpointed.
    pub(super) fn maybe_checkpoint(&mut self, r: &mut Replayer<'_>) -> Result<(), ReplayError> {
        if self.checkpoints_off {
            return Ok(());
        }
        let at = self.checkpoints.partition_point(|c| c.stop < self.stops);
        if self
            .checkpoints
            .get(at)
            .is_some_and(|c| c.stop == self.stops)
        {
            // Passing one: the next is due a while after it.
            self.last_checkpoint = Instant::now();
            return self.pages_at_checkpoint(r);
        }
        if !self.checkpoints.is_empty() && self.last_checkpoint.elapsed() < checkpoint_every() {
            return Ok(());
        }
        // A new checkpoint between two others: the stretch after it lies inside the one
        // before it, so that one's pages hold its pages too.
        let inherited = match at {
            0 => None,
            _ if at == self.checkpoints.len() => None,
            _ => self.checkpoints[at - 1].executed.clone(),
        };
        if r.checkpoint_refusal(self.quiet_stop).is_none() {
            // The copy is taken with the new stretch's pages without `PROT_EXEC`.
            self.pages_at_checkpoint(r)?;
        }
        match r.checkpoint(self.quiet_stop)? {
            Ok(cp) => {
                self.in_several_processes = false;
                if debug_on() {
                    eprintln!(
                        "ftrun: [gdb] checkpoint at stop {} ({} threads)",
                        self.stops,
                        cp.thread_count()
                    );
                }
                self.checkpoints.insert(
                    at,
                    Saved {
                        cp,
                        stop: self.stops,
                        pulled: self.pulled.get(),
                        exec_seen: self.exec_seen,
                        ready: self.ready,
                        in_syscall: self.in_syscall.clone(),
                        syscall_nr: self.syscall_nr.clone(),
                        stub_nr: self.stub_nr.clone(),
                        just_returned: self.just_returned.clone(),
                        pending_return: self.pending_return,
                        sites: self.t.sites.clone(),
                        stubs: self.t.stubs.clone(),
                        executed: inherited,
                        closed: false,
                        pages: self.pages.clone(),
                    },
                );
                self.last_checkpoint = Instant::now();
                if self.checkpoints.len() > MOST_CHECKPOINTS {
                    self.drop_every_other();
                }
            }
            Err(why) => {
                let several = why == replayer::SEVERAL_PROCESSES;
                if several && !self.in_several_processes {
                    self.several_processes_from.insert(self.stops);
                }
                self.in_several_processes = several;
                if debug_on() {
                    eprintln!("ftrun: [gdb] no checkpoint at stop {}: {why}", self.stops);
                }
            }
        }
        Ok(())
    }

    /// The checkpoint the goal's way back starts from: the latest one before its anchor
    /// (strictly before it for a scan that ends at an anchor, which must see the stretch
    /// right before it, and `scan_back` more for such a scan).
    pub(super) fn restore_point(&self) -> Option<usize> {
        let (limit, scan) = match &self.goal {
            Goal::RunTo {
                target: Moment::At { stop, hops },
                then,
                ..
            } => (
                Some(*stop),
                matches!(then, Then::Scan(_)) && hops.is_empty(),
            ),
            Goal::RunTo {
                target: Moment::End,
                ..
            } => (None, false),
            _ => return None,
        };
        let latest = self.checkpoints.iter().rposition(|c| match limit {
            None => true,
            Some(s) => c.stop < s || (!scan && c.stop == s),
        })?;
        if !scan {
            return Some(latest);
        }
        match self.scan_from {
            ScanFrom::Latest => Some(latest),
            ScanFrom::Start => None,
            ScanFrom::Checkpoint(stop) => Some(
                self.checkpoints
                    .iter()
                    .rposition(|c| c.stop <= stop)
                    .unwrap_or(latest)
                    .min(latest),
            ),
        }
    }

    /// Drops every other checkpoint but the first; the stretch of a dropped one joins the
    /// one before it.
    fn drop_every_other(&mut self) {
        let mut kept: Vec<Saved> = Vec::with_capacity(self.checkpoints.len() / 2 + 1);
        for (i, c) in std::mem::take(&mut self.checkpoints)
            .into_iter()
            .enumerate()
        {
            match kept.last_mut() {
                Some(prev) if i % 2 == 0 => {
                    prev.executed = Executed::joined(&prev.executed, &c.executed);
                    prev.closed &= c.closed;
                }
                _ => kept.push(c),
            }
        }
        self.checkpoints = kept;
    }

    /// Going back to a moment in a stretch where the replay had several processes, from a
    /// checkpoint before that stretch: says once that this costs a replay of the stretch.
    pub(super) fn tell_several_processes(&mut self) {
        let goal_stop = match &self.goal {
            Goal::RunTo {
                target: Moment::At { stop, .. },
                ..
            } => *stop,
            Goal::RunTo { .. } => u64::MAX,
            _ => return,
        };
        let from = self.resumed_at.unwrap_or(0);
        let crossed = from < goal_stop
            && self
                .several_processes_from
                .range(from + 1..=goal_stop)
                .next()
                .is_some();
        if self.told_several_processes || !crossed {
            return;
        }
        self.told_several_processes = true;
        eprintln!(
            "ftrun: going back replays from replay stop {from}, the last checkpoint before the \
             program had several processes (checkpoints copy one process); going back in \
             that stretch takes as long as replaying it"
        );
    }

    /// The debugger's state as it was at checkpoint `i`.
    pub(super) fn restore_state(&mut self, i: usize) {
        let c = &self.checkpoints[i];
        self.stops = c.stop;
        self.exec_seen = c.exec_seen;
        self.ready = c.ready;
        self.in_syscall = c.in_syscall.clone();
        self.syscall_nr = c.syscall_nr.clone();
        self.stub_nr = c.stub_nr.clone();
        self.just_returned = c.just_returned.clone();
        self.pending_return = c.pending_return;
        self.t.sites = c.sites.clone();
        self.t.stubs = c.stubs.clone();
        self.pages = c.pages.clone();
        self.quiet_stop = true;
        self.last_checkpoint = Instant::now();
    }

    /// Checkpoint `i` and the number of events read from the log when it was taken.
    pub fn checkpoint_mut(&mut self, i: usize) -> (&mut ReplayCheckpoint, u64) {
        let c = &mut self.checkpoints[i];
        (&mut c.cp, c.pulled)
    }

    /// A restore failed: the way back replays from the start, and no more checkpoints are
    /// taken.
    pub fn checkpoints_failed(&mut self, why: &str) {
        eprintln!("ftrun: going back without checkpoints ({why})");
        self.checkpoints.clear();
        self.checkpoints_off = true;
    }
}

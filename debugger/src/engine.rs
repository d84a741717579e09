//! The debug hook's state: where the replay stands (its moment), what gdb armed, how the
//! current thread was resumed, and the goal the replay follows. Going back is done by giving
//! the replay up and replaying again to an earlier moment (see `moment` for what a moment
//! is). The parts, one job each: `hook` (the replayer's hook: resumes and stops), `arming`
//! (int3s and debug registers), `goals` (following the goal as the replay runs), `reverse`
//! (planning a way back), `step_trace` (reaching a step again by arrivals), `checkpoints`
//! (copies of the replay to go back to), `conversation` (talking to gdb).

mod arming;
mod checkpoints;
mod conversation;
mod goals;
mod history;
mod hook;
mod pages;
mod reverse;
mod silent_trap;
mod step_trace;

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::rc::Rc;
use std::time::Instant;

use gdbstub::common::Signal;
use gdbstub::stub::state_machine::GdbStubStateMachine;
use gdbstub::stub::MultiThreadStopReason;
use replayer::{HookResume, ReplayError};

pub use checkpoints::ring_batch;

use crate::catch::CaughtCall;
use crate::moment::{Hop, Moment, Trigger, Watch};
use crate::target::GdbTarget;

/// What gdb is told when it is told of a stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    SwBreak,
    HwBreak,
    Watch(Watch),
    Step,
    Signal(u8),
    Interrupt,
    End,
    Begin,
    /// A call gdb catches, at its entry or return.
    Syscall(CaughtCall),
}

/// What a stop's triggers come with: the signal of a fault, the call of a syscall stop or
/// of a stub's entry or return.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct StopInfo {
    pub signal: Option<u8>,
    pub call: Option<CaughtCall>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub tid: u32,
    pub reason: Reason,
}

/// Looking for the last step of thread `tid` before `x`, from a point before it.
#[derive(Debug, Clone)]
pub struct StepSearch {
    pub tid: u32,
    pub x: Moment,
    /// `x` is the first occurrence of this after the search's start.
    pub x_trig: Option<(Trigger, u32)>,
    /// Moments of the thread's steps so far.
    pub steps: Vec<Moment>,
    /// Where each of those steps landed (0 where a replay stop came in between).
    pub landed: Vec<u64>,
    pub count: u64,
    /// The point the search started from (the answer when the first step reaches `x`).
    pub from: Moment,
    /// What gdb is told at the answer.
    pub reason: Reason,
}

/// What to do once a moment is reached again.
#[derive(Debug, Clone)]
pub enum Then {
    Report(Report),
    /// Collect the hits of gdb's breakpoints and watchpoints before the moment (a
    /// reverse-continue).
    Scan(Vec<(Moment, Report)>),
    Search(StepSearch),
    /// Let gdb look at the session's first stop.
    Begin,
}

#[derive(Debug, Clone)]
pub enum Goal {
    /// Run as gdb said; `step`: the thread gdb steps.
    Gdb {
        step: Option<u32>,
    },
    RunTo {
        target: Moment,
        /// Hops done (`None` until the anchor is reached).
        idx: Option<usize>,
        then: Then,
    },
    Search(StepSearch),
    /// gdb is gone: the replay runs to its end.
    Detached,
    /// gdb killed the program.
    Quit,
}

/// Most steps a reverse step may replay before giving up.
pub(crate) const SEARCH_STEPS: u64 = 2_000_000;
pub(crate) const DR6_BS: u64 = 1 << 14;

pub struct Engine {
    pub sm: Option<GdbStubStateMachine<'static, GdbTarget, crate::wire::Wire>>,
    pub t: GdbTarget,
    pub goal: Goal,
    /// Replay stops handled so far in this replay.
    stops: u64,
    anchor_pending: bool,
    /// The last hop point and the counts since it.
    base: Moment,
    counts: HashMap<(Trigger, u32), u64>,
    /// Where gdb stands (its last stop).
    pub here: Moment,
    /// The first moment gdb saw: history begins there.
    pub initial: Option<Moment>,
    started: bool,
    exec_seen: bool,
    ready: bool,
    goto: u64,
    /// A thread whose last stop was its counted arrival at this address.
    arrived: HashMap<u32, u64>,
    in_syscall: HashMap<u32, bool>,
    /// The number of each thread's last syscall entry stop, and of its last stub entry.
    syscall_nr: HashMap<u32, u64>,
    stub_nr: HashMap<u32, (u64, u64)>,
    /// Threads whose last stop was a syscall exit.
    just_returned: HashSet<u32>,
    /// A traced call's return, shown at the anchor after its exit (if gdb catches it).
    pending_return: Option<Report>,
    /// A thread stepped through a rewritten syscall site: where it comes back.
    site_return: HashMap<u32, u64>,
    /// int3s written before the resume: (pid, addr, original byte).
    inserted: Vec<(i32, u64, u8)>,
    /// How the current thread was resumed, and what was armed in its slots 1..3.
    last_mode: HookResume,
    /// The registers the current thread had before its single step (`last_mode` Step).
    step_from: Option<tracee::Regs>,
    last_step_counted: bool,
    slots: [Option<Slot>; 4],
    dr_dirty: HashMap<i32, bool>,
    /// A gdb step that ended at a stop the replay handled: told at the next anchor.
    step_done: Option<u32>,
    /// Replay stops beyond which output has not been shown yet.
    shown_stops: u64,
    echo: bool,
    /// Program output is echoed on the first pass only, then past where it got.
    pub passes: u64,
    pub end_stop: Option<u64>,
    /// Checkpoints of the replay, by anchor; `checkpoints_off` once a restore failed.
    checkpoints: Vec<checkpoints::Saved>,
    checkpoints_off: bool,
    last_checkpoint: Instant,
    /// Events read from the log so far in this replay (the source counts them).
    pulled: Rc<Cell<u64>>,
    /// The replay's last stop was a syscall exit or a signal (the thread is in no syscall).
    quiet_stop: bool,
    /// The anchor this replay started from (a checkpoint's), `None` from the start.
    resumed_at: Option<u64>,
    /// How many checkpoint stretches a reverse-continue's next scan may hold (it doubles
    /// with every scan that found nothing), and where that scan starts.
    scan_back: usize,
    scan_from: ScanFrom,
    /// The code pages followed since the last checkpoint (see `pages`).
    pages: Option<pages::PageTracker>,
    /// The first anchor of each stretch where a checkpoint was due but the replay had
    /// several processes, whether the last checkpoint due was in such a stretch,
    /// and whether the user was told that going back into one costs more.
    several_processes_from: BTreeSet<u64>,
    in_several_processes: bool,
    told_several_processes: bool,
    /// The last step search's steps, and the way to reach one of them that the goal uses.
    step_trace: Option<step_trace::StepTrace>,
    fast_step: Option<step_trace::FastStep>,
    /// The hits of armed stops met running forward (see `history`).
    history: history::HitHistory,
    /// A reverse-continue's scan that ends where the history takes over keeps a hit of a
    /// breakpoint at its very end (the history knows nothing before that moment).
    scan_keeps_end: bool,
    /// The last hit a scan noted is at its very end.
    scan_hit_at_end: bool,
}

/// Where a reverse-continue's scan starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanFrom {
    /// The latest checkpoint before where it ends.
    Latest,
    /// The checkpoint at this anchor.
    Checkpoint(u64),
    /// The start of the replay.
    Start,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    Exec(u64),
    Watch(Watch),
}

impl Engine {
    pub fn new(
        t: GdbTarget,
        sm: GdbStubStateMachine<'static, GdbTarget, crate::wire::Wire>,
        goto: u64,
    ) -> Engine {
        Engine {
            sm: Some(sm),
            t,
            goal: Goal::Gdb { step: None },
            stops: 0,
            anchor_pending: true,
            base: Moment::anchor(0),
            counts: HashMap::new(),
            here: Moment::anchor(0),
            initial: None,
            started: false,
            exec_seen: false,
            ready: false,
            goto,
            arrived: HashMap::new(),
            in_syscall: HashMap::new(),
            syscall_nr: HashMap::new(),
            stub_nr: HashMap::new(),
            just_returned: HashSet::new(),
            pending_return: None,
            site_return: HashMap::new(),
            inserted: Vec::new(),
            last_mode: HookResume::Syscall,
            step_from: None,
            last_step_counted: false,
            slots: [None; 4],
            dr_dirty: HashMap::new(),
            step_done: None,
            shown_stops: 0,
            echo: true,
            passes: 0,
            end_stop: None,
            checkpoints: Vec::new(),
            checkpoints_off: std::env::var_os("FTRUN_GDB_NO_CHECKPOINTS").is_some(),
            last_checkpoint: Instant::now(),
            pulled: Rc::new(Cell::new(0)),
            quiet_stop: false,
            resumed_at: None,
            scan_back: 0,
            scan_from: ScanFrom::Latest,
            pages: None,
            several_processes_from: BTreeSet::new(),
            in_several_processes: false,
            told_several_processes: false,
            step_trace: None,
            fast_step: None,
            history: history::HitHistory::default(),
            scan_keeps_end: false,
            scan_hit_at_end: false,
        }
    }

    /// A new replay begins (after the old one was given up): from checkpoint `Some(i)`
    /// (see `checkpoint_mut`) when one precedes the goal, else from the start.
    pub fn restart(&mut self) -> Option<usize> {
        self.stops = 0;
        self.anchor_pending = true;
        self.base = Moment::anchor(0);
        self.counts.clear();
        self.exec_seen = false;
        self.ready = false;
        self.arrived.clear();
        self.in_syscall.clear();
        self.syscall_nr.clear();
        self.stub_nr.clear();
        self.just_returned.clear();
        self.pending_return = None;
        self.site_return.clear();
        self.inserted.clear();
        self.last_mode = HookResume::Syscall;
        self.step_from = None;
        self.slots = [None; 4];
        self.dr_dirty.clear();
        self.step_done = None;
        self.t.sites.clear();
        self.t.stubs.clear();
        self.passes += 1;
        self.echo = false;
        self.quiet_stop = false;
        self.fast_step = None;
        self.pulled.set(0);
        self.pages = None;
        self.in_several_processes = false;
        self.scan_hit_at_end = false;
        self.history.pass_begins();
        let from = self.restore_point();
        self.resumed_at = from.map(|i| self.checkpoints[i].stop);
        self.tell_several_processes();
        if let Some(i) = from {
            if debug_on() {
                eprintln!(
                    "ftrun: [gdb] going on from the checkpoint at stop {}",
                    self.checkpoints[i].stop
                );
            }
            self.restore_state(i);
        }
        from
    }

    /// The count of events read from the log, kept by the replay's event source.
    pub fn events_pulled(&self) -> Rc<Cell<u64>> {
        self.pulled.clone()
    }

    pub fn echo_now(&self) -> bool {
        self.echo
    }

    // ---------------------------------------------------------------- counting

    pub(crate) fn set_base(&mut self, m: Moment) {
        self.base = m;
        self.counts.clear();
    }

    pub(crate) fn count(&mut self, trig: Trigger, tid: u32) -> Moment {
        let k = self.counts.entry((trig, tid)).or_insert(0);
        *k += 1;
        let k = *k;
        self.base.then(Hop { tid, trig, k })
    }
}

/// `FTRUN_DEBUG_GDB=1` prints the debugger's stops and searches (for debugging ftrun).
pub(crate) fn debug_on() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FTRUN_DEBUG_GDB").is_some())
}

pub(crate) fn gdb_error<E: std::fmt::Debug>(e: E) -> ReplayError {
    ReplayError::Setup(format!("gdb connection: {e:?}"))
}

impl Engine {
    pub fn quit(&self) -> bool {
        matches!(self.goal, Goal::Quit)
    }

    pub fn detached(&self) -> bool {
        matches!(self.goal, Goal::Detached | Goal::Quit)
    }

    /// The program ended with no end-of-trace stop shown (a trace whose end the debugger
    /// could not see coming): gdb is told it exited.
    pub fn program_gone(&mut self, status: schema::ExitStatus) {
        let Some(GdbStubStateMachine::Running(g)) = self.sm.take() else {
            return;
        };
        let reason = match status {
            schema::ExitStatus::Exited(code) => MultiThreadStopReason::Exited(code as u8),
            schema::ExitStatus::Killed { signo, .. } => {
                MultiThreadStopReason::Terminated(Signal(signo as u8))
            }
        };
        let _ = g.report_stop(&mut self.t, reason);
    }
}

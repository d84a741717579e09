//! The debug hook: where the replay stands (its moment), what gdb armed, how the current
//! thread is resumed, which stops are the debugger's own, and when gdb is told of a stop.
//! Going back is done by giving the replay up and replaying again to an earlier moment
//! (see `moment` for what a moment is, `search` for how the earlier one is found).

use std::collections::{BTreeSet, HashMap};

use gdbstub::common::Signal;
use gdbstub::stub::state_machine::GdbStubStateMachine;
use gdbstub::stub::MultiThreadStopReason;
use gdbstub::target::ext::base::reverse_exec::ReplayLogPosition;
use gdbstub::target::ext::breakpoints::WatchKind;
use replayer::{DebugHook, HookResume, ReplayError, Replayer, StopVerdict};
use tracee::{PtraceEvent, Stop};

use crate::machine;
use crate::moment::{Hop, Moment, Trigger, Watch, WatchKindKey};
use crate::target::{tid_of, GdbTarget, Request};

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
const SEARCH_STEPS: u64 = 2_000_000;
const DR6_BS: u64 = 1 << 14;

pub struct Engine {
    pub sm: Option<GdbStubStateMachine<'static, GdbTarget, std::net::TcpStream>>,
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
    /// A thread stepped through a rewritten syscall site: where it comes back.
    site_return: HashMap<u32, u64>,
    /// int3s written before the resume: (pid, addr, original byte).
    inserted: Vec<(i32, u64, u8)>,
    /// How the current thread was resumed, and what was armed in its slots 1..3.
    last_mode: HookResume,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Exec(u64),
    Watch(Watch),
}

impl Engine {
    pub fn new(
        t: GdbTarget,
        sm: GdbStubStateMachine<'static, GdbTarget, std::net::TcpStream>,
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
            site_return: HashMap::new(),
            inserted: Vec::new(),
            last_mode: HookResume::Syscall,
            last_step_counted: false,
            slots: [None; 4],
            dr_dirty: HashMap::new(),
            step_done: None,
            shown_stops: 0,
            echo: true,
            passes: 0,
            end_stop: None,
        }
    }

    /// A new replay from the start begins (after the old one was given up).
    pub fn restart(&mut self) {
        self.stops = 0;
        self.anchor_pending = true;
        self.base = Moment::anchor(0);
        self.counts.clear();
        self.exec_seen = false;
        self.ready = false;
        self.arrived.clear();
        self.in_syscall.clear();
        self.site_return.clear();
        self.inserted.clear();
        self.last_mode = HookResume::Syscall;
        self.slots = [None; 4];
        self.dr_dirty.clear();
        self.step_done = None;
        self.t.sites.clear();
        self.passes += 1;
        self.echo = false;
    }

    pub fn echo_now(&self) -> bool {
        self.echo
    }

    // ---------------------------------------------------------------- arming

    fn user_exec(&self) -> BTreeSet<u64> {
        self.t.sw_bps.union(&self.t.hw_bps).copied().collect()
    }

    /// Whether gdb's breakpoints and watchpoints are armed now.
    fn user_armed(&self) -> bool {
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
    fn goal_trigger(&self) -> Option<(Trigger, u32)> {
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
    fn armed(&self) -> (BTreeSet<u64>, Vec<Watch>) {
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
    fn stepping(&self) -> Option<u32> {
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

    // ---------------------------------------------------------------- counting

    fn set_base(&mut self, m: Moment) {
        self.base = m;
        self.counts.clear();
    }

    fn count(&mut self, trig: Trigger, tid: u32) -> Moment {
        let k = self.counts.entry((trig, tid)).or_insert(0);
        *k += 1;
        let k = *k;
        self.base.then(Hop { tid, trig, k })
    }

    // ---------------------------------------------------------------- gdb

    /// Tells gdb of a stop (or, with `None`, lets it look at the first one) and waits for
    /// what it says next. `Err(Abandoned)`: the replay is to be given up and run again.
    fn serve(
        &mut self,
        r: &mut Replayer<'_>,
        report: Option<Report>,
        here: Moment,
    ) -> Result<(), ReplayError> {
        r.take_in_process_results()?;
        self.t.attach(r);
        let out = self.serve_inner(report, here);
        self.t.detach_replay();
        out
    }

    fn serve_inner(&mut self, mut report: Option<Report>, here: Moment) -> Result<(), ReplayError> {
        if debug_on() {
            eprintln!("ftrun: [gdb] stop {report:?} at {here:?}");
        }
        self.here = here.clone();
        self.set_base(here.clone());
        self.site_return.clear();
        if self.initial.is_none() {
            self.initial = Some(here);
        }
        loop {
            let mut sm = self.sm.take().expect("a gdb connection");
            if let Some(rep) = report.take() {
                self.t.stopped = rep.tid;
                self.t.last_report = Some(rep);
                sm = match sm {
                    GdbStubStateMachine::Running(g) => g
                        .report_stop(&mut self.t, stop_reason(rep))
                        .map_err(gdb_error)?,
                    GdbStubStateMachine::CtrlCInterrupt(g) => g
                        .interrupt_handled(&mut self.t, Some(stop_reason(rep)))
                        .map_err(gdb_error)?,
                    other => other,
                };
            }
            loop {
                sm = match sm {
                    GdbStubStateMachine::Idle(mut g) => {
                        use gdbstub::conn::ConnectionExt;
                        match g.borrow_conn().read() {
                            Ok(byte) => g.incoming_data(&mut self.t, byte).map_err(gdb_error)?,
                            Err(_) => {
                                // gdb went away without a word.
                                self.goal = Goal::Quit;
                                return Err(ReplayError::Abandoned);
                            }
                        }
                    }
                    GdbStubStateMachine::CtrlCInterrupt(g) => {
                        let tid = tid_of(self.t.stopped);
                        g.interrupt_handled(
                            &mut self.t,
                            Some(MultiThreadStopReason::SignalWithThread {
                                tid,
                                signal: Signal::SIGINT,
                            }),
                        )
                        .map_err(gdb_error)?
                    }
                    GdbStubStateMachine::Disconnected(g) => {
                        use gdbstub::stub::DisconnectReason;
                        self.goal = match g.get_reason() {
                            DisconnectReason::Kill => Goal::Quit,
                            _ => Goal::Detached,
                        };
                        self.t.sw_bps.clear();
                        self.t.hw_bps.clear();
                        self.t.watches.clear();
                        if matches!(self.goal, Goal::Quit) {
                            return Err(ReplayError::Abandoned);
                        }
                        return Ok(());
                    }
                    running @ GdbStubStateMachine::Running(_) => {
                        self.sm = Some(running);
                        break;
                    }
                };
            }
            let here = self.here.clone();
            let at_start = Some(&here) == self.initial.as_ref();
            match self.t.request.take() {
                Some(Request::Resume { .. }) if here == Moment::End => {
                    // Nothing comes after the end of the trace.
                    report = self.t.last_report;
                }
                Some(Request::Resume { step }) => {
                    self.goal = Goal::Gdb { step };
                    return Ok(());
                }
                Some(Request::ReverseCont) | Some(Request::ReverseStep(_)) if at_start => {
                    report = Some(Report {
                        tid: self.t.stopped,
                        reason: Reason::Begin,
                    });
                }
                Some(Request::ReverseCont) => {
                    self.goal = Goal::RunTo {
                        target: here,
                        idx: None,
                        then: Then::Scan(Vec::new()),
                    };
                    return Err(ReplayError::Abandoned);
                }
                Some(Request::ReverseStep(tid)) => {
                    self.goal = self.plan_back(here, tid, Reason::Step);
                    if let Goal::Gdb { .. } = self.goal {
                        report = Some(Report {
                            tid,
                            reason: Reason::Begin,
                        });
                        continue;
                    }
                    return Err(ReplayError::Abandoned);
                }
                None => {
                    self.goal = Goal::Gdb { step: None };
                    return Ok(());
                }
            }
        }
    }

    /// The goal that ends at the last point of thread `tid` before `x` (one step back),
    /// telling gdb `reason` there; `Gdb` when `x` is where history begins.
    pub fn plan_back(&self, x: Moment, tid: u32, reason: Reason) -> Goal {
        let initial_stop = match &self.initial {
            Some(Moment::At { stop, .. }) => *stop,
            _ => 0,
        };
        let report = Report { tid, reason };
        let search = |from: Moment, x_trig| StepSearch {
            tid,
            x: x.clone(),
            x_trig,
            steps: Vec::new(),
            count: 0,
            from,
            reason,
        };
        match &x {
            Moment::At { stop, hops } => match hops.last() {
                Some(last) if last.trig == Trigger::Step && last.tid == tid => {
                    let mut hops = hops.clone();
                    let last = hops.last_mut().expect("non-empty");
                    last.k -= 1;
                    if last.k == 0 {
                        hops.pop();
                    }
                    Goal::RunTo {
                        target: Moment::At { stop: *stop, hops },
                        idx: None,
                        then: Then::Report(report),
                    }
                }
                Some(last) => {
                    let mut hops = hops.clone();
                    let last = *last;
                    if last.k > 1 {
                        hops.last_mut().expect("non-empty").k -= 1;
                    } else {
                        hops.pop();
                    }
                    let from = Moment::At { stop: *stop, hops };
                    Goal::RunTo {
                        target: from.clone(),
                        idx: None,
                        then: Then::Search(search(from, Some((last.trig, last.tid)))),
                    }
                }
                None if *stop <= initial_stop => Goal::Gdb { step: None },
                None => {
                    let from = Moment::anchor(stop - 1);
                    Goal::RunTo {
                        target: from.clone(),
                        idx: None,
                        then: Then::Search(search(from, None)),
                    }
                }
            },
            Moment::End => {
                let end = self.end_stop.unwrap_or(initial_stop + 1);
                let from = Moment::anchor(end.saturating_sub(1).max(initial_stop));
                Goal::RunTo {
                    target: from.clone(),
                    idx: None,
                    then: Then::Search(search(from, None)),
                }
            }
        }
    }

    fn stop_here(
        &mut self,
        r: &mut Replayer<'_>,
        m: Moment,
        rep: Report,
    ) -> Result<(), ReplayError> {
        self.serve(r, Some(rep), m)
    }

    /// The goal's moment is reached again: do what comes then.
    fn reached(
        &mut self,
        r: &mut Replayer<'_>,
        target: Moment,
        then: Then,
    ) -> Result<(), ReplayError> {
        match then {
            Then::Report(rep) => {
                self.goal = Goal::Gdb { step: None };
                self.stop_here(r, target, rep)
            }
            Then::Scan(hits) => {
                self.goal = match hits.last() {
                    Some((m, rep)) => match rep.reason {
                        // Going backwards meets an access before it happens: stop right
                        // before the instruction that made it.
                        Reason::Watch(_) => self.plan_back(m.clone(), rep.tid, rep.reason),
                        _ => Goal::RunTo {
                            target: m.clone(),
                            idx: None,
                            then: Then::Report(*rep),
                        },
                    },
                    None => Goal::RunTo {
                        target: self.initial.clone().unwrap_or(Moment::anchor(0)),
                        idx: None,
                        then: Then::Report(Report {
                            tid: self.t.stopped,
                            reason: Reason::Begin,
                        }),
                    },
                };
                if let Goal::Gdb { .. } = self.goal {
                    // The access was right at the start.
                    let (m, rep) = hits.last().cloned().expect("a hit");
                    self.goal = Goal::RunTo {
                        target: m,
                        idx: None,
                        then: Then::Report(rep),
                    };
                }
                Err(ReplayError::Abandoned)
            }
            Then::Search(mut s) => {
                s.from = target.clone();
                self.set_base(target);
                self.goal = Goal::Search(s);
                Ok(())
            }
        }
    }

    /// The search reached `x`: go to the last step of its thread before it (or further
    /// back, when the thread made none since the search's start).
    fn search_done(&mut self, s: StepSearch) -> Result<(), ReplayError> {
        if debug_on() {
            eprintln!(
                "ftrun: [gdb] search done: {} steps, last {:?}, from {:?}",
                s.count,
                s.steps.last(),
                s.from
            );
        }
        let report = Report {
            tid: s.tid,
            reason: s.reason,
        };
        if s.count == 0 {
            if let Moment::At { stop, hops } = &s.from {
                let initial_stop = match &self.initial {
                    Some(Moment::At { stop, .. }) => *stop,
                    _ => 0,
                };
                if hops.is_empty() && *stop > initial_stop {
                    let back = (*stop - initial_stop).min(16);
                    let from = Moment::anchor(stop - back.max(1));
                    let mut s = s.clone();
                    s.from = from.clone();
                    self.goal = Goal::RunTo {
                        target: from,
                        idx: None,
                        then: Then::Search(s),
                    };
                    return Err(ReplayError::Abandoned);
                }
                if hops.is_empty() {
                    self.goal = Goal::RunTo {
                        target: s.from.clone(),
                        idx: None,
                        then: Then::Report(Report {
                            tid: s.tid,
                            reason: Reason::Begin,
                        }),
                    };
                    return Err(ReplayError::Abandoned);
                }
            }
        }
        let before = s.steps.last().cloned().unwrap_or(s.from.clone());
        self.goal = Goal::RunTo {
            target: before,
            idx: None,
            then: Then::Report(report),
        };
        Err(ReplayError::Abandoned)
    }

    fn user_reason(&self, trig: Trigger, signal: Option<u8>) -> Option<Reason> {
        if !self.user_armed() {
            return None;
        }
        match trig {
            Trigger::Exec(a) if self.t.sw_bps.contains(&a) => Some(Reason::SwBreak),
            Trigger::Exec(a) if self.t.hw_bps.contains(&a) => Some(Reason::HwBreak),
            Trigger::Watch(w) if self.t.watches.contains(&w) => Some(Reason::Watch(w)),
            Trigger::ReplayStop if matches!(self.goal, Goal::Gdb { .. }) => {
                signal.map(Reason::Signal)
            }
            _ => None,
        }
    }

    /// The triggers of one stop, counted, then whatever the goal does with them.
    fn on_triggers(
        &mut self,
        r: &mut Replayer<'_>,
        list: &[(Trigger, u32)],
        signal: Option<u8>,
    ) -> Result<(), ReplayError> {
        let moments: Vec<(Trigger, u32, Moment)> = list
            .iter()
            .map(|&(trig, tid)| (trig, tid, self.count(trig, tid)))
            .collect();
        let user_hit = moments.iter().find_map(|(trig, tid, m)| {
            self.user_reason(*trig, signal)
                .map(|reason| (m.clone(), Report { tid: *tid, reason }))
        });
        match self.goal.clone() {
            Goal::Gdb { step } => {
                if let Some((_, tid, m)) = moments
                    .iter()
                    .find(|(trig, tid, _)| *trig == Trigger::Step && step == Some(*tid))
                {
                    let rep = Report {
                        tid: *tid,
                        reason: user_hit
                            .as_ref()
                            .map(|h| h.1.reason)
                            .filter(|r| matches!(r, Reason::Watch(_)))
                            .unwrap_or(Reason::Step),
                    };
                    return self.stop_here(r, m.clone(), rep);
                }
                if let Some((m, rep)) = user_hit {
                    return self.stop_here(r, m, rep);
                }
                Ok(())
            }
            Goal::RunTo {
                target: Moment::End,
                idx,
                then: Then::Scan(mut hits),
            } => {
                if let Some(hit) = user_hit {
                    hits.push(hit);
                }
                self.goal = Goal::RunTo {
                    target: Moment::End,
                    idx,
                    then: Then::Scan(hits),
                };
                Ok(())
            }
            Goal::RunTo {
                target: Moment::At { stop, hops },
                idx,
                mut then,
            } => {
                let done = idx.is_some_and(|i| {
                    let hop = hops[i];
                    moments.iter().any(|(trig, tid, _)| {
                        *trig == hop.trig && *tid == hop.tid && self.counts[&(*trig, *tid)] == hop.k
                    })
                });
                let last = idx.is_some_and(|i| i + 1 == hops.len());
                if let (Then::Scan(hits), Some(hit)) = (&mut then, user_hit) {
                    // A watched access right before the moment is the first thing going
                    // backwards meets; a breakpoint there is not (its instruction has not
                    // run yet).
                    if !(done && last) || matches!(hit.1.reason, Reason::Watch(_)) {
                        hits.push(hit);
                    }
                }
                let Some(i) = idx.filter(|_| done) else {
                    self.goal = Goal::RunTo {
                        target: Moment::At { stop, hops },
                        idx,
                        then,
                    };
                    return Ok(());
                };
                let prefix = Moment::At {
                    stop,
                    hops: hops[..=i].to_vec(),
                };
                self.set_base(prefix.clone());
                if last {
                    return self.reached(r, prefix, then);
                }
                self.goal = Goal::RunTo {
                    target: Moment::At { stop, hops },
                    idx: Some(i + 1),
                    then,
                };
                Ok(())
            }
            Goal::Search(mut s) => {
                let reaches_x = s.x_trig.is_some_and(|x| list.contains(&x));
                if let Some((_, _, m)) = moments
                    .iter()
                    .find(|(trig, tid, _)| *trig == Trigger::Step && *tid == s.tid)
                {
                    s.count += 1;
                    if !reaches_x {
                        s.steps.push(m.clone());
                    }
                }
                if reaches_x || s.count > SEARCH_STEPS {
                    if !reaches_x {
                        eprintln!(
                            "ftrun: reverse step: thread {} ran more than {SEARCH_STEPS} instructions since the last known point; stopping there",
                            s.tid
                        );
                    }
                    return self.search_done(s);
                }
                self.goal = Goal::Search(s);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    // ---------------------------------------------------------------- the hook's parts

    fn end_reached(&mut self, r: &mut Replayer<'_>) -> Result<(), ReplayError> {
        self.end_stop.get_or_insert(self.stops);
        let rep = Report {
            tid: r.current_thread().tid,
            reason: Reason::End,
        };
        match self.goal.clone() {
            Goal::Gdb { .. } => self.stop_here(r, Moment::End, rep),
            Goal::RunTo { target, then, .. } => {
                let then = match then {
                    Then::Report(_) if target != Moment::End => {
                        eprintln!("ftrun: the replay reached its end before the moment it was looking for");
                        Then::Report(rep)
                    }
                    Then::Report(_) => Then::Report(rep),
                    other => other,
                };
                self.reached(r, Moment::End, then)
            }
            Goal::Search(s) => {
                if s.x == Moment::End {
                    self.search_done(s)
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    fn at_anchor(&mut self, r: &mut Replayer<'_>) -> Result<(), ReplayError> {
        let here = Moment::anchor(self.stops);
        self.set_base(here.clone());
        if !self.started {
            if self.ready && r.events_replayed() >= self.goto {
                self.started = true;
                return self.serve(r, None, here);
            }
            return Ok(());
        }
        match self.goal.clone() {
            Goal::Gdb { .. } => {
                if let Some(tid) = self.step_done.take() {
                    return self.stop_here(
                        r,
                        here,
                        Report {
                            tid,
                            reason: Reason::Step,
                        },
                    );
                }
                if matches!(self.sm, Some(GdbStubStateMachine::CtrlCInterrupt(_))) {
                    let tid = r.current_thread().tid;
                    return self.stop_here(
                        r,
                        here,
                        Report {
                            tid,
                            reason: Reason::Interrupt,
                        },
                    );
                }
                Ok(())
            }
            Goal::RunTo {
                target: Moment::At { stop, hops },
                idx: None,
                then,
            } if stop == self.stops => {
                if hops.is_empty() {
                    return self.reached(r, Moment::At { stop, hops }, then);
                }
                self.goal = Goal::RunTo {
                    target: Moment::At { stop, hops },
                    idx: Some(0),
                    then,
                };
                Ok(())
            }
            Goal::RunTo {
                target: Moment::At { stop, .. },
                idx: Some(_),
                ..
            } if stop < self.stops => {
                eprintln!(
                    "ftrun: the replay went past the moment it was looking for; stopping here"
                );
                let tid = r.current_thread().tid;
                self.goal = Goal::Gdb { step: None };
                self.stop_here(
                    r,
                    here,
                    Report {
                        tid,
                        reason: Reason::Step,
                    },
                )
            }
            Goal::Search(mut s) => {
                let x_here = s.x == here;
                if self.step_done.take() == Some(s.tid) {
                    s.count += 1;
                    if !x_here {
                        s.steps.push(here.clone());
                    }
                }
                if x_here {
                    return self.search_done(s);
                }
                self.goal = Goal::Search(s);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Reads what gdb sent while the replay runs (a Ctrl-C).
    fn poll_gdb(&mut self) -> Result<(), ReplayError> {
        if !matches!(self.goal, Goal::Gdb { .. }) {
            return Ok(());
        }
        if !matches!(self.sm, Some(GdbStubStateMachine::Running(_))) {
            return Ok(());
        }
        let Some(GdbStubStateMachine::Running(mut g)) = self.sm.take() else {
            return Ok(());
        };
        use gdbstub::conn::ConnectionExt;
        let sm = match g.borrow_conn().peek() {
            Ok(Some(_)) => match g.borrow_conn().read() {
                Ok(byte) => g.incoming_data(&mut self.t, byte).map_err(gdb_error)?,
                Err(_) => GdbStubStateMachine::Running(g),
            },
            _ => GdbStubStateMachine::Running(g),
        };
        self.sm = Some(sm);
        Ok(())
    }

    /// Writes the debug registers of the thread about to run: slot 0 as the replay left
    /// it, slots 1..3 for what the debugger arms.
    fn program_slots(&mut self, pid: i32, landmark: bool, slots: &[Slot]) {
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

    fn insert(&mut self, pid: i32, addrs: impl IntoIterator<Item = u64>) {
        for a in addrs {
            let old = machine::read_mem(pid, a, 1);
            if old.len() == 1 && machine::write_mem(pid, a, &[0xcc]) {
                self.inserted.push((pid, a, old[0]));
            }
        }
    }

    fn remove_inserted(&mut self, r: &mut Replayer<'_>, also: Option<i32>) {
        let threads = r.threads();
        for (pid, a, byte) in std::mem::take(&mut self.inserted) {
            let mut done = machine::write_mem(pid, a, &[byte]);
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

impl DebugHook for Engine {
    fn before_resume(&mut self, r: &mut Replayer<'_>) -> Result<HookResume, ReplayError> {
        if self.anchor_pending {
            self.anchor_pending = false;
            self.at_anchor(r)?;
        }
        let live = !matches!(self.goal, Goal::Detached | Goal::Quit);
        if self.started && live && r.only_final_exit_left()? {
            self.end_reached(r)?;
        }
        self.poll_gdb()?;
        let cur = r.current_thread();
        let (pid, tid) = (cur.pid, cur.tid);
        if matches!(self.goal, Goal::Detached | Goal::Quit) || !self.started {
            let landmark = r.landmark_armed();
            self.program_slots(pid, landmark, &[]);
            self.last_mode = HookResume::Syscall;
            self.last_step_counted = false;
            return Ok(HookResume::Syscall);
        }
        let rip = r
            .tracee_of(tid)
            .and_then(|t| t.regs().ok())
            .map(|g| g.rip)
            .unwrap_or(0);
        let (mut exec, watch) = self.armed();
        let hw: Vec<u64> = if self.user_armed() {
            self.t.hw_bps.iter().copied().collect()
        } else {
            Vec::new()
        };
        for a in &hw {
            exec.remove(a);
        }
        let in_sys = self.in_syscall.get(&tid).copied().unwrap_or(false);
        let stepping = self.stepping() == Some(tid);
        let mut mode = HookResume::Syscall;
        let mut skip = None;
        let mut extra = self.site_return.get(&tid).copied();
        if stepping && !in_sys && extra.is_none() {
            if let Some(ret) = machine::site_return(pid, rip) {
                if debug_on() {
                    eprintln!("ftrun: [gdb] {tid} steps through the rewritten site at {rip:#x} (back at {ret:#x})");
                }
                self.site_return.insert(tid, ret);
                extra = Some(ret);
            } else if !machine::at_syscall_insn(pid, rip) {
                mode = HookResume::Step;
                skip = Some(rip);
            }
        } else if !in_sys
            && extra.is_none()
            && self.arrived.get(&tid) == Some(&rip)
            && (exec.contains(&rip) || hw.contains(&rip))
        {
            // Its arrival here was counted: it goes on past this instruction first.
            skip = Some(rip);
            if !machine::at_syscall_insn(pid, rip) {
                mode = HookResume::Step;
            }
        }
        self.last_mode = mode;
        self.last_step_counted = stepping;
        let ints: Vec<u64> = exec
            .iter()
            .copied()
            .chain(extra)
            .filter(|a| Some(*a) != skip)
            .collect();
        self.insert(pid, ints);
        let mut slots: Vec<Slot> = hw
            .into_iter()
            .filter(|a| Some(*a) != skip)
            .map(Slot::Exec)
            .collect();
        slots.extend(watch.into_iter().map(Slot::Watch));
        slots.truncate(3);
        let landmark = r.landmark_armed();
        self.program_slots(pid, landmark, &slots);
        Ok(mode)
    }

    fn after_stop(
        &mut self,
        r: &mut Replayer<'_>,
        stop: &Stop,
    ) -> Result<StopVerdict, ReplayError> {
        let cur = r.current_thread();
        let (pid, tid) = (cur.pid, cur.tid);
        let ours: Vec<u64> = self.inserted.iter().map(|&(_, a, _)| a).collect();
        match stop {
            Stop::Event {
                event: PtraceEvent::Exec,
                ..
            } => {
                self.inserted.clear();
                self.t.sites.clear();
                self.exec_seen = true;
                self.dr_dirty.clear();
            }
            Stop::Event {
                event: PtraceEvent::Fork | PtraceEvent::Vfork | PtraceEvent::Clone,
                ..
            } => {
                let child = r
                    .tracee_of(tid)
                    .and_then(|t| t.event_msg().ok())
                    .map(|p| p as i32);
                self.remove_inserted(r, child);
            }
            _ => self.remove_inserted(r, None),
        }
        match stop {
            Stop::SyscallEntry { .. } => {
                self.in_syscall.insert(tid, true);
            }
            Stop::Event { .. } => {}
            _ => {
                self.in_syscall.insert(tid, false);
            }
        }
        if matches!(stop, Stop::SyscallExit { .. }) {
            self.ready = true;
            if let Some(schema::Event {
                tid: etid,
                kind: schema::EventKind::SitePatched(p),
                ..
            }) = r.next_event()?
            {
                if *etid == tid {
                    if let Some((start, bytes)) = machine::original_site_bytes(pid, p) {
                        self.t.sites.insert(start, bytes);
                    }
                }
            }
        }
        let live = self.started && !matches!(self.goal, Goal::Detached | Goal::Quit);
        let mut triggers: Vec<(Trigger, u32)> = Vec::new();
        let mut mine = false;
        let mut landmark = false;
        let mut signal = None;
        let mut arrived_at = None;
        if live {
            match *stop {
                Stop::Signal { signo } if signo == libc::SIGTRAP => {
                    let dr6 = machine::peek_debugreg(pid, 6);
                    if dr6 & 0xf != 0 || dr6 & DR6_BS != 0 {
                        machine::poke_debugreg(pid, 6, 0);
                    }
                    let code = machine::si_code(pid);
                    let mut regs = r.tracee_of(tid).and_then(|t| t.regs().ok());
                    let (exec, _) = self.armed();
                    if let Some(g) = regs.as_mut() {
                        if code == 0x80 && ours.contains(&(g.rip.wrapping_sub(1))) {
                            mine = true;
                            g.rip -= 1;
                            if let Some(t) = r.tracee_of(tid) {
                                t.set_regs(g)?;
                            }
                            let a = g.rip;
                            if self.site_return.get(&tid) == Some(&a) {
                                self.site_return.remove(&tid);
                                if self.last_step_counted {
                                    triggers.push((Trigger::Step, tid));
                                }
                            }
                            if exec.contains(&a) {
                                triggers.push((Trigger::Exec(a), tid));
                                arrived_at = Some(a);
                            }
                        }
                        if dr6 & DR6_BS != 0 && self.last_mode == HookResume::Step {
                            mine = true;
                            if self.last_step_counted {
                                triggers.push((Trigger::Step, tid));
                            }
                            let hw_here = self.user_armed() && self.t.hw_bps.contains(&g.rip);
                            if exec.contains(&g.rip) || hw_here {
                                triggers.push((Trigger::Exec(g.rip), tid));
                                arrived_at = Some(g.rip);
                            }
                        }
                        for n in 1..4 {
                            if dr6 & (1 << n) == 0 {
                                continue;
                            }
                            mine = true;
                            match self.slots[n] {
                                Some(Slot::Exec(a)) => {
                                    if !triggers.contains(&(Trigger::Exec(a), tid)) {
                                        triggers.push((Trigger::Exec(a), tid));
                                    }
                                    arrived_at = Some(a);
                                }
                                Some(Slot::Watch(w)) if !fastpath::space::in_runtime(g.rip) => {
                                    triggers.push((Trigger::Watch(w), tid));
                                }
                                _ => {}
                            }
                        }
                        if dr6 & 1 != 0 && r.landmark_armed() {
                            landmark = true;
                        }
                    }
                }
                Stop::SyscallEntry { nr }
                    if (nr == libc::SYS_exit_group as u64 || nr == libc::SYS_exit as u64)
                        && r.only_final_exit_left()? =>
                {
                    self.end_reached(r)?;
                }
                Stop::Signal { signo }
                    if matches!(
                        signo,
                        libc::SIGSEGV | libc::SIGBUS | libc::SIGFPE | libc::SIGILL
                    ) && machine::si_code(pid) > 0
                        && machine::si_code(pid) != 0x80 =>
                {
                    triggers.push((Trigger::ReplayStop, tid));
                    signal = Some(signo as u8);
                }
                _ => {}
            }
        }
        match arrived_at {
            Some(a) => {
                self.arrived.insert(tid, a);
            }
            None => {
                self.arrived.remove(&tid);
            }
        }
        if !triggers.is_empty() {
            if debug_on() {
                let rip = r
                    .tracee_of(tid)
                    .and_then(|t| t.regs().ok())
                    .map(|g| g.rip)
                    .unwrap_or(0);
                eprintln!(
                    "ftrun: [gdb] triggers {triggers:?} at {rip:#x} mode {:?}",
                    self.last_mode
                );
            }
            self.on_triggers(r, &triggers, signal)?;
        }
        if mine && !landmark {
            return Ok(StopVerdict::Swallow);
        }
        if debug_on() && live {
            let rip = r
                .tracee_of(tid)
                .and_then(|t| t.regs().ok())
                .map(|g| g.rip)
                .unwrap_or(0);
            eprintln!(
                "ftrun: [gdb] replay stop {} {stop:?} of {tid} at {rip:#x} mode {:?}",
                self.stops + 1,
                self.last_mode
            );
        }
        self.stops += 1;
        self.anchor_pending = true;
        let site_stepping = self.site_return.contains_key(&tid);
        if live
            && self.last_step_counted
            && self.stepping() == Some(tid)
            && !site_stepping
            && !matches!(stop, Stop::SyscallEntry { .. } | Stop::Event { .. })
        {
            self.step_done = Some(tid);
        }
        if self.stops > self.shown_stops {
            self.shown_stops = self.stops;
            if !self.echo {
                self.echo = true;
                r.set_echo_output(true);
            }
        }
        Ok(StopVerdict::Replay)
    }
}

/// `FTRUN_DEBUG_GDB=1` prints the debugger's stops and searches (for debugging ftrun).
fn debug_on() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FTRUN_DEBUG_GDB").is_some())
}

fn gdb_error<E: std::fmt::Debug>(e: E) -> ReplayError {
    ReplayError::Setup(format!("gdb connection: {e:?}"))
}

pub fn stop_reason(rep: Report) -> MultiThreadStopReason<u64> {
    let tid = tid_of(rep.tid);
    match rep.reason {
        Reason::SwBreak => MultiThreadStopReason::SwBreak(tid),
        Reason::HwBreak => MultiThreadStopReason::HwBreak(tid),
        Reason::Watch(w) => MultiThreadStopReason::Watch {
            tid,
            kind: WatchKind::from(w.kind),
            addr: w.addr,
        },
        Reason::Step => MultiThreadStopReason::SignalWithThread {
            tid,
            signal: Signal::SIGTRAP,
        },
        Reason::Signal(s) => MultiThreadStopReason::SignalWithThread {
            tid,
            signal: Signal(s),
        },
        Reason::Interrupt => MultiThreadStopReason::SignalWithThread {
            tid,
            signal: Signal::SIGINT,
        },
        Reason::End => MultiThreadStopReason::SignalWithThread {
            tid,
            signal: Signal::SIGKILL,
        },
        Reason::Begin => MultiThreadStopReason::ReplayLog {
            tid: Some(tid),
            pos: ReplayLogPosition::Begin,
        },
    }
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

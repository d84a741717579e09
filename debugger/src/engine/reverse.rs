//! Going back: the goal that reaches the moment one step of a thread before another, what
//! follows once a goal's moment is reached again, and the end of a step search.

use replayer::{ReplayError, Replayer};

use super::history::{LookBack, StopKey};
use super::{debug_on, Engine, Goal, Reason, Report, ScanFrom, StepSearch, Then};
use crate::moment::{Moment, Trigger};

/// `FTRUN_GDB_NO_HISTORY=1`: a reverse-continue always scans (for tests).
fn history_off() -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OFF.get_or_init(|| std::env::var_os("FTRUN_GDB_NO_HISTORY").is_some())
}

impl Engine {
    /// The goal that ends at the last point of thread `tid` before `x` (one step back),
    /// telling gdb `reason` there; `Gdb` when `x` is where history begins.
    pub fn plan_back(&self, x: Moment, tid: u32, reason: Reason) -> Goal {
        // One thread runs between two replay stops (the one whose turn it is), so hops are
        // all of one thread: if they are another's, `tid` has not run since the anchor, and
        // its last step before `x` is its last one before the anchor.
        let x = match x {
            Moment::At { stop, hops } if hops.iter().any(|h| h.tid != tid) => Moment::anchor(stop),
            x => x,
        };
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
            landed: Vec::new(),
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
    pub(super) fn reached(
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
                self.keep_scan(&target, &hits);
                let initial_stop = match &self.initial {
                    Some(Moment::At { stop, .. }) => *stop,
                    _ => 0,
                };
                if let (None, Some(from)) = (hits.last(), self.resumed_at) {
                    if from > initial_stop {
                        // Nothing since the checkpoint this pass started from: an earlier
                        // stretch is scanned next, twice as many checkpoints long as the
                        // last one (a hit far back costs few restores), past the stretches
                        // that did not run the page of any breakpoint.
                        self.scan_back = self.scan_back * 2 + 1;
                        if let Some((start, end)) = self.earlier_stretch(from, initial_stop) {
                            if debug_on() {
                                eprintln!("ftrun: [gdb] scanning {start:?} to stop {end}");
                            }
                            self.scan_from = start;
                            self.goal = Goal::RunTo {
                                target: Moment::anchor(end),
                                idx: None,
                                then: Then::Scan(Vec::new()),
                            };
                            return Err(ReplayError::Abandoned);
                        }
                    }
                }
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
            Then::Begin => {
                self.goal = Goal::Gdb { step: None };
                self.serve(r, None, target)
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
    pub(super) fn search_done(&mut self, s: StepSearch) -> Result<(), ReplayError> {
        self.keep_step_trace(&s);
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
}

impl Engine {
    /// Whether the stretch from checkpoint `i` to the next may hold a hit of gdb's
    /// breakpoints or watchpoints: unless it is known not to have run the page of any
    /// breakpoint (watched writes are not followed).
    fn may_hold_hit(&self, i: usize) -> bool {
        if !self.t.watches.is_empty() || self.t.catching.any() {
            // Watched writes are not followed, and every stretch makes calls.
            return true;
        }
        match &self.checkpoints[i].executed {
            None => true,
            Some(ran) => self.user_exec().iter().any(|&a| ran.may_have_run(a)),
        }
    }

    /// The stretch a reverse-continue scans after the one from the checkpoint at `from`
    /// held no hit: it ends where the latest stretch before `from` that may hold a hit
    /// ends, and starts at most `scan_back` stretches earlier, past none that cannot.
    /// `None` when no stretch between the session's start and `from` may hold one.
    fn earlier_stretch(&self, from: u64, initial_stop: u64) -> Option<(ScanFrom, u64)> {
        let Some(k) = self.checkpoints.iter().position(|c| c.stop == from) else {
            return Some((ScanFrom::Start, from));
        };
        let Some(i) = (0..k).rev().find(|&i| self.may_hold_hit(i)) else {
            let first = self.checkpoints.first()?.stop;
            return (first > initial_stop).then_some((ScanFrom::Start, first));
        };
        let mut j = i;
        while j > 0 && i - j < self.scan_back && self.may_hold_hit(j - 1) {
            j -= 1;
        }
        Some((
            ScanFrom::Checkpoint(self.checkpoints[j].stop),
            self.checkpoints[i + 1].stop,
        ))
    }
}

impl Engine {
    /// The stops gdb has inserted, as they trap.
    fn inserted_keys(&self) -> Vec<StopKey> {
        let exec = self
            .t
            .sw_bps
            .union(&self.t.hw_bps)
            .map(|&a| StopKey::Exec(a));
        let watch = self.t.watches.iter().map(|&w| StopKey::Watch(w));
        exec.chain(watch).collect()
    }

    /// A scan reached its end: the stretch it replayed, from the anchor its pass began at,
    /// goes into the hit history (unless a hit cannot be named by what trapped).
    fn keep_scan(&mut self, to: &Moment, hits: &[(Moment, Report)]) {
        if history_off() || self.t.catching.any() {
            return;
        }
        let from = match (self.resumed_at, &self.initial) {
            (Some(stop), _) => Moment::anchor(stop),
            (None, Some(initial)) => initial.clone(),
            (None, None) => return,
        };
        let keyed: Option<Vec<(Moment, u32, StopKey)>> = hits
            .iter()
            .map(|(m, rep)| {
                let key = match (rep.reason, m) {
                    (Reason::Watch(w), _) => StopKey::Watch(w),
                    (Reason::SwBreak | Reason::HwBreak, Moment::At { hops, .. }) => {
                        match hops.last()?.trig {
                            Trigger::Exec(a) => StopKey::Exec(a),
                            _ => return None,
                        }
                    }
                    _ => return None,
                };
                Some((m.clone(), rep.tid, key))
            })
            .collect();
        let Some(keyed) = keyed else {
            return;
        };
        let keys = self.inserted_keys();
        self.history
            .scanned(from, to, keys, keyed, self.scan_hit_at_end);
    }

    /// gdb resumes forward from where it stands: the run is kept in the hit history.
    pub(super) fn begin_history_run(&mut self, step: Option<u32>) {
        // Debug registers 1 to 3 hold hardware breakpoints and watchpoints (gdb is refused
        // more), so everything inserted is armed.
        let all_armed = self.t.hw_bps.len() + self.t.watches.len() <= 3;
        let keys = self.inserted_keys();
        self.history
            .begin_run(self.here.clone(), keys, step, all_armed);
    }

    /// The goal of a reverse-continue from `here`: straight to the last hit before it when
    /// the hit history knows it, else a scan of the stretch before the history's knowledge
    /// (see `history`).
    pub(super) fn plan_reverse_continue(&mut self, here: Moment) -> Goal {
        self.scan_keeps_end = false;
        let scan = |target| Goal::RunTo {
            target,
            idx: None,
            then: Then::Scan(Vec::new()),
        };
        // A caught call is no stop the history keeps.
        if history_off() || self.t.catching.any() {
            return scan(here);
        }
        let initial = self.initial.clone().unwrap_or(Moment::anchor(0));
        let found = self
            .history
            .look_back(&here, &self.inserted_keys(), &initial);
        if debug_on() {
            eprintln!("ftrun: [gdb] reverse-continue, from the hit history: {found:?}");
        }
        match found {
            LookBack::Hit(hit) => {
                let reason = match hit.key {
                    StopKey::Exec(a) if self.t.sw_bps.contains(&a) => Reason::SwBreak,
                    StopKey::Exec(_) => Reason::HwBreak,
                    StopKey::Watch(w) => Reason::Watch(w),
                };
                let report = Goal::RunTo {
                    target: hit.moment.clone(),
                    idx: None,
                    then: Then::Report(Report {
                        tid: hit.tid,
                        reason,
                    }),
                };
                if !matches!(reason, Reason::Watch(_)) {
                    return report;
                }
                // Right before the access, as a scan's watched hit.
                match self.plan_back(hit.moment, hit.tid, reason) {
                    Goal::Gdb { .. } => report,
                    back => back,
                }
            }
            LookBack::Begin => Goal::RunTo {
                target: initial,
                idx: None,
                then: Then::Report(Report {
                    tid: self.t.stopped,
                    reason: Reason::Begin,
                }),
            },
            LookBack::Unknown(known_from) => {
                self.scan_keeps_end = known_from != here;
                scan(known_from)
            }
        }
    }
}

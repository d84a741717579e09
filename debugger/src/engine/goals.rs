//! Following the goal as the replay runs: counting the triggers of each stop, arriving at
//! anchors and at the end of the trace, and stopping for gdb where the goal says.

use gdbstub::stub::state_machine::GdbStubStateMachine;
use replayer::{ReplayError, Replayer};

use super::{Engine, Goal, Reason, Report, StopInfo, Then, SEARCH_STEPS};
use crate::machine;
use crate::moment::{Hop, Moment, Trigger};

impl Engine {
    pub(super) fn stop_here(
        &mut self,
        r: &mut Replayer<'_>,
        m: Moment,
        rep: Report,
    ) -> Result<(), ReplayError> {
        self.serve(r, Some(rep), m)
    }

    /// The goal's moment is reached again: do what comes then.
    pub(super) fn user_reason(&self, trig: Trigger, info: StopInfo) -> Option<Reason> {
        if !self.user_armed() {
            return None;
        }
        match trig {
            Trigger::Exec(a) if self.t.sw_bps.contains(&a) => Some(Reason::SwBreak),
            Trigger::Exec(a) if self.t.hw_bps.contains(&a) => Some(Reason::HwBreak),
            Trigger::Watch(w) if self.t.watches.contains(&w) => Some(Reason::Watch(w)),
            Trigger::Exec(_) | Trigger::ReplayStop
                if info.call.is_some_and(|c| self.t.catching.catches(c.nr)) =>
            {
                info.call.map(Reason::Syscall)
            }
            Trigger::ReplayStop if matches!(self.goal, Goal::Gdb { .. }) => {
                info.signal.map(Reason::Signal)
            }
            _ => None,
        }
    }

    /// The triggers of one stop, counted, then whatever the goal does with them.
    pub(super) fn on_triggers(
        &mut self,
        r: &mut Replayer<'_>,
        list: &[(Trigger, u32)],
        info: StopInfo,
    ) -> Result<(), ReplayError> {
        let moments: Vec<(Trigger, u32, Moment)> = list
            .iter()
            .map(|&(trig, tid)| (trig, tid, self.count(trig, tid)))
            .collect();
        let user_hit = moments.iter().find_map(|(trig, tid, m)| {
            self.user_reason(*trig, info)
                .map(|reason| (m.clone(), Report { tid: *tid, reason }))
        });
        match self.goal.clone() {
            Goal::Gdb { step } => {
                self.history.note_hits(&moments);
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
                let fast = self.fast_step_for(&Moment::At {
                    stop,
                    hops: hops.clone(),
                });
                let done = idx.is_some_and(|i| {
                    let hop = hops[i];
                    // A step reached by arrivals at where it lands (see `step_trace`).
                    let (trig, k) = match fast {
                        Some(f) if i + 1 == hops.len() => (Trigger::Exec(f.rip), f.arrivals),
                        _ => (hop.trig, hop.k),
                    };
                    moments.iter().any(|(t, tid, _)| {
                        *t == trig && *tid == hop.tid && self.counts[&(*t, *tid)] == k
                    })
                });
                let last = idx.is_some_and(|i| i + 1 == hops.len());
                let fast = fast.cloned();
                let mut hit_at_end = None;
                if let (Then::Scan(hits), Some(hit)) = (&mut then, user_hit) {
                    // A watched access right before the moment is the first thing going
                    // backwards meets; a breakpoint there is not (its instruction has not
                    // run yet).
                    if !(done && last)
                        || matches!(hit.1.reason, Reason::Watch(_))
                        || self.scan_keeps_end
                    {
                        hits.push(hit);
                        hit_at_end = Some(done && last);
                    }
                }
                if let Some(at_end) = hit_at_end {
                    self.scan_hit_at_end = at_end;
                }
                let Some(i) = idx.filter(|_| done) else {
                    self.goal = Goal::RunTo {
                        target: Moment::At { stop, hops },
                        idx,
                        then,
                    };
                    return Ok(());
                };
                if fast.is_some() && last {
                    // As when the step itself had landed here: no arrival counted.
                    self.arrived.remove(&hops[i].tid);
                }
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
                        let rip = r.tracee_of(s.tid).and_then(|t| t.regs().ok());
                        s.landed.push(rip.map_or(0, |g| g.rip));
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

    pub(super) fn end_reached(&mut self, r: &mut Replayer<'_>) -> Result<(), ReplayError> {
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

    pub(super) fn at_anchor(&mut self, r: &mut Replayer<'_>) -> Result<(), ReplayError> {
        let here = Moment::anchor(self.stops);
        self.set_base(here.clone());
        if !self.started {
            if self.ready && r.events_replayed() >= self.goto {
                let cur = r.current_thread();
                let rip = r
                    .tracee_of(cur.tid)
                    .and_then(|t| t.regs().ok())
                    .map(|g| g.rip);
                let back = rip.and_then(|rip| machine::site_return(cur.pid, rip));
                if back.is_some() && self.in_syscall.get(&cur.tid) == Some(&true) {
                    // Its syscall's exit comes first.
                    return Ok(());
                }
                self.started = true;
                self.maybe_checkpoint(r)?;
                if let Some(back) = back {
                    // The thread stands in the stub of a rewritten syscall site (ftrun's
                    // code, unknown to gdb): the session begins where it is back in the
                    // program's code.
                    self.goal = Goal::RunTo {
                        target: here.then(Hop {
                            tid: cur.tid,
                            trig: Trigger::Exec(back),
                            k: 1,
                        }),
                        idx: Some(0),
                        then: Then::Begin,
                    };
                    return Ok(());
                }
                return self.serve(r, None, here);
            }
            return Ok(());
        }
        if !matches!(self.goal, Goal::Detached | Goal::Quit) {
            self.maybe_checkpoint(r)?;
        }
        // A traced call gdb catches returned at the stop just handled.
        let returned = self.pending_return.take().filter(|rep| {
            self.user_armed()
                && matches!(rep.reason, Reason::Syscall(c) if self.t.catching.catches(c.nr))
        });
        if let (
            Some(rep),
            Goal::RunTo {
                target,
                then: Then::Scan(hits),
                ..
            },
        ) = (returned, &mut self.goal)
        {
            if *target != here {
                hits.push((here.clone(), rep));
            }
        }
        match self.goal.clone() {
            Goal::Gdb { .. } => {
                if let Some(rep) = returned {
                    self.step_done = None;
                    return self.stop_here(r, here, rep);
                }
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
                        s.landed.push(0);
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
}

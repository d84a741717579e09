//! Reaching a step again without single-stepping to it. gdb goes back by one step at a time
//! (`reverse-step` and `reverse-next` are many `bs`), and each step back reaches "k steps of
//! thread T after a point" again; single-stepping k instructions every time costs k ptrace
//! round trips per `bs`. The last step search noted where each of its steps landed, so the
//! k-th step from the same point is also the n-th arrival of T at the address it landed on,
//! n being how often the first k steps landed there: one int3 there, and n traps.
//!
//! The two are the same point: a step lands on every instruction T executes (a rewritten
//! syscall site or a `syscall` counts as one, and no step lands inside ftrun's code), and an
//! int3 traps at every execution of its instruction. Only the start differs: a thread that
//! stands on the address at the point (not as a counted arrival) traps there at once, which
//! no step counts; that arrival is added to n.

use super::{Engine, Goal, StepSearch};
use crate::moment::{Moment, Trigger};

/// `FTRUN_GDB_SINGLE_STEPS=1` reaches every step by single steps (the tests compare).
fn single_steps_only() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FTRUN_GDB_SINGLE_STEPS").is_some())
}

/// Where the steps of a search from `from` landed, one address per step.
#[derive(Debug, Clone)]
pub struct StepTrace {
    from: Moment,
    tid: u32,
    landed: Vec<u64>,
}

/// The goal's last hop, `k` steps of `tid`, reached as the `arrivals`-th arrival at `rip`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastStep {
    target: Moment,
    pub tid: u32,
    pub rip: u64,
    pub arrivals: u64,
}

impl Engine {
    /// Keeps the steps of a finished search, as far as they all follow its start directly
    /// (a replay stop in between re-anchors the rest).
    pub(super) fn keep_step_trace(&mut self, s: &StepSearch) {
        let mut landed = Vec::new();
        for (i, (m, &rip)) in s.steps.iter().zip(&s.landed).enumerate() {
            let direct = s.from.then(crate::moment::Hop {
                tid: s.tid,
                trig: Trigger::Step,
                k: i as u64 + 1,
            });
            if rip == 0 || *m != direct {
                break;
            }
            landed.push(rip);
        }
        self.step_trace = Some(StepTrace {
            from: s.from.clone(),
            tid: s.tid,
            landed,
        });
    }

    /// Before a resume of `tid` at `rip`: if the goal's last hop is steps of `tid` from the
    /// point the last search started at, and this is the first resume from there, reaches
    /// them by arrivals instead.
    pub(super) fn prepare_fast_step(&mut self, tid: u32, rip: u64) {
        if single_steps_only() {
            return;
        }
        let Goal::RunTo {
            target: target @ Moment::At { stop, hops },
            idx: Some(i),
            ..
        } = &self.goal
        else {
            return;
        };
        let Some(last) = hops.last() else {
            return;
        };
        if *i + 1 != hops.len() || last.trig != Trigger::Step || last.tid != tid {
            return;
        }
        if self.fast_step.as_ref().is_some_and(|f| &f.target == target) {
            return;
        }
        let Some(trace) = &self.step_trace else {
            return;
        };
        let from = Moment::At {
            stop: *stop,
            hops: hops[..*i].to_vec(),
        };
        let k = last.k as usize;
        if trace.tid != tid || trace.from != from || k == 0 || k > trace.landed.len() {
            return;
        }
        // Only from the point itself: no step or arrival counted since it.
        if !self.counts.is_empty() {
            return;
        }
        let want = trace.landed[k - 1];
        let mut arrivals = trace.landed[..k].iter().filter(|&&a| a == want).count() as u64;
        if rip == want && self.arrived.get(&tid) != Some(&rip) {
            arrivals += 1;
        }
        self.fast_step = Some(FastStep {
            target: target.clone(),
            tid,
            rip: want,
            arrivals,
        });
    }

    /// The fast way to the goal's moment, while the goal is to reach `target`.
    pub(super) fn fast_step_for(&self, target: &Moment) -> Option<&FastStep> {
        self.fast_step.as_ref().filter(|f| &f.target == target)
    }

    /// The fast way the goal follows now, if any.
    pub(super) fn active_fast_step(&self) -> Option<&FastStep> {
        match &self.goal {
            Goal::RunTo {
                target,
                idx: Some(i),
                ..
            } => match target {
                Moment::At { hops, .. } if *i + 1 == hops.len() => self.fast_step_for(target),
                _ => None,
            },
            _ => None,
        }
    }
}

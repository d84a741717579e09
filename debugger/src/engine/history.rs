//! The hits of gdb's breakpoints and watchpoints met while the replay ran forward, so that
//! a reverse-continue over a stretch already run with the same stops armed knows its last
//! hit without replaying it.
//!
//! Each forward run (from a stop gdb was told of to the next one: a `continue`, a step, a
//! `stepi`) is kept with the stops that were armed all along it and the hits at its end
//! (under gdb every hit of an armed stop ends the run: gdb evaluates conditions and ignore
//! counts itself). So is each scan of a reverse-continue, with every hit it noted. Runs are chained by their moments: one begins where gdb stood, which is
//! where another ended (or the moment of one of its hits, a stop reached again by its
//! hit's name). Going back from a moment, a run that ends there and had every stop now
//! inserted armed tells whether a hit lies in it; if none, the run before it is looked at,
//! until a hit, the session's start, or a run not covered by the history, from where the
//! usual scan takes over.
//!
//! gdb steps over a breakpoint it stands on by taking it out for one step: a run that is
//! one step of one thread (no replay stop in between, so no other thread ran) executed one
//! instruction, and missed only an arrival where it landed, so it covers a stop taken out
//! for it unless it landed on that stop's address.
//!
//! An int3 is written before every resume and taken out at the next stop, so a mapping
//! changed by a traced call (a stop) gets it again. Only code changed between two stops
//! (written over, or unmapped by an in-process call) loses it: the bytes are checked when
//! the int3s are taken out, and a run where one was not found in place is not kept.
//! Debug registers trap by address whatever is mapped.

use std::collections::HashMap;

use crate::moment::{Hop, Moment, Trigger, Watch};

/// A stop gdb inserted, as it traps: an arrival at an address (software or hardware
/// breakpoint alike) or a watched access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum StopKey {
    Exec(u64),
    Watch(Watch),
}

impl StopKey {
    fn of(trig: Trigger) -> Option<StopKey> {
        match trig {
            Trigger::Exec(a) => Some(StopKey::Exec(a)),
            Trigger::Watch(w) => Some(StopKey::Watch(w)),
            _ => None,
        }
    }
}

/// A hit: its moment, its thread and what trapped, and whether it is at its run's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    pub moment: Moment,
    pub tid: u32,
    pub key: StopKey,
    pub at_end: bool,
}

#[derive(Debug, Clone)]
struct Run {
    from: Moment,
    to: Moment,
    armed: Vec<StopKey>,
    /// Its hits in order (a forward run's all at its last stop, in the order the stop's
    /// triggers came; a scan's anywhere, one a stop).
    hits: Vec<Hit>,
    /// The run was one step of one thread, which landed here.
    one_step_landed: Option<u64>,
}

impl Run {
    /// Whether every stop of `keys` trapped wherever it was met along this run.
    fn covers(&self, keys: &[StopKey]) -> bool {
        keys.iter().all(|k| {
            self.armed.contains(k)
                || matches!((k, self.one_step_landed), (StopKey::Exec(a), Some(l)) if l != *a)
        })
    }
}

#[derive(Debug, Clone)]
struct OpenRun {
    from: Moment,
    armed: Vec<StopKey>,
    step: Option<u32>,
    hits: Vec<Hit>,
    /// An int3 was not in place when taken out: the run is not kept.
    lost: bool,
}

/// What the history says about going back from a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LookBack {
    /// The last hit before it.
    Hit(Hit),
    /// No hit back to where the session began.
    Begin,
    /// No hit between this moment and it: the stretch before this one is not known.
    Unknown(Moment),
}

/// Most runs kept; past it the history starts again (it only saves replays).
const MOST_RUNS: usize = 1 << 16;

#[derive(Debug, Default)]
pub(crate) struct HitHistory {
    runs: Vec<Run>,
    /// Runs by the moments they end at: their last stop, and each of its hits.
    ends: HashMap<Moment, Vec<usize>>,
    open: Option<OpenRun>,
    /// An int3 was not in place at some stop of this replay pass (a scan is not kept).
    pass_lost: bool,
}

impl HitHistory {
    /// A new replay pass begins.
    pub fn pass_begins(&mut self) {
        self.pass_lost = false;
    }

    /// gdb resumes forward from `from` with `armed` inserted (`step`: the thread it steps).
    /// `all_armed` is false when some stop could not be armed.
    pub fn begin_run(
        &mut self,
        from: Moment,
        armed: Vec<StopKey>,
        step: Option<u32>,
        all_armed: bool,
    ) {
        self.open = Some(OpenRun {
            from,
            armed,
            step,
            hits: Vec::new(),
            lost: !all_armed,
        });
    }

    /// A stop of the open run's: its hits of armed stops (each trigger with its moment).
    pub fn note_hits(&mut self, triggers: &[(Trigger, u32, Moment)]) {
        let Some(run) = self.open.as_mut() else {
            return;
        };
        for (trig, tid, m) in triggers {
            if let Some(key) = StopKey::of(*trig).filter(|k| run.armed.contains(k)) {
                run.hits.push(Hit {
                    moment: m.clone(),
                    tid: *tid,
                    key,
                    at_end: true,
                });
            }
        }
    }

    /// An int3 was not found in place when taken out.
    pub fn int3_lost(&mut self) {
        self.pass_lost = true;
        if let Some(run) = self.open.as_mut() {
            run.lost = true;
        }
    }

    /// The open run ends at `to`, gdb being told of it; `landed` gives where a thread
    /// stands (to see where a one-step run landed).
    pub fn end_run(&mut self, to: &Moment, landed: impl FnOnce(u32) -> Option<u64>) {
        let Some(open) = self.open.take() else {
            return;
        };
        if open.lost || open.from == *to {
            return;
        }
        let one_step_landed = open
            .step
            .filter(|&tid| {
                open.from.then(Hop {
                    tid,
                    trig: Trigger::Step,
                    k: 1,
                }) == *to
            })
            .and_then(landed);
        self.keep(Run {
            from: open.from,
            to: to.clone(),
            armed: open.armed,
            hits: open.hits,
            one_step_landed,
        });
    }

    /// A scan replayed from `from` to `to` with `armed` armed all along and noted `hits`
    /// (the last one at `to` itself when `last_at_end`).
    pub fn scanned(
        &mut self,
        from: Moment,
        to: &Moment,
        armed: Vec<StopKey>,
        hits: Vec<(Moment, u32, StopKey)>,
        last_at_end: bool,
    ) {
        if from == *to || self.pass_lost {
            return;
        }
        let n = hits.len();
        let hits = hits
            .into_iter()
            .enumerate()
            .map(|(i, (moment, tid, key))| Hit {
                moment,
                tid,
                key,
                at_end: last_at_end && i + 1 == n,
            })
            .collect();
        self.keep(Run {
            from,
            to: to.clone(),
            armed,
            hits,
            one_step_landed: None,
        });
    }

    fn keep(&mut self, run: Run) {
        let to = &run.to;
        let known = self.ends.get(to).is_some_and(|list| {
            list.iter().any(|&i| {
                let r = &self.runs[i];
                r.from == run.from && r.armed == run.armed && r.hits == run.hits
            })
        });
        if known {
            return;
        }
        if self.runs.len() >= MOST_RUNS {
            self.runs.clear();
            self.ends.clear();
        }
        let i = self.runs.len();
        self.ends.entry(run.to.clone()).or_default().push(i);
        for h in &run.hits {
            if h.moment != run.to {
                self.ends.entry(h.moment.clone()).or_default().push(i);
            }
        }
        self.runs.push(run);
    }

    /// Going back from `here` with `keys` inserted: the last hit before it that the history
    /// knows of, or how far back it knows there is none. `initial` is where history begins.
    pub fn look_back(&self, here: &Moment, keys: &[StopKey], initial: &Moment) -> LookBack {
        let mut cur = here.clone();
        // Runs looked at: a chain never holds a run twice, since moments follow each other.
        for looked in 0..=self.runs.len() {
            if cur == *initial && looked > 0 {
                return LookBack::Begin;
            }
            let run = self
                .ends
                .get(&cur)
                .into_iter()
                .flatten()
                .map(|&i| &self.runs[i])
                .find(|r| r.covers(keys));
            let Some(run) = run else {
                return LookBack::Unknown(cur);
            };
            // The hits up to `cur`: all of them when it is the run's end (or one of the
            // hits there), else those before the hit it is, and that one.
            let cur_is_end = run.to == cur || run.hits.iter().any(|h| h.at_end && h.moment == cur);
            let upto = match run.hits.iter().position(|h| h.moment == cur) {
                Some(k) if !cur_is_end => k + 1,
                _ => run.hits.len(),
            };
            let at_cur = |h: &Hit| h.moment == cur || (h.at_end && cur_is_end);
            // At `here` itself a breakpoint's instruction has not run yet, while a watched
            // access has (going back meets it first).
            let found: Vec<&Hit> = run.hits[..upto]
                .iter()
                .filter(|h| {
                    keys.contains(&h.key)
                        && (looked > 0 || !at_cur(h) || matches!(h.key, StopKey::Watch(_)))
                })
                .collect();
            // The latest; of several at the run's last stop, the first of its triggers.
            let hit = match found.last() {
                Some(last) if last.at_end => found.iter().find(|h| h.at_end),
                last => last,
            };
            if let Some(h) = hit {
                return LookBack::Hit((*h).clone());
            }
            cur = run.from.clone();
        }
        LookBack::Unknown(cur)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(stop: u64, hops: &[(u32, Trigger, u64)]) -> Moment {
        Moment::At {
            stop,
            hops: hops
                .iter()
                .map(|&(tid, trig, k)| Hop { tid, trig, k })
                .collect(),
        }
    }

    const EARLY: u64 = 0x1000;
    const OTHER: u64 = 0x2000;

    /// break early, continue (a hit), continue to the end, as gdb does it: out of the hit
    /// by one step with the breakpoint taken out, then on with it inserted again.
    fn hit_then_end(h: &mut HitHistory, landed_at: u64) -> (Moment, Moment) {
        let start = at(3, &[]);
        let early = vec![StopKey::Exec(EARLY)];
        let hit = at(10, &[(1, Trigger::Exec(EARLY), 1)]);
        h.begin_run(start.clone(), early.clone(), None, true);
        h.note_hits(&[(Trigger::Exec(EARLY), 1, hit.clone())]);
        h.end_run(&hit, |_| None);
        let stepped = hit.then(Hop {
            tid: 1,
            trig: Trigger::Step,
            k: 1,
        });
        h.begin_run(hit.clone(), Vec::new(), Some(1), true);
        h.end_run(&stepped, |_| Some(landed_at));
        h.begin_run(stepped, early, None, true);
        h.end_run(&Moment::End, |_| None);
        (start, hit)
    }

    #[test]
    fn the_hit_before_a_covered_stretch_is_found() {
        let mut h = HitHistory::default();
        let (start, hit) = hit_then_end(&mut h, EARLY + 4);
        let keys = [StopKey::Exec(EARLY)];
        match h.look_back(&Moment::End, &keys, &start) {
            LookBack::Hit(found) => assert_eq!(found.moment, hit),
            other => panic!("{other:?}"),
        }
        // From the hit itself: nothing before it, back to the start.
        assert_eq!(h.look_back(&hit, &keys, &start), LookBack::Begin);
    }

    #[test]
    fn a_step_that_landed_on_the_stop_taken_out_is_not_covered() {
        let mut h = HitHistory::default();
        let (start, hit) = hit_then_end(&mut h, EARLY);
        let keys = [StopKey::Exec(EARLY)];
        assert_eq!(
            h.look_back(&Moment::End, &keys, &start),
            LookBack::Unknown(hit.then(Hop {
                tid: 1,
                trig: Trigger::Step,
                k: 1
            }))
        );
    }

    #[test]
    fn a_stop_not_armed_along_a_run_leaves_it_unknown() {
        let mut h = HitHistory::default();
        let (start, _) = hit_then_end(&mut h, EARLY + 4);
        let keys = [StopKey::Exec(EARLY), StopKey::Exec(OTHER)];
        assert_eq!(
            h.look_back(&Moment::End, &keys, &start),
            LookBack::Unknown(Moment::End)
        );
        // Fewer stops than were armed: still known.
        let mut h = HitHistory::default();
        let start = at(3, &[]);
        h.begin_run(
            start.clone(),
            vec![StopKey::Exec(EARLY), StopKey::Exec(OTHER)],
            None,
            true,
        );
        let other = at(7, &[(1, Trigger::Exec(OTHER), 1)]);
        h.note_hits(&[(Trigger::Exec(OTHER), 1, other.clone())]);
        h.end_run(&other, |_| None);
        h.begin_run(other.clone(), vec![StopKey::Exec(EARLY)], None, true);
        h.end_run(&Moment::End, |_| None);
        assert_eq!(
            h.look_back(&Moment::End, &[StopKey::Exec(EARLY)], &start),
            LookBack::Begin
        );
    }

    #[test]
    fn a_run_that_lost_an_int3_is_not_kept() {
        let mut h = HitHistory::default();
        let start = at(3, &[]);
        h.begin_run(start.clone(), vec![StopKey::Exec(EARLY)], None, true);
        h.int3_lost();
        h.end_run(&Moment::End, |_| None);
        assert_eq!(
            h.look_back(&Moment::End, &[StopKey::Exec(EARLY)], &start),
            LookBack::Unknown(Moment::End)
        );
    }

    #[test]
    fn a_watched_access_at_the_moment_itself_counts() {
        let mut h = HitHistory::default();
        let start = at(3, &[]);
        let w = Watch {
            addr: 0x4000,
            len: 8,
            kind: crate::moment::WatchKindKey::Write,
        };
        let trap = at(5, &[(2, Trigger::Watch(w), 1)]);
        h.begin_run(start.clone(), vec![StopKey::Watch(w)], None, true);
        h.note_hits(&[(Trigger::Watch(w), 2, trap.clone())]);
        h.end_run(&trap, |_| None);
        match h.look_back(&trap, &[StopKey::Watch(w)], &start) {
            LookBack::Hit(found) => assert_eq!((found.moment, found.tid), (trap, 2)),
            other => panic!("{other:?}"),
        }
    }
}

#[cfg(test)]
mod scan_tests {
    use super::*;

    fn hit_at(stop: u64) -> Moment {
        Moment::At {
            stop,
            hops: vec![Hop {
                tid: 1,
                trig: Trigger::Exec(0x1000),
                k: 1,
            }],
        }
    }

    #[test]
    fn a_scan_gives_each_hit_the_one_before_it() {
        let mut h = HitHistory::default();
        let initial = Moment::anchor(2);
        let key = StopKey::Exec(0x1000);
        let hits: Vec<_> = [10, 20, 30].iter().map(|&s| (hit_at(s), 1, key)).collect();
        h.scanned(Moment::anchor(5), &Moment::End, vec![key], hits, false);
        let back = |h: &HitHistory, from: &Moment| match h.look_back(from, &[key], &initial) {
            LookBack::Hit(hit) => Some(hit.moment),
            _ => None,
        };
        assert_eq!(back(&h, &Moment::End), Some(hit_at(30)));
        assert_eq!(back(&h, &hit_at(30)), Some(hit_at(20)));
        assert_eq!(back(&h, &hit_at(10)), None);
        assert_eq!(
            h.look_back(&hit_at(10), &[key], &initial),
            LookBack::Unknown(Moment::anchor(5))
        );
        // A scan before it, ending where this one began, with a breakpoint hit right there.
        h.scanned(
            Moment::anchor(2),
            &Moment::anchor(5),
            vec![key],
            vec![(hit_at(4), 1, key)],
            false,
        );
        assert_eq!(back(&h, &hit_at(10)), Some(hit_at(4)));
        assert_eq!(h.look_back(&hit_at(4), &[key], &initial), LookBack::Begin);
    }

    #[test]
    fn a_breakpoint_hit_at_a_scans_end_is_not_before_it() {
        let mut h = HitHistory::default();
        let initial = Moment::anchor(2);
        let key = StopKey::Exec(0x1000);
        h.scanned(
            Moment::anchor(2),
            &hit_at(30),
            vec![key],
            vec![(hit_at(10), 1, key), (hit_at(30), 1, key)],
            true,
        );
        match h.look_back(&hit_at(30), &[key], &initial) {
            LookBack::Hit(hit) => assert_eq!(hit.moment, hit_at(10)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_pass_that_lost_an_int3_keeps_no_scan() {
        let mut h = HitHistory::default();
        let key = StopKey::Exec(0x1000);
        h.int3_lost();
        h.scanned(
            Moment::anchor(5),
            &Moment::End,
            vec![key],
            Vec::new(),
            false,
        );
        assert_eq!(
            h.look_back(&Moment::End, &[key], &Moment::anchor(2)),
            LookBack::Unknown(Moment::End)
        );
        h.pass_begins();
        h.scanned(
            Moment::anchor(2),
            &Moment::End,
            vec![key],
            Vec::new(),
            false,
        );
        assert_eq!(
            h.look_back(&Moment::End, &[key], &Moment::anchor(2)),
            LookBack::Begin
        );
    }
}

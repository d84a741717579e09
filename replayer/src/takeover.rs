//! Takeovers inside one log. When a follower goes live it stays the server's tracer and
//! records it from there on as the new primary: its events follow the old primary's in the
//! same log, naming the threads by the ids they have in the new primary's process. A log's
//! takeovers are listed beside it (`takeovers` in the trace directory, one line each: how
//! many events came before it, the epoch won, the process and thread ids before and after).
//! Replay meets a takeover where those events end: it brings every thread to the point that
//! going live brought it to (`Replayer::handoff` does the same at the end of a log), gives
//! the threads their new ids, and goes on with the new primary's events.

use std::collections::VecDeque;
use std::path::Path;

use schema::Event;

use crate::session::Replayer;
use crate::source::EventSource;
use crate::ReplayError;

/// The name of the list of takeovers in a trace directory.
pub const TAKEOVERS_FILE: &str = "takeovers";

/// One takeover: where a primary's events ended and the next primary's begin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Takeover {
    /// Events of the log before the takeover.
    pub events: u64,
    /// The epoch the new primary won.
    pub epoch: u64,
    /// The process's id in events before the takeover, and after.
    pub process: (u32, u32),
    /// Each thread alive at the takeover: its id in events before, and after.
    pub threads: Vec<(u32, u32)>,
}

impl Takeover {
    /// `takeover events=N epoch=E process=OLD:NEW threads=OLD:NEW,OLD:NEW`
    pub fn to_line(&self) -> String {
        let threads: Vec<String> = self
            .threads
            .iter()
            .map(|(a, b)| format!("{a}:{b}"))
            .collect();
        format!(
            "takeover events={} epoch={} process={}:{} threads={}",
            self.events,
            self.epoch,
            self.process.0,
            self.process.1,
            threads.join(",")
        )
    }

    pub fn parse(line: &str) -> Result<Takeover, String> {
        let bad = || format!("not a takeover line: {line:?}");
        let mut words = line.split_whitespace();
        if words.next() != Some("takeover") {
            return Err(bad());
        }
        let pair = |s: &str| -> Result<(u32, u32), String> {
            let (a, b) = s.split_once(':').ok_or_else(bad)?;
            Ok((a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?))
        };
        let (mut events, mut epoch, mut process, mut threads) = (None, None, None, None);
        for w in words {
            let (key, value) = w.split_once('=').ok_or_else(bad)?;
            match key {
                "events" => events = Some(value.parse().map_err(|_| bad())?),
                "epoch" => epoch = Some(value.parse().map_err(|_| bad())?),
                "process" => process = Some(pair(value)?),
                "threads" => {
                    threads = Some(
                        value
                            .split(',')
                            .filter(|s| !s.is_empty())
                            .map(pair)
                            .collect::<Result<Vec<_>, _>>()?,
                    )
                }
                _ => return Err(bad()),
            }
        }
        Ok(Takeover {
            events: events.ok_or_else(bad)?,
            epoch: epoch.ok_or_else(bad)?,
            process: process.ok_or_else(bad)?,
            threads: threads.ok_or_else(bad)?,
        })
    }
}

/// Parses a list of takeovers (one line each, in the order of the log).
pub fn parse_takeovers(text: &str) -> Result<Vec<Takeover>, String> {
    let list: Vec<Takeover> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(Takeover::parse)
        .collect::<Result<_, _>>()?;
    if list.windows(2).any(|w| w[0].events > w[1].events) {
        return Err("takeovers out of order".into());
    }
    Ok(list)
}

pub fn format_takeovers(list: &[Takeover]) -> String {
    list.iter().map(|t| t.to_line() + "\n").collect()
}

/// The takeovers of the log in `dir` (none when the list is absent: one primary only).
pub fn read_takeovers(dir: &Path) -> Result<Vec<Takeover>, ReplayError> {
    let path = dir.join(TAKEOVERS_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse_takeovers(&text)
            .map_err(|e| ReplayError::Setup(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(ReplayError::Setup(format!(
            "reading {}: {e}",
            path.display()
        ))),
    }
}

/// Writes the list next to a log (a temporary file renamed over it).
pub fn write_takeovers(dir: &Path, list: &[Takeover]) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{TAKEOVERS_FILE}.tmp"));
    std::fs::write(&tmp, format_takeovers(list))?;
    std::fs::rename(&tmp, dir.join(TAKEOVERS_FILE))
}

/// An event source that stops at each takeover of the log until the replayer has crossed it.
pub struct TakeoverSource<S> {
    inner: S,
    ahead: VecDeque<Takeover>,
    served: u64,
}

impl<S: EventSource> TakeoverSource<S> {
    pub fn new(inner: S, takeovers: Vec<Takeover>) -> Self {
        TakeoverSource {
            inner,
            ahead: takeovers.into(),
            served: 0,
        }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Events served so far.
    pub fn served(&self) -> u64 {
        self.served
    }

    fn at_takeover(&self) -> bool {
        self.ahead.front().is_some_and(|t| t.events == self.served)
    }
}

impl<S: EventSource> EventSource for TakeoverSource<S> {
    fn next_event(&mut self) -> Result<Option<Event>, ReplayError> {
        if self.at_takeover() {
            return Ok(None);
        }
        let ev = self.inner.next_event()?;
        if ev.is_some() {
            self.served += 1;
        }
        Ok(ev)
    }

    fn next_events(&mut self, out: &mut VecDeque<Event>, max: usize) -> Result<usize, ReplayError> {
        // Never past the next takeover: the replayer crosses it with nothing read beyond.
        let before_takeover = self
            .ahead
            .front()
            .map_or(u64::MAX, |t| t.events.saturating_sub(self.served));
        let max = max.min(usize::try_from(before_takeover).unwrap_or(usize::MAX));
        let n = self.inner.next_events(out, max)?;
        self.served += n as u64;
        Ok(n)
    }

    fn takeover(&mut self) -> Option<Takeover> {
        if self.at_takeover() {
            return self.ahead.pop_front();
        }
        None
    }
}

impl Replayer<'_> {
    /// The log reached a takeover: if the source says so, the threads are brought to where
    /// going live brought them and renamed; true when a takeover was crossed.
    pub(crate) fn cross_takeover_here(&mut self) -> Result<bool, ReplayError> {
        match self.events.takeover() {
            Some(t) => {
                self.cross_takeover(&t)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// What going live did to the process, short of making its descriptors real (replay
    /// emulates them): the runtime off, every thread settled (as `handoff` settles them, in
    /// the same order) and its breakpoints cleared; a signal about to be delivered stays
    /// so. Then each thread takes its id from after the takeover.
    fn cross_takeover(&mut self, t: &Takeover) -> Result<(), ReplayError> {
        if !self.ahead.is_empty() {
            return Err(ReplayError::Setup(format!(
                "a takeover after event {} with events still unreplayed before it",
                t.events
            )));
        }
        self.runtime_off()?;
        let mut tids = self.tasks.waiting_tids();
        tids.sort_unstable();
        if !self.t.ended {
            tids.insert(0, self.t.tid);
        }
        for &tid in &tids {
            self.tasks.switch_to(&mut self.t, tid)?;
            self.settle()?;
            self.drop_filter_here()?;
            self.t.tracee.clear_breakpoints()?;
            self.t.landmark_armed = false;
            self.t.landmark_mem = None;
            self.t.landmark_search.finish();
        }
        let new_id = |old: u32| t.threads.iter().find(|(a, _)| *a == old).map(|(_, b)| *b);
        for &tid in &tids {
            if new_id(tid).is_none() {
                return Err(ReplayError::Setup(format!(
                    "the takeover after event {} names no new id for thread {tid}",
                    t.events
                )));
            }
        }
        let (old_pid, new_pid) = t.process;
        let new_tgid = |old: u32| if old == old_pid { new_pid } else { old };
        let new_tid = |old: u32| new_id(old).unwrap_or(old);
        self.tasks.rename(new_tid, new_tgid);
        self.t.tid = new_tid(self.t.tid);
        self.t.tgid = new_tgid(self.t.tgid);
        if let Some(space) = self.spaces.remove(&old_pid) {
            self.spaces.insert(new_pid, space);
        }
        // The PI waiters known so far waited in the old primary; the new one's run again.
        self.pi = Default::default();
        if debug_takeovers() {
            eprintln!("ftrun: [replay] crossed {}", t.to_line());
        }
        Ok(())
    }
}

fn debug_takeovers() -> bool {
    std::env::var_os("FTRUN_DEBUG_STOPS").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_takeover_line_reads_back_as_written() {
        let t = Takeover {
            events: 1234,
            epoch: 3,
            process: (100, 2000),
            threads: vec![(100, 2000), (101, 2003)],
        };
        let line = t.to_line();
        assert_eq!(
            line,
            "takeover events=1234 epoch=3 process=100:2000 threads=100:2000,101:2003"
        );
        assert_eq!(Takeover::parse(&line), Ok(t.clone()));
        let list = parse_takeovers(&format_takeovers(&[t.clone(), t])).unwrap();
        assert_eq!(list.len(), 2);
        assert!(Takeover::parse("takeover events=x").is_err());
        assert!(parse_takeovers(
            "takeover events=5 epoch=2 process=1:2 threads=1:2\ntakeover events=4 epoch=3 process=2:3 threads=2:3"
        )
        .is_err());
    }
}

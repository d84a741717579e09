//! Preempting a thread that computes without syscalls while others of its process wait.
//!
//! The thread is interrupted and watched at a pass through one instruction with a hardware
//! breakpoint. A pure spin (the whole state the same at two passes in a row) is preempted
//! at once (`Sched`): replay finds it on the loop's first turns. Any other loop is
//! preempted at an exact state (`SchedAtState`: its registers and memory hashes, and the
//! registers themselves). Replay can find that state fast only in-process, with a filter
//! on an instruction that can carry one (`fastpath::landmark`): so the breakpoint goes on
//! the first such instruction in straight line from where the thread was stopped, and the
//! memory words the loop changes between two passes are logged with the state, for the
//! filter to compare; failing one in straight line, the loop's head in its function
//! (`fastpath::carrier::loop_carrier`), whose first instructions carry a filter together.
//! Such a loop is preempted within a slice or two. A loop with no carrier
//! (or a process without the runtime, or with too much memory to copy) runs
//! on through slices twice as long each time, as a spin may still show, and is preempted
//! at an exact state after about 0.6 s, which replay finds by stopping at each pass.

use std::time::Duration;

use fastpath::carrier::Carrier;
use schema::{EventKind, ForcedSwitch, Landmark};
use tracee::landmark::{self, landmark_regs_hash, MemorySnapshot};
use tracee::{PtraceEvent, Regs, Stop};

use crate::session::Recorder;
use crate::RecordError;

/// Passes watched before a loop that keeps changing is let run on.
const WATCH_PASSES: u32 = 8;
/// Slice doublings before a loop that cannot carry a filter is preempted anyway.
pub(crate) const MAX_BACKOFF: u32 = 6;
/// The slice after a preemption at a filter's instruction, as a doubling of the first.
const CARRIER_BACKOFF: u32 = 1;
/// Writable memory copied at most to find the words a loop changes (twice per look).
const SNAPSHOT_LIMIT: u64 = 256 << 20;
/// How long a thread runs its own code while others wait before it is looked at.
pub(crate) const TIMESLICE: Duration = Duration::from_millis(10);

/// A thread watched at a pass through `rip`, to be preempted there.
pub(crate) struct SchedWatch {
    pub rip: u64,
    /// `rip` can carry a replay filter: the thread is preempted at its second pass.
    carrier: bool,
    /// The bytes of the carrier's run (0: one instruction).
    run_len: u8,
    last_regs: u64,
    last_mem: Option<u64>,
    /// The registers and writable memory at the pass before (carrier watches).
    before: Option<(Regs, MemorySnapshot)>,
    hits: u32,
}

impl Recorder<'_> {
    /// The thread holds the token others wait for and was interrupted in its own code:
    /// watched at its next passes.
    pub(crate) fn start_sched_watch(&mut self) -> Result<(), RecordError> {
        let regs = self.t.tracee.regs()?;
        // A thread running calls in-process gives the token up at its next one.
        self.t.yield_wanted = true;
        if self.in_runtime_code(regs.rip) {
            return Ok(());
        }
        let carrier = self.filter_carrier(regs.rip)?;
        let rip = carrier.map_or(regs.rip, |c| c.at);
        if crate::session::debug_stops() {
            eprintln!(
                "ftrun: [record] {} watched for preemption at {rip:#x} (stopped at {:#x}, filter {})",
                self.t.tid,
                regs.rip,
                carrier.is_some()
            );
        }
        self.t.tracee.set_exec_breakpoint(rip)?;
        let last_regs = if rip == regs.rip {
            landmark_regs_hash(&self.t.tracee, &regs)?
        } else {
            0
        };
        self.t.sched_watch = Some(SchedWatch {
            rip,
            carrier: carrier.is_some(),
            run_len: carrier.filter(|c| c.run).map_or(0, |c| c.len),
            last_regs,
            last_mem: None,
            before: None,
            hits: 0,
        });
        Ok(())
    }

    /// Where, from `rip` on, the thread can be preempted at a pass replay finds with an
    /// in-process filter: only in a process with the runtime, in code nothing rewrites; in
    /// straight line from `rip`, or else through the loop's branches in its function.
    fn filter_carrier(&mut self, rip: u64) -> Result<Option<Carrier>, RecordError> {
        if !self.runs_in_process() {
            return Ok(None);
        }
        // Code with a counter read made to trap does not decode as it was compiled.
        if self
            .tsc
            .has_site_within(self.t.tgid, rip.saturating_sub(16), rip + 128)
        {
            return Ok(None);
        }
        let code = self.t.tracee.read_mem_partial(rip, 128)?;
        let tsc = &self.tsc;
        let tgid = self.t.tgid;
        let carrier = fastpath::carrier::carrier_from(&code, rip).or_else(|| {
            let (start, end) = fastpath::functions::function_around(&mut self.t.tracee, rip)?;
            if end - start > fastpath::carrier::FUNCTION_MOST
                || tsc.has_site_within(tgid, start, end)
            {
                return None;
            }
            let code = self.t.tracee.read_mem(start, (end - start) as usize).ok()?;
            fastpath::carrier::loop_carrier(&code, start, rip)
        });
        let pid = self.t.tracee.pid();
        Ok(carrier.filter(|c| fastpath::landmark::in_read_only_code(pid, c.at)))
    }

    /// Logs the preemption and parks the thread behind the others waiting for the token.
    fn preempt_here(&mut self, event: EventKind) -> Result<(), RecordError> {
        self.t.tracee.clear_breakpoints()?;
        self.push(event)?;
        let (tgid, tid) = (self.t.tgid, self.t.tid as i32);
        self.sched.preempt(tgid, tid);
        self.t.preempted = true;
        self.t.slice_backoff = 0;
        // When its turn comes again it just goes on from here.
        self.t.parked = Some(Stop::Event {
            event: PtraceEvent::Stop,
            signo: 0,
        });
        Ok(())
    }

    pub(crate) fn end_sched_watch(&mut self) -> Result<(), RecordError> {
        if self.t.sched_watch.take().is_some() {
            self.t.tracee.clear_breakpoints()?;
        }
        Ok(())
    }

    /// A pass of a watched thread through its breakpoint.
    pub(crate) fn on_sched_hit(&mut self, regs: &Regs) -> Result<(), RecordError> {
        let Some(mut watch) = self.t.sched_watch.take() else {
            return Ok(());
        };
        watch.hits += 1;
        let now = landmark_regs_hash(&self.t.tracee, regs)?;
        if crate::session::debug_stops() {
            eprintln!(
                "ftrun: [record] {} pass {} at {:#x}, registers {now:#x}",
                self.t.tid, watch.hits, regs.rip
            );
        }
        if !self.sched.others_ready(self.t.tgid) {
            self.t.tracee.clear_breakpoints()?;
            return Ok(());
        }
        if watch.carrier {
            match landmark::memory_snapshot(&mut self.t.tracee, SNAPSHOT_LIMIT)? {
                Some(snapshot) => match watch.before.take() {
                    Some(before) => {
                        return self.preempt_at_carrier(&watch, regs, now, snapshot, &before)
                    }
                    None => {
                        watch.before = Some((*regs, snapshot));
                        watch.last_regs = now;
                        self.t.sched_watch = Some(watch);
                        return Ok(());
                    }
                },
                // Too much memory to copy at every look: watched as any loop.
                None => watch.carrier = false,
            }
        }
        if now == watch.last_regs {
            let mem = landmark::memory_hash(&mut self.t.tracee)?;
            if watch.last_mem == Some(mem) {
                // The whole state recurred: it spins, waiting for another thread.
                return self.preempt_here(EventKind::Sched(Landmark {
                    rip: watch.rip,
                    regs_hash: now,
                    mem_hash: mem,
                }));
            }
            watch.last_mem = Some(mem);
        } else {
            watch.last_regs = now;
            watch.last_mem = None;
        }
        if watch.hits < WATCH_PASSES {
            self.t.sched_watch = Some(watch);
            return Ok(());
        }
        if self.t.slice_backoff < MAX_BACKOFF {
            // Making progress: it runs on, and is looked at again after a longer slice.
            self.t.tracee.clear_breakpoints()?;
            self.t.slice_backoff += 1;
            return Ok(());
        }
        // It has computed for long while others wait, and may wait for them itself:
        // preempted at this exact state rather than let the recording stall.
        self.warn_once(format!(
            "thread {} computed without syscalls at {:#x} while other threads waited; it was \
             preempted there, at a state replay finds from its memory (quick when the loop \
             counts in registers) or else by stopping at every pass through that point (no \
             instruction there can carry replay's in-process filter)",
            self.t.tid, watch.rip
        ));
        let holes = self.unlogged_writes()?;
        let found = FoundState {
            holes,
            ..FoundState::default()
        };
        self.preempt_at_state(watch.rip, regs, now, found)?;
        // Still computing when it runs again: switched at the next long slice.
        self.t.slice_backoff = MAX_BACKOFF;
        Ok(())
    }

    /// The second pass through a filter's instruction: preempted here, with the words the
    /// loop changed since the first (none, and the same registers: a pure spin).
    fn preempt_at_carrier(
        &mut self,
        watch: &SchedWatch,
        regs: &Regs,
        now: u64,
        snapshot: MemorySnapshot,
        (regs_before, before): &(Regs, MemorySnapshot),
    ) -> Result<(), RecordError> {
        let holes = self.unlogged_writes()?;
        let words = snapshot.changed_since(before, fastpath::landmark::MAX_WORDS, &holes);
        drop(snapshot);
        let changed_regs = fastpath::landmark::changed_regs(regs_before, regs);
        if words.is_empty() && now == watch.last_regs {
            let mem = landmark::memory_hash(&mut self.t.tracee)?;
            return self.preempt_here(EventKind::Sched(Landmark {
                rip: watch.rip,
                regs_hash: now,
                mem_hash: mem,
            }));
        }
        let found = FoundState {
            words,
            changed_regs,
            run_len: watch.run_len,
            holes,
        };
        self.preempt_at_state(watch.rip, regs, now, found)?;
        self.t.slice_backoff = CARRIER_BACKOFF;
        Ok(())
    }

    fn preempt_at_state(
        &mut self,
        rip: u64,
        regs: &Regs,
        regs_hash: u64,
        found: FoundState,
    ) -> Result<(), RecordError> {
        let mem_hash = landmark::memory_hash_without(&mut self.t.tracee, &found.holes)?;
        let switch = ForcedSwitch {
            landmark: Landmark {
                rip,
                regs_hash,
                mem_hash,
            },
            regs: tracee::regs_words(regs).to_vec(),
            fpregs: self.t.tracee.fpregs_bytes()?.to_vec(),
            words: found.words,
            changed_regs: found.changed_regs,
            run_len: found.run_len,
            unlogged_writes: found.holes,
        };
        self.preempt_here(EventKind::SchedAtState(switch))
    }

    /// The memory that calls of this process's other threads wrote, which the log gives
    /// only at their exits, after the switch: calls that finished while this thread
    /// computed (their thread stands in its exit stop, parked or not yet reported; one
    /// still blocked in the kernel has written nothing yet).
    fn unlogged_writes(&mut self) -> Result<Vec<(u64, u64)>, RecordError> {
        let mut holes = Vec::new();
        for t in self.tasks.of_process(self.t.tgid) {
            let Some(p) = t.pending.as_ref().filter(|p| p.instead.is_none()) else {
                continue;
            };
            let ret = match t.parked {
                Some(Stop::SyscallExit { ret }) => ret,
                Some(_) => continue,
                None => match t.tracee.regs() {
                    Ok(r) => r.rax as i64,
                    // Running in the kernel still.
                    Err(_) => continue,
                },
            };
            let writes =
                crate::effects::capture_writes(&mut t.tracee, p.rule, &p.args, ret, &p.snap)?;
            holes.extend(writes.iter().map(|w| (w.addr, w.data.len() as u64)));
        }
        Ok(holes)
    }
}

/// What a forced switch logs beside the state itself (see `ForcedSwitch`).
#[derive(Default)]
struct FoundState {
    words: Vec<(u64, u64)>,
    changed_regs: u32,
    run_len: u8,
    holes: Vec<(u64, u64)>,
}

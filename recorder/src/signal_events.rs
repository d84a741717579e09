//! Signals while recording, and the breakpoint watches that find a spin: where an
//! asynchronous signal is delivered, and where a spinning thread is preempted.

use std::time::{Duration, Instant};

use schema::{EventKind, Landmark, RdtscEvent, SignalEvent, SignalPlacement};
use tracee::landmark::{self, landmark_regs_hash};
use tracee::{is_synchronous, rdtsc, regs_hash, siginfo_code, Regs};

use crate::preempt::TIMESLICE;
use crate::session::{HeldSignal, Recorder, SpinWatch};
use crate::RecordError;

/// Whether delivering `signo` to `pid` now would change nothing: the program ignores it,
/// or leaves it at a default action that ignores it (from `/proc/PID/status`).
fn delivery_does_nothing(pid: i32, signo: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let mask = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            .map(|m| m & (1u64 << (signo - 1)) != 0)
    };
    let ignored_by_default =
        [libc::SIGCHLD, libc::SIGURG, libc::SIGWINCH, libc::SIGCONT].contains(&signo);
    match (mask("SigIgn:"), mask("SigCgt:")) {
        (Some(ignored), Some(caught)) => !caught && (ignored || ignored_by_default),
        _ => false,
    }
}

/// After this many breakpoint hits without the state recurring, a loop is not a pure spin.
const SPIN_HIT_LIMIT: u32 = 8;
const SI_KERNEL: i32 = 0x80;
/// How long a held signal waits for the next syscall of a loop that makes progress before
/// the loop is watched again and the signal delivered in it.
const HELD_PATIENCE: Duration = Duration::from_secs(1);

impl Recorder<'_> {
    /// Completes a trapped `rdtsc`/`rdtscp` at `regs.rip` with the real counter, and logs it.
    pub(crate) fn complete_rdtsc(
        &mut self,
        regs: &mut Regs,
        insn: rdtsc::TscInsn,
    ) -> Result<(), RecordError> {
        let (value, aux) = crate::rdtsc::read_counter(insn);
        let rip = regs.rip;
        rdtsc::apply(regs, insn, value, aux);
        self.t.tracee.set_regs(regs)?;
        self.push(EventKind::Rdtsc(RdtscEvent {
            value,
            aux,
            is_rdtscp: insn == rdtsc::TscInsn::Rdtscp,
            rip,
        }))
    }

    pub(crate) fn on_signal(&mut self, signo: i32) -> Result<(), RecordError> {
        let info = self.t.tracee.siginfo()?;
        if let Some(held) = self.t.injecting.take() {
            if held.signo == signo {
                self.t.tracee.set_siginfo(&held.info)?;
                self.t.deliver = signo;
                return Ok(());
            }
            self.t.injecting = Some(held);
        }
        let mut info = info;
        if let Some(again) = self.t.reinterrupt.take() {
            if again.signo == signo {
                // Sent again by the tracer: the program gets the siginfo it was sent.
                self.t.tracee.set_siginfo(&again.info)?;
                info = again.info;
            } else {
                self.t.reinterrupt = Some(again);
            }
        }
        let mut regs = self.t.tracee.regs()?;
        if !is_synchronous(signo, &info) && self.interrupt_blocked_call(signo, &info, &regs)? {
            return Ok(());
        }
        let at_exit = self.t.exit_regs.take() == Some(regs_hash(&regs));
        if signo == libc::SIGSEGV && siginfo_code(&info) == SI_KERNEL {
            if let Some(insn) = rdtsc::decode(&mut self.t.tracee, regs.rip)? {
                return self.complete_rdtsc(&mut regs, insn);
            }
        }
        if signo == libc::SIGTRAP
            && siginfo_code(&info) == SI_KERNEL
            && self.tsc_trap_hit(&mut regs)?
        {
            return Ok(());
        }
        if signo == libc::SIGTRAP && self.our_breakpoint_hit(&info, &regs) {
            if self.t.spin.is_some() {
                return self.on_spin_hit(&regs);
            }
            if self.t.sched_watch.is_some() {
                return self.on_sched_hit(&regs);
            }
        }
        if !is_synchronous(signo, &info)
            && !at_exit
            && delivery_does_nothing(self.t.tracee.pid(), signo)
        {
            // Ignored (by the program or by default): delivering it changes nothing, so it
            // is delivered here and now, and replay, which never sees it, is the same.
            self.t.deliver = signo;
            return Ok(());
        }
        let placement = if is_synchronous(signo, &info) {
            SignalPlacement::Synchronous
        } else if at_exit {
            SignalPlacement::AtSyscallExit
        } else {
            // Arrived while the tracee computed: hold it for a point replay can find. A
            // standard signal already held is not queued twice, as in the kernel.
            if signo >= libc::SIGRTMIN() || !self.t.held.iter().any(|h| h.signo == signo) {
                self.t.held.push_back(HeldSignal { signo, info });
            }
            if self.t.held_for_syscall_since.is_none() {
                self.watch_for_landmark(&regs)?;
            }
            return Ok(());
        };
        self.t.deliver = signo;
        self.push(EventKind::Signal(SignalEvent {
            signo: signo as u32,
            siginfo: info.to_vec(),
            placement,
        }))
    }

    /// Whether a `SIGTRAP` is the hit of the exec breakpoint a spin or preemption watch set
    /// (see `tracee::exec_breakpoint_hit`).
    fn our_breakpoint_hit(&mut self, info: &[u8; 128], regs: &Regs) -> bool {
        let watched = match (&self.t.spin, &self.t.sched_watch) {
            (Some(spin), _) => spin.rip,
            (None, Some(watch)) => watch.rip,
            (None, None) => return false,
        };
        tracee::exec_breakpoint_hit(&mut self.t.tracee, info, regs.rip, Some(watched))
    }

    /// Watches the loop the thread computes in for a point to deliver a held signal at.
    /// Inside the runtime no landmark is placed (replay runs other code there): the signal
    /// waits for the thread's next call, which the runtime sends to the tracer.
    fn watch_for_landmark(&mut self, regs: &Regs) -> Result<(), RecordError> {
        if self.t.spin.is_some() || self.in_runtime_code(regs.rip) {
            return Ok(());
        }
        self.t.tracee.set_exec_breakpoint(regs.rip)?;
        self.t.spin = Some(SpinWatch {
            rip: regs.rip,
            last_regs: landmark_regs_hash(&self.t.tracee, regs)?,
            last_mem: None,
            hits: 0,
        });
        Ok(())
    }

    /// The held signals are out: the next one starts afresh.
    pub(crate) fn held_signal_delivered(&mut self) {
        if self.t.held.is_empty() {
            self.t.held_for_syscall_since = None;
            self.t.last_watch = false;
        }
    }

    /// The threads holding a signal for their next syscall, and since when.
    pub(crate) fn holding_for_syscall(&self) -> Vec<(i32, Instant)> {
        let mut all = self.tasks.holding_for_syscall();
        if let Some(since) = self.t.held_for_syscall_since {
            if !self.t.ended {
                all.push((self.t.tid as i32, since));
            }
        }
        all
    }

    pub(crate) fn stop_spin_watch(&mut self) -> Result<(), RecordError> {
        if self.t.spin.take().is_some() {
            self.t.tracee.clear_breakpoints()?;
        }
        Ok(())
    }

    fn on_spin_hit(&mut self, regs: &Regs) -> Result<(), RecordError> {
        let Some(mut spin) = self.t.spin.take() else {
            return Ok(());
        };
        spin.hits += 1;
        let now = landmark_regs_hash(&self.t.tracee, regs)?;
        if now == spin.last_regs {
            let mem = landmark::memory_hash(&mut self.t.tracee)?;
            if spin.last_mem == Some(mem) {
                // The whole state recurred: the thread can never leave this loop by itself,
                // and replay finds this state on the loop's first turns.
                return self.deliver_at_landmark(spin.rip, now, mem);
            }
            spin.last_mem = Some(mem);
        } else {
            spin.last_regs = now;
            spin.last_mem = None;
        }
        if spin.hits >= SPIN_HIT_LIMIT && !self.t.last_watch {
            // A loop that makes progress: the signal waits for the thread's next syscall,
            // where replay finds it at once. Should none come for a while, the loop is
            // watched again (`on_tick`) and the signal delivered in it.
            self.t.tracee.clear_breakpoints()?;
            self.t.held_for_syscall_since = Some(Instant::now());
            return Ok(());
        }
        if spin.hits >= SPIN_HIT_LIMIT {
            // A loop that keeps changing its state and may never make a syscall: delivering
            // here is still exact (replay stops at the first pass through this state), but
            // finding it may take replay one stop per pass through the loop.
            self.warn_once(format!(
                "a signal arrived while the program computed in a loop at {:#x}; without a \
                 hardware tick counter, replay finds that spot by stopping at every pass \
                 through the loop, which can be slow",
                spin.rip
            ));
            let mem = landmark::memory_hash(&mut self.t.tracee)?;
            return self.deliver_at_landmark(spin.rip, now, mem);
        }
        self.t.spin = Some(spin);
        Ok(())
    }

    /// Delivers the first held signal here, logging the state that identifies the point.
    fn deliver_at_landmark(
        &mut self,
        rip: u64,
        regs_hash: u64,
        mem_hash: u64,
    ) -> Result<(), RecordError> {
        self.t.tracee.clear_breakpoints()?;
        let Some(held) = self.t.held.pop_front() else {
            return Ok(());
        };
        self.held_signal_delivered();
        self.t.tracee.set_siginfo(&held.info)?;
        self.t.deliver = held.signo;
        self.push(EventKind::Signal(SignalEvent {
            signo: held.signo as u32,
            siginfo: held.info.to_vec(),
            placement: SignalPlacement::AtLandmark(Landmark {
                rip,
                regs_hash,
                mem_hash,
            }),
        }))
    }

    /// The clock ticked: a thread that has run its own code for its timeslice while others
    /// of its process wait is interrupted, to see whether it spins.
    pub(crate) fn on_tick(&mut self) -> Result<(), RecordError> {
        if self.stream_due() {
            self.stream_rings()?;
        }
        self.serve_gates()?;
        let now = Instant::now();
        for tid in self.sched.contended_holders() {
            let Some(t) = self.task_mut(tid) else {
                continue;
            };
            let Some(since) = t.running_since else {
                continue;
            };
            if t.interrupting || now.duration_since(since) < TIMESLICE * (1 << t.slice_backoff) {
                continue;
            }
            t.interrupting = true;
            // It may have stopped meanwhile: the interrupt then comes later and is ignored.
            let r = t.tracee.interrupt();
            if crate::session::debug_stops() {
                eprintln!("ftrun: [record] {tid} interrupted for its slice: {r:?}");
            }
        }
        for (tid, since) in self.holding_for_syscall() {
            let Some(t) = self.task_mut(tid) else {
                continue;
            };
            if t.interrupting
                || t.running_since.is_none()
                || now.duration_since(since) < HELD_PATIENCE
            {
                continue;
            }
            t.interrupting = true;
            t.rewatch = true;
            let _ = t.tracee.interrupt();
        }
        Ok(())
    }

    /// A `PTRACE_INTERRUPT` stop (or a new thread's first stop, or a group stop).
    pub(crate) fn on_interrupted(&mut self) -> Result<(), RecordError> {
        if !std::mem::take(&mut self.t.interrupting) {
            return Ok(());
        }
        if std::mem::take(&mut self.t.rewatch) && self.t.held_for_syscall_since.is_some() {
            // No syscall came: the loop is watched again, and this time the signal is
            // delivered in it.
            let regs = self.t.tracee.regs()?;
            if self.in_runtime_code(regs.rip) {
                self.t.held_for_syscall_since = Some(Instant::now());
            } else {
                self.t.held_for_syscall_since = None;
                self.t.last_watch = true;
                self.watch_for_landmark(&regs)?;
            }
            return Ok(());
        }
        let (tgid, tid) = (self.t.tgid, self.t.tid as i32);
        if self.sched.others_ready(tgid) {
            let regs = self.t.tracee.regs()?;
            if self.move_blocked_call_to_stub(&regs)? {
                return Ok(());
            }
        }
        // A watch that saw too few passes in a whole slice watches a point the thread left
        // (the loop it computes in now does not pass there): it starts again from here.
        self.end_sched_watch()?;
        if self.t.spin.is_some() || !self.sched.holds(tgid, tid) || !self.sched.others_ready(tgid) {
            return Ok(());
        }
        self.start_sched_watch()
    }
}

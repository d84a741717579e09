//! Signals at replay: found at the same point they were delivered when recording.

use schema::{EventKind, ForcedSwitch, Landmark, SignalEvent, SignalPlacement};
use tracee::landmark::{landmark_regs_hash, memory_hash, memory_hash_without};
use tracee::{is_synchronous, rdtsc, siginfo_code, Regs, Tracee};

use crate::session::{describe, Pending, Replayer};
use crate::ReplayError;

const SI_KERNEL: i32 = 0x80;

/// The landmark of a signal that was delivered in a spin loop, if that is its placement.
pub fn landmark_of(ev: &SignalEvent) -> Option<&Landmark> {
    match &ev.placement {
        SignalPlacement::AtLandmark(lm) => Some(lm),
        _ => None,
    }
}

/// True when the tracee, stopped at the landmark's breakpoint, is in the recorded state
/// (`holes`: memory left out of its hash, see `ForcedSwitch::unlogged_writes`).
pub fn at_landmark(
    tracee: &mut Tracee,
    regs: &Regs,
    lm: &Landmark,
    holes: &[(u64, u64)],
) -> Result<bool, ReplayError> {
    if regs.rip != lm.rip || landmark_regs_hash(tracee, regs)? != lm.regs_hash {
        return Ok(false);
    }
    let mem = memory_hash_without(tracee, holes)?;
    Ok(mem == lm.mem_hash)
}

/// What a search for a forced switch's state looks for, for its progress and divergence.
pub fn preempted_state(tid: u32, lm: &Landmark) -> String {
    format!(
        "the state in which thread {tid} was preempted at {:#x} (registers {:#x}, memory {:#x})",
        lm.rip, lm.regs_hash, lm.mem_hash
    )
}

/// The raw siginfo of a recorded signal, checked for size.
pub fn raw_siginfo(ev: &SignalEvent) -> Result<tracee::RawSiginfo, ReplayError> {
    ev.siginfo.as_slice().try_into().map_err(|_| {
        ReplayError::Setup(format!(
            "signal {} in the trace has a malformed siginfo",
            ev.signo
        ))
    })
}

impl Replayer<'_> {
    /// Puts a breakpoint on the landmark of the next event if it is a signal or a preemption
    /// in a spin.
    pub(crate) fn arm_landmark(&mut self) -> Result<(), ReplayError> {
        if self.t.landmark_armed {
            return Ok(());
        }
        let rip = self.landmark_rip()?;
        let switch = match self.peek()?.map(|e| &e.kind) {
            Some(EventKind::SchedAtState(f)) => Some(f.clone()),
            _ => None,
        };
        self.t.landmark_mem = None;
        self.t.landmark_search.finish();
        if let Some(switch) = switch {
            if self.arm_filter(&switch)? {
                self.t.landmark_armed = true;
                return Ok(());
            }
        }
        if let Some(rip) = rip {
            self.t.tracee.set_exec_breakpoint(rip)?;
            self.t.landmark_armed = true;
        }
        Ok(())
    }

    /// Whether a `SIGTRAP` is the hit of the landmark's exec breakpoint (see
    /// `tracee::exec_breakpoint_hit`).
    fn landmark_trap(&mut self, info: &[u8; 128], regs: &Regs) -> Result<bool, ReplayError> {
        let watched = self.landmark_rip()?;
        Ok(tracee::exec_breakpoint_hit(
            &mut self.t.tracee,
            info,
            regs.rip,
            watched,
        ))
    }

    /// Where the next event's landmark is, if it is a signal or a preemption placed at one.
    fn landmark_rip(&mut self) -> Result<Option<u64>, ReplayError> {
        Ok(match self.peek()?.map(|e| &e.kind) {
            Some(EventKind::Signal(s)) => landmark_of(s).map(|lm| lm.rip),
            Some(EventKind::Sched(lm)) => Some(lm.rip),
            Some(EventKind::SchedAtState(f)) => Some(f.landmark.rip),
            _ => None,
        })
    }

    /// If the next event is a signal delivered at this syscall's exit, send it now.
    pub(crate) fn send_signal_at_exit(&mut self, only_blocking: bool) -> Result<(), ReplayError> {
        if self.t.injecting.is_some() {
            return Ok(());
        }
        // At an exit the signal may come after other threads' events (they ran before the
        // recorder met its delivery): it is sent now, and the thread stays stopped until
        // the signal is the head of the log.
        // A blocking call's signal too may come after other threads' events: the sender's
        // kill is often logged after the sigsuspend it ends (the recorder met the call's
        // exit first).
        let blocking = matches!(&self.t.pending, Some(Pending::Run(s)) if s.number == libc::SYS_rt_sigsuspend as u64);
        if only_blocking && !blocking {
            return Ok(());
        }
        let next = match self.peek_own()?.map(|e| &e.kind) {
            Some(EventKind::Signal(s)) if s.placement == SignalPlacement::AtSyscallExit => {
                s.clone()
            }
            _ => return Ok(()),
        };
        self.t.tracee.send_signal(next.signo as i32)?;
        self.t.injecting = Some(next);
        Ok(())
    }

    pub(crate) fn on_signal(&mut self, signo: i32) -> Result<(), ReplayError> {
        let info = self.t.tracee.siginfo()?;
        if let Some(sig) = self.t.injecting.take() {
            if sig.signo as i32 == signo {
                if sig.placement == SignalPlacement::AtSyscallExit {
                    self.take()?;
                }
                self.t.tracee.set_siginfo(&raw_siginfo(&sig)?)?;
                self.t.deliver = signo;
                return Ok(());
            }
            self.t.injecting = Some(sig);
        }
        let mut regs = self.t.tracee.regs()?;
        if signo == libc::SIGSEGV && siginfo_code(&info) == SI_KERNEL {
            if let Some(insn) = rdtsc::decode(&mut self.t.tracee, regs.rip)? {
                return self.replay_rdtsc(&mut regs, insn);
            }
        }
        if signo == libc::SIGTRAP && self.trapped_at_filter(regs.rip) {
            return self.on_filter_trap(&regs);
        }
        if signo == libc::SIGTRAP && self.t.landmark_armed && self.landmark_trap(&info, &regs)? {
            return self.on_landmark_hit(&regs);
        }
        if is_synchronous(signo, &info) {
            let ev = self.take()?;
            return match ev.kind {
                EventKind::Signal(s)
                    if s.signo as i32 == signo && s.placement == SignalPlacement::Synchronous =>
                {
                    self.t.deliver = signo;
                    Ok(())
                }
                other => Err(ReplayError::Divergence {
                    seq: ev.seq,
                    tid: ev.tid,
                    expected: describe(&other),
                    got: format!(
                        "signal {signo} ({}, si_code {}) raised by the CPU at rip {:#x}",
                        signal_name(signo as u32),
                        siginfo_code(&info),
                        regs.rip
                    ),
                }),
            };
        }
        // A signal from outside the replay (a terminal, a stray timer): not part of the run.
        Ok(())
    }

    fn replay_rdtsc(&mut self, regs: &mut Regs, insn: rdtsc::TscInsn) -> Result<(), ReplayError> {
        let ev = self.take()?;
        match ev.kind {
            EventKind::Rdtsc(r) if r.rip == regs.rip => {
                rdtsc::apply(regs, insn, r.value, r.aux);
                self.t.tracee.set_regs(regs)?;
                Ok(())
            }
            other => Err(ReplayError::Divergence {
                seq: ev.seq,
                tid: ev.tid,
                expected: describe(&other),
                got: format!("rdtsc at rip {:#x}", regs.rip),
            }),
        }
    }

    fn on_landmark_hit(&mut self, regs: &Regs) -> Result<(), ReplayError> {
        let sig = match self.peek()?.map(|e| &e.kind) {
            Some(EventKind::Signal(s)) if landmark_of(s).is_some() => s.clone(),
            Some(EventKind::Sched(lm)) => {
                let lm = lm.clone();
                return self.on_sched_landmark_hit(regs, &lm);
            }
            Some(EventKind::SchedAtState(switch)) => {
                let switch = switch.clone();
                return self.on_forced_switch_hit(regs, &switch);
            }
            _ => return Ok(()),
        };
        let lm = landmark_of(&sig).expect("checked");
        if at_landmark(&mut self.t.tracee, regs, lm, &[])? {
            self.t.landmark_search.finish();
            self.t.tracee.clear_breakpoints()?;
            self.t.landmark_armed = false;
            self.take()?;
            self.t.tracee.set_siginfo(&raw_siginfo(&sig)?)?;
            self.t.deliver = sig.signo as i32;
            return Ok(());
        }
        let what = format!(
            "the state in which thread {} got signal {} at {:#x} (registers {:#x}, memory {:#x})",
            self.t.tid, sig.signo, lm.rip, lm.regs_hash, lm.mem_hash
        );
        self.landmark_missed(regs, lm.rip, what)
    }

    /// A pass through a landmark without its recorded state: counted and shown; the end of
    /// the replay, with a divergence, when the state cannot come (see `landmark_search`).
    pub(crate) fn landmark_missed(
        &mut self,
        regs: &Regs,
        rip: u64,
        what: String,
    ) -> Result<(), ReplayError> {
        let replayed = self.replayed;
        if let Some(gave_up) = self
            .t
            .landmark_search
            .missed(&mut self.t.tracee, regs, replayed)?
        {
            self.t.landmark_search.finish();
            return Err(self.divergence(format!("{what} to come"), gave_up.describe(rip)));
        }
        self.t
            .landmark_search
            .show_progress(&what, self.replayed, &self.opts.trace_dir);
        Ok(())
    }

    /// A pass of a thread through the landmark of a forced switch. The recorded state is
    /// found exactly (registers and memory), or, on the first passes, wherever the memory
    /// is already the recorded memory: the recorded registers are then put in place, which
    /// makes the whole state the recorded one (a loop counting in registers is jumped to the
    /// pass where it was preempted instead of being run to it pass by pass).
    fn on_forced_switch_hit(
        &mut self,
        regs: &Regs,
        switch: &ForcedSwitch,
    ) -> Result<(), ReplayError> {
        let lm = &switch.landmark;
        let pass = self.t.landmark_search.passes + 1;
        let holes = &switch.unlogged_writes;
        let found = if at_landmark(&mut self.t.tracee, regs, lm, holes)? {
            true
        } else if pass <= 2 && memory_hash_without(&mut self.t.tracee, holes)? == lm.mem_hash {
            let recorded = tracee::regs_from_words(&switch.regs);
            let fpregs: Option<&[u8; 512]> = switch.fpregs.as_slice().try_into().ok();
            match (recorded, fpregs) {
                (Some(r), Some(fp)) => {
                    self.t.tracee.set_regs(&r)?;
                    self.t.tracee.set_fpregs_bytes(fp)?;
                    true
                }
                _ => false,
            }
        } else {
            false
        };
        if found {
            self.t.landmark_search.finish();
            self.t.tracee.clear_breakpoints()?;
            self.t.landmark_armed = false;
            self.take()?;
            return Ok(());
        }
        let what = preempted_state(self.t.tid, lm);
        self.landmark_missed(regs, lm.rip, what)
    }

    /// A pass of a thread through the landmark of its preemption: it is preempted at the
    /// first pass with the recorded registers whose whole state the pass before also had
    /// (a pure spin, as recording saw it).
    fn on_sched_landmark_hit(&mut self, regs: &Regs, lm: &Landmark) -> Result<(), ReplayError> {
        let hash = landmark_regs_hash(&self.t.tracee, regs)?;
        if regs.rip != lm.rip || hash != lm.regs_hash {
            self.t.landmark_mem = None;
        } else {
            let mem = memory_hash(&mut self.t.tracee)?;
            if self.t.landmark_mem.replace(mem) == Some(mem) {
                self.t.landmark_search.finish();
                self.t.tracee.clear_breakpoints()?;
                self.t.landmark_armed = false;
                self.t.landmark_mem = None;
                self.take()?;
                return Ok(());
            }
        }
        let what = format!(
            "the spin in which thread {} was preempted at {:#x} (registers {:#x})",
            self.t.tid, lm.rip, lm.regs_hash
        );
        self.landmark_missed(regs, lm.rip, what)
    }
}

/// Where a wait that sets its own signal mask for its duration finds that mask: the
/// register holding a pointer to it, or (pselect6) to a `{ mask, size }` pair.
fn own_mask_of(nr: u64, args: &[u64; 6]) -> Option<(u64, bool)> {
    match nr as libc::c_long {
        libc::SYS_pselect6 => Some((args[5], true)),
        libc::SYS_ppoll => Some((args[3], false)),
        libc::SYS_epoll_pwait | libc::SYS_epoll_pwait2 => Some((args[4], false)),
        _ => None,
    }
}

impl Replayer<'_> {
    /// An emulated wait with a signal mask of its own (pselect6, ppoll, epoll_pwait) that a
    /// signal ended when recorded: that signal is often blocked outside the call (make
    /// blocks SIGCHLD but in pselect6), so sent at the skipped call's exit it would stay
    /// pending. The kernel runs `rt_sigsuspend` with the call's mask in its place instead,
    /// with the signal sent now: it is delivered under that mask, and the handler's frame
    /// keeps the mask from before the call, as natively. Other calls are skipped.
    pub(crate) fn skip_or_suspend_for_signal(
        &mut self,
        s: &schema::SyscallEvent,
        regs: &mut Regs,
    ) -> Result<(), ReplayError> {
        if !self.suspend_for_signal(s, regs)? {
            self.skip_syscall(regs)?;
        }
        Ok(())
    }

    fn suspend_for_signal(
        &mut self,
        s: &schema::SyscallEvent,
        regs: &mut Regs,
    ) -> Result<bool, ReplayError> {
        let Some((at, in_pair)) = own_mask_of(s.number, &s.args) else {
            return Ok(false);
        };
        let interrupted = syscalls::is_restart_code(s.result) || s.result == -libc::EINTR as i64;
        if at == 0 || !interrupted || self.t.injecting.is_some() {
            return Ok(false);
        }
        let Some(signal) = self.own_signal_at_exit_after_patches()? else {
            return Ok(false);
        };
        let mask = if in_pair {
            let pair = self.t.tracee.read_mem(at, 8)?;
            u64::from_le_bytes(pair[..8].try_into().unwrap_or_default())
        } else {
            at
        };
        if mask == 0 {
            return Ok(false);
        }
        regs.orig_rax = libc::SYS_rt_sigsuspend as u64;
        regs.rdi = mask;
        regs.rsi = 8;
        self.t.tracee.set_regs(regs)?;
        self.t.tracee.send_signal(signal.signo as i32)?;
        self.t.injecting = Some(signal);
        Ok(true)
    }

    /// The signal the current thread's next event delivers at a syscall exit, past the
    /// sites rewritten at that exit (logged before it) and other threads' events.
    fn own_signal_at_exit_after_patches(&mut self) -> Result<Option<SignalEvent>, ReplayError> {
        const LOOKAHEAD: usize = 4096;
        let me = self.t.tid;
        for i in 0..LOOKAHEAD {
            if i == self.ahead.len() {
                match self.events.next_event()? {
                    Some(ev) => self.ahead.push_back(ev),
                    None => return Ok(None),
                }
            }
            let ev = &self.ahead[i];
            if ev.tid != me || matches!(ev.kind, EventKind::SitePatched(_)) {
                continue;
            }
            return Ok(match &ev.kind {
                EventKind::Signal(sig) if sig.placement == SignalPlacement::AtSyscallExit => {
                    Some(sig.clone())
                }
                _ => None,
            });
        }
        Ok(None)
    }
}

/// A signal event in a divergence message: its number and name, and where it lands.
pub(crate) fn describe_signal(s: &SignalEvent) -> String {
    let where_ = match &s.placement {
        SignalPlacement::Synchronous => "raised by the CPU".to_string(),
        SignalPlacement::AtSyscallExit => "at the exit of the syscall before it".to_string(),
        SignalPlacement::BeforeSyscall => "before the thread's next syscall".to_string(),
        SignalPlacement::AtLandmark(lm) => format!(
            "in a loop at rip {:#x} with registers {:#x} and memory {:#x}",
            lm.rip, lm.regs_hash, lm.mem_hash
        ),
    };
    format!("signal {} ({}) {where_}", s.signo, signal_name(s.signo))
}

/// The end of a process in a divergence message.
pub(crate) fn describe_exit(x: &schema::ExitStatus) -> String {
    match x {
        schema::ExitStatus::Exited(code) => format!("the program to exit with status {code}"),
        schema::ExitStatus::Killed { signo, .. } => format!(
            "the program to be killed by signal {signo} ({})",
            signal_name(*signo as u32)
        ),
    }
}

fn signal_name(signo: u32) -> String {
    const NAMES: [&str; 31] = [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match signo {
        1..=31 => NAMES[signo as usize - 1].to_string(),
        _ => format!("SIGRTMIN+{}", signo.saturating_sub(32)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(signo: u32, placement: SignalPlacement) -> SignalEvent {
        SignalEvent {
            signo,
            siginfo: vec![0; 128],
            placement,
        }
    }

    #[test]
    fn divergence_messages_name_signals_and_places_in_words() {
        let at_exit = describe_signal(&signal(17, SignalPlacement::AtSyscallExit));
        assert_eq!(
            at_exit,
            "signal 17 (SIGCHLD) at the exit of the syscall before it"
        );
        let lm = Landmark {
            rip: 0x5555_5555_5235,
            regs_hash: 0x10,
            mem_hash: 0x20,
        };
        let in_loop = describe_signal(&signal(14, SignalPlacement::AtLandmark(lm)));
        assert_eq!(
            in_loop,
            "signal 14 (SIGALRM) in a loop at rip 0x555555555235 with registers 0x10 and memory 0x20"
        );
        assert_eq!(
            describe_signal(&signal(34, SignalPlacement::BeforeSyscall)),
            "signal 34 (SIGRTMIN+2) before the thread's next syscall"
        );
        let killed = schema::ExitStatus::Killed {
            signo: 9,
            core_dumped: false,
        };
        assert_eq!(
            describe_exit(&killed),
            "the program to be killed by signal 9 (SIGKILL)"
        );
        assert_eq!(
            describe_exit(&schema::ExitStatus::Exited(3)),
            "the program to exit with status 3"
        );
    }
}

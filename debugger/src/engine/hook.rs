//! The replayer's debug hook: how the current thread is resumed (what is armed, whether it
//! steps) and which of its stops are the debugger's own.

use replayer::{DebugHook, HookResume, ReplayError, Replayer, StopVerdict};
use tracee::{PtraceEvent, Stop};

use super::{debug_on, Engine, Goal, Reason, Report, Slot, StopInfo, DR6_BS};
use crate::catch::{self, CaughtCall};
use crate::machine;
use crate::moment::Trigger;

impl DebugHook for Engine {
    fn before_resume(&mut self, r: &mut Replayer<'_>) -> Result<HookResume, ReplayError> {
        if self.anchor_pending {
            self.anchor_pending = false;
            self.at_anchor(r)?;
        }
        let live = !matches!(self.goal, Goal::Detached | Goal::Quit);
        // A program that exits by itself runs its last instructions first (exit handlers,
        // destructors): its end is the entry of its `exit_group` (seen at that stop, or
        // here when the thread made it before the other threads' ends were replayed). One
        // killed by a signal ends right before the resume that delivers it.
        if self.started && live && r.only_final_exit_left()? {
            let exits_itself = matches!(
                r.next_event()?.map(|e| &e.kind),
                Some(schema::EventKind::Exit(schema::ExitStatus::Exited(_)))
            );
            let tid = r.current_thread().tid;
            // (A call whose event was the last before the exit is still to return.)
            let exiting = self.in_syscall.get(&tid) == Some(&true)
                && self.syscall_nr.get(&tid).is_some_and(|&nr| {
                    nr == libc::SYS_exit_group as u64 || nr == libc::SYS_exit as u64
                });
            if !exits_itself || exiting {
                self.end_reached(r)?;
            }
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
        let rip = rip_of(r, tid);
        self.prepare_fast_step(tid, rip);
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
            if self.t.is_catch_point(rip) {
                // The call gdb stopped at here was caught already.
                skip = Some(rip);
            }
        } else if !in_sys
            && extra.is_none()
            && ((self.arrived.get(&tid) == Some(&rip)
                && (exec.contains(&rip) || hw.contains(&rip)))
                || (self.just_returned.contains(&tid) && self.t.is_catch_point(rip)))
        {
            // Its arrival here was counted, or it stands at a stub's return after a call
            // caught at its exit stop (the rewrite of a site moves a thread that just left
            // its `syscall` there): it goes on past this instruction first.
            skip = Some(rip);
            if !machine::at_syscall_insn(pid, rip) {
                mode = HookResume::Step;
            }
        }
        self.last_mode = mode;
        self.step_from = (mode == HookResume::Step)
            .then(|| r.tracee_of(tid).and_then(|t| t.regs().ok()))
            .flatten();
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
                self.t.stubs.clear();
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
        if self.pages_fault(r, stop)? {
            return Ok(StopVerdict::Swallow);
        }
        if let Stop::SyscallEntry { nr } = stop {
            self.pages_at_entry(r, *nr)?;
        }
        match stop {
            Stop::SyscallEntry { nr } => {
                self.in_syscall.insert(tid, true);
                self.syscall_nr.insert(tid, *nr);
            }
            Stop::Event { .. } => {}
            _ => {
                self.in_syscall.insert(tid, false);
            }
        }
        // A call from a stub returns by its arrival at the stub's return (the thread goes
        // on there); any other is caught at its exit stop (and may be moved into a stub
        // there, by the rewrite of its site).
        if matches!(stop, Stop::SyscallExit { .. })
            && self.t.stub_of_return(rip_of(r, tid)).is_none()
        {
            self.just_returned.insert(tid);
        } else {
            self.just_returned.remove(&tid);
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
                    if let Some(entry) = catch::stub_entry(p.stub, &p.stub_bytes) {
                        self.t.stubs.insert(entry, p.site);
                    }
                }
            }
        }
        let live = self.started && !matches!(self.goal, Goal::Detached | Goal::Quit);
        let mut triggers: Vec<(Trigger, u32)> = Vec::new();
        let mut mine = false;
        let mut landmark = false;
        let mut info = StopInfo::default();
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
                    let dr6 = match regs.as_ref() {
                        Some(g) => self.dr6_of_trap(r, tid, dr6, code, g)?,
                        None => dr6,
                    };
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
                                let entered = self.stub_nr.get(&tid).copied();
                                info.call = self.t.stub_call(a, g.rax, entered);
                                if let Some(c) = info.call.filter(|c| c.entry) {
                                    self.stub_nr.insert(tid, (a, c.nr));
                                }
                            }
                        }
                        // A trap DR6 left without a cause got one from `dr6_of_trap`.
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
                // A call made from a stub is caught at the stub's entry and return.
                Stop::SyscallEntry { nr } if self.t.stub_of_return(rip_of(r, tid)).is_none() => {
                    triggers.push((Trigger::ReplayStop, tid));
                    info.call = Some(CaughtCall { nr, entry: true });
                }
                Stop::SyscallExit { .. } if self.t.stub_of_return(rip_of(r, tid)).is_none() => {
                    self.pending_return = self.syscall_nr.get(&tid).map(|&nr| Report {
                        tid,
                        reason: Reason::Syscall(CaughtCall { nr, entry: false }),
                    });
                }
                Stop::Signal { signo }
                    if matches!(
                        signo,
                        libc::SIGSEGV | libc::SIGBUS | libc::SIGFPE | libc::SIGILL
                    ) && machine::si_code(pid) > 0
                        && machine::si_code(pid) != 0x80 =>
                {
                    triggers.push((Trigger::ReplayStop, tid));
                    info.signal = Some(signo as u8);
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
                let rip = rip_of(r, tid);
                eprintln!(
                    "ftrun: [gdb] triggers {triggers:?} at {rip:#x} mode {:?}",
                    self.last_mode
                );
            }
            self.on_triggers(r, &triggers, info)?;
        }
        if mine && !landmark {
            return Ok(StopVerdict::Swallow);
        }
        if debug_on() && live {
            let rip = rip_of(r, tid);
            eprintln!(
                "ftrun: [gdb] replay stop {} {stop:?} of {tid} at {rip:#x} mode {:?}",
                self.stops + 1,
                self.last_mode
            );
        }
        self.stops += 1;
        self.anchor_pending = true;
        self.quiet_stop = matches!(stop, Stop::SyscallExit { .. } | Stop::Signal { .. });
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

/// Where thread `tid` stands (0 if its registers cannot be read).
fn rip_of(r: &mut Replayer<'_>, tid: u32) -> u64 {
    r.tracee_of(tid)
        .and_then(|t| t.regs().ok())
        .map(|g| g.rip)
        .unwrap_or(0)
}

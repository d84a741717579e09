//! Threads and processes coming and going at replay: a clone makes its thread or process
//! under the recorded id, and an end is replayed where it was logged.

use std::cell::RefCell;
use std::rc::Rc;

use schema::{EventKind, ExitStatus};
use tracee::{Resume, Tracee};

use crate::golive::{is_leader, LiveHandoff, LiveThread};
use crate::session::{describe, Pending, Replayer};
use crate::tasks::Task;
use crate::ReplayError;

impl Replayer<'_> {
    /// The clone being replayed made its thread or process: it takes the recorded id and
    /// waits, stopped, for its first event's turn. Ids the kernel wrote into memory are
    /// made the recorded ones.
    pub(crate) fn on_new_process(&mut self) -> Result<(), ReplayError> {
        let real = self.t.tracee.event_msg()? as i32;
        let s = match &self.t.pending {
            Some(Pending::Run(s)) => s.clone(),
            _ => return Err(self.divergence("no new process", format!("a new process {real}"))),
        };
        let recorded = s.result as u32;
        let flags = if s.number == libc::SYS_clone as u64 {
            s.args[0] as i32
        } else {
            0
        };
        let tgid = if flags & libc::CLONE_THREAD != 0 {
            self.t.tgid
        } else {
            recorded
        };
        let fds = if flags & libc::CLONE_FILES != 0 {
            Rc::clone(&self.t.fds)
        } else {
            Rc::new(RefCell::new(self.t.fds.borrow().clone()))
        };
        let mut child = Task::new(Tracee::attached(real), recorded, tgid, fds);
        // The seccomp filter is inherited.
        child.tracee.set_filtered(self.t.tracee.is_filtered());
        // Its first stop (the attach) comes at once, after the kernel set its tid words.
        self.stash.wait(&mut child.tracee)?;
        let id = recorded.to_le_bytes();
        if flags & libc::CLONE_PARENT_SETTID != 0 {
            self.t.tracee.write_mem(s.args[2], &id)?;
        }
        if flags & libc::CLONE_CHILD_SETTID != 0 {
            child.tracee.write_mem(s.args[3], &id)?;
        }
        if flags & libc::CLONE_CHILD_CLEARTID != 0 {
            child.clear_tid = s.args[3];
        }
        // A fork's child inherits the rewritten code; a vfork's runs in its parent's memory.
        let vfork = s.number == libc::SYS_vfork as u64 || flags & libc::CLONE_VM != 0;
        if tgid != self.t.tgid && !vfork {
            self.fork_space(self.t.tgid, tgid);
        }
        self.tasks.add(child);
        self.t.creating_child = false;
        Ok(())
    }

    /// Notes the thread state an executed call sets that a checkpoint must give back:
    /// where the thread's id is cleared at its end, an alternate signal stack.
    pub(crate) fn note_thread_state(&mut self, nr: u64, args: &[u64; 6]) {
        if nr == libc::SYS_set_tid_address as u64 {
            self.t.clear_tid = args[0];
        } else if nr == libc::SYS_sigaltstack as u64 && args[0] != 0 {
            self.alt_stack_set = true;
        }
    }

    /// A thread enters exit or exit_group while its process has other threads: the end
    /// was logged here, and is replayed here, before any other thread goes on.
    pub(crate) fn end_thread_at_entry(&mut self, nr: u64) -> Result<(), ReplayError> {
        let ev = self.take()?;
        let EventKind::Exit(status) = ev.kind else {
            unreachable!("the caller peeked an exit")
        };
        self.t.tracee.resume(Resume::Syscall, 0)?;
        let tgid = self.t.tgid;
        if nr == libc::SYS_exit_group as u64 {
            self.reap_process(tgid, false)?;
        } else if self.t.tid != tgid {
            self.stash.wait_gone(&mut self.t.tracee)?;
        } else {
            // The leader's end is reported only after its last thread's.
            self.t.reap_later = true;
        }
        self.t.ended = true;
        if tgid == self.tasks.root {
            self.tasks.root_exit = Some(status);
        }
        Ok(())
    }

    /// The current thread is gone: its logged end must be next (for a process killed by a
    /// signal, the end of any of its threads).
    pub(crate) fn on_end(&mut self, status: ExitStatus) -> Result<ExitStatus, ReplayError> {
        let (seq, tid, kind) = match self.peek()? {
            Some(ev) => (ev.seq, ev.tid, ev.kind.clone()),
            None => {
                return Err(ReplayError::TraceEnded {
                    events: self.replayed,
                })
            }
        };
        let ours = tid == self.t.tid || self.tasks.tgid_of(tid) == Some(self.t.tgid);
        match kind {
            EventKind::Exit(recorded) if ours && same_exit(recorded, status) => {
                self.ahead.pop_front();
                self.replayed = seq + 1;
                self.reap_process(self.t.tgid, true)?;
                if self.t.tgid == self.tasks.root {
                    self.tasks.root_exit = Some(recorded);
                }
                Ok(recorded)
            }
            other => Err(ReplayError::Divergence {
                seq,
                tid,
                expected: describe(&other),
                got: format!("thread {} ended: {status:?}", self.t.tid),
            }),
        }
    }

    /// The thread's next event is its process's end by SIGKILL, yet it went on into a
    /// syscall: the kill came from outside the program (the recording saw no signal, only
    /// the end), so replay kills the process here and its end meets the logged one.
    pub(crate) fn kill_as_recorded(&mut self) -> Result<(), ReplayError> {
        let tgid = self.t.tgid;
        self.robust.owners_die(&mut self.t.tracee, tgid, None)?;
        self.t.tracee.send_signal(libc::SIGKILL)?;
        Ok(())
    }

    /// Collects the ends of the other threads of process `tgid` (an exec ended them).
    pub(crate) fn reap_other_threads(&mut self, tgid: u32) -> Result<(), ReplayError> {
        for mut t in self.tasks.take_threads_of(tgid) {
            self.stash.wait_gone(&mut t.tracee)?;
        }
        Ok(())
    }

    /// Every thread of process `tgid` is ending (exit_group, a fatal signal, or the last
    /// thread leaving a zombie leader): waits for each end, the leader's last, as the
    /// kernel reports them.
    fn reap_process(&mut self, tgid: u32, current_gone: bool) -> Result<(), ReplayError> {
        let mut rest = self.tasks.take_threads_of(tgid);
        rest.sort_by_key(|t| t.tid == tgid);
        let leader_is_current = self.t.tid == tgid;
        if !current_gone && !leader_is_current {
            self.stash.wait_gone(&mut self.t.tracee)?;
        }
        for t in &mut rest {
            self.stash.wait_gone(&mut t.tracee)?;
        }
        if !current_gone && leader_is_current {
            self.stash.wait_gone(&mut self.t.tracee)?;
        }
        self.t.ended = true;
        Ok(())
    }
    /// The log ended with the process still running: every thread is brought to a point
    /// where it can go on live, and all are handed over.
    pub(crate) fn handoff(&mut self) -> Result<LiveHandoff, ReplayError> {
        self.runtime_off()?;
        let mut tids = self.tasks.waiting_tids();
        tids.sort_unstable();
        if !self.t.ended {
            tids.insert(0, self.t.tid);
        }
        let mut threads = Vec::new();
        let mut syscall_insn = 0;
        for tid in tids {
            self.tasks.switch_to(&mut self.t, tid)?;
            self.settle()?;
            if syscall_insn == 0 {
                syscall_insn = self.t.syscall_insn;
            }
            let pending_signal = match std::mem::take(&mut self.t.deliver) {
                0 => None,
                signo => Some((signo, self.t.tracee.siginfo()?)),
            };
            let placeholder = Tracee::attached(0);
            threads.push(LiveThread {
                tracee: std::mem::replace(&mut self.t.tracee, placeholder),
                tid,
                pending_signal,
            });
            self.t.ended = true;
        }
        // The leader (the process's pid) takes the injected syscalls if it is still there.
        threads.sort_by_key(|t| !is_leader(t.tracee.pid()));
        Ok(LiveHandoff {
            process: self.t.tgid,
            threads,
            fds: self.t.fds.borrow().clone(),
            syscall_insn,
            space: self.spaces.remove(&self.t.tgid).map(Box::new),
        })
    }

    /// Finishes what the current thread was in the middle of: a syscall whose result was
    /// logged is completed; one that was still in the kernel when the log ended is made to
    /// run again, for real, once live.
    pub(crate) fn settle(&mut self) -> Result<(), ReplayError> {
        if let Some(nr) = self.t.parked_entry.take() {
            let mut regs = self.t.tracee.regs()?;
            regs.orig_rax = u64::MAX;
            self.t.tracee.set_regs(&regs)?;
            self.t.tracee.resume(Resume::Syscall, 0)?;
            self.stash.wait(&mut self.t.tracee)?;
            let mut regs = self.t.tracee.regs()?;
            regs.rip -= 2;
            regs.rax = nr;
            self.t.tracee.set_regs(&regs)?;
            self.t.syscall_insn = regs.rip;
        } else if self.t.pending.is_some() {
            self.t.tracee.resume(Resume::Syscall, 0)?;
            let stop = self.stash.wait(&mut self.t.tracee)?;
            self.on_stop(stop)?;
        }
        Ok(())
    }
    /// What the kernel did to memory as soon as a thread entered a syscall that then
    /// went on while others ran (a `FUTEX_LOCK_PI` marks its lock as waited for).
    pub(crate) fn replay_entry_effects(
        &mut self,
        nr: u64,
        args: &[u64; 6],
    ) -> Result<(), ReplayError> {
        if nr == libc::SYS_futex as u64 {
            self.pi.entered(&mut self.t.tracee, self.t.tid, args)?;
        }
        Ok(())
    }

    /// Ends every traced thread after a failure: all are sent SIGKILL first and then
    /// collected in whatever order the kernel reports them (a leader's end comes last).
    pub(crate) fn kill_everything(&mut self) {
        let mut pids = vec![self.t.tracee.pid()];
        pids.extend(self.tasks.real_pids());
        let mut left: std::collections::HashSet<i32> =
            pids.into_iter().filter(|&p| p > 0).collect();
        for &pid in &left {
            // SAFETY: kill with a pid we traced and a constant signal.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        // Reaps until the killed threads are gone (a debugger's checkpoint copies, stopped
        // for good, are children too), or until no child is left.
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        let gone = |pid: i32| {
            let flags = WaitPidFlag::__WALL | WaitPidFlag::WNOHANG;
            match waitpid(nix::unistd::Pid::from_raw(pid), Some(flags)) {
                Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) | Err(_) => true,
                Ok(_) => false,
            }
        };
        loop {
            left.retain(|&pid| !gone(pid));
            if left.is_empty() {
                break;
            }
            match tracee::wait_any() {
                Ok((pid, tracee::WaitStatus::Exited(_) | tracee::WaitStatus::Signaled { .. })) => {
                    left.remove(&pid);
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
}

pub(crate) fn same_exit(a: ExitStatus, b: ExitStatus) -> bool {
    match (a, b) {
        (ExitStatus::Exited(x), ExitStatus::Exited(y)) => x == y,
        (ExitStatus::Killed { signo: x, .. }, ExitStatus::Killed { signo: y, .. }) => x == y,
        _ => false,
    }
}

//! Checkpoints of a replay, for a debugger that goes back: a stopped copy of the replayed
//! process, forked from it by a `clone` injected at a quiet point, with the replay's own
//! state at that point (where it stands in the log, the thread's state, the descriptor
//! table, the fast path's rewritten sites). Restoring forks the copy again, so one
//! checkpoint serves any number of restores, and builds a replayer around the new process
//! that goes on exactly as the first pass went on from there.
//!
//! Only a replay with one process of one thread is checkpointed (a fork copies only the
//! calling thread, and the other processes of a tree would need copies taken at the same
//! point); the debugger goes back from the last checkpoint before such a stretch. A point is quiet when
//! the thread is stopped outside any syscall and outside the runtime, with nothing half-way
//! in the replay (no pending syscall or signal, no landmark armed, no stashed statuses).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use fastpath::layout::MODE_REPLAY;
use fastpath::{Setup, Space};
use schema::{Event, ExitStatus};
use tracee::{Regs, Stop, Tracee};

use crate::fdtable::FdTable;
use crate::session::{ReplayOptions, Replayer};
use crate::source::EventSource;
use crate::tasks::{Task, Tasks};
use crate::ReplayError;

/// The runtime as the replay sets it up (see `inproc`).
const REPLAY_RUNTIME: Setup = Setup {
    mode: MODE_REPLAY,
    flags: 0,
    install_filter: false,
    echo: [0; 4],
};
const CLONE_PARENT: u64 = 0x8000;

/// Why a replay of several threads or processes gets no checkpoint (a fork copies only the
/// calling thread).
pub const SEVERAL_THREADS: &str = "more than one thread or process";

/// A replay frozen at a quiet point.
pub struct ReplayCheckpoint {
    /// The copy of the process: stopped, never run; restores fork it.
    copy: Tracee,
    regs: Regs,
    fpregs: [u8; 512],
    tid: u32,
    tgid: u32,
    syscall_insn: u64,
    fds: FdTable,
    root: u32,
    root_exit: Option<ExitStatus>,
    ahead: VecDeque<Event>,
    replayed: u64,
    /// The fast path: the sites as rewritten (the copy has the code), whether it had a
    /// ring, and the flags of its control page.
    space: Option<(Space, bool, u32)>,
}

impl Drop for ReplayCheckpoint {
    fn drop(&mut self) {
        self.copy.kill();
    }
}

impl Replayer<'_> {
    /// Why the replay cannot be checkpointed here (`None`: it can). `quiet_stop`: the
    /// thread's last stop was a syscall exit or a signal (it is in no syscall).
    pub fn checkpoint_refusal(&mut self, quiet_stop: bool) -> Option<&'static str> {
        let t = &self.t;
        if !self.tasks.none_waiting() || !self.tasks.zombies.is_empty() {
            return Some(SEVERAL_THREADS);
        }
        if t.ended || t.tracee.pid() <= 0 {
            return Some("no live thread");
        }
        if !quiet_stop {
            return Some("the thread is inside a syscall");
        }
        if t.parked_entry.is_some()
            || t.pending.is_some()
            || t.injecting.is_some()
            || t.reap_later
            || t.deliver != 0
            || t.creating_child
            || t.exec_exit_pending
        {
            return Some("an event is half-way");
        }
        if t.landmark_armed {
            return Some("a landmark is armed");
        }
        if !self.stash.is_empty() || !self.pi.is_empty() {
            return Some("statuses or lock waiters are kept");
        }
        if !self.ring_loaded_fresh {
            return Some("the ring holds calls loaded before this turn");
        }
        if self.spaces.get(&t.tgid).is_some_and(|s| s.needs_ring()) {
            return Some("the runtime waits for its ring");
        }
        match t.tracee.regs() {
            Ok(regs) if fastpath::space::in_runtime(regs.rip) => {
                Some("the thread is in the runtime")
            }
            Ok(_) => None,
            Err(_) => Some("the thread's registers cannot be read"),
        }
    }

    /// Takes a checkpoint here, or says why not (`Ok(Err(reason))`).
    pub fn checkpoint(
        &mut self,
        quiet_stop: bool,
    ) -> Result<Result<ReplayCheckpoint, &'static str>, ReplayError> {
        if let Some(why) = self.checkpoint_refusal(quiet_stop) {
            return Ok(Err(why));
        }
        let regs = self.t.tracee.regs()?;
        let fpregs = self.t.tracee.fpregs_bytes()?;
        let copy = fork_stopped(&mut self.t.tracee, &regs)?;
        let space = self
            .spaces
            .get(&self.t.tgid)
            .map(|s| (s.forked(), s.active(), s.flags()));
        Ok(Ok(ReplayCheckpoint {
            copy,
            regs,
            fpregs,
            tid: self.t.tid,
            tgid: self.t.tgid,
            syscall_insn: self.t.syscall_insn,
            fds: self.t.fds.borrow().clone(),
            root: self.tasks.root,
            root_exit: self.tasks.root_exit,
            ahead: self.ahead.clone(),
            replayed: self.replayed,
            space,
        }))
    }
}

impl<'a> Replayer<'a> {
    /// A replay that goes on from `cp` in a new copy of its process; `events` must stand
    /// where the log stood when the checkpoint was taken (past the events read ahead).
    pub fn restored(
        cp: &mut ReplayCheckpoint,
        events: &'a mut dyn EventSource,
        opts: ReplayOptions,
    ) -> Result<Replayer<'a>, ReplayError> {
        let tracee = fork_stopped(&mut cp.copy, &cp.regs)?;
        tracee.set_regs(&cp.regs)?;
        tracee.set_fpregs_bytes(&cp.fpregs)?;
        let fds = Rc::new(RefCell::new(cp.fds.clone()));
        let mut task = Task::new(tracee, cp.tid, cp.tgid, fds);
        task.syscall_insn = cp.syscall_insn;
        let mut r = Replayer::new(Tracee::attached(-1), events, opts);
        r.t = task;
        r.tasks = Tasks::new(cp.root);
        r.tasks.root_exit = cp.root_exit;
        r.ahead = cp.ahead.clone();
        r.replayed = cp.replayed;
        r.restored = true;
        if let Some((space, had_ring, flags)) = &cp.space {
            let mut space = space.forked();
            if *had_ring {
                let setup_error = |e: fastpath::FastPathError| match e {
                    fastpath::FastPathError::Tracee(e) => ReplayError::from(e),
                    other => ReplayError::Setup(other.to_string()),
                };
                space
                    .give_ring(&mut r.t.tracee, &REPLAY_RUNTIME)
                    .map_err(setup_error)?;
                if *flags != 0 {
                    space
                        .set_flags(&mut r.t.tracee, *flags)
                        .map_err(setup_error)?;
                }
            }
            r.spaces.insert(cp.tgid, space);
        }
        Ok(r)
    }
}

/// Forks a stopped, quiet process by a `clone` injected at its current instruction (the
/// new process is a sibling, so that its end is no signal to the program); both are left
/// stopped with `regs`, the new one past its first stop.
fn fork_stopped(process: &mut Tracee, regs: &Regs) -> Result<Tracee, ReplayError> {
    let at = regs.rip;
    let saved = process.read_mem(at, 2)?;
    process.write_mem(at, &[0x0f, 0x05])?;
    let flags = CLONE_PARENT | libc::SIGCHLD as u64;
    let ret = process.inject_syscall(regs, at, libc::SYS_clone, &[flags, 0, 0, 0, 0]);
    process.write_mem(at, &saved)?;
    process.set_regs(regs)?;
    process.resend_deferred_signals()?;
    let pid = ret?;
    if pid <= 0 {
        return Err(ReplayError::Setup(format!(
            "forking a checkpoint of process {}: errno {}",
            process.pid(),
            -pid
        )));
    }
    let mut copy = Tracee::attached(pid as i32);
    loop {
        match copy.wait()? {
            Stop::Exited { .. } | Stop::Killed { .. } => {
                return Err(ReplayError::Setup(format!(
                    "the checkpoint copy {pid} of process {} died",
                    process.pid()
                )))
            }
            Stop::Signal { .. } | Stop::Event { .. } => break,
            _ => {}
        }
    }
    copy.write_mem(at, &saved)?;
    copy.set_regs(regs)?;
    Ok(copy)
}

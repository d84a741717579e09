//! Checkpoints of a replay, for a debugger that goes back: a stopped copy of the replayed
//! process, forked from it by a `clone` injected at a quiet point, with the replay's own
//! state at that point (where it stands in the log, each thread's state, the descriptor
//! table, the fast path's rewritten sites, the bytes of its shared mappings). Restoring
//! forks the copy again, so one checkpoint serves any number of restores, re-creates the
//! other threads in the new process by injected `clone`s, and builds a replayer around it
//! that goes on exactly as the first pass went on from there.
//!
//! Only a replay with one process is checkpointed (the other processes of a tree would need
//! copies taken at the same point); the debugger goes back from the last checkpoint before
//! such a stretch. A point is quiet when the current thread is stopped outside any syscall
//! and outside the runtime, every other thread waits at a syscall's entry or at a stop
//! outside the runtime with no restart pending, and nothing is half-way in the replay (no
//! pending syscall or signal, no landmark armed, no stashed statuses).

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use fastpath::layout::MODE_REPLAY;
use fastpath::{Setup, Space};
use schema::{Event, ExitStatus};
use tracee::{Regs, Tracee};

use crate::checkpoint_shared::{SharedBytes, SHARED_TOO_LARGE};
use crate::checkpoint_threads::{
    make_threads, new_child_stopped, restart_pending, thread_name, waiting_thread_refusal,
    ThreadState,
};
use crate::fdtable::FdTable;
use crate::robust::RobustLists;
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

/// Why a replay of several processes gets no checkpoint.
pub const SEVERAL_PROCESSES: &str = "more than one process";

/// A replay frozen at a quiet point.
pub struct ReplayCheckpoint {
    /// The copy of the process: stopped, never run; restores fork it.
    copy: Tracee,
    /// The copy's registers (those of the thread it was forked from).
    regs: Regs,
    /// Every thread, the current one first.
    threads: Vec<ThreadState>,
    tgid: u32,
    fds: FdTable,
    root: u32,
    root_exit: Option<ExitStatus>,
    ahead: VecDeque<Event>,
    replayed: u64,
    robust: RobustLists,
    shared: SharedBytes,
    /// The fast path: the sites as rewritten (the copy has the code), whether it had a
    /// ring, and the flags of its control page.
    space: Option<(Space, bool, u32)>,
}

impl Drop for ReplayCheckpoint {
    fn drop(&mut self) {
        self.copy.kill();
    }
}

impl ReplayCheckpoint {
    /// How many threads the checkpoint gives back.
    pub fn thread_count(&self) -> usize {
        self.threads.len()
    }
}

impl Replayer<'_> {
    /// Why the replay cannot be checkpointed here (`None`: it can). `quiet_stop`: the
    /// current thread's last stop was a syscall exit or a signal (it is in no syscall).
    pub fn checkpoint_refusal(&mut self, quiet_stop: bool) -> Option<&'static str> {
        let t = &self.t;
        if !self.tasks.only_threads_of(t.tgid) {
            return Some(SEVERAL_PROCESSES);
        }
        if !self.tasks.zombies.is_empty() {
            return Some("the thread group leader has ended");
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
            || t.restarting
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
                return Some("the thread is in the runtime")
            }
            Ok(regs) if restart_pending(&regs) => return Some("a syscall restart is pending"),
            Ok(_) => {}
            Err(_) => return Some("the thread's registers cannot be read"),
        }
        if self.tasks.none_waiting() {
            return None;
        }
        self.other_threads_refusal()
    }

    /// Why the other threads of the process cannot be re-created exactly here.
    fn other_threads_refusal(&self) -> Option<&'static str> {
        if self.alt_stack_set {
            return Some("a thread has an alternate signal stack");
        }
        let leader_lives = self.t.tid == self.t.tgid || self.tasks.tgid_of(self.t.tgid).is_some();
        if !leader_lives {
            return Some("the thread group leader has ended");
        }
        if let Some(why) = self.tasks.iter().find_map(waiting_thread_refusal) {
            return Some(why);
        }
        // A new thread takes its creator's name.
        let name = thread_name(self.t.tracee.pid());
        if self
            .tasks
            .iter()
            .any(|w| thread_name(w.tracee.pid()) != name)
        {
            return Some("threads have names of their own");
        }
        None
    }

    /// Takes a checkpoint here, or says why not (`Ok(Err(reason))`).
    pub fn checkpoint(
        &mut self,
        quiet_stop: bool,
    ) -> Result<Result<ReplayCheckpoint, &'static str>, ReplayError> {
        if let Some(why) = self.checkpoint_refusal(quiet_stop) {
            return Ok(Err(why));
        }
        let mut threads = vec![ThreadState::of(&self.t)?];
        let mut waiting: Vec<&Task> = self.tasks.iter().collect();
        waiting.sort_by_key(|w| w.tid);
        for w in waiting {
            threads.push(ThreadState::of(w)?);
        }
        let regs = threads[0].regs;
        let mut copy = fork_stopped(&mut self.t.tracee, &regs, 0)?;
        let Some(shared) = SharedBytes::save(&mut copy)? else {
            copy.kill();
            return Ok(Err(SHARED_TOO_LARGE));
        };
        let space = self
            .spaces
            .get(&self.t.tgid)
            .map(|s| (s.forked(), s.active(), s.flags()));
        Ok(Ok(ReplayCheckpoint {
            copy,
            regs,
            threads,
            tgid: self.t.tgid,
            fds: self.t.fds.borrow().clone(),
            root: self.tasks.root,
            root_exit: self.tasks.root_exit,
            ahead: self.ahead.clone(),
            replayed: self.replayed,
            robust: self.robust.clone(),
            shared,
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
        let mut tracees = restore_threads(cp)?;
        let fds = Rc::new(RefCell::new(cp.fds.clone()));
        let mut tasks = cp.threads.iter().map(|th| {
            let tracee = tracees.remove(&th.tid).expect("one tracee a thread");
            let mut task = Task::new(tracee, th.tid, cp.tgid, Rc::clone(&fds));
            task.syscall_insn = th.syscall_insn;
            task.parked_entry = th.parked_entry;
            task.clear_tid = th.clear_tid;
            task
        });
        let current = tasks.next().expect("the current thread");
        let mut r = Replayer::new(Tracee::attached(-1), events, opts);
        r.t = current;
        r.tasks = Tasks::new(cp.root);
        for task in tasks {
            r.tasks.add(task);
        }
        r.tasks.root_exit = cp.root_exit;
        r.ahead = cp.ahead.clone();
        r.replayed = cp.replayed;
        r.robust = cp.robust.clone();
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

/// A new process forked from the checkpoint's copy, its shared mappings as they were, with
/// every thread in the state it had: the process's leader plays the recorded leader (or
/// the only thread), the others are made by `clone`s injected into it. By recorded id.
fn restore_threads(cp: &mut ReplayCheckpoint) -> Result<HashMap<u32, Tracee>, ReplayError> {
    let leader_at = match cp.threads.len() {
        1 => 0,
        _ => cp
            .threads
            .iter()
            .position(|th| th.tid == cp.tgid)
            .ok_or_else(|| ReplayError::Setup("a checkpoint without its leader".into()))?,
    };
    let leader_state = &cp.threads[leader_at];
    let mut leader = fork_stopped(&mut cp.copy, &cp.regs, leader_state.clear_tid)?;
    // A leader's end is reported only once its threads' ends are collected.
    let kill_all = |made: &mut HashMap<u32, Tracee>, leader: &mut Tracee| {
        let _ = leader.send_signal(libc::SIGKILL);
        made.values_mut().for_each(Tracee::reap);
        leader.reap();
    };
    let others: Vec<&ThreadState> = cp
        .threads
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != leader_at)
        .map(|(_, th)| th)
        .collect();
    let clear_tids: Vec<u64> = others.iter().map(|th| th.clear_tid).collect();
    let mut made: HashMap<u32, Tracee> = HashMap::new();
    let outcome = make_threads(&mut leader, &cp.regs, &clear_tids).and_then(|threads| {
        made.extend(others.iter().map(|th| th.tid).zip(threads));
        cp.shared.write_back(&mut leader)?;
        for th in &others {
            th.put_into(made.get_mut(&th.tid).expect("made above"))?;
        }
        cp.threads[leader_at].put_into(&mut leader)
    });
    if let Err(e) = outcome {
        kill_all(&mut made, &mut leader);
        return Err(e);
    }
    made.insert(cp.threads[leader_at].tid, leader);
    Ok(made)
}

/// Forks a stopped, quiet process by a `clone` injected at its current instruction (the
/// new process is a sibling, so that its end is no signal to the program, and its id is
/// cleared at `clear_tid` when it ends, 0: nowhere); both are left stopped with `regs`,
/// the new one past its first stop.
fn fork_stopped(process: &mut Tracee, regs: &Regs, clear_tid: u64) -> Result<Tracee, ReplayError> {
    let at = regs.rip;
    let saved = process.read_mem(at, 2)?;
    process.write_mem(at, &[0x0f, 0x05])?;
    let mut flags = CLONE_PARENT | libc::SIGCHLD as u64;
    if clear_tid != 0 {
        flags |= libc::CLONE_CHILD_CLEARTID as u64;
    }
    let ret = process.inject_syscall(regs, at, libc::SYS_clone, &[flags, 0, 0, clear_tid, 0]);
    process.write_mem(at, &saved)?;
    process.set_regs(regs)?;
    process.resend_deferred_signals()?;
    let mut copy = new_child_stopped(ret?, process.pid(), "copy")?;
    copy.write_mem(at, &saved)?;
    copy.set_regs(regs)?;
    Ok(copy)
}

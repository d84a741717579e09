//! The processes of a recording: the per-process state of the recording loop, and the
//! processes not being handled right now.

use std::collections::{HashMap, VecDeque};

use schema::ExitStatus;
use tracee::Tracee;

use crate::session::{HeldSignal, Pending, SpinWatch};

/// One traced process and where its recording stands.
pub(crate) struct Task {
    pub tracee: Tracee,
    pub tid: u32,
    pub pending: Option<Pending>,
    /// A held signal being delivered before the syscall that follows it.
    pub injecting: Option<HeldSignal>,
    pub held: VecDeque<HeldSignal>,
    pub spin: Option<SpinWatch>,
    /// Register hash at the last syscall exit, while the process has not run since.
    pub exit_regs: Option<u64>,
    pub deliver: i32,
    pub ended: bool,
    /// A vfork parent is kept stopped until its child execs or exits, so that its next
    /// event comes after the child's exec in the log, as replay needs.
    pub held_for_vfork: bool,
    /// For a vfork child: the parent to release at its exec or exit.
    pub vfork_parent: Option<i32>,
    /// A new process whose first stop came before its parent's fork event: it waits, so
    /// that nothing it does is logged before the fork that made it.
    pub unannounced: bool,
}

impl Task {
    pub fn new(tracee: Tracee) -> Self {
        Task {
            tid: tracee.pid() as u32,
            tracee,
            pending: None,
            injecting: None,
            held: VecDeque::new(),
            spin: None,
            exit_regs: None,
            deliver: 0,
            ended: false,
            held_for_vfork: false,
            vfork_parent: None,
            unannounced: false,
        }
    }
}

/// The processes waiting while another one's stop is handled.
pub(crate) struct Tasks {
    waiting: HashMap<i32, Task>,
    root: u32,
    root_exit: Option<ExitStatus>,
}

impl Tasks {
    pub fn new(root: i32) -> Self {
        Tasks {
            waiting: HashMap::new(),
            root: root as u32,
            root_exit: None,
        }
    }

    /// A process created by fork/vfork/clone (auto-attached by ptrace); a vfork child
    /// remembers the parent it holds.
    pub fn adopt(
        &mut self,
        pid: i32,
        vfork_parent: Option<i32>,
    ) -> Result<(), tracee::TraceeError> {
        let t = self
            .waiting
            .entry(pid)
            .or_insert_with(|| Task::new(Tracee::attached(pid)));
        t.vfork_parent = vfork_parent;
        if t.unannounced {
            // It stopped first and was kept waiting: now it may run.
            t.unannounced = false;
            return t.tracee.resume(tracee::Resume::Syscall, 0);
        }
        Ok(())
    }

    /// Lets a vfork parent run again (its child has exec'd or ended).
    pub fn release_vfork_parent(&mut self, pid: i32) -> Result<(), tracee::TraceeError> {
        if let Some(t) = self.waiting.get_mut(&pid) {
            if t.held_for_vfork {
                t.held_for_vfork = false;
                let deliver = std::mem::take(&mut t.deliver);
                return t.tracee.resume(tracee::Resume::Syscall, deliver);
            }
        }
        Ok(())
    }

    /// Makes `pid` the current process, putting the current one (if alive) aside.
    pub fn switch_to(&mut self, current: &mut Task, pid: i32) {
        if current.tracee.pid() == pid {
            return;
        }
        // A stop can come from a new process before its parent's fork event is handled.
        let next = self.waiting.remove(&pid).unwrap_or_else(|| {
            let mut t = Task::new(Tracee::attached(pid));
            t.unannounced = true;
            t
        });
        let previous = std::mem::replace(current, next);
        if !previous.ended {
            self.waiting.insert(previous.tracee.pid(), previous);
        }
    }

    pub fn ended(&mut self, tid: u32, exit: ExitStatus) {
        if tid == self.root {
            self.root_exit = Some(exit);
        }
    }

    /// True once the current process has ended and no other is left.
    pub fn all_ended(&self, current: &Task) -> bool {
        current.ended && self.waiting.is_empty()
    }

    pub fn root_exit(&self) -> Option<ExitStatus> {
        self.root_exit
    }

    pub fn kill_all(&mut self) {
        for t in self.waiting.values_mut() {
            t.tracee.kill();
        }
    }
}

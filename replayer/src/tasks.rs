//! The processes of a replay: the per-process state of the replay loop, and the processes
//! waiting for their turn (the event stream says whose turn it is).

use std::collections::HashMap;

use schema::{ExitStatus, SignalEvent};
use tracee::Tracee;

use crate::fdtable::FdTable;
use crate::session::Pending;
use crate::ReplayError;

/// One replayed process and where its replay stands.
pub(crate) struct Task {
    pub tracee: Tracee,
    /// The process id as recorded (events name processes by it).
    pub tid: u32,
    pub pending: Option<Pending>,
    /// A signal sent to the process whose delivery stop we are waiting for.
    pub injecting: Option<SignalEvent>,
    pub landmark_armed: bool,
    pub deliver: i32,
    pub fds: FdTable,
    /// Address of the last `syscall` instruction seen in the current image.
    pub syscall_insn: u64,
    /// Between a fork's entry and its event stop: the new process does not exist yet, so
    /// this process must run on whoever's turn the stream says it is.
    pub creating_child: bool,
    pub ended: bool,
}

impl Task {
    pub fn new(tracee: Tracee, tid: u32, fds: FdTable) -> Self {
        Task {
            tracee,
            tid,
            pending: None,
            injecting: None,
            landmark_armed: false,
            deliver: 0,
            fds,
            syscall_insn: 0,
            creating_child: false,
            ended: false,
        }
    }
}

/// The processes not being driven right now, by recorded id.
pub(crate) struct Tasks {
    waiting: HashMap<u32, Task>,
    pub root: u32,
    pub root_exit: Option<ExitStatus>,
}

impl Tasks {
    pub fn new(root: u32) -> Self {
        Tasks {
            waiting: HashMap::new(),
            root,
            root_exit: None,
        }
    }

    pub fn add(&mut self, task: Task) {
        self.waiting.insert(task.tid, task);
    }

    /// Makes the process recorded as `tid` the current one.
    pub fn switch_to(&mut self, current: &mut Task, tid: u32) -> Result<(), ReplayError> {
        if current.tid == tid && !current.ended {
            return Ok(());
        }
        let next = self.waiting.remove(&tid).ok_or_else(|| {
            ReplayError::Setup(format!(
                "the trace has events of process {tid}, which replay never created"
            ))
        })?;
        let previous = std::mem::replace(current, next);
        if !previous.ended {
            self.waiting.insert(previous.tid, previous);
        }
        Ok(())
    }

    pub fn none_waiting(&self) -> bool {
        self.waiting.is_empty()
    }

    pub fn kill_all(&mut self) {
        for t in self.waiting.values_mut() {
            t.tracee.kill();
        }
    }
}

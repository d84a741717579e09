//! The threads of a replay: the per-thread state of the replay loop, and the threads
//! waiting for their turn (the event stream says whose turn it is).

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use schema::{ExitStatus, SignalEvent};
use tracee::WaitStatus;
use tracee::{Resume, Stop, Tracee, TraceeError};

use crate::fdtable::FdTable;
use crate::session::Pending;
use crate::ReplayError;

/// One replayed thread and where its replay stands.
pub(crate) struct Task {
    pub tracee: Tracee,
    /// The thread id as recorded (events name threads by it).
    pub tid: u32,
    /// Its process, by the recorded id of the thread group leader.
    pub tgid: u32,
    /// Stopped at the entry of this syscall, whose `SyscallEntry` event was taken: the
    /// rest of the syscall waits until its next event is the head of the log.
    pub parked_entry: Option<u64>,
    /// Memory hash at the previous pass through a `Sched` landmark with the right registers.
    pub landmark_mem: Option<u64>,
    /// The search for the state of its next landmark event: passes, progress, its end.
    pub landmark_search: crate::landmark_search::LandmarkSearch,
    /// A leader that exited before its threads: reaped with the last of them.
    pub reap_later: bool,
    pub pending: Option<Pending>,
    /// A signal sent to the process whose delivery stop we are waiting for.
    pub injecting: Option<SignalEvent>,
    pub landmark_armed: bool,
    /// The in-process filter that looks for its forced switch's pass, if one is armed.
    pub filter: Option<fastpath::landmark::ArmedFilter>,
    /// Its filter waits for the exit of the syscall it was stopped at the entry of.
    pub filter_deferred: bool,
    pub deliver: i32,
    /// The descriptor table, shared by the threads of a process.
    pub fds: Rc<RefCell<FdTable>>,
    /// Address of the last `syscall` instruction seen in the current image.
    pub syscall_insn: u64,
    /// Between a fork's entry and its event stop: the new process does not exist yet, so
    /// this process must run on whoever's turn the stream says it is.
    pub creating_child: bool,
    /// At an exec event: its exit stop comes next, where the runtime may be mapped.
    pub exec_exit_pending: bool,
    /// Its executed call was interrupted by a stray signal: the kernel runs it again.
    pub restarting: bool,
    /// Where the kernel clears the thread's id when it ends (`CLONE_CHILD_CLEARTID`,
    /// `set_tid_address`; 0: nowhere): a checkpoint's re-created thread gets the same.
    pub clear_tid: u64,
    pub ended: bool,
}

impl Task {
    pub fn new(tracee: Tracee, tid: u32, tgid: u32, fds: Rc<RefCell<FdTable>>) -> Self {
        Task {
            tracee,
            tid,
            tgid,
            parked_entry: None,
            landmark_mem: None,
            landmark_search: Default::default(),
            reap_later: false,
            pending: None,
            injecting: None,
            landmark_armed: false,
            filter: None,
            filter_deferred: false,
            deliver: 0,
            fds,
            syscall_insn: 0,
            creating_child: false,
            exec_exit_pending: false,
            restarting: false,
            clear_tid: 0,
            ended: false,
        }
    }
}

/// The threads not being driven right now, by recorded id.
pub(crate) struct Tasks {
    waiting: HashMap<u32, Task>,
    /// Thread group leaders that called exit while other threads ran on: the kernel reports
    /// their end only once the last thread is gone.
    pub zombies: Vec<Task>,
    pub root: u32,
    pub root_exit: Option<ExitStatus>,
}

impl Tasks {
    pub fn new(root: u32) -> Self {
        Tasks {
            waiting: HashMap::new(),
            zombies: Vec::new(),
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
        if previous.reap_later {
            self.zombies.push(previous);
        } else if !previous.ended {
            self.waiting.insert(previous.tid, previous);
        }
        Ok(())
    }

    /// Forgets waiting thread `tid` (recorded id), which is gone without an end to
    /// collect: a leader whose id another thread took over at an exec.
    pub fn forget(&mut self, tid: u32) {
        self.waiting.remove(&tid);
    }

    /// A waiting thread, by recorded id.
    pub fn get_mut(&mut self, tid: u32) -> Option<&mut Task> {
        self.waiting.get_mut(&tid)
    }

    /// The real pid of a waiting thread, by recorded id.
    pub fn real_pid_of(&self, tid: u32) -> Option<i32> {
        self.waiting.get(&tid).map(|t| t.tracee.pid())
    }

    /// The waiting threads.
    pub fn iter(&self) -> impl Iterator<Item = &Task> {
        self.waiting.values()
    }

    /// Whether any other live thread belongs to process `tgid`.
    pub fn has_threads_of(&self, tgid: u32) -> bool {
        self.waiting.values().any(|t| t.tgid == tgid)
    }

    /// The process a waiting thread belongs to.
    pub fn tgid_of(&self, tid: u32) -> Option<u32> {
        self.waiting.get(&tid).map(|t| t.tgid)
    }

    /// Takes every waiting thread of process `tgid` out of the waiting set.
    pub fn take_threads_of(&mut self, tgid: u32) -> Vec<Task> {
        let tids: Vec<u32> = self
            .waiting
            .values()
            .filter(|t| t.tgid == tgid)
            .map(|t| t.tid)
            .collect();
        let mut out: Vec<Task> = tids
            .iter()
            .filter_map(|tid| self.waiting.remove(tid))
            .collect();
        let (theirs, others) = std::mem::take(&mut self.zombies)
            .into_iter()
            .partition(|z| z.tgid == tgid);
        self.zombies = others;
        out.extend::<Vec<Task>>(theirs);
        out
    }

    /// True when every waiting thread belongs to process `tgid`.
    pub fn only_threads_of(&self, tgid: u32) -> bool {
        self.waiting.values().all(|t| t.tgid == tgid)
    }

    /// The real ids of every thread still known (waiting or collected later).
    pub fn real_pids(&self) -> Vec<i32> {
        self.waiting
            .values()
            .chain(self.zombies.iter())
            .map(|t| t.tracee.pid())
            .collect()
    }

    /// The recorded ids of the waiting threads.
    pub fn waiting_tids(&self) -> Vec<u32> {
        self.waiting.keys().copied().collect()
    }

    /// Gives every waiting thread (and leader collected later) its id after a takeover.
    pub fn rename(&mut self, tid: impl Fn(u32) -> u32, tgid: impl Fn(u32) -> u32) {
        let waiting = std::mem::take(&mut self.waiting);
        for (_, mut t) in waiting {
            t.tid = tid(t.tid);
            t.tgid = tgid(t.tgid);
            self.waiting.insert(t.tid, t);
        }
        for z in &mut self.zombies {
            z.tid = tid(z.tid);
            z.tgid = tgid(z.tgid);
        }
        self.root = tgid(self.root);
    }

    pub fn none_waiting(&self) -> bool {
        self.waiting.is_empty()
    }
}

/// Wait statuses of threads other than the one being waited for, kept for their turn: the
/// replay waits for any thread, because a leader's end is reported only after its other
/// threads' ends have been collected.
#[derive(Default)]
pub(crate) struct Stash {
    statuses: HashMap<i32, VecDeque<WaitStatus>>,
}

impl Stash {
    /// Whether no status is kept.
    pub fn is_empty(&self) -> bool {
        self.statuses.values().all(|q| q.is_empty())
    }

    /// The next stop of `tracee`, keeping statuses of others for later.
    pub fn wait(&mut self, tracee: &mut Tracee) -> Result<Stop, TraceeError> {
        let pid = tracee.pid();
        loop {
            let status = match self.statuses.get_mut(&pid).and_then(|q| q.pop_front()) {
                Some(status) => status,
                None => {
                    let (from, status) = tracee::wait_any()?;
                    if from != pid && exec_made_by(from, &status) == Some(pid) {
                        // Its exec, made in place of its process's leader, whose id it
                        // has from now on.
                        tracee.took_over_leader(from);
                        return tracee
                            .decode(status)?
                            .ok_or(TraceeError::TraceeDied { pid });
                    }
                    if from != pid {
                        self.statuses.entry(from).or_default().push_back(status);
                        continue;
                    }
                    status
                }
            };
            if let Some(stop) = tracee.decode(status)? {
                return Ok(stop);
            }
        }
    }

    /// Waits until the thread is gone, letting it go on from any stop on its way out.
    pub fn wait_gone(&mut self, tracee: &mut Tracee) -> Result<(), TraceeError> {
        loop {
            match self.wait(tracee) {
                Ok(stop) if stop.is_gone() => return Ok(()),
                Ok(_) => {
                    let _ = tracee.resume(Resume::Syscall, 0);
                }
                // Collected already by someone else: gone.
                Err(TraceeError::Ptrace {
                    source: nix::errno::Errno::ECHILD,
                    ..
                }) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }
}

/// For an exec stop of `pid`: the id of the thread that made the exec.
fn exec_made_by(pid: i32, status: &WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::PtraceEvent { event, .. } if *event == libc::PTRACE_EVENT_EXEC => {
            tracee::former_tid_at_exec(pid)
        }
        _ => None,
    }
}

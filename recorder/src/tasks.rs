//! The threads of a recording: the per-thread state of the recording loop, and the
//! threads not being handled right now.

use std::collections::{HashMap, VecDeque};

use std::time::Instant;

use schema::ExitStatus;
use tracee::{Stop, Tracee};

use crate::session::{HeldSignal, Pending, SpinWatch};

/// One traced thread and where its recording stands.
pub(crate) struct Task {
    pub tracee: Tracee,
    pub tid: u32,
    /// Its process (thread group leader's id).
    pub tgid: i32,
    /// A stop not handled yet: the thread waits for its process's token (or, new, for the
    /// clone that made it to be logged).
    pub parked: Option<Stop>,
    /// When it was last let run its own code (`None` while stopped or in the kernel).
    pub running_since: Option<Instant>,
    /// A `PTRACE_INTERRUPT` was sent and its stop has not come yet.
    pub interrupting: bool,
    /// How many times its timeslice has been doubled since its last syscall.
    pub slice_backoff: u32,
    /// Watching it for a spin in which to preempt it.
    pub sched_watch: Option<crate::preempt::SchedWatch>,
    /// Preempted at the stop just handled: it stays stopped until its turn.
    pub preempted: bool,
    /// The syscall at the stop just handled went into the kernel.
    pub entered_kernel: bool,
    /// ... and it is a PI lock, whose word the kernel changes before the thread sleeps.
    pub wait_until_blocked: bool,
    /// ... and it is `exit` of one thread, whose tid word the kernel clears on its way out.
    pub wait_until_gone: bool,
    /// Its end was logged when it called exit or exit_group.
    pub exit_logged: bool,
    /// The syscall a `restart_syscall` would continue (interrupted with
    /// `-ERESTART_RESTARTBLOCK`).
    pub restart_nr: Option<u64>,
    pub pending: Option<Pending>,
    /// A held signal being delivered before the syscall that follows it.
    pub injecting: Option<HeldSignal>,
    pub held: VecDeque<HeldSignal>,
    /// A signal that interrupted a call blocked in-process: the call is made again from
    /// its stub's traced `syscall`, and the signal sent again once it is in the kernel.
    pub reinterrupt: Option<HeldSignal>,
    pub spin: Option<SpinWatch>,
    /// A loop watched for a held signal kept making progress: the signal waits for the
    /// thread's next syscall, since then; the loop is watched again if none comes soon.
    pub held_for_syscall_since: Option<Instant>,
    /// The interrupt on its way is to watch the loop again.
    pub rewatch: bool,
    /// The loop is watched a second time: this time the signal is delivered in it.
    pub last_watch: bool,
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
    /// At an exec event: its exit stop comes next, where the new image gets its runtime.
    pub exec_exit_pending: bool,
    /// Reads the time-stamp counter untrapped (see `tsc_free`).
    pub tsc_free: bool,
    /// The stop being handled (whether an injected call may be made there).
    pub tsc_stop: Option<Stop>,
    /// The scheduler wants it to give the token up at its next syscall.
    pub yield_wanted: bool,
}

impl Task {
    pub fn new(tracee: Tracee, tgid: Option<i32>) -> Self {
        Task {
            tid: tracee.pid() as u32,
            tgid: tgid.unwrap_or(tracee.pid()),
            parked: None,
            running_since: None,
            interrupting: false,
            slice_backoff: 0,
            sched_watch: None,
            preempted: false,
            entered_kernel: false,
            wait_until_blocked: false,
            wait_until_gone: false,
            exit_logged: false,
            restart_nr: None,
            tracee,
            pending: None,
            injecting: None,
            held: VecDeque::new(),
            reinterrupt: None,
            spin: None,
            held_for_syscall_since: None,
            rewatch: false,
            last_watch: false,
            exit_regs: None,
            deliver: 0,
            ended: false,
            held_for_vfork: false,
            vfork_parent: None,
            unannounced: false,
            exec_exit_pending: false,
            tsc_free: false,
            tsc_stop: None,
            yield_wanted: false,
        }
    }
}

/// The processes waiting while another one's stop is handled.
pub(crate) struct Tasks {
    waiting: HashMap<i32, Task>,
    /// The processes carry ftrun's seccomp filter (children inherit it).
    pub filtered: bool,
    root: u32,
    root_exit: Option<ExitStatus>,
}

impl Tasks {
    pub fn new(root: i32) -> Self {
        Tasks {
            waiting: HashMap::new(),
            filtered: false,
            root: root as u32,
            root_exit: None,
        }
    }

    /// A thread or process created by fork/vfork/clone (auto-attached by ptrace); a vfork
    /// child remembers the parent it holds. True if its first stop came already and is
    /// parked.
    pub fn adopt(&mut self, pid: i32, tgid: i32, vfork_parent: Option<i32>) -> bool {
        let t = self
            .waiting
            .entry(pid)
            .or_insert_with(|| Task::new(Tracee::attached(pid), Some(tgid)));
        t.tracee.set_filtered(self.filtered);
        t.tgid = tgid;
        t.vfork_parent = vfork_parent;
        std::mem::take(&mut t.unannounced) && t.parked.is_some()
    }

    /// A thread traced already and stopped, waiting for its token (an adopted process).
    pub fn insert(&mut self, task: Task) {
        self.waiting.insert(task.tracee.pid(), task);
    }

    /// The waiting threads of process `tgid` end without their ends being logged (an exec
    /// takes them all; replay ends them at the exec).
    pub fn end_silently(&mut self, tgid: i32) {
        for t in self.waiting.values_mut().filter(|t| t.tgid == tgid) {
            t.exit_logged = true;
        }
    }

    /// Every waiting thread's syscalls stop only where the seccomp filter traps them.
    pub fn set_all_filtered(&mut self) {
        for t in self.waiting.values_mut() {
            t.tracee.set_filtered(true);
        }
    }

    /// Takes waiting thread `tid` out of the waiting set.
    pub fn take(&mut self, tid: i32) -> Option<Task> {
        self.waiting.remove(&tid)
    }

    /// The process of waiting thread `tid`.
    pub fn tgid_of(&self, tid: i32) -> Option<i32> {
        self.waiting.get(&tid).map(|t| t.tgid)
    }

    pub fn get_mut(&mut self, tid: i32) -> Option<&mut Task> {
        self.waiting.get_mut(&tid)
    }

    /// The waiting threads of process `tgid`.
    pub fn of_process(&mut self, tgid: i32) -> impl Iterator<Item = &mut Task> {
        self.waiting.values_mut().filter(move |t| t.tgid == tgid)
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
            let mut t = Task::new(Tracee::attached(pid), None);
            t.unannounced = true;
            t.tracee.set_filtered(self.filtered);
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

    /// Whether thread `tid` is the current one or waits here.
    pub fn is_known(&self, current: &Task, tid: u32) -> bool {
        current.tid == tid && !current.ended || self.waiting.contains_key(&(tid as i32))
    }

    /// Whether a process other than the current thread's is alive.
    pub fn other_process_alive(&self, current: &Task) -> bool {
        self.waiting
            .values()
            .any(|t| t.tgid != current.tgid && !t.ended)
    }

    /// The waiting threads with a signal held for their next syscall, and since when.
    pub fn holding_for_syscall(&self) -> Vec<(i32, Instant)> {
        self.waiting
            .values()
            .filter_map(|t| Some((t.tid as i32, t.held_for_syscall_since?)))
            .collect()
    }

    /// After the root process ended: the processes still alive, if every one of them has
    /// left the root's session (`setsid`: a daemon, which nothing would end).
    pub fn only_daemons_left(&self, current: &Task, root_session: i32) -> Option<Vec<i32>> {
        let alive: Vec<(i32, i32)> = std::iter::once(current)
            .chain(self.waiting.values())
            .filter(|t| !t.ended)
            .map(|t| (t.tracee.pid(), t.tgid))
            .collect();
        let daemon = |&(_, tgid): &(i32, i32)| session_of(tgid).is_some_and(|s| s != root_session);
        (!alive.is_empty() && alive.iter().all(daemon)).then(|| alive.iter().map(|a| a.0).collect())
    }

    /// Ends every traced thread after a failure: all are sent SIGKILL first, then the
    /// threads that are not their process's leader are collected before the leaders (the
    /// kernel reports a leader's end only once its other threads are gone).
    pub fn kill_all(&mut self, current: &mut Task) {
        let mut all: Vec<&mut Task> = self.waiting.values_mut().collect();
        if !current.ended {
            all.push(current);
        }
        for t in &all {
            let _ = t.tracee.send_signal(libc::SIGKILL);
        }
        all.sort_by_key(|t| t.tid as i32 == t.tgid);
        for t in all {
            t.tracee.reap();
        }
    }
}

/// The session of process `pid` (`/proc/PID/stat`, the field after the parent, group).
pub fn session_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(3)?.parse().ok()
}

//! The threads of a checkpoint: what each one's replay and kernel state is at the quiet
//! point (registers, FPU state, blocked signals, where its id is cleared at its end, a
//! syscall it waits at the entry of), why a thread cannot be copied exactly, and how a
//! restored copy, made with one thread, gets the others back by `clone`s injected into it.

use syscalls::is_restart_code;
use tracee::{Regs, Resume, Stop, Tracee};

use crate::tasks::Task;
use crate::ReplayError;

/// A thread of the program's process, as a `clone` made it (the thread's stack and TLS
/// come from the registers it is given).
const THREAD_FLAGS: u64 = (libc::CLONE_VM
    | libc::CLONE_FS
    | libc::CLONE_FILES
    | libc::CLONE_SIGHAND
    | libc::CLONE_THREAD
    | libc::CLONE_SYSVSEM) as u64;

/// One thread at a checkpoint.
pub(crate) struct ThreadState {
    pub tid: u32,
    pub regs: Regs,
    fpregs: [u8; 512],
    sigmask: u64,
    pub clear_tid: u64,
    pub syscall_insn: u64,
    /// Stopped at the entry of this syscall, waiting for its turn.
    pub parked_entry: Option<u64>,
    filtered: bool,
}

impl ThreadState {
    pub fn of(task: &Task) -> Result<ThreadState, ReplayError> {
        Ok(ThreadState {
            tid: task.tid,
            regs: task.tracee.regs()?,
            fpregs: task.tracee.fpregs_bytes()?,
            sigmask: task.tracee.sigmask()?,
            clear_tid: task.clear_tid,
            syscall_insn: task.syscall_insn,
            parked_entry: task.parked_entry,
            filtered: task.tracee.is_filtered(),
        })
    }

    /// Gives thread `t` of a restored copy this state: a thread that waited at a syscall's
    /// entry is taken back into that entry (its `syscall` instruction run again, which the
    /// kernel had not begun).
    pub fn put_into(&self, t: &mut Tracee) -> Result<(), ReplayError> {
        if let Some(nr) = self.parked_entry {
            self.enter_again(t, nr)?;
        }
        t.set_filtered(self.filtered);
        t.set_regs(&self.regs)?;
        t.set_fpregs_bytes(&self.fpregs)?;
        t.set_sigmask(self.sigmask)?;
        Ok(())
    }
}

impl ThreadState {
    /// Runs the thread up to the entry stop of syscall `nr` again, from a `syscall` written
    /// for the time right before where it stands (the site may have been rewritten since
    /// the thread entered it; no thread runs meanwhile).
    fn enter_again(&self, t: &mut Tracee, nr: u64) -> Result<(), ReplayError> {
        let mut before = self.regs;
        before.rip -= 2;
        before.rax = nr;
        let saved = t.read_mem(before.rip, 2)?;
        t.write_mem(before.rip, &[0x0f, 0x05])?;
        t.set_regs(&before)?;
        t.set_filtered(false);
        let entered = run_to_entry(t);
        t.write_mem(before.rip, &saved)?;
        entered.map_err(|stop| {
            ReplayError::Setup(format!(
                "taking thread {} of a checkpoint back into syscall {nr}: {stop}",
                self.tid
            ))
        })
    }
}

/// Resumes `t` to its next syscall entry; what stopped it otherwise.
fn run_to_entry(t: &mut Tracee) -> Result<(), String> {
    t.resume(Resume::Syscall, 0).map_err(|e| e.to_string())?;
    loop {
        match t.wait().map_err(|e| e.to_string())? {
            Stop::SyscallEntry { .. } => return Ok(()),
            Stop::Event { .. } => t.resume(Resume::Syscall, 0).map_err(|e| e.to_string())?,
            other => return Err(format!("{other:?}")),
        }
    }
}

/// Why waiting thread `task` cannot be copied exactly here (`None`: it can).
pub(crate) fn waiting_thread_refusal(task: &Task) -> Option<&'static str> {
    if task.pending.is_some()
        || task.injecting.is_some()
        || task.reap_later
        || task.deliver != 0
        || task.creating_child
        || task.exec_exit_pending
        || task.restarting
        || task.landmark_armed
        || task.filter.is_some()
        || task.filter_deferred
    {
        return Some("another thread has an event half-way");
    }
    if task.parked_entry.is_some() {
        // At the entry, before the kernel ran anything of the call.
        return None;
    }
    match task.tracee.regs() {
        Ok(regs) if restart_pending(&regs) => Some("a syscall restart is pending"),
        Ok(regs) if fastpath::space::in_runtime(regs.rip) => Some("a thread is in the runtime"),
        Ok(_) => None,
        Err(_) => Some("a thread's registers cannot be read"),
    }
}

/// Stopped at a syscall's exit with a result the kernel turns into running it again.
pub(crate) fn restart_pending(regs: &Regs) -> bool {
    regs.orig_rax != u64::MAX && is_restart_code(regs.rax as i64)
}

/// A thread's name (its `comm`), by real id.
pub(crate) fn thread_name(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()
}

/// Makes `count` new threads in the process of `leader` (stopped, one thread) by `clone`s
/// injected at its instruction `regs.rip` (a `syscall` written over it for the time), with
/// the places their ids are cleared at; each is left stopped, never run, past its first
/// stop. The leader is left with `regs`.
pub(crate) fn make_threads(
    leader: &mut Tracee,
    regs: &Regs,
    clear_tids: &[u64],
) -> Result<Vec<Tracee>, ReplayError> {
    if clear_tids.is_empty() {
        return Ok(Vec::new());
    }
    let at = regs.rip;
    let saved = leader.read_mem(at, 2)?;
    leader.write_mem(at, &[0x0f, 0x05])?;
    let mut made = Vec::new();
    let mut outcome = Ok(());
    for &clear_tid in clear_tids {
        let flags = match clear_tid {
            0 => THREAD_FLAGS,
            _ => THREAD_FLAGS | libc::CLONE_CHILD_CLEARTID as u64,
        };
        let made_one = leader
            .inject_syscall(regs, at, libc::SYS_clone, &[flags, 0, 0, clear_tid, 0])
            .map_err(ReplayError::from)
            .and_then(|tid| new_child_stopped(tid, leader.pid(), "thread"));
        match made_one {
            Ok(t) => made.push(t),
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    leader.write_mem(at, &saved)?;
    leader.set_regs(regs)?;
    leader.resend_deferred_signals()?;
    outcome.map(|()| made)
}

/// The thread or process `id` an injected `clone` in `parent` returned, once past its
/// first stop (the attach).
pub(crate) fn new_child_stopped(id: i64, parent: i32, what: &str) -> Result<Tracee, ReplayError> {
    if id <= 0 {
        return Err(ReplayError::Setup(format!(
            "making a checkpoint {what} in process {parent}: errno {}",
            -id
        )));
    }
    let mut child = Tracee::attached(id as i32);
    loop {
        match child.wait()? {
            Stop::Exited { .. } | Stop::Killed { .. } => {
                return Err(ReplayError::Setup(format!(
                    "the checkpoint {what} {id} of process {parent} died"
                )))
            }
            Stop::Signal { .. } | Stop::Event { .. } => return Ok(child),
            _ => {}
        }
    }
}

//! The driving API a debugger needs (the `debugger` crate): a hook called right before the
//! thread whose turn it is resumes and right after it stops (before the replay handles the
//! stop), and access to the replayed threads. The hook may resume the thread by a single
//! step instead of to its next syscall stop, and may keep a stop to itself (a breakpoint it
//! inserted, a step it asked for): the replay then never sees that stop.

use schema::{Event, EventKind};
use tracee::{Stop, Tracee};

use crate::session::Replayer;
use crate::ReplayError;

/// How the hook wants the current thread resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookResume {
    /// As the replay resumes it: to its next syscall stop, signal or event.
    Syscall,
    /// One instruction (`PTRACE_SINGLESTEP`); the hook must not ask for it at a `syscall`
    /// instruction or inside a syscall.
    Step,
}

/// What becomes of a stop the hook saw first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopVerdict {
    /// The replay handles it as usual.
    Replay,
    /// It was the hook's own; the thread is resumed again (the hook called first).
    Swallow,
}

/// Called by the replay loop; an error (e.g. `ReplayError::Abandoned`) ends the replay.
pub trait DebugHook {
    fn before_resume(&mut self, r: &mut Replayer<'_>) -> Result<HookResume, ReplayError>;
    fn after_stop(&mut self, r: &mut Replayer<'_>, stop: &Stop)
        -> Result<StopVerdict, ReplayError>;
}

/// One live replayed thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebugThread {
    /// The id the recording gave it (the one the program saw).
    pub tid: u32,
    /// Its process, by the recorded id of its leader.
    pub tgid: u32,
    /// The real thread id in this replay.
    pub pid: i32,
}

impl<'a> Replayer<'a> {
    /// Installs the hook the replay loop calls at each resume and stop.
    pub fn set_hook(&mut self, hook: &'a mut dyn DebugHook) {
        self.hook = Some(hook);
    }

    /// Whether the program's output is written again (a debugger going back over a part
    /// it showed already turns it off).
    pub fn set_echo_output(&mut self, on: bool) {
        self.opts.echo_output = on;
    }

    /// Puts at most `calls` in-process calls into a ring at once (at least 1): the thread
    /// makes the next one as a traced call, a stop of the replay. A debugger asks for few,
    /// so that a stretch that lives on in-process calls has stops to take checkpoints at;
    /// every pass of one session must ask for the same, since stops name moments.
    pub fn set_ring_batch(&mut self, calls: usize) {
        self.ring_batch = calls.clamp(1, crate::inproc::RING_BATCH);
    }

    /// The thread being driven.
    pub fn current_thread(&self) -> DebugThread {
        DebugThread {
            tid: self.t.tid,
            tgid: self.t.tgid,
            pid: self.t.tracee.pid(),
        }
    }

    /// Every live thread, the current one first, the others by recorded id.
    pub fn threads(&self) -> Vec<DebugThread> {
        let mut out = Vec::new();
        if !self.t.ended && self.t.tracee.pid() > 0 {
            out.push(self.current_thread());
        }
        let mut rest: Vec<DebugThread> = self
            .tasks
            .iter()
            .filter(|t| !t.ended && t.tracee.pid() > 0)
            .map(|t| DebugThread {
                tid: t.tid,
                tgid: t.tgid,
                pid: t.tracee.pid(),
            })
            .collect();
        rest.sort_by_key(|t| t.tid);
        out.extend(rest);
        out
    }

    /// The tracee of a live thread (stopped, as all are while the hook runs).
    pub fn tracee_of(&mut self, tid: u32) -> Option<&mut Tracee> {
        if self.t.tid == tid && !self.t.ended {
            return Some(&mut self.t.tracee);
        }
        self.tasks.get_mut(tid).map(|t| &mut t.tracee)
    }

    /// The number of events replayed so far (the next event's index).
    pub fn events_replayed(&self) -> u64 {
        self.replayed
    }

    /// Whether the replay holds hardware breakpoint slot 0 of the current thread (a
    /// landmark); slots 1 to 3 are never used by the replay.
    pub fn landmark_armed(&self) -> bool {
        self.t.landmark_armed
    }

    /// The next event of the log.
    pub fn next_event(&mut self) -> Result<Option<&Event>, ReplayError> {
        self.peek()
    }

    /// True when all that is left of the log is the program's last end.
    pub fn only_final_exit_left(&mut self) -> Result<bool, ReplayError> {
        if !matches!(self.peek()?.map(|e| &e.kind), Some(EventKind::Exit(_))) {
            return Ok(false);
        }
        if self.ahead.len() < 2 {
            if let Some(ev) = self.events.next_event()? {
                self.ahead.push_back(ev);
            }
        }
        Ok(self.ahead.len() == 1)
    }

    /// Takes the calls the current thread's runtime ran in-process since its last stop off
    /// the log (checking and echoing their output), as the replay does at each stop: a
    /// debugger stopping the thread in between shows their output at once.
    pub fn take_in_process_results(&mut self) -> Result<(), ReplayError> {
        self.take_handed_back()
    }

    /// Calls the hook before a resume of the current thread.
    pub(crate) fn hook_before_resume(&mut self) -> Result<HookResume, ReplayError> {
        let Some(hook) = self.hook.take() else {
            return Ok(HookResume::Syscall);
        };
        let how = hook.before_resume(self);
        self.hook = Some(hook);
        how
    }

    /// Calls the hook at a stop of the current thread.
    pub(crate) fn hook_after_stop(&mut self, stop: &Stop) -> Result<StopVerdict, ReplayError> {
        let Some(hook) = self.hook.take() else {
            return Ok(StopVerdict::Replay);
        };
        let verdict = hook.after_stop(self, stop);
        self.hook = Some(hook);
        verdict
    }
}

/// One instruction of a stopped thread, delivering `signo` (0: none).
pub(crate) fn single_step(pid: i32, signo: i32) -> Result<(), tracee::TraceeError> {
    // SAFETY: PTRACE_SINGLESTEP with integer arguments on a thread we trace.
    let ret = unsafe {
        libc::ptrace(
            libc::PTRACE_SINGLESTEP,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            signo as usize as *mut libc::c_void,
        )
    };
    if ret == -1 {
        let errno = nix::errno::Errno::last();
        if errno == nix::errno::Errno::ESRCH {
            return Err(tracee::TraceeError::TraceeDied { pid });
        }
        return Err(tracee::TraceeError::Ptrace {
            op: "PTRACE_SINGLESTEP",
            pid,
            source: errno,
        });
    }
    Ok(())
}

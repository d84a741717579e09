//! A thread's end: logged once for a process a fatal signal took, after the calls its
//! token holder ran in-process meanwhile.

use schema::{EventKind, ExitStatus};

use crate::session::Recorder;
use crate::RecordError;

impl Recorder<'_> {
    /// The current thread is gone (`exit`: how the kernel says it ended).
    pub(crate) fn on_thread_end(&mut self, exit: ExitStatus) -> Result<(), RecordError> {
        let (tgid, tid) = (self.t.tgid, self.t.tid);
        let logged = self.t.exit_logged || self.sched.exiting(tgid);
        let ends_process =
            !logged && self.sched.threaded(tgid) && matches!(exit, ExitStatus::Killed { .. });
        if ends_process {
            self.take_records_of_killed_holder(tgid)?;
        }
        if !logged {
            let kind = EventKind::Exit(exit);
            match self.taker_of_fatal_signal(tgid, exit) {
                Some(taker) => self.push_as(taker, kind)?,
                None => self.push(kind)?,
            }
        }
        if ends_process {
            // A fatal signal takes every thread: one end is logged for the process. (A
            // thread whose own exit was logged at its call may still be reported killed,
            // when the fatal signal came before it was gone: that is not the process's end.)
            self.sched.set_exiting(tgid);
        }
        self.sched.remove(tgid, tid as i32);
        self.tasks.ended(tid, exit);
        self.t.ended = true;
        self.end_output_turn();
        self.release_vfork_parent()
    }

    /// The thread of process `tgid` that a fatal signal (`exit`) was logged as delivered
    /// to, when it is another than the current one: the process's end is logged as that
    /// thread's, so that replay lets that thread take the signal (any other thread's next
    /// event being the end, replay would run it on instead). SIGKILL is never delivered.
    fn taker_of_fatal_signal(&self, tgid: i32, exit: ExitStatus) -> Option<u32> {
        let ExitStatus::Killed { signo, .. } = exit else {
            return None;
        };
        let (taker, delivered) = *self.last_signal.get(&tgid)?;
        let other_thread = taker != self.t.tid && self.tasks.tgid_of(taker as i32) == Some(tgid);
        (delivered == signo as u32 && other_thread && signo != libc::SIGKILL).then_some(taker)
    }

    /// The current thread of process `tgid` was killed and its end is about to be logged
    /// as the process's end. The thread holding the process's token may still have records
    /// in its ring (it was running in-process and will be reported gone after this one):
    /// they are logged first, so that replay runs them before it ends the process. A
    /// killed thread cannot finish a record, and records are only published whole.
    pub(crate) fn take_records_of_killed_holder(&mut self, tgid: i32) -> Result<(), RecordError> {
        let Some(holder) = self.sched.holder(tgid) else {
            return Ok(());
        };
        if holder == self.t.tid as i32 || self.task_mut(holder).map(|t| t.tgid) != Some(tgid) {
            return Ok(());
        }
        let Some(space) = self.spaces.get(&tgid) else {
            return Ok(());
        };
        if !space.has_records() {
            return Ok(());
        }
        let (bytes, count) = space.take_records(false).map_err(|e| {
            RecordError::Other(format!(
                "process {tgid}: reading the in-process calls of its killed thread {holder}: {e}"
            ))
        })?;
        self.log_taken(tgid, holder as u32, bytes, count)
            .map(|_| ())
    }
}

//! The order of the bytes written to ftrun's own stdout and stderr. Replay echoes them in
//! the log's order; for that to be the order in which they came out when recorded, two
//! such writes must never be in the kernel at once, whichever threads or processes make
//! them. So a write to ftrun's stdout or stderr takes a recording-wide turn at its entry,
//! and gives it back at its exit; a thread whose write comes meanwhile waits at its entry.
//! While several processes run, their writes take the traced path, where the turn is
//! kept (in-process calls are logged at the thread's next stop, which is not the order
//! in which processes running side by side wrote).

use schema::Echo;
use syscalls::{rule_for, syscall_args, Rule};
use tracee::Stop;

use crate::session::Recorder;
use crate::RecordError;

impl Recorder<'_> {
    /// Where bytes written to `fd` go at replay: ftrun's own stdout or stderr, or nowhere.
    pub(crate) fn echo_for(&self, fd: u64) -> Echo {
        let id = fd_identity(&format!("/proc/{}/fd/{}", self.t.tracee.pid(), fd as i32));
        self.echo_of(fd, id)
    }

    /// Where bytes written to `fd`, whose file has identity `id` (device, inode), go at
    /// replay: ftrun's own stdout or stderr, or nowhere.
    pub(crate) fn echo_of(&self, fd: u64, id: Option<(u64, u64)>) -> Echo {
        self.echo.echo_of(fd, id)
    }

    /// Whether `rule`, with `args`, writes to ftrun's own stdout or stderr.
    pub(crate) fn writes_to_our_output(&self, rule: Rule, args: &[u64; 6]) -> bool {
        match rule {
            Rule::Output { fd, .. } => self.echo_for(args[fd]) != Echo::None,
            _ => false,
        }
    }

    /// A thread at the entry of a write to ftrun's stdout or stderr while another's is in
    /// the kernel: it waits there for its turn (true).
    pub(crate) fn waits_for_output_turn(&mut self, stop: &Stop) -> Result<bool, RecordError> {
        let Stop::SyscallEntry { nr } = *stop else {
            return Ok(false);
        };
        let me = self.t.tid;
        if self.output_turn.is_none_or(|holder| holder == me) {
            return Ok(false);
        }
        let args = syscall_args(&self.t.tracee.regs()?);
        if !self.writes_to_our_output(rule_for(nr), &args) {
            return Ok(false);
        }
        if !self.output_waiters.contains(&me) {
            self.output_waiters.push_back(me);
        }
        Ok(true)
    }

    /// The current thread's write is done (or the thread is gone): the next waiting one
    /// gets its turn in `dispatch_output_turn`.
    pub(crate) fn end_output_turn(&mut self) {
        let me = self.t.tid;
        if self.output_turn == Some(me) {
            self.output_turn = None;
        }
        if self.t.ended {
            self.output_waiters.retain(|&t| t != me);
        }
    }

    /// Hands a free turn to the thread that has waited longest for it.
    pub(crate) fn dispatch_output_turn(&mut self) -> Result<(), RecordError> {
        while self.output_turn.is_none() {
            let Some(tid) = self.output_waiters.pop_front() else {
                return Ok(());
            };
            if !self.tasks.is_known(&self.t, tid) {
                continue;
            }
            self.tasks.switch_to(&mut self.t, tid as i32);
            if let Some(stop) = self.t.parked.take() {
                self.step(stop)?;
            }
        }
        Ok(())
    }

    /// Several processes run side by side: their outputs take the traced path.
    pub(crate) fn outputs_from_several_processes(&self) -> bool {
        self.tasks.other_process_alive(&self.t)
    }
}

pub(crate) fn fd_identity(path: &str) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

//! An exec by a thread other than its process's leader. The kernel ends every other thread,
//! the leader too, and gives the thread that made the exec the leader's id: its exec stop
//! comes under that id. The recording logs the execve under the thread's own id and
//! everything from the exec on under the leader's, as replay meets them.

use tracee::TraceeError;

use crate::session::Recorder;
use crate::RecordError;

impl Recorder<'_> {
    /// At an exec stop of the current thread (found by the id it came under): when another
    /// thread made the exec, that thread becomes the current one, in place of the leader,
    /// which is gone without an end of its own.
    pub(crate) fn take_over_leader_at_exec(&mut self) -> Result<(), RecordError> {
        let leader = self.t.tracee.pid();
        let former = match self.t.tracee.event_msg() {
            Ok(msg) => msg as i32,
            Err(TraceeError::TraceeDied { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if former == leader || former <= 0 {
            return Ok(());
        }
        let Some(mut execing) = self.tasks.take(former) else {
            return Err(RecordError::Other(format!(
                "process {leader}: an exec came from thread {former}, which the recording \
                 does not know"
            )));
        };
        execing.tracee.took_over_leader(leader);
        let gone = std::mem::replace(&mut self.t, execing);
        // The leader may have held its process's token when the kernel took it (it was
        // running its own code): nobody else would get the token again.
        self.sched.remove(gone.tgid, leader);
        Ok(())
    }

    /// After its execve is logged: a thread that made the exec in place of its leader is
    /// known by the leader's id from now on.
    pub(crate) fn become_leader_after_exec(&mut self) {
        let (tgid, tid) = (self.t.tgid, self.t.tid as i32);
        let now = self.t.tracee.pid();
        if now == tid {
            return;
        }
        self.sched.rename_thread(tgid, tid, now);
        self.t.tid = now as u32;
    }
}

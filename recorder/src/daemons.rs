//! Daemons a recorded program leaves behind: once the root process has ended, processes
//! that left its session would keep the recording going for ever.

use crate::session::Recorder;

impl Recorder<'_> {
    /// Once the root process has ended, daemons it left behind (processes in a session of
    /// their own, which nothing ends) are killed, and the recording ends with their ends,
    /// as rr does; processes still in the root's session (a shell's background job) are
    /// waited for.
    pub(crate) fn end_daemons(&mut self, root_session: i32) {
        if self.tasks.root_exit().is_none() || self.daemons_ended {
            return;
        }
        let Some(daemons) = self.tasks.only_daemons_left(&self.t, root_session) else {
            return;
        };
        self.daemons_ended = true;
        eprintln!(
            "ftrun: the program ended; the daemon processes it left ({}) are ended with it",
            daemons
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        for pid in daemons {
            // Its end comes as its next stop, logged as a kill from outside.
            if let Some(t) = self.task_mut(pid) {
                let _ = t.tracee.send_signal(libc::SIGKILL);
            }
        }
    }
}

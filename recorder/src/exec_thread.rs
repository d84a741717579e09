//! The exec stop: the new image's facts logged (`on_exec`), and an exec by a thread other
//! than its process's leader. The kernel ends every other thread,
//! the leader too, and gives the thread that made the exec the leader's id: its exec stop
//! comes under that id. The recording logs the execve under the thread's own id and
//! everything from the exec on under the leader's, as replay meets them.

use schema::{EventKind, ExecEvent, FileIdentity};
use tracee::{auxv, TraceeError};

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

    /// At the exec stop: logs the execve and the new image (its identity, `AT_RANDOM`, a
    /// copy of what the kernel loaded), before the image runs.
    pub(crate) fn on_exec(&mut self) -> Result<(), RecordError> {
        self.t.exec_exit_pending = true;
        let regs = self.t.tracee.regs()?;
        let facts = auxv::hide_vdso(&mut self.t.tracee, regs.rsp)?;
        let at_random = self.t.tracee.read_mem(facts.at_random_addr, 16)?;
        self.tsc_exec(facts.vdso_base)?;
        // The execve that got here is logged before the new image, as replay meets them.
        if let Some(p) = self.t.pending.take() {
            self.log_syscall(p, 0)?;
        }
        self.become_leader_after_exec();
        let exe_link = format!("/proc/{}/exe", self.t.tracee.pid());
        let shown = std::fs::read_link(&exe_link).unwrap_or_default();
        use std::os::unix::ffi::OsStrExt;
        let exe = FileIdentity::of(
            std::path::Path::new(&exe_link),
            shown.as_os_str().as_bytes(),
        )
        .map_err(|source| RecordError::Io {
            what: format!("reading the identity of {}", shown.display()),
            source,
        })?;
        // The new image shares no memory with anyone (a vfork child's no longer its
        // parent's): the process takes turns alone.
        self.shared_memory.remove(&self.t.tgid);
        self.sched
            .leave_shared_token(self.t.tgid, self.t.tid as i32);
        // What the kernel loaded, kept so that replay can load it again whatever the files
        // have become.
        let image = match self.files.keep_image(self.t.tracee.pid()) {
            Ok(image) => image,
            Err(e) => {
                self.warn_once(format!(
                    "could not keep a copy of {} ({e}); replay needs it unchanged",
                    shown.display()
                ));
                None
            }
        };
        self.drain_file_warnings();
        // Signals held for the old image die with it; a spin watch too.
        self.t.held.clear();
        self.stop_spin_watch()?;
        self.push(EventKind::Exec(ExecEvent {
            exe,
            at_random_addr: facts.at_random_addr,
            at_random,
            rsp: regs.rsp,
            image,
        }))?;
        self.release_vfork_parent()
    }
}

//! The rule of a syscall as the recorder applies it at its entry: the table's, unless what
//! the recording knows of its threads and processes says otherwise.

use syscalls::{rule_for_call, Rule};

use crate::session::Recorder;

impl Recorder<'_> {
    /// The rule for syscall `nr` the current thread enters (`restart_of`: the call a
    /// `restart_syscall` goes on with).
    pub(crate) fn rule_at_entry(&self, nr: u64, args: &[u64; 6], restart_of: Option<u64>) -> Rule {
        if let Some(orig) = restart_of {
            return rule_for_call(orig, args);
        }
        if nr == libc::SYS_process_vm_writev as u64 && self.writes_into_other_recorded(args[0]) {
            return Rule::Refuse(
                "process_vm_writev into another recorded process is not recorded (replay could \
                 not place the write in that process's run)",
            );
        }
        rule_for_call(nr, args)
    }

    /// Whether `pid` names a thread of a recorded process other than the current one.
    fn writes_into_other_recorded(&self, pid: u64) -> bool {
        let Ok(pid) = i32::try_from(pid) else {
            return false;
        };
        if pid <= 0 || pid == self.t.tgid || pid == self.t.tid as i32 {
            return false;
        }
        self.tasks
            .tgid_of(pid)
            .is_some_and(|tgid| tgid != self.t.tgid)
    }
}

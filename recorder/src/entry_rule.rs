//! The rule of a syscall as the recorder applies it at its entry: the table's, unless what
//! the recording knows of its threads and processes says otherwise.

use syscalls::{rule_for_call, Rule};

use crate::session::Recorder;

impl Recorder<'_> {
    /// The rule for syscall `nr` the current thread enters (`restart_of`: the call a
    /// `restart_syscall` goes on with).
    pub(crate) fn rule_at_entry(
        &mut self,
        nr: u64,
        args: &[u64; 6],
        restart_of: Option<u64>,
    ) -> Rule {
        if let Some(orig) = restart_of {
            return rule_for_call(orig, args);
        }
        if nr == libc::SYS_process_vm_writev as u64 && self.writes_into_other_recorded(args[0]) {
            return Rule::Refuse(
                "process_vm_writev into another recorded process is not recorded (replay could \
                 not place the write in that process's run)",
            );
        }
        if nr == libc::SYS_vmsplice as u64
            && crate::call_facts::opened_read_only(self.t.tracee.pid(), args[0])
        {
            return syscalls::VMSPLICE_FROM_PIPE;
        }
        if nr == libc::SYS_prctl as u64 && args[0] == libc::PR_GET_SECCOMP as u64 {
            // The mode without ftrun's own filter.
            let own = self.own_seccomp.contains(&self.t.tgid);
            return Rule::Pretend(if own {
                2
            } else {
                crate::call_facts::inherited_seccomp_mode()
            });
        }
        let rule = rule_for_call(nr, args);
        if crate::call_facts::installs_seccomp_filter(nr, args) && rule.runs_at_replay() {
            if let Some(why) = self.unfollowed_filter(args[2]) {
                return Rule::Refuse(why);
            }
        }
        rule
    }

    /// Reads the filter a seccomp call installs (its `struct sock_fprog` at `prog`): why it
    /// cannot be recorded, if so. An unreadable one is left to the kernel (EFAULT).
    fn unfollowed_filter(&mut self, prog: u64) -> Option<&'static str> {
        let head = self.t.tracee.read_mem(prog, 16).ok()?;
        let len = u16::from_le_bytes([head[0], head[1]]) as usize;
        let addr = u64::from_le_bytes(head[8..16].try_into().ok()?);
        let code = self.t.tracee.read_mem(addr, len * 8).ok()?;
        syscalls::unfollowed_seccomp_action(&code)
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

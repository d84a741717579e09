//! Signal syscalls: dispositions and masks are kernel state replay needs, so they run again.

use crate::rule::{out, Len::*, Rule, Rule::*};
use libc::*;

const SAME: Rule = Execute { same_result: true };

const UPROBE: Rule = Refuse("uprobe trampolines are the kernel's own (a program never calls them)");

pub(crate) const RULES: &[(c_long, Rule)] = &[
    (SYS_rt_sigaction, SAME),
    (SYS_rt_sigprocmask, SAME),
    (SYS_rt_sigreturn, SAME),
    (SYS_sigaltstack, SAME),
    (SYS_rt_sigsuspend, ExecuteUntilSignal),
    (SYS_pause, Emulate(&[])),
    (SYS_kill, Emulate(&[])),
    (SYS_tgkill, Emulate(&[])),
    (SYS_tkill, Emulate(&[])),
    (SYS_rt_sigqueueinfo, Emulate(&[])),
    (SYS_rt_tgsigqueueinfo, Emulate(&[])),
    (SYS_rt_sigpending, Emulate(&[out(0, Fixed(8))])),
    (SYS_rt_sigtimedwait, Emulate(&[out(1, Fixed(128))])),
    (SYS_signalfd, Emulate(&[])),
    (SYS_signalfd4, Emulate(&[])),
    // The recorder follows restart_syscall to the call a signal interrupted (however many
    // times); without one (a handler ran since: its rt_sigreturn ended the restart) the
    // kernel says EINTR.
    (SYS_restart_syscall, Pretend(-(EINTR as i64))),
    // Like kill: the signal is logged where it is delivered.
    (SYS_pidfd_send_signal, Emulate(&[])),
    (335, UPROBE), // uretprobe
    (336, UPROBE), // uprobe
];

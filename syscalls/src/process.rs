//! Identity, limits, scheduling and lifecycle of the process.

use crate::rule::{out, Ipc, Len::*, Rule, Rule::*, Special};
use libc::*;

const NONE: Rule = Emulate(&[]);
const SAME: Rule = Execute { same_result: true };
const NEW_PROCESS: Rule = Execute { same_result: false };

/// Calls the kernel no longer implements: any program that uses them falls back.
const GONE: Rule = Refuse("the kernel no longer implements this call");
const ADMIN: Rule =
    Refuse("system administration calls are not recorded (ftrun records ordinary programs)");
const MODULES: Rule = Refuse("loading kernel modules is not recorded");
const IOPRIO: Rule = Refuse("I/O priorities are not recorded yet");
const NAMESPACES: Rule =
    Refuse("namespaces are not recorded (the program would see another world at replay)");
const PIDFD_GETFD: Rule =
    Refuse("taking a descriptor out of another process (pidfd_getfd) is not recorded yet");
const LANDLOCK: Rule = Refuse("Landlock sandboxes are not recorded yet");
const LSM: Rule = Refuse("security-module attributes are not recorded");
const FUTEX2: Rule = Refuse("the futex2 calls are not recorded yet (libc uses futex)");
const CREDENTIALS: Rule = Refuse("this credential change is not recorded yet");

pub(crate) const RULES: &[(c_long, Rule)] = &[
    (SYS_getpid, NONE),
    (SYS_getppid, NONE),
    (SYS_gettid, NONE),
    (SYS_getuid, NONE),
    (SYS_geteuid, NONE),
    (SYS_getgid, NONE),
    (SYS_getegid, NONE),
    (SYS_getpgrp, NONE),
    (SYS_getpgid, NONE),
    (SYS_getsid, NONE),
    (SYS_setsid, NONE),
    (SYS_setpgid, NONE),
    (SYS_setuid, NONE),
    (SYS_setgid, NONE),
    (SYS_setreuid, NONE),
    (SYS_setregid, NONE),
    (SYS_setresuid, NONE),
    (SYS_setresgid, NONE),
    (SYS_setgroups, NONE),
    (
        SYS_getresuid,
        Emulate(&[out(0, Fixed(4)), out(1, Fixed(4)), out(2, Fixed(4))]),
    ),
    (
        SYS_getresgid,
        Emulate(&[out(0, Fixed(4)), out(1, Fixed(4)), out(2, Fixed(4))]),
    ),
    (SYS_getgroups, Emulate(&[out(1, RetTimes(4))])),
    // The kernel writes its preferred version into the header when the caller's is unknown.
    (SYS_capget, Emulate(&[out(0, Fixed(8)), out(1, Fixed(24))])),
    (SYS_uname, Emulate(&[out(0, Fixed(390))])),
    (SYS_sethostname, NONE),
    (SYS_getrandom, Emulate(&[out(0, Ret)])),
    (SYS_getrlimit, Emulate(&[out(1, Fixed(16))])),
    (SYS_setrlimit, SAME),
    (SYS_prlimit64, Emulate(&[out(3, Fixed(16))])),
    (SYS_getpriority, NONE),
    (SYS_setpriority, NONE),
    (SYS_sched_yield, NONE),
    (SYS_sched_getaffinity, Emulate(&[out(2, Ret)])),
    (SYS_sched_setaffinity, NONE),
    (SYS_sched_getparam, Emulate(&[out(1, Fixed(4))])),
    (SYS_sched_getscheduler, NONE),
    (SYS_sched_setscheduler, NONE),
    (SYS_getcpu, Emulate(&[out(0, Fixed(4)), out(1, Fixed(4))])),
    (SYS_personality, NONE),
    (SYS_prctl, EmulateSpecial(Special::Prctl)),
    (SYS_arch_prctl, SAME),
    (SYS_set_tid_address, Execute { same_result: false }),
    (SYS_set_robust_list, SAME),
    (
        SYS_get_robust_list,
        Emulate(&[out(1, Fixed(8)), out(2, Fixed(8))]),
    ),
    (SYS_wait4, Emulate(&[out(1, Fixed(4)), out(3, Fixed(144))])),
    (
        SYS_waitid,
        Emulate(&[out(2, Fixed(128)), out(4, Fixed(144))]),
    ),
    // Replay runs the threads in the recorded order, so waits end where they ended.
    (SYS_futex, EmulateSpecial(Special::Futex)),
    (SYS_exit, SAME),
    (SYS_exit_group, SAME),
    (SYS_execve, SAME),
    (SYS_execveat, SAME),
    // New processes are made again in replay; the child's pid is the recorded one.
    (SYS_fork, NEW_PROCESS),
    (SYS_vfork, NEW_PROCESS),
    (SYS_clone, NEW_PROCESS),
    // glibc falls back to clone, whose flags the recorder can check.
    (SYS_clone3, Pretend(-(ENOSYS as i64))),
    // Programs fall back without these; they cannot be replayed, so they quietly "do not exist".
    (SYS_rseq, Pretend(-(ENOSYS as i64))),
    (SYS_io_uring_setup, Pretend(-(ENOSYS as i64))),
    (SYS_io_uring_enter, Refuse("io_uring cannot be replayed")),
    (SYS_io_uring_register, Refuse("io_uring cannot be replayed")),
    (SYS_ptrace, Refuse("a traced program cannot trace others")),
    // The program's own filters: see `seccomp_rule`.
    (SYS_seccomp, Refuse("seccomp filters are not recorded yet")),
    (
        SYS_perf_event_open,
        Refuse("performance counters cannot be replayed"),
    ),
    // The bytes read land in the caller's own iovecs, whoever they came from.
    (
        SYS_process_vm_readv,
        EmulateSpecial(Special::Iov { iov: 1, cnt: 2 }),
    ),
    // Into the caller's own process: the bytes written are kept; into a process outside
    // the recording they leave it. (Into another recorded process the recorder refuses it.)
    (
        SYS_process_vm_writev,
        EmulateSpecial(Special::ProcessVmWritev),
    ),
    (SYS_bpf, Refuse("bpf is not recorded")),
    (SYS_setfsuid, CREDENTIALS),
    (SYS_setfsgid, CREDENTIALS),
    (
        SYS_capset,
        Refuse("changing capabilities is not recorded yet"),
    ),
    // Scheduling policy changes only when threads run, which the log orders anyway.
    (SYS_sched_setparam, NONE),
    (SYS_sched_get_priority_max, NONE),
    (SYS_sched_get_priority_min, NONE),
    (SYS_sched_rr_get_interval, Emulate(&[out(1, Fixed(16))])),
    (SYS_sched_setattr, NONE),
    (
        SYS_sched_getattr,
        Emulate(&[out(1, ArgTimes { arg: 2, size: 1 })]),
    ),
    (SYS_ioprio_set, IOPRIO),
    (SYS_ioprio_get, IOPRIO),
    // SysV semaphores live in the kernel: emulated, waits ending where the log says.
    (SYS_semget, NONE),
    (SYS_semop, NONE),
    (SYS_semctl, EmulateSpecial(Special::IpcCtl(Ipc::Sem))),
    (SYS_semtimedop, NONE),
    (SYS_futex_waitv, FUTEX2),
    (454, FUTEX2), // futex_wake
    (455, FUTEX2), // futex_wait
    (456, FUTEX2), // futex_requeue
    // The kernel keyring lives outside the process: emulated, keys made when recorded.
    (SYS_add_key, NONE),
    (SYS_request_key, NONE),
    (SYS_keyctl, EmulateSpecial(Special::Keyctl)),
    // Which namespaces: `unshare_rule` (by its flags).
    (SYS_unshare, NAMESPACES),
    (SYS_setns, NAMESPACES),
    (470, NAMESPACES), // listns
    (
        SYS_kcmp,
        Refuse("comparing kernel objects of two processes (kcmp) is not recorded"),
    ),
    // A pidfd is a descriptor like an eventfd: what the program learns through it (poll,
    // waitid(P_PIDFD)) is logged by those calls.
    (SYS_pidfd_open, NONE),
    (SYS_pidfd_getfd, PIDFD_GETFD),
    (SYS_landlock_create_ruleset, LANDLOCK),
    (SYS_landlock_add_rule, LANDLOCK),
    (SYS_landlock_restrict_self, LANDLOCK),
    (459, LSM), // lsm_get_self_attr
    (460, LSM), // lsm_set_self_attr
    (461, LSM), // lsm_list_modules
    (SYS_syslog, Refuse("reading the kernel log is not recorded")),
    (SYS_vhangup, ADMIN),
    // Process accounting writes its records outside the program: run when recorded only.
    (SYS_acct, NONE),
    (SYS_reboot, ADMIN),
    (SYS_setdomainname, ADMIN),
    (SYS_iopl, ADMIN),
    (SYS_ioperm, ADMIN),
    (SYS_kexec_load, ADMIN),
    (SYS_kexec_file_load, ADMIN),
    (SYS_init_module, MODULES),
    (SYS_finit_module, MODULES),
    (SYS_delete_module, MODULES),
    (174, GONE), // create_module
    (177, GONE), // get_kernel_syms
    (178, GONE), // query_module
    (SYS__sysctl, GONE),
    (SYS_getpmsg, GONE),
    (SYS_putpmsg, GONE),
    (SYS_afs_syscall, GONE),
    (SYS_tuxcall, GONE),
    (SYS_security, GONE),
    (SYS_vserver, GONE),
];

/// `unshare` flags whose new copy the recording follows: replay makes the same call, and
/// everything the program sees through them (files, hostnames, sockets, IPC objects, the
/// ids and maps of a user namespace) is recorded as usual.
const UNSHARE_FOLLOWED: i32 = CLONE_FILES
    | CLONE_FS
    | CLONE_NEWUSER
    | CLONE_SYSVSEM
    | CLONE_NEWNS
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWNET
    | CLONE_NEWCGROUP;

/// `CLONE_NEWTIME` (not in every libc).
const CLONE_NEWTIME_FLAG: i32 = 0x80;

/// A seccomp filter the program installs itself runs while recording and again at replay:
/// the kernel answers the calls it filters (an errno, a SIGSYS) the same way both times,
/// before ftrun's own filter sees them. Strict mode and filters whose calls another process
/// answers (`SECCOMP_FILTER_FLAG_NEW_LISTENER`) are refused.
pub(crate) fn seccomp_rule(op: u64, flags: u64) -> Rule {
    const SET_MODE_FILTER: u64 = 1;
    const GET_ACTION_AVAIL: u64 = 2;
    const GET_NOTIF_SIZES: u64 = 3;
    const FLAG_NEW_LISTENER: u64 = 1 << 3;
    match op {
        SET_MODE_FILTER if flags & FLAG_NEW_LISTENER == 0 => Execute { same_result: true },
        SET_MODE_FILTER => Refuse(
            "seccomp filters that hand calls to a supervisor (user notification) are not recorded",
        ),
        GET_ACTION_AVAIL => NONE_EMULATED,
        GET_NOTIF_SIZES => NOTIF_SIZES,
        _ => Refuse("seccomp strict mode is not recorded (ftrun's runtime makes other calls)"),
    }
}

const NONE_EMULATED: Rule = Emulate(&[]);
/// `seccomp(SECCOMP_GET_NOTIF_SIZES)` writes three `__u16` sizes.
const NOTIF_SIZES: Rule = Emulate(&[out(2, Fixed(6))]);

/// `unshare` or `clone` into a new pid namespace.
pub(crate) const NEW_PID_NAMESPACE: Rule = Refuse(
    "a new pid namespace is not recorded (its children's pids differ from the ones \
     the recorder follows)",
);

/// The rule of `unshare(flags)`: run at recording and at replay for the namespaces the
/// recording can follow, refused with the reason for the others.
pub fn unshare_rule(flags: i32) -> Rule {
    if flags & CLONE_NEWPID != 0 {
        return NEW_PID_NAMESPACE;
    }
    if flags & CLONE_NEWTIME_FLAG != 0 {
        return Refuse(
            "a new time namespace is not recorded (its clocks differ from the recorded ones)",
        );
    }
    if flags & !UNSHARE_FOLLOWED != 0 {
        return Refuse("unshare with flags the recorder does not know is not recorded");
    }
    SAME
}

/// The classic BPF program of a seccomp filter (`struct sock_filter` records of 8 bytes):
/// the reason it cannot be recorded, if one of its returns is an action other than allowing
/// the call, failing it with an errno or logging it. A trap or a kill would land inside the
/// call as replay skips it, and a return of the accumulator could be anything.
pub fn unfollowed_seccomp_action(filter: &[u8]) -> Option<&'static str> {
    const BPF_RET: u16 = 0x06;
    const BPF_RVAL_MASK: u16 = 0x18;
    const BPF_K: u16 = 0x00;
    const ACTION_FULL: u32 = 0xffff_0000;
    const FOLLOWED: [u32; 3] = [
        0x7fff_0000, // SECCOMP_RET_ALLOW
        0x0005_0000, // SECCOMP_RET_ERRNO
        0x7ffc_0000, // SECCOMP_RET_LOG
    ];
    for insn in filter.chunks_exact(8) {
        let code = u16::from_le_bytes([insn[0], insn[1]]);
        if code & 0x07 != BPF_RET {
            continue;
        }
        if code & BPF_RVAL_MASK != BPF_K {
            return Some("seccomp filters that return a computed action are not recorded");
        }
        let k = u32::from_le_bytes([insn[4], insn[5], insn[6], insn[7]]);
        if !FOLLOWED.contains(&(k & ACTION_FULL)) {
            return Some(
                "seccomp filters that trap, kill or hand calls to a tracer are not recorded \
                 (filters that allow, log or fail calls with an errno are)",
            );
        }
    }
    None
}

#[cfg(test)]
mod seccomp_tests {
    extern crate std;

    use super::unfollowed_seccomp_action;
    use std::vec::Vec;

    fn insn(code: u16, k: u32) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[..2].copy_from_slice(&code.to_le_bytes());
        b[4..].copy_from_slice(&k.to_le_bytes());
        b
    }

    #[test]
    fn errno_and_allow_filters_are_followed_and_traps_are_not() {
        let load = insn(0x20, 0); // BPF_LD | BPF_W | BPF_ABS
        let jeq = insn(0x15, 39); // BPF_JMP | BPF_JEQ | BPF_K
        let errno = insn(0x06, 0x0005_0000 | 1);
        let allow = insn(0x06, 0x7fff_0000);
        let trap = insn(0x06, 0x0003_0000);
        let ret_a = insn(0x16, 0);
        let ok: Vec<u8> = [load, jeq, errno, allow].concat();
        assert_eq!(unfollowed_seccomp_action(&ok), None);
        let traps: Vec<u8> = [load, jeq, trap, allow].concat();
        assert!(unfollowed_seccomp_action(&traps).is_some());
        let computed: Vec<u8> = [load, ret_a].concat();
        assert!(unfollowed_seccomp_action(&computed).is_some());
    }
}

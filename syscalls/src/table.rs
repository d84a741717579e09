//! The syscall table: one rule per x86-64 syscall number, gathered at compile time from the
//! family modules, which mirror the replayer's (`fs`, `net`, `mem`, `time`, `signal`,
//! `process`).

use crate::names::MAX_SYSCALL;
use crate::rule::Rule;
use crate::{fs, mem, net, process, signal, time};

const TABLE_SIZE: usize = MAX_SYSCALL as usize + 1;
/// Every family's rules, mirrored by the replayer's modules of the same names.
const FAMILIES: [&[(libc::c_long, Rule)]; 6] = [
    fs::RULES,
    net::RULES,
    mem::RULES,
    time::RULES,
    signal::RULES,
    process::RULES,
];
/// Numbers the kernel's x86-64 table has no syscall for (the gap 337..=423, and past its end).
pub const NOT_A_SYSCALL: Rule = Rule::Refuse("not a syscall of this kernel");

/// Built by the compiler: a number with two rules, or one past the table, fails the build.
static TABLE: [Rule; TABLE_SIZE] = build();

const fn build() -> [Rule; TABLE_SIZE] {
    let mut table = [NOT_A_SYSCALL; TABLE_SIZE];
    let mut listed = [false; TABLE_SIZE];
    let mut f = 0;
    while f < FAMILIES.len() {
        let family = FAMILIES[f];
        let mut i = 0;
        while i < family.len() {
            let (nr, rule) = family[i];
            let nr = nr as usize;
            assert!(nr < TABLE_SIZE, "a rule for a number past the name table");
            assert!(!listed[nr], "a syscall has two rules");
            listed[nr] = true;
            table[nr] = rule;
            i += 1;
        }
        f += 1;
    }
    table
}

/// The rule for syscall `nr` (numbers that are no syscall are refused).
/// A number no x86-64 kernel uses for a syscall (negative ones included): the kernel says
/// ENOSYS to it with or without ftrun, so refusing it is the native behaviour and needs no
/// warning. Unknown numbers below this bound may be syscalls of a newer kernel.
pub fn never_a_syscall(nr: u64) -> bool {
    nr >= 1024 && rule_for(nr) == NOT_A_SYSCALL
}

pub fn rule_for(nr: u64) -> Rule {
    match TABLE.get(nr as usize) {
        Some(rule) => *rule,
        None => NOT_A_SYSCALL,
    }
}

/// True when the call has an effect outside the process (bytes sent, files changed,
/// signals to others): under fault tolerance it runs only once the follower has the log.
pub fn leaves_process(nr: u64, rule: Rule) -> bool {
    use libc::*;
    if matches!(rule, Rule::Output { .. }) {
        return true;
    }
    const EFFECTS: &[c_long] = &[
        SYS_kill,
        SYS_tkill,
        SYS_tgkill,
        SYS_rt_sigqueueinfo,
        SYS_rt_tgsigqueueinfo,
        SYS_pidfd_send_signal,
        SYS_sendfile,
        SYS_splice,
        SYS_tee,
        SYS_copy_file_range,
        SYS_sendmmsg,
        SYS_connect,
        SYS_shutdown,
        SYS_unlink,
        SYS_unlinkat,
        SYS_rename,
        SYS_renameat,
        SYS_renameat2,
        SYS_mkdir,
        SYS_mkdirat,
        SYS_rmdir,
        SYS_truncate,
        SYS_ftruncate,
        SYS_fallocate,
        SYS_link,
        SYS_linkat,
        SYS_symlink,
        SYS_symlinkat,
        SYS_chmod,
        SYS_fchmod,
        SYS_fchmodat,
        SYS_utimensat,
        SYS_fsync,
        SYS_fdatasync,
        SYS_setxattr,
        SYS_lsetxattr,
        SYS_fsetxattr,
        SYS_removexattr,
        SYS_lremovexattr,
        SYS_fremovexattr,
        // SysV IPC objects are seen by other processes.
        SYS_msgsnd,
        SYS_msgctl,
        SYS_semop,
        SYS_semtimedop,
        SYS_semctl,
        SYS_shmctl,
        // So are POSIX message queues (mq_open may create one).
        SYS_mq_open,
        SYS_mq_unlink,
        SYS_mq_timedsend,
    ];
    EFFECTS.contains(&(nr as c_long))
}

/// The rule for one call, where the arguments change it (prctl options that would undo
/// the recorder's own setup).
pub fn rule_for_call(nr: u64, args: &[u64; 6]) -> Rule {
    if nr == libc::SYS_clone as u64 {
        let flags = args[0] as i32;
        let shares_memory = flags & libc::CLONE_VM != 0 && flags & libc::CLONE_VFORK == 0;
        if shares_memory && flags & libc::CLONE_THREAD == 0 {
            return Rule::Refuse(
                "processes that share memory without being threads are not recorded",
            );
        }
        if flags & libc::CLONE_NEWPID != 0 {
            // The program then sees pids of the new namespace where replay hands back the
            // recorder's: refused at once rather than diverging at replay.
            return crate::process::NEW_PID_NAMESPACE;
        }
    }
    if nr == libc::SYS_prctl as u64 {
        match args[0] as i32 {
            libc::PR_SET_TSC => return Rule::Pretend(0),
            // The recorder answers with the mode the program has without ftrun's own filter
            // (see `recorder/src/entry_rule.rs`); this is the answer without filters.
            libc::PR_GET_SECCOMP => return Rule::Pretend(0),
            libc::PR_SET_SECCOMP => {
                // prctl's SECCOMP_MODE_FILTER (2) is seccomp's SECCOMP_SET_MODE_FILTER (1);
                // strict mode is refused either way.
                const MODE_FILTER: u64 = 2;
                let op = if args[1] == MODE_FILTER { 1 } else { 0 };
                return crate::process::seccomp_rule(op, 0);
            }
            // A filter installed at replay needs it as much as the recorded one did.
            libc::PR_SET_NO_NEW_PRIVS => return Rule::Execute { same_result: true },
            _ => {}
        }
    }
    if nr == libc::SYS_prlimit64 as u64 && args[0] == 0 && args[2] != 0 {
        // A new limit for the program itself (glibc's setrlimit): replay applies it too,
        // since the kernel enforces it (a smaller stack overflows sooner).
        return Rule::Execute { same_result: true };
    }
    if nr == libc::SYS_seccomp as u64 {
        return crate::process::seccomp_rule(args[0], args[1]);
    }
    if nr == libc::SYS_unshare as u64 {
        return crate::process::unshare_rule(args[0] as i32);
    }
    rule_for(nr)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::names::known_name;

    #[test]
    fn no_syscall_is_listed_twice() {
        let mut seen = [false; TABLE_SIZE];
        for family in FAMILIES {
            for &(nr, _) in family {
                assert!(!seen[nr as usize], "syscall {nr} has two rules");
                seen[nr as usize] = true;
            }
        }
    }

    #[test]
    fn common_syscalls_have_rules() {
        for nr in [libc::SYS_read, libc::SYS_mmap, libc::SYS_clock_gettime] {
            assert!(!matches!(rule_for(nr as u64), Rule::Refuse(_)));
        }
        assert_eq!(rule_for(9999), NOT_A_SYSCALL);
        assert_eq!(rule_for(MAX_SYSCALL + 1), NOT_A_SYSCALL);
        assert!(never_a_syscall(9999) && never_a_syscall(-10i64 as u64));
        assert!(!never_a_syscall(MAX_SYSCALL + 1) && !never_a_syscall(libc::SYS_read as u64));
    }

    /// Every number up to the kernel's last syscall has its own rule, or is refused with a
    /// reason naming what is not recorded; only numbers the kernel has no syscall for
    /// get the generic refusal.
    #[test]
    fn every_syscall_number_has_a_rule_or_a_reason() {
        let mut missing = std::vec::Vec::new();
        for nr in 0..=MAX_SYSCALL {
            let rule = rule_for(nr);
            match known_name(nr) {
                Some(name) if rule == NOT_A_SYSCALL => missing.push((nr, name)),
                Some(_) => {}
                None => assert_eq!(rule, NOT_A_SYSCALL, "syscall {nr} has no name"),
            }
            if let Rule::Refuse(why) = rule {
                assert!(why.len() > 10, "syscall {nr}: reason {why:?} says nothing");
                assert!(!why.contains("not supported"), "syscall {nr}: {why:?}");
            }
        }
        assert!(missing.is_empty(), "no rule for {missing:?}");
    }
}

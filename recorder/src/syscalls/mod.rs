//! The syscall table: one rule per syscall, gathered from the family modules, which
//! mirror the replayer's (`fs`, `net`, `mem`, `time`, `signal`, `process`).

mod fs;
mod mem;
mod net;
mod process;
pub mod rule;
mod signal;
mod time;

use std::sync::OnceLock;

pub use rule::{Len, Out, Rule, Sent, Special};

const TABLE_SIZE: usize = 512;
/// Every family's rules, mirrored by the replayer's modules of the same names.
const FAMILIES: [&[(libc::c_long, Rule)]; 6] = [
    fs::RULES,
    net::RULES,
    mem::RULES,
    time::RULES,
    signal::RULES,
    process::RULES,
];
const UNKNOWN: Rule = Rule::Refuse("this syscall is not supported");

fn table() -> &'static [Rule; TABLE_SIZE] {
    static TABLE: OnceLock<[Rule; TABLE_SIZE]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [UNKNOWN; TABLE_SIZE];
        for family in FAMILIES {
            for &(nr, rule) in family {
                t[nr as usize] = rule;
            }
        }
        t
    })
}

/// The rule for syscall `nr` (unknown numbers are refused).
pub fn rule_for(nr: u64) -> Rule {
    table().get(nr as usize).copied().unwrap_or(UNKNOWN)
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
        SYS_sendfile,
        SYS_splice,
        SYS_tee,
        SYS_copy_file_range,
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
    }
    if nr == libc::SYS_prctl as u64 {
        match args[0] as i32 {
            libc::PR_SET_TSC => return Rule::Pretend(0),
            libc::PR_SET_SECCOMP => return Rule::Refuse("seccomp filters are not recorded yet"),
            _ => {}
        }
    }
    rule_for(nr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_syscall_is_listed_twice() {
        let mut seen = std::collections::HashSet::new();
        for family in FAMILIES {
            for &(nr, _) in family {
                assert!(seen.insert(nr), "syscall {nr} has two rules");
            }
        }
    }

    #[test]
    fn common_syscalls_have_rules() {
        for nr in [libc::SYS_read, libc::SYS_mmap, libc::SYS_clock_gettime] {
            assert_ne!(rule_for(nr as u64), UNKNOWN);
        }
        assert_eq!(rule_for(9999), UNKNOWN);
    }
}

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
const UNKNOWN: Rule = Rule::Refuse("this syscall is not supported");

fn table() -> &'static [Rule; TABLE_SIZE] {
    static TABLE: OnceLock<[Rule; TABLE_SIZE]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [UNKNOWN; TABLE_SIZE];
        for family in [
            fs::RULES,
            net::RULES,
            mem::RULES,
            time::RULES,
            signal::RULES,
            process::RULES,
        ] {
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

/// The rule for one call, where the arguments change it (prctl options that would undo
/// the recorder's own setup).
pub fn rule_for_call(nr: u64, args: &[u64; 6]) -> Rule {
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
        for family in [
            fs::RULES,
            net::RULES,
            mem::RULES,
            time::RULES,
            signal::RULES,
            process::RULES,
        ] {
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

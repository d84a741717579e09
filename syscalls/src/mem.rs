//! The address space: replay runs these again, so the tracee's memory layout is rebuilt.

use crate::rule::{Rule, Rule::*};
use libc::*;

const SAME: Rule = Execute { same_result: true };

pub(crate) const RULES: &[(c_long, Rule)] = &[
    (SYS_brk, SAME),
    (SYS_mmap, Mmap),
    (SYS_munmap, SAME),
    (SYS_mprotect, SAME),
    (SYS_mremap, SAME),
    (SYS_madvise, SAME),
    (SYS_mlock, SAME),
    (SYS_mlock2, SAME),
    (SYS_munlock, SAME),
    (SYS_mlockall, SAME),
    (SYS_munlockall, SAME),
    (SYS_msync, SAME),
    (SYS_membarrier, Emulate(&[])),
    (SYS_mincore, Refuse("mincore is not recorded yet")),
    (
        SYS_pkey_alloc,
        Refuse("memory protection keys are not recorded"),
    ),
    (
        SYS_pkey_mprotect,
        Refuse("memory protection keys are not recorded"),
    ),
    (SYS_userfaultfd, Refuse("userfaultfd cannot be replayed")),
];

//! The address space: replay runs these again, so the tracee's memory layout is rebuilt.

use crate::rule::{out, Ipc, Len::*, Rule, Rule::*, Special};
use libc::*;

const SAME: Rule = Execute { same_result: true };

const NUMA: Rule = Refuse("NUMA memory policy is not recorded");
const OTHER_PROCESS: Rule = Refuse("changing another process's memory is not recorded");
const SEGMENTS: Rule = Refuse("x86 segment descriptors (LDT, TLS entries) are not recorded");

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
    (SYS_mincore, Emulate(&[out(2, PagesIn(1))])),
    (
        SYS_pkey_alloc,
        Refuse("memory protection keys are not recorded"),
    ),
    (
        SYS_pkey_mprotect,
        Refuse("memory protection keys are not recorded"),
    ),
    (SYS_userfaultfd, Refuse("userfaultfd cannot be replayed")),
    (SYS_pkey_free, Refuse("memory protection keys are not recorded")),
    // A SysV segment is a shared file the kernel names by id: shmat maps it (its bytes
    // kept like a shared file mapping's), shmdt unmaps it; replay maps a file of its own.
    (SYS_shmget, Emulate(&[])),
    (SYS_shmat, Mmap),
    (SYS_shmdt, SAME),
    (SYS_shmctl, EmulateSpecial(Special::IpcCtl(Ipc::Shm))),
    (SYS_remap_file_pages, Refuse("remap_file_pages is not recorded (the kernel emulates it slowly; programs rarely need it)")),
    (SYS_mbind, NUMA),
    (SYS_set_mempolicy, NUMA),
    (SYS_get_mempolicy, NUMA),
    (SYS_migrate_pages, NUMA),
    (SYS_move_pages, NUMA),
    (SYS_set_mempolicy_home_node, NUMA),
    (SYS_process_madvise, OTHER_PROCESS),
    (SYS_process_mrelease, OTHER_PROCESS),
    (SYS_modify_ldt, SEGMENTS),
    (SYS_set_thread_area, SEGMENTS),
    (SYS_get_thread_area, SEGMENTS),
    (SYS_memfd_secret, Refuse("secret memory (memfd_secret) cannot be read by the recorder")),
    (453, Refuse("shadow stacks are not recorded yet")), // map_shadow_stack
    (SYS_mseal, Refuse("sealing mappings (mseal) is not recorded yet")),
];

/// Calls that change the address space: they never wait for another thread, and replay
/// runs them again in the log's order, so a thread keeps its turn through them (two run
/// at once could get their addresses in the other order than the log's).
pub fn changes_address_space(nr: u64) -> bool {
    [
        SYS_mmap,
        SYS_munmap,
        SYS_mprotect,
        SYS_brk,
        SYS_mremap,
        SYS_madvise,
        SYS_pkey_mprotect,
        SYS_shmat,
        SYS_shmdt,
    ]
    .contains(&(nr as c_long))
}

/// Calls that change the mapped parts of their range and then fail with `ENOMEM` for a
/// hole in it: replay runs them again even when they failed so.
pub fn applies_in_part(nr: u64, result: i64) -> bool {
    result == -(ENOMEM as i64)
        && [
            SYS_madvise,
            SYS_mprotect,
            SYS_pkey_mprotect,
            SYS_mlock,
            SYS_mlock2,
            SYS_munlock,
        ]
        .contains(&(nr as c_long))
}

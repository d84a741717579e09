//! mmap at replay: every mapping is made again at its recorded address; a file mapping
//! becomes private anonymous memory filled with the bytes kept in the trace.

use std::path::Path;

use schema::SyscallEvent;
use tracee::{Regs, Tracee};

use crate::ReplayError;

const MAP_TYPE_MASK: u64 = 0x03; // MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE
const DROPPED_FLAGS: u64 = (libc::MAP_FIXED_NOREPLACE | libc::MAP_HUGETLB | libc::MAP_SYNC) as u64;

/// Rewrites the mmap the tracee is entering so that it lands where it did when recorded.
/// Shared anonymous memory stays shared (a parent and its forked children see each other's
/// writes); everything else becomes private anonymous memory.
pub fn prepare_mmap(regs: &mut Regs, ev: &SyscallEvent) {
    let flags = regs.r10;
    let shared_anonymous =
        flags & libc::MAP_ANONYMOUS as u64 != 0 && flags & MAP_TYPE_MASK == libc::MAP_SHARED as u64;
    let kind = if shared_anonymous {
        libc::MAP_SHARED
    } else {
        libc::MAP_PRIVATE
    };
    regs.rdi = ev.result as u64;
    regs.r10 = (flags & !(MAP_TYPE_MASK | DROPPED_FLAGS))
        | (kind | libc::MAP_FIXED | libc::MAP_ANONYMOUS) as u64;
    regs.r8 = u64::MAX; // fd -1
    regs.r9 = 0;
}

/// Puts back the arguments `prepare_mmap` changed: the program sees its registers as it left them.
pub fn restore_args(regs: &mut Regs, ev: &SyscallEvent) {
    regs.rdi = ev.args[0];
    regs.r10 = ev.args[3];
    regs.r8 = ev.args[4];
    regs.r9 = ev.args[5];
}

/// Fills a replayed file mapping with the recorded file bytes.
pub fn fill_mapping(
    tracee: &mut Tracee,
    ev: &SyscallEvent,
    trace_dir: &Path,
) -> Result<(), ReplayError> {
    let Some(mapping) = &ev.mapping else {
        return Ok(());
    };
    let path = trace_dir.join("files").join(&mapping.stored_as);
    let data = std::fs::read(&path).map_err(|source| ReplayError::Io {
        what: format!(
            "reading the recorded copy of {} ({})",
            String::from_utf8_lossy(&mapping.file.path),
            path.display()
        ),
        source,
    })?;
    let prot = ev.args[2] as i32;
    if prot & libc::PROT_READ == 0 && prot & libc::PROT_WRITE == 0 {
        // Not accessible now; the bytes are only needed once mprotect opens it up.
        // PROT_NONE file mappings are reservations in practice.
        return Ok(());
    }
    tracee.write_mem(ev.result as u64, &data)?;
    Ok(())
}

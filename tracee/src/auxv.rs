//! The auxiliary vector of a freshly exec'd image: where `AT_RANDOM` is, and hiding the
//! vDSO (`AT_SYSINFO_EHDR` becomes `AT_IGNORE`) so time calls become real syscalls.

use crate::{Tracee, TraceeError};

const AT_NULL: u64 = 0;
const AT_IGNORE: u64 = 1;
const AT_RANDOM: u64 = 25;
const AT_SYSINFO_EHDR: u64 = 33;

/// What the exec side of record and replay need from the new image's stack.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuxvFacts {
    pub at_random_addr: u64,
    /// Where the kernel mapped the vDSO (0: none), hidden from the program.
    pub vdso_base: u64,
}

/// Walks argc/argv/envp at `rsp` to the auxv, hides the vDSO, and reports where the
/// `AT_RANDOM` bytes are. Must be called at the exec stop, before the image runs.
pub fn hide_vdso(tracee: &mut Tracee, rsp: u64) -> Result<AuxvFacts, TraceeError> {
    let argc = tracee.read_u64(rsp)?;
    // Skip argc, argv[argc], NULL.
    let mut at = rsp + 8 + (argc + 1) * 8;
    // envp until NULL.
    while tracee.read_u64(at)? != 0 {
        at += 8;
    }
    at += 8;
    let mut facts = AuxvFacts::default();
    for _ in 0..128 {
        let key = tracee.read_u64(at)?;
        if key == AT_NULL {
            break;
        }
        match key {
            AT_RANDOM => facts.at_random_addr = tracee.read_u64(at + 8)?,
            AT_SYSINFO_EHDR => {
                facts.vdso_base = tracee.read_u64(at + 8)?;
                tracee.write_mem(at, &AT_IGNORE.to_le_bytes())?
            }
            _ => {}
        }
        at += 16;
    }
    Ok(facts)
}

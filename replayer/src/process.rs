//! Exec at replay: the same program image, its `AT_RANDOM` bytes, the vDSO hidden again.

use schema::{ExecEvent, FileIdentity};
use tracee::Tracee;

use crate::ReplayError;

/// Checks that the kernel loaded the recorded program and applies what exec randomised.
pub fn replay_exec(
    tracee: &mut Tracee,
    ev: &ExecEvent,
    seq: u64,
    tid: u32,
) -> Result<(), ReplayError> {
    let regs = tracee.regs()?;
    let exe_link = format!("/proc/{}/exe", tracee.pid());
    let now =
        FileIdentity::of(std::path::Path::new(&exe_link), &ev.exe.path).map_err(|source| {
            ReplayError::Io {
                what: format!(
                    "reading the identity of {}",
                    String::from_utf8_lossy(&ev.exe.path)
                ),
                source,
            }
        })?;
    // With the image kept, its content was compared before the exec (`kept.rs`); an older
    // trace has only the size and mtime to go by.
    if ev.image.is_none() && (now.size != ev.exe.size || now.mtime_ns != ev.exe.mtime_ns) {
        return Err(ReplayError::Setup(format!(
            "{} changed since it was recorded (size {} -> {}, mtime {} -> {}); replay needs the recorded program",
            String::from_utf8_lossy(&ev.exe.path),
            ev.exe.size,
            now.size,
            ev.exe.mtime_ns,
            now.mtime_ns
        )));
    }
    if regs.rsp != ev.rsp {
        return Err(ReplayError::Divergence {
            seq,
            tid,
            expected: format!("the new image's stack at {:#x}", ev.rsp),
            got: format!("{:#x} (environment or limits differ)", regs.rsp),
        });
    }
    let facts = tracee::auxv::hide_vdso(tracee, regs.rsp)?;
    if facts.at_random_addr != ev.at_random_addr {
        return Err(ReplayError::Divergence {
            seq,
            tid,
            expected: format!("AT_RANDOM at {:#x}", ev.at_random_addr),
            got: format!("{:#x}", facts.at_random_addr),
        });
    }
    tracee.write_mem(ev.at_random_addr, &ev.at_random)?;
    Ok(())
}

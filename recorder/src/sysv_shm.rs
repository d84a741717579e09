//! SysV shared memory while recording: an attached segment is kept like a shared file
//! mapping — its identity (the kernel's shm file) and its bytes at the attach — so replay
//! can back it with a file of its own that every attachment shares.

use schema::{FileIdentity, FileMapping};
use tracee::Tracee;

use crate::files::FileStore;
use crate::RecordError;

/// The segment `shmat` has just attached at `addr` in `tracee`, with its bytes kept in
/// `files`. `None` when `/proc` does not show a SysV mapping there.
pub fn keep_attached(
    tracee: &mut Tracee,
    files: &mut FileStore,
    addr: u64,
) -> Result<Option<FileMapping>, RecordError> {
    let Some(vma) = mapping_at(tracee.pid(), addr) else {
        return Ok(None);
    };
    let length = vma.end - vma.start;
    let bytes = tracee.read_mem(addr, length as usize)?;
    let stored_as = files.keep_bytes(&bytes).map_err(|source| RecordError::Io {
        what: format!("keeping the bytes of the SysV segment attached at {addr:#x}"),
        source,
    })?;
    Ok(Some(FileMapping {
        stored_as,
        file: FileIdentity {
            path: vma.path.into_bytes(),
            dev: vma.dev,
            ino: vma.ino,
            size: length,
            mtime_ns: 0,
        },
        offset: 0,
        length,
    }))
}

struct Vma {
    start: u64,
    end: u64,
    dev: u64,
    ino: u64,
    path: String,
}

/// The `/proc/PID/maps` line of a SysV segment mapped from `addr`.
fn mapping_at(pid: i32, addr: u64) -> Option<Vma> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    maps.lines().find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (range, dev, ino) = (cols.first()?, cols.get(3)?, cols.get(4)?);
        let (start, end) = range.split_once('-')?;
        let start = u64::from_str_radix(start, 16).ok()?;
        let path = cols.get(5).copied().unwrap_or("");
        if start != addr || !path.starts_with("/SYSV") {
            return None;
        }
        let (major, minor) = dev.split_once(':')?;
        Some(Vma {
            start,
            end: u64::from_str_radix(end, 16).ok()?,
            dev: libc::makedev(
                u32::from_str_radix(major, 16).ok()?,
                u32::from_str_radix(minor, 16).ok()?,
            ),
            ino: ino.parse().ok()?,
            path: path.to_string(),
        })
    })
}

//! Tracee memory through `/proc/PID/mem`, which also writes pages the tracee cannot.

use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::error::TraceeError;

pub(crate) fn read(file: &File, pid: i32, addr: u64, len: usize) -> Result<Vec<u8>, TraceeError> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, addr)
        .map_err(|source| memory_error("read", pid, addr, len, source))?;
    Ok(buf)
}

/// A failed access; `/proc/PID/mem` reads and writes nothing at all once the process's
/// memory is gone (it was killed or has exited): that is the tracee dying, not a bad address.
fn memory_error(
    op: &'static str,
    pid: i32,
    addr: u64,
    len: usize,
    source: std::io::Error,
) -> TraceeError {
    use std::io::ErrorKind;
    if matches!(
        source.kind(),
        ErrorKind::UnexpectedEof | ErrorKind::WriteZero
    ) || source.raw_os_error() == Some(libc::ESRCH)
    {
        return TraceeError::TraceeDied { pid };
    }
    TraceeError::Memory {
        op,
        pid,
        addr,
        len,
        source,
    }
}

pub(crate) fn read_partial(
    file: &File,
    pid: i32,
    addr: u64,
    len: usize,
) -> Result<Vec<u8>, TraceeError> {
    let mut buf = vec![0u8; len];
    let mut done = 0;
    while done < len {
        match file.read_at(&mut buf[done..], addr + done as u64) {
            // Nothing at all, not even EIO: the process's memory is gone.
            Ok(0) => return Err(TraceeError::TraceeDied { pid }),
            Ok(n) => done += n,
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(TraceeError::Memory {
                    op: "read",
                    pid,
                    addr,
                    len,
                    source,
                })
            }
        }
    }
    buf.truncate(done);
    Ok(buf)
}

pub(crate) fn write(file: &File, pid: i32, addr: u64, data: &[u8]) -> Result<(), TraceeError> {
    file.write_all_at(data, addr)
        .map_err(|source| memory_error("write", pid, addr, data.len(), source))
}

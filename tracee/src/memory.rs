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

/// The byte at each of `addrs`, in one `process_vm_readv` per thousand addresses instead of
/// a read each (the addresses a look at a process's code checks number in the thousands);
/// what it cannot read (a page it may not read through the process's own mappings) is read
/// through `/proc/PID/mem`.
pub(crate) fn read_bytes_at(file: &File, pid: i32, addrs: &[u64]) -> Result<Vec<u8>, TraceeError> {
    const BATCH: usize = 1024;
    let mut bytes = vec![0u8; addrs.len()];
    let mut done = 0;
    while done < addrs.len() {
        let n = (addrs.len() - done).min(BATCH);
        let local: Vec<libc::iovec> = bytes[done..done + n]
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: (b as *mut u8).cast(),
                iov_len: 1,
            })
            .collect();
        let remote: Vec<libc::iovec> = addrs[done..done + n]
            .iter()
            .map(|&a| libc::iovec {
                iov_base: a as *mut libc::c_void,
                iov_len: 1,
            })
            .collect();
        // SAFETY: each local iovec points at one byte of `bytes`, alive and not otherwise
        // borrowed for the call; the remote ones are only addresses in the other process.
        let got = unsafe {
            libc::process_vm_readv(
                pid,
                local.as_ptr(),
                n as libc::c_ulong,
                remote.as_ptr(),
                n as libc::c_ulong,
                0,
            )
        };
        // A partial read stops at the first address it could not read.
        let got = usize::try_from(got).unwrap_or(0).min(n);
        done += got;
        if got < n {
            bytes[done] = read(file, pid, addrs[done], 1)?[0];
            done += 1;
        }
    }
    Ok(bytes)
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

//! Syscall buffers read from a traced process: the bytes an output syscall sends out (its
//! `Sent` shape), and the buffer and iovec reads the recorder's capture shares.

use std::vec::Vec;

use tracee::{Tracee, TraceeError};

use crate::rule::Sent;

/// Largest single buffer read; larger claims are bounded by what is mapped.
pub const MAX_BUFFER: usize = 256 << 20;
/// Most iovec entries read from one array.
const MAX_IOV: u64 = 1024;

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

/// Reads up to `len` bytes at `addr` (as far as they are mapped) into `into` as
/// `(address, bytes)`; a null address, a zero length or an unmapped start adds nothing.
pub fn read_buf(
    tracee: &mut Tracee,
    addr: u64,
    len: usize,
    into: &mut Vec<(u64, Vec<u8>)>,
) -> Result<(), TraceeError> {
    if addr == 0 || len == 0 {
        return Ok(());
    }
    let data = tracee.read_mem_partial(addr, len.min(MAX_BUFFER))?;
    if !data.is_empty() {
        into.push((addr, data));
    }
    Ok(())
}

/// Reads an iovec array and up to `total` bytes spread over its buffers.
pub fn read_iov(
    tracee: &mut Tracee,
    iov: u64,
    cnt: u64,
    mut total: usize,
    into: &mut Vec<(u64, Vec<u8>)>,
) -> Result<(), TraceeError> {
    if iov == 0 || cnt == 0 || total == 0 {
        return Ok(());
    }
    let raw = tracee.read_mem(iov, (cnt.min(MAX_IOV) as usize) * 16)?;
    for entry in raw.chunks_exact(16) {
        if total == 0 {
            break;
        }
        let (base, len) = (u64_at(entry, 0), u64_at(entry, 8) as usize);
        let n = len.min(total);
        read_buf(tracee, base, n, into)?;
        total -= n;
    }
    Ok(())
}

/// The bytes an output syscall sends out of the process (`limit` = how many it reports sent).
pub fn sent_bytes(
    tracee: &mut Tracee,
    sent: Sent,
    args: &[u64; 6],
    limit: usize,
) -> Result<Vec<u8>, TraceeError> {
    let mut parts = Vec::new();
    match sent {
        Sent::Buf { buf } => read_buf(tracee, args[buf], limit, &mut parts)?,
        Sent::Iov { iov, cnt } => read_iov(tracee, args[iov], args[cnt], limit, &mut parts)?,
        Sent::Msg { msg } => {
            if args[msg] != 0 {
                let hdr = tracee.read_mem(args[msg], 56)?;
                read_iov(
                    tracee,
                    u64_at(&hdr, 16),
                    u64_at(&hdr, 24),
                    limit,
                    &mut parts,
                )?;
            }
        }
    }
    Ok(parts.into_iter().flat_map(|(_, data)| data).collect())
}

//! Vectored and message I/O in the runtime: the bytes of an iovec, copied without ever
//! faulting on the program's behalf (an array the kernel cannot read sends the call to the
//! traced path), and readv/recvmsg made in-process.

use core::ptr::read_volatile;

use crate::layout::*;
use crate::{memcpy, nr, sys, sys3, Record, EAGAIN, MAX_IOV, MSG_DONTWAIT};

/// Where the bytes of an output call are: one buffer, or an iovec array (writev, and
/// sendmsg's message).
#[derive(Clone, Copy)]
pub(crate) enum Sent {
    Buf(u64),
    Iov(u64, u64),
}

impl Sent {
    /// The sending of call `n` (the program's memory, read once the call succeeded or
    /// was checked readable: see `copy_in`).
    pub(crate) unsafe fn of(n: u64, a: [u64; 6]) -> Sent {
        match n {
            nr::WRITEV => Sent::Iov(a[1], a[2]),
            nr::SENDMSG => {
                let m = a[1] as *const u64;
                Sent::Iov(read_volatile(m.add(2)), read_volatile(m.add(3)))
            }
            _ => Sent::Buf(a[1]),
        }
    }

    /// Copies the first `len` bytes sent to `dst`.
    pub(crate) unsafe fn copy_to(self, dst: *mut u8, len: u64) {
        match self {
            Sent::Buf(addr) => {
                memcpy(dst, addr as *const u8, len as usize);
            }
            Sent::Iov(iov, cnt) => {
                let (mut at, mut left) = (0u64, len);
                for i in 0..cnt as usize {
                    if left == 0 {
                        break;
                    }
                    let entry = (iov as *const u64).add(2 * i);
                    let n = read_volatile(entry.add(1)).min(left);
                    memcpy(dst.add(at as usize), read_volatile(entry) as *const u8, n as usize);
                    at += n;
                    left -= n;
                }
            }
        }
    }
}

/// Copies `len` bytes of the program's memory at `addr` to `dst`; false when the kernel
/// cannot read them (the program's call would fail with EFAULT: it takes the traced
/// path, and the runtime never faults on the program's behalf).
pub(crate) unsafe fn copy_in(dst: *mut u8, addr: u64, len: u64) -> bool {
    let local = [dst as u64, len];
    let remote = [addr, len];
    let pid = sys3(nr::GETPID, 0, 0, 0) as u64;
    let got = sys(
        nr::PROCESS_VM_READV,
        [pid, local.as_ptr() as u64, 1, remote.as_ptr() as u64, 1, 0],
    );
    got == len as i64
}

/// The iovec array at `iov` (`cnt` entries), checked readable: the bytes it describes,
/// and the records' room for writes into each of its buffers.
pub(crate) unsafe fn iov_sizes(iov: u64, cnt: u64) -> Option<(u64, u64)> {
    if cnt as usize > MAX_IOV {
        return None;
    }
    let mut entries = [0u64; 2 * MAX_IOV];
    if cnt > 0 && !copy_in(entries.as_mut_ptr() as *mut u8, iov, cnt * 16) {
        return None;
    }
    let (mut total, mut room) = (0u64, 0u64);
    for i in 0..cnt as usize {
        let len = entries[2 * i + 1];
        total = total.checked_add(len)?;
        room += WRITE_HEADER_SIZE + pad8(len.min(RING_DATA_SIZE));
    }
    Some((total, room))
}

/// The bytes the output call `n` would send at most, with its memory checked readable.
pub(crate) unsafe fn output_size(n: u64, a: [u64; 6]) -> Option<u64> {
    match n {
        nr::WRITEV => iov_sizes(a[1], a[2]).map(|(total, _)| total),
        nr::SENDMSG => {
            let mut m = [0u64; 7];
            if a[1] == 0 || !copy_in(m.as_mut_ptr() as *mut u8, a[1], 56) {
                return None;
            }
            iov_sizes(m[2], m[3]).map(|(total, _)| total)
        }
        _ => Some(a[2]),
    }
}

/// recvmsg in-process, without control data (passed descriptors stay traced): the
/// sender's address, the bytes in the iovec's buffers, and the message header the kernel
/// updated, as the traced path logs them. A call that would block and may not goes to
/// the tracer.
pub(crate) unsafe fn recvmsg(n: u64, a: [u64; 6], may_block: bool) -> Option<i64> {
    let mut before = [0u64; 7];
    if a[1] == 0 || !copy_in(before.as_mut_ptr() as *mut u8, a[1], 56) || before[5] != 0 {
        return None;
    }
    let name_room = (before[1] as u32) as u64;
    let (_, room) = iov_sizes(before[2], before[3])?;
    let mut rec =
        Record::begin(room + 2 * WRITE_HEADER_SIZE + pad8(name_room.min(RING_DATA_SIZE)) + 56)?;
    let mut tried = a;
    if !may_block {
        tried[2] |= MSG_DONTWAIT;
    }
    let r = sys(n, tried);
    if r == -EAGAIN && tried[2] != a[2] {
        return None;
    }
    if r >= 0 {
        let m = a[1] as *const u64;
        let name_len = name_room.min((read_volatile(m.add(1)) as u32) as u64);
        rec.write(read_volatile(m), name_len);
        rec.write_iov(before[2], before[3], r as u64);
        rec.write(a[1], 56);
    }
    Some(rec.commit(n, a, r, 0))
}

/// readv in-process: the bytes read land in the iovec's buffers in order.
pub(crate) unsafe fn readv(n: u64, a: [u64; 6]) -> Option<i64> {
    let (_, room) = iov_sizes(a[1], a[2])?;
    let mut rec = Record::begin(room)?;
    let r = sys(n, a);
    if r > 0 {
        rec.write_iov(a[1], a[2], r as u64);
    }
    Some(rec.commit(n, a, r, 0))
}


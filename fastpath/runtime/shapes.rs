//! Calls whose records take a shape of their own: time calls served by the vDSO, sleeps
//! that write their remainder only when cut short, and calls that fill a buffer of a size
//! the program passes by reference (socket addresses, option values).

use core::ptr::read_volatile;

use crate::layout::*;
use crate::vector::copy_in;
use crate::{control, nr, sys, sys3, Record, EINTR, F_GETFL, O_NONBLOCK};

/// A time call: the vDSO's function when every thread reads the time-stamp counter
/// untrapped (`FLAG_TSC_FREE`: the tracer saw to it that nothing else in the process
/// reads it unrecorded), for the clocks it reads without a syscall of its own; the
/// syscall otherwise. Either way the record holds what the call wrote.
pub(crate) unsafe fn time_call(nr: u64, a: [u64; 6]) -> i64 {
    let c = control();
    if read_volatile(&(*c).flags) & FLAG_TSC_FREE == 0 {
        return sys(nr, a);
    }
    let vdso = read_volatile(&(*c).vdso);
    match nr {
        // REALTIME, MONOTONIC, MONOTONIC_RAW, the coarse ones and BOOTTIME; a null
        // result pointer gets the syscall's EFAULT.
        nr::CLOCK_GETTIME if vdso[0] != 0 && a[1] != 0 && matches!(a[0], 0 | 1 | 4 | 5 | 6 | 7) => {
            let f: extern "C" fn(u64, u64) -> i64 = core::mem::transmute(vdso[0] as usize);
            f(a[0], a[1])
        }
        nr::GETTIMEOFDAY if vdso[1] != 0 => {
            let f: extern "C" fn(u64, u64) -> i64 = core::mem::transmute(vdso[1] as usize);
            f(a[0], a[1])
        }
        nr::TIME if vdso[2] != 0 => {
            let f: extern "C" fn(u64) -> i64 = core::mem::transmute(vdso[2] as usize);
            f(a[0])
        }
        _ => sys(nr, a),
    }
}

/// A sleep made in-process: `rem` is written only when a signal cut it short.
pub(crate) unsafe fn sleep(n: u64, a: [u64; 6], rem: u64) -> Option<i64> {
    let mut rec = Record::begin(WRITE_HEADER_SIZE + 16)?;
    let r = sys(n, a);
    if r == -EINTR {
        rec.write(rem, 16);
    }
    Some(rec.commit(n, a, r, 0))
}

/// The most bytes a call of `with_sized_out` may write at its buffer in-process (a socket
/// address is at most 128; larger ones take the traced path).
const MAX_SIZED_OUT: u64 = 256;

/// A call that fills a buffer `buf` of the size at `lenp` and stores the size it had to
/// fill there (accept's and getpeername's address, getsockopt's value): the size is read
/// first, without faulting on the program's behalf (memory the kernel cannot read sends
/// the call to the traced path, as its EFAULT), and the record holds both writes.
pub(crate) unsafe fn with_sized_out(nr: u64, a: [u64; 6], buf: u64, lenp: u64) -> Option<i64> {
    let fills = buf != 0 && lenp != 0;
    let mut room = 0u32;
    if fills && !copy_in(&mut room as *mut u32 as *mut u8, lenp, 4) {
        return None;
    }
    let room = u64::from(room);
    if room > MAX_SIZED_OUT {
        return None;
    }
    let mut rec = Record::begin(2 * WRITE_HEADER_SIZE + pad8(room) + 8)?;
    let r = sys(nr, a);
    if r >= 0 && fills {
        let needed = u64::from(read_volatile(lenp as *const u32));
        rec.write(buf, needed.min(room));
        rec.write(lenp, 4);
    }
    Some(rec.commit(nr, a, r, 0))
}

/// Whether descriptor `fd` is non-blocking (a call on it cannot wait).
pub(crate) unsafe fn nonblocking(fd: u64) -> bool {
    let fl = sys3(nr::FCNTL, fd, F_GETFL, 0);
    fl >= 0 && fl & O_NONBLOCK != 0
}

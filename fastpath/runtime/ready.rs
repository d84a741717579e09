//! Whether a call the runtime would make cannot block (the thread holds its process's turn
//! while it runs one in-process), and what file a descriptor is.

use crate::{nr, sys, sys3};
use crate::{ENOENT, ENOTDIR, F_GETFL, O_APPEND, O_CREAT, O_NONBLOCK, O_TRUNC, O_WRONLY_OR_RDWR};
use crate::{POLLIN, POLLOUT, SMALL_WRITE, S_IFDIR, S_IFMT, S_IFREG};

/// Whether a read of `fd` returns at once (non-blocking descriptor, or data, EOF or an
/// error ready), so that the thread cannot block in it while holding its process's turn.
pub(crate) unsafe fn readable_now(fd: u64) -> bool {
    let fl = sys3(nr::FCNTL, fd, F_GETFL, 0);
    if fl < 0 {
        return false;
    }
    if fl & O_NONBLOCK != 0 {
        return true;
    }
    poll_now(fd, POLLIN)
}

pub(crate) unsafe fn poll_now(fd: u64, events: u16) -> bool {
    let mut pfd: [u32; 2] = [fd as u32, events as u32];
    let r = sys3(nr::POLL, pfd.as_mut_ptr() as u64, 1, 0);
    r == 1 && (pfd[1] >> 16) as u16 != 0
}

/// Whether a write of `len` bytes to `fd` returns at once.
pub(crate) unsafe fn writable_now(fd: u64, len: u64) -> bool {
    let fl = sys3(nr::FCNTL, fd, F_GETFL, 0);
    if fl < 0 {
        return false;
    }
    if fl & O_NONBLOCK != 0 || file_type(fd) == Some(S_IFREG) {
        return true;
    }
    len <= SMALL_WRITE && poll_now(fd, POLLOUT)
}

pub(crate) unsafe fn file_type(fd: u64) -> Option<u32> {
    file_of(fd).map(|(_, _, mode)| mode & S_IFMT)
}

/// The device, inode and mode of `fd`'s file.
pub(crate) unsafe fn file_of(fd: u64) -> Option<(u64, u64, u32)> {
    let mut st = [0u64; 18];
    if sys3(nr::FSTAT, fd, st.as_mut_ptr() as u64, 0) < 0 {
        return None;
    }
    // st_dev, st_ino, then st_nlink; st_mode is the 32-bit word at offset 24.
    Some((st[0], st[1], st[3] as u32))
}

/// Whether opening `path` (relative to `dirfd`) cannot block: an existing regular file or
/// directory (a FIFO or a device may wait for its other end), opened without creating or
/// changing anything.
pub(crate) unsafe fn opens_now(dirfd: u64, path: u64, flags: u64) -> bool {
    if flags & (O_CREAT | O_TRUNC | O_APPEND | O_WRONLY_OR_RDWR) != 0 {
        return false;
    }
    let mut st = [0u64; 18];
    match sys(nr::NEWFSTATAT, [dirfd, path, st.as_mut_ptr() as u64, 0, 0, 0]) {
        // Nothing there: the open fails the same way, at once.
        r if r == -ENOENT || r == -ENOTDIR => return true,
        r if r < 0 => return false,
        _ => {}
    }
    let t = (st[3] as u32) & S_IFMT;
    t == S_IFREG || t == S_IFDIR
}

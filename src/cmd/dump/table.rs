//! How to show each syscall's arguments and result: one row per syscall, in the order of the
//! kernel's table. Syscalls without a row show six arguments in hex.

use libc::c_long;

use super::flags as f;

/// How one argument is shown.
#[derive(Clone, Copy)]
pub enum Arg {
    /// A C `int`, in decimal.
    Int,
    /// A `long` or `off_t`, in decimal.
    Long,
    /// A size or count, in decimal.
    Size,
    Hex,
    /// An address: `NULL` or hex.
    Ptr,
    Fd,
    /// A directory descriptor: `AT_FDCWD` or a number.
    DirFd,
    /// A string passed in: quoted when the trace knows its bytes, else its address.
    Path,
    /// Bytes passed in, as many as the argument at this index says.
    BufIn(usize),
    /// Bytes the kernel wrote, as many as the result says.
    BufOut,
    /// A struct the kernel wrote (shown on success when its bytes are in the trace).
    Out(Written),
    /// A flag word or a value with names.
    Named(fn(u64) -> String),
    /// Permission bits in octal.
    Mode,
    Signal,
}

/// Structs and arrays the kernel writes.
#[derive(Clone, Copy)]
pub enum Written {
    Stat,
    Statx,
    Timespec,
    Timeval,
    Rlimit,
    FdPair,
    WaitStatus,
    Utsname,
    Dirents,
    /// A NUL-terminated string (getcwd).
    CString,
}

/// How the result is shown (failures always as `-1 ENAME (text)`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    Int,
    Hex,
}

use Arg::*;

type Row = (c_long, &'static [Arg], Ret);

const PATH_STAT: &[Arg] = &[Path, Out(Written::Stat)];

const ROWS: &[Row] = &[
    (libc::SYS_read, &[Fd, BufOut, Size], Ret::Int),
    (libc::SYS_write, &[Fd, BufIn(2), Size], Ret::Int),
    (
        libc::SYS_open,
        &[Path, Named(f::open_flags), Mode],
        Ret::Int,
    ),
    (libc::SYS_close, &[Fd], Ret::Int),
    (libc::SYS_stat, PATH_STAT, Ret::Int),
    (libc::SYS_fstat, &[Fd, Out(Written::Stat)], Ret::Int),
    (libc::SYS_lstat, PATH_STAT, Ret::Int),
    (libc::SYS_poll, &[Ptr, Size, Int], Ret::Int),
    (
        libc::SYS_lseek,
        &[Fd, Long, Named(f::seek_whence)],
        Ret::Int,
    ),
    (
        libc::SYS_mmap,
        &[Ptr, Size, Named(f::prot), Named(f::map_flags), Fd, Hex],
        Ret::Hex,
    ),
    (libc::SYS_mprotect, &[Ptr, Size, Named(f::prot)], Ret::Int),
    (libc::SYS_munmap, &[Ptr, Size], Ret::Int),
    (libc::SYS_brk, &[Ptr], Ret::Hex),
    (libc::SYS_rt_sigaction, &[Signal, Ptr, Ptr, Size], Ret::Int),
    (
        libc::SYS_rt_sigprocmask,
        &[Named(f::sigprocmask_how), Ptr, Ptr, Size],
        Ret::Int,
    ),
    (libc::SYS_rt_sigreturn, &[], Ret::Int),
    (
        libc::SYS_ioctl,
        &[Fd, Named(f::ioctl_request), Ptr],
        Ret::Int,
    ),
    (libc::SYS_pread64, &[Fd, BufOut, Size, Long], Ret::Int),
    (libc::SYS_pwrite64, &[Fd, BufIn(2), Size, Long], Ret::Int),
    (libc::SYS_readv, &[Fd, Ptr, Size], Ret::Int),
    (libc::SYS_writev, &[Fd, Ptr, Size], Ret::Int),
    (libc::SYS_vmsplice, &[Fd, Ptr, Size, Hex], Ret::Int),
    (libc::SYS_access, &[Path, Named(f::access_mode)], Ret::Int),
    (libc::SYS_pipe, &[Out(Written::FdPair)], Ret::Int),
    (libc::SYS_select, &[Int, Ptr, Ptr, Ptr, Ptr], Ret::Int),
    (libc::SYS_sched_yield, &[], Ret::Int),
    (
        libc::SYS_mremap,
        &[Ptr, Size, Size, Named(f::mremap_flags), Ptr],
        Ret::Hex,
    ),
    (
        libc::SYS_madvise,
        &[Ptr, Size, Named(f::madvise_advice)],
        Ret::Int,
    ),
    (libc::SYS_dup, &[Fd], Ret::Int),
    (libc::SYS_dup2, &[Fd, Fd], Ret::Int),
    (libc::SYS_pause, &[], Ret::Int),
    (libc::SYS_nanosleep, &[Ptr, Ptr], Ret::Int),
    (
        libc::SYS_getitimer,
        &[Named(f::itimer_which), Ptr],
        Ret::Int,
    ),
    (libc::SYS_alarm, &[Size], Ret::Int),
    (
        libc::SYS_setitimer,
        &[Named(f::itimer_which), Ptr, Ptr],
        Ret::Int,
    ),
    (libc::SYS_getpid, &[], Ret::Int),
    (libc::SYS_sendfile, &[Fd, Fd, Ptr, Size], Ret::Int),
    (
        libc::SYS_socket,
        &[Named(f::socket_domain), Named(f::socket_type), Int],
        Ret::Int,
    ),
    (libc::SYS_connect, &[Fd, Ptr, Size], Ret::Int),
    (libc::SYS_accept, &[Fd, Ptr, Ptr], Ret::Int),
    (
        libc::SYS_sendto,
        &[Fd, BufIn(2), Size, Named(f::msg_flags), Ptr, Size],
        Ret::Int,
    ),
    (
        libc::SYS_recvfrom,
        &[Fd, BufOut, Size, Named(f::msg_flags), Ptr, Ptr],
        Ret::Int,
    ),
    (libc::SYS_sendmsg, &[Fd, Ptr, Named(f::msg_flags)], Ret::Int),
    (libc::SYS_recvmsg, &[Fd, Ptr, Named(f::msg_flags)], Ret::Int),
    (libc::SYS_shutdown, &[Fd, Named(f::shutdown_how)], Ret::Int),
    (libc::SYS_bind, &[Fd, Ptr, Size], Ret::Int),
    (libc::SYS_listen, &[Fd, Int], Ret::Int),
    (libc::SYS_getsockname, &[Fd, Ptr, Ptr], Ret::Int),
    (libc::SYS_getpeername, &[Fd, Ptr, Ptr], Ret::Int),
    (
        libc::SYS_socketpair,
        &[
            Named(f::socket_domain),
            Named(f::socket_type),
            Int,
            Out(Written::FdPair),
        ],
        Ret::Int,
    ),
    (libc::SYS_setsockopt, &[Fd, Int, Int, Ptr, Size], Ret::Int),
    (libc::SYS_getsockopt, &[Fd, Int, Int, Ptr, Ptr], Ret::Int),
    (
        libc::SYS_clone,
        &[Named(f::clone_flags), Ptr, Ptr, Ptr, Hex],
        Ret::Int,
    ),
    (libc::SYS_fork, &[], Ret::Int),
    (libc::SYS_vfork, &[], Ret::Int),
    (libc::SYS_execve, &[Path, Ptr, Ptr], Ret::Int),
    (libc::SYS_exit, &[Int], Ret::Int),
    (
        libc::SYS_wait4,
        &[Int, Out(Written::WaitStatus), Named(f::wait_options), Ptr],
        Ret::Int,
    ),
    (libc::SYS_kill, &[Int, Signal], Ret::Int),
    (libc::SYS_uname, &[Out(Written::Utsname)], Ret::Int),
    (libc::SYS_fcntl, &[Fd, Named(f::fcntl_cmd), Hex], Ret::Int),
    (libc::SYS_flock, &[Fd, Int], Ret::Int),
    (libc::SYS_fsync, &[Fd], Ret::Int),
    (libc::SYS_fdatasync, &[Fd], Ret::Int),
    (libc::SYS_truncate, &[Path, Long], Ret::Int),
    (libc::SYS_ftruncate, &[Fd, Long], Ret::Int),
    (libc::SYS_getcwd, &[Out(Written::CString), Size], Ret::Int),
    (libc::SYS_chdir, &[Path], Ret::Int),
    (libc::SYS_fchdir, &[Fd], Ret::Int),
    (libc::SYS_rename, &[Path, Path], Ret::Int),
    (libc::SYS_mkdir, &[Path, Mode], Ret::Int),
    (libc::SYS_rmdir, &[Path], Ret::Int),
    (libc::SYS_creat, &[Path, Mode], Ret::Int),
    (libc::SYS_link, &[Path, Path], Ret::Int),
    (libc::SYS_unlink, &[Path], Ret::Int),
    (libc::SYS_symlink, &[Path, Path], Ret::Int),
    (libc::SYS_readlink, &[Path, BufOut, Size], Ret::Int),
    (libc::SYS_chmod, &[Path, Mode], Ret::Int),
    (libc::SYS_fchmod, &[Fd, Mode], Ret::Int),
    (libc::SYS_chown, &[Path, Int, Int], Ret::Int),
    (libc::SYS_fchown, &[Fd, Int, Int], Ret::Int),
    (libc::SYS_umask, &[Mode], Ret::Int),
    (
        libc::SYS_gettimeofday,
        &[Out(Written::Timeval), Ptr],
        Ret::Int,
    ),
    (
        libc::SYS_getrlimit,
        &[Named(super::names::rlimit_name), Out(Written::Rlimit)],
        Ret::Int,
    ),
    (libc::SYS_getrusage, &[Int, Ptr], Ret::Int),
    (libc::SYS_sysinfo, &[Ptr], Ret::Int),
    (libc::SYS_times, &[Ptr], Ret::Int),
    (libc::SYS_getuid, &[], Ret::Int),
    (libc::SYS_getgid, &[], Ret::Int),
    (libc::SYS_setuid, &[Int], Ret::Int),
    (libc::SYS_setgid, &[Int], Ret::Int),
    (libc::SYS_geteuid, &[], Ret::Int),
    (libc::SYS_getegid, &[], Ret::Int),
    (libc::SYS_setpgid, &[Int, Int], Ret::Int),
    (libc::SYS_getppid, &[], Ret::Int),
    (libc::SYS_getpgrp, &[], Ret::Int),
    (libc::SYS_setsid, &[], Ret::Int),
    (libc::SYS_getpgid, &[Int], Ret::Int),
    (libc::SYS_getsid, &[Int], Ret::Int),
    (libc::SYS_rt_sigpending, &[Ptr, Size], Ret::Int),
    (libc::SYS_rt_sigtimedwait, &[Ptr, Ptr, Ptr, Size], Ret::Int),
    (libc::SYS_rt_sigsuspend, &[Ptr, Size], Ret::Int),
    (libc::SYS_sigaltstack, &[Ptr, Ptr], Ret::Int),
    (libc::SYS_statfs, &[Path, Ptr], Ret::Int),
    (libc::SYS_fstatfs, &[Fd, Ptr], Ret::Int),
    (libc::SYS_getpriority, &[Int, Int], Ret::Int),
    (libc::SYS_setpriority, &[Int, Int, Int], Ret::Int),
    (
        libc::SYS_prctl,
        &[Named(f::prctl_option), Hex, Hex, Hex, Hex],
        Ret::Int,
    ),
    (
        libc::SYS_arch_prctl,
        &[Named(f::arch_prctl_code), Hex],
        Ret::Int,
    ),
    (libc::SYS_gettid, &[], Ret::Int),
    (libc::SYS_tkill, &[Int, Signal], Ret::Int),
    (libc::SYS_time, &[Ptr], Ret::Int),
    (
        libc::SYS_futex,
        &[Ptr, Named(f::futex_op), Int, Ptr, Ptr, Int],
        Ret::Int,
    ),
    (libc::SYS_sched_setaffinity, &[Int, Size, Ptr], Ret::Int),
    (libc::SYS_sched_getaffinity, &[Int, Size, Ptr], Ret::Int),
    (
        libc::SYS_getdents64,
        &[Fd, Out(Written::Dirents), Size],
        Ret::Int,
    ),
    (libc::SYS_set_tid_address, &[Ptr], Ret::Int),
    (libc::SYS_restart_syscall, &[], Ret::Int),
    (
        libc::SYS_fadvise64,
        &[Fd, Long, Size, Named(f::fadvise_advice)],
        Ret::Int,
    ),
    (
        libc::SYS_clock_gettime,
        &[Named(f::clock_id), Out(Written::Timespec)],
        Ret::Int,
    ),
    (
        libc::SYS_clock_getres,
        &[Named(f::clock_id), Out(Written::Timespec)],
        Ret::Int,
    ),
    (
        libc::SYS_clock_nanosleep,
        &[Named(f::clock_id), Named(f::timer_flags), Ptr, Ptr],
        Ret::Int,
    ),
    (libc::SYS_exit_group, &[Int], Ret::Int),
    (libc::SYS_epoll_wait, &[Fd, Ptr, Int, Int], Ret::Int),
    (
        libc::SYS_epoll_ctl,
        &[Fd, Named(f::epoll_op), Fd, Ptr],
        Ret::Int,
    ),
    (libc::SYS_tgkill, &[Int, Int, Signal], Ret::Int),
    (
        libc::SYS_waitid,
        &[Int, Int, Ptr, Named(f::wait_options), Ptr],
        Ret::Int,
    ),
    (
        libc::SYS_openat,
        &[DirFd, Path, Named(f::open_flags), Mode],
        Ret::Int,
    ),
    (libc::SYS_mkdirat, &[DirFd, Path, Mode], Ret::Int),
    (
        libc::SYS_newfstatat,
        &[DirFd, Path, Out(Written::Stat), Named(f::at_flags)],
        Ret::Int,
    ),
    (
        libc::SYS_unlinkat,
        &[DirFd, Path, Named(f::at_flags)],
        Ret::Int,
    ),
    (libc::SYS_renameat, &[DirFd, Path, DirFd, Path], Ret::Int),
    (libc::SYS_readlinkat, &[DirFd, Path, BufOut, Size], Ret::Int),
    (libc::SYS_fchmodat, &[DirFd, Path, Mode], Ret::Int),
    (
        libc::SYS_faccessat,
        &[DirFd, Path, Named(f::access_mode)],
        Ret::Int,
    ),
    (
        libc::SYS_pselect6,
        &[Int, Ptr, Ptr, Ptr, Ptr, Ptr],
        Ret::Int,
    ),
    (libc::SYS_ppoll, &[Ptr, Size, Ptr, Ptr, Size], Ret::Int),
    (libc::SYS_set_robust_list, &[Ptr, Size], Ret::Int),
    (libc::SYS_get_robust_list, &[Int, Ptr, Ptr], Ret::Int),
    (
        libc::SYS_utimensat,
        &[DirFd, Path, Ptr, Named(f::at_flags)],
        Ret::Int,
    ),
    (
        libc::SYS_epoll_pwait,
        &[Fd, Ptr, Int, Int, Ptr, Size],
        Ret::Int,
    ),
    (
        libc::SYS_timerfd_create,
        &[Named(f::clock_id), Named(f::fd_flags)],
        Ret::Int,
    ),
    (libc::SYS_fallocate, &[Fd, Int, Long, Long], Ret::Int),
    (
        libc::SYS_accept4,
        &[Fd, Ptr, Ptr, Named(f::fd_flags)],
        Ret::Int,
    ),
    (libc::SYS_eventfd2, &[Size, Named(f::fd_flags)], Ret::Int),
    (libc::SYS_epoll_create1, &[Named(f::fd_flags)], Ret::Int),
    (libc::SYS_dup3, &[Fd, Fd, Named(f::fd_flags)], Ret::Int),
    (
        libc::SYS_pipe2,
        &[Out(Written::FdPair), Named(f::fd_flags)],
        Ret::Int,
    ),
    (libc::SYS_preadv, &[Fd, Ptr, Size, Long], Ret::Int),
    (libc::SYS_pwritev, &[Fd, Ptr, Size, Long], Ret::Int),
    (
        libc::SYS_prlimit64,
        &[
            Int,
            Named(super::names::rlimit_name),
            Ptr,
            Out(Written::Rlimit),
        ],
        Ret::Int,
    ),
    (
        libc::SYS_renameat2,
        &[DirFd, Path, DirFd, Path, Hex],
        Ret::Int,
    ),
    (
        libc::SYS_getrandom,
        &[BufOut, Size, Named(f::getrandom_flags)],
        Ret::Int,
    ),
    (libc::SYS_memfd_create, &[Path, Hex], Ret::Int),
    (libc::SYS_membarrier, &[Int, Int], Ret::Int),
    (
        libc::SYS_copy_file_range,
        &[Fd, Ptr, Fd, Ptr, Size, Hex],
        Ret::Int,
    ),
    (
        libc::SYS_statx,
        &[DirFd, Path, Named(f::at_flags), Hex, Out(Written::Statx)],
        Ret::Int,
    ),
    (libc::SYS_rseq, &[Ptr, Size, Hex, Hex], Ret::Int),
    (libc::SYS_pidfd_open, &[Int, Hex], Ret::Int),
    (
        libc::SYS_pidfd_send_signal,
        &[Fd, Signal, Ptr, Hex],
        Ret::Int,
    ),
    (libc::SYS_clone3, &[Ptr, Size], Ret::Int),
    (libc::SYS_close_range, &[Fd, Fd, Hex], Ret::Int),
    (
        libc::SYS_faccessat2,
        &[DirFd, Path, Named(f::access_mode), Named(f::at_flags)],
        Ret::Int,
    ),
];

/// The row of syscall `nr`, if it has one.
pub fn row(nr: u64) -> Option<(&'static [Arg], Ret)> {
    ROWS.iter()
        .find(|(n, _, _)| *n as u64 == nr)
        .map(|&(_, args, ret)| (args, ret))
}

/// True for the syscalls whose mode argument only counts with `O_CREAT` or `O_TMPFILE`.
pub fn mode_only_when_creating(nr: u64) -> Option<usize> {
    match nr as c_long {
        libc::SYS_open => Some(1),
        libc::SYS_openat => Some(2),
        _ => None,
    }
}

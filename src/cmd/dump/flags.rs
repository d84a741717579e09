//! Flag words and enumerated arguments by name: `O_RDONLY|O_CLOEXEC`, `PROT_READ|PROT_WRITE`,
//! `MAP_PRIVATE|MAP_ANONYMOUS`, clone flags … Bits without a name are shown in hex.

macro_rules! named {
    ($($name:ident),* $(,)?) => {
        &[$((libc::$name as u64, stringify!($name))),*]
    };
}

/// Names the set bits of `v` from `table` (entries with several bits first), the rest in hex;
/// `zero` when nothing is set.
pub fn bits(v: u64, table: &[(u64, &str)], zero: &str) -> String {
    let mut left = v;
    let mut parts: Vec<String> = Vec::new();
    for &(bit, name) in table {
        if bit != 0 && left & bit == bit {
            parts.push(name.to_string());
            left &= !bit;
        }
    }
    if left != 0 {
        parts.push(format!("{left:#x}"));
    }
    if parts.is_empty() {
        zero.to_string()
    } else {
        parts.join("|")
    }
}

/// The name of `v` in `table`, or the number.
pub fn value(v: u64, table: &[(u64, &str)]) -> String {
    table
        .iter()
        .find(|(n, _)| *n == v)
        .map(|(_, name)| name.to_string())
        .unwrap_or_else(|| (v as i64).to_string())
}

const OPEN: &[(u64, &str)] = named![
    O_TMPFILE,
    O_SYNC,
    O_CREAT,
    O_EXCL,
    O_NOCTTY,
    O_TRUNC,
    O_APPEND,
    O_NONBLOCK,
    O_DSYNC,
    O_ASYNC,
    O_DIRECT,
    O_LARGEFILE,
    O_DIRECTORY,
    O_NOFOLLOW,
    O_NOATIME,
    O_CLOEXEC,
    O_PATH,
];

/// Open flags: the access mode first, as strace writes them.
pub fn open_flags(v: u64) -> String {
    let mode = match v & libc::O_ACCMODE as u64 {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_ACCMODE",
    };
    let rest = v & !(libc::O_ACCMODE as u64);
    if rest == 0 {
        mode.to_string()
    } else {
        format!("{mode}|{}", bits(rest, OPEN, ""))
    }
}

/// Flags like those of pipe2, dup3, eventfd, socket types: only `O_CLOEXEC`/`O_NONBLOCK`.
pub fn fd_flags(v: u64) -> String {
    bits(v, named![O_CLOEXEC, O_NONBLOCK, O_DIRECT], "0")
}

pub const PROT: &[(u64, &str)] = named![PROT_READ, PROT_WRITE, PROT_EXEC, PROT_GROWSDOWN];

pub fn prot(v: u64) -> String {
    bits(v, PROT, "PROT_NONE")
}

const MAP_TYPES: &[(u64, &str)] = named![MAP_SHARED_VALIDATE, MAP_SHARED, MAP_PRIVATE];
const MAP: &[(u64, &str)] = named![
    MAP_FIXED_NOREPLACE,
    MAP_FIXED,
    MAP_ANONYMOUS,
    MAP_GROWSDOWN,
    MAP_DENYWRITE,
    MAP_EXECUTABLE,
    MAP_LOCKED,
    MAP_NORESERVE,
    MAP_POPULATE,
    MAP_NONBLOCK,
    MAP_STACK,
    MAP_HUGETLB,
    MAP_SYNC,
    MAP_32BIT,
];

pub fn map_flags(v: u64) -> String {
    let kind = v & 0x3;
    let rest = v & !0x3;
    let kind = value(kind, MAP_TYPES);
    if rest == 0 {
        kind
    } else {
        format!("{kind}|{}", bits(rest, MAP, ""))
    }
}

const CLONE: &[(u64, &str)] = named![
    CLONE_VM,
    CLONE_FS,
    CLONE_FILES,
    CLONE_SIGHAND,
    CLONE_PIDFD,
    CLONE_PTRACE,
    CLONE_VFORK,
    CLONE_PARENT,
    CLONE_THREAD,
    CLONE_NEWNS,
    CLONE_SYSVSEM,
    CLONE_SETTLS,
    CLONE_PARENT_SETTID,
    CLONE_CHILD_CLEARTID,
    CLONE_DETACHED,
    CLONE_UNTRACED,
    CLONE_CHILD_SETTID,
    CLONE_NEWCGROUP,
    CLONE_NEWUTS,
    CLONE_NEWIPC,
    CLONE_NEWUSER,
    CLONE_NEWPID,
    CLONE_NEWNET,
    CLONE_IO,
];

/// Clone flags; the low byte is the signal sent to the parent at the child's end.
pub fn clone_flags(v: u64) -> String {
    let exit_signal = v & 0xff;
    let named = bits(v & !0xff, CLONE, "");
    match (named.is_empty(), exit_signal) {
        (_, 0) if !named.is_empty() => named,
        (true, 0) => "0".into(),
        (true, s) => super::names::signal_name(s as i64),
        (false, s) => format!("{named}|{}", super::names::signal_name(s as i64)),
    }
}

pub fn at_flags(v: u64) -> String {
    bits(
        v,
        named![
            AT_SYMLINK_NOFOLLOW,
            AT_REMOVEDIR,
            AT_SYMLINK_FOLLOW,
            AT_NO_AUTOMOUNT,
            AT_EMPTY_PATH,
            AT_STATX_FORCE_SYNC,
            AT_STATX_DONT_SYNC,
            AT_EACCESS
        ],
        "0",
    )
}

pub fn access_mode(v: u64) -> String {
    bits(v, named![R_OK, W_OK, X_OK], "F_OK")
}

/// File type and permission bits: `S_IFREG|0644`.
pub fn file_mode(v: u64) -> String {
    let kind = match v & libc::S_IFMT as u64 {
        0 => None,
        t => Some(value(
            t,
            named![S_IFREG, S_IFDIR, S_IFCHR, S_IFBLK, S_IFIFO, S_IFLNK, S_IFSOCK],
        )),
    };
    let perm = v & 0o7777;
    match kind {
        Some(k) => format!("{k}|{perm:04o}"),
        None => format!("{perm:04o}"),
    }
}

pub fn seek_whence(v: u64) -> String {
    value(
        v,
        named![SEEK_SET, SEEK_CUR, SEEK_END, SEEK_DATA, SEEK_HOLE],
    )
}

pub fn sigprocmask_how(v: u64) -> String {
    value(v, named![SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK])
}

pub fn clock_id(v: u64) -> String {
    value(
        v,
        named![
            CLOCK_REALTIME,
            CLOCK_MONOTONIC,
            CLOCK_PROCESS_CPUTIME_ID,
            CLOCK_THREAD_CPUTIME_ID,
            CLOCK_MONOTONIC_RAW,
            CLOCK_REALTIME_COARSE,
            CLOCK_MONOTONIC_COARSE,
            CLOCK_BOOTTIME,
            CLOCK_REALTIME_ALARM,
            CLOCK_BOOTTIME_ALARM,
            CLOCK_TAI
        ],
    )
}

pub fn timer_flags(v: u64) -> String {
    bits(v, named![TIMER_ABSTIME], "0")
}

pub fn fcntl_cmd(v: u64) -> String {
    value(
        v,
        named![
            F_DUPFD,
            F_GETFD,
            F_SETFD,
            F_GETFL,
            F_SETFL,
            F_GETLK,
            F_SETLK,
            F_SETLKW,
            F_SETOWN,
            F_GETOWN,
            F_OFD_GETLK,
            F_OFD_SETLK,
            F_OFD_SETLKW,
            F_SETLEASE,
            F_GETLEASE,
            F_NOTIFY,
            F_DUPFD_CLOEXEC,
            F_SETPIPE_SZ,
            F_GETPIPE_SZ,
            F_ADD_SEALS,
            F_GET_SEALS
        ],
    )
}

pub fn socket_domain(v: u64) -> String {
    value(
        v,
        named![AF_UNSPEC, AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET],
    )
}

pub fn socket_type(v: u64) -> String {
    let kind = value(
        v & 0xf,
        named![SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_RDM, SOCK_SEQPACKET],
    );
    let rest = v & !0xf;
    if rest == 0 {
        kind
    } else {
        format!(
            "{kind}|{}",
            bits(rest, named![SOCK_CLOEXEC, SOCK_NONBLOCK], "")
        )
    }
}

pub fn msg_flags(v: u64) -> String {
    bits(
        v,
        named![
            MSG_OOB,
            MSG_PEEK,
            MSG_DONTROUTE,
            MSG_CTRUNC,
            MSG_TRUNC,
            MSG_DONTWAIT,
            MSG_EOR,
            MSG_WAITALL,
            MSG_NOSIGNAL,
            MSG_MORE,
            MSG_CMSG_CLOEXEC
        ],
        "0",
    )
}

pub fn wait_options(v: u64) -> String {
    bits(
        v,
        named![WNOHANG, WUNTRACED, WCONTINUED, WEXITED, WNOWAIT, __WALL, __WCLONE],
        "0",
    )
}

pub fn madvise_advice(v: u64) -> String {
    value(
        v,
        named![
            MADV_NORMAL,
            MADV_RANDOM,
            MADV_SEQUENTIAL,
            MADV_WILLNEED,
            MADV_DONTNEED,
            MADV_FREE,
            MADV_REMOVE,
            MADV_DONTFORK,
            MADV_DOFORK,
            MADV_MERGEABLE,
            MADV_UNMERGEABLE,
            MADV_HUGEPAGE,
            MADV_NOHUGEPAGE,
            MADV_DONTDUMP,
            MADV_DODUMP,
            MADV_WIPEONFORK,
            MADV_KEEPONFORK,
            MADV_COLD,
            MADV_PAGEOUT,
            MADV_HWPOISON
        ],
    )
}

pub fn fadvise_advice(v: u64) -> String {
    value(
        v,
        named![
            POSIX_FADV_NORMAL,
            POSIX_FADV_RANDOM,
            POSIX_FADV_SEQUENTIAL,
            POSIX_FADV_WILLNEED,
            POSIX_FADV_DONTNEED,
            POSIX_FADV_NOREUSE
        ],
    )
}

pub fn futex_op(v: u64) -> String {
    let cmd = value(
        v & 0x7f,
        named![
            FUTEX_WAIT,
            FUTEX_WAKE,
            FUTEX_FD,
            FUTEX_REQUEUE,
            FUTEX_CMP_REQUEUE,
            FUTEX_WAKE_OP,
            FUTEX_LOCK_PI,
            FUTEX_UNLOCK_PI,
            FUTEX_TRYLOCK_PI,
            FUTEX_WAIT_BITSET,
            FUTEX_WAKE_BITSET,
            FUTEX_WAIT_REQUEUE_PI,
            FUTEX_CMP_REQUEUE_PI,
            FUTEX_LOCK_PI2
        ],
    );
    let mut s = cmd;
    if v & libc::FUTEX_PRIVATE_FLAG as u64 != 0 {
        s.push_str("_PRIVATE");
    }
    if v & libc::FUTEX_CLOCK_REALTIME as u64 != 0 {
        s.push_str("|FUTEX_CLOCK_REALTIME");
    }
    s
}

pub fn arch_prctl_code(v: u64) -> String {
    value(
        v,
        &[
            (0x1001, "ARCH_SET_GS"),
            (0x1002, "ARCH_SET_FS"),
            (0x1003, "ARCH_GET_FS"),
            (0x1004, "ARCH_GET_GS"),
            (0x1011, "ARCH_GET_CPUID"),
            (0x1012, "ARCH_SET_CPUID"),
            (0x3001, "ARCH_CET_STATUS"),
        ],
    )
}

pub fn prctl_option(v: u64) -> String {
    value(
        v,
        named![
            PR_SET_PDEATHSIG,
            PR_GET_PDEATHSIG,
            PR_GET_DUMPABLE,
            PR_SET_DUMPABLE,
            PR_SET_NAME,
            PR_GET_NAME,
            PR_GET_TSC,
            PR_SET_TSC,
            PR_SET_SECCOMP,
            PR_GET_SECCOMP,
            PR_CAPBSET_READ,
            PR_SET_NO_NEW_PRIVS,
            PR_GET_NO_NEW_PRIVS,
            PR_SET_CHILD_SUBREAPER,
            PR_GET_CHILD_SUBREAPER,
            PR_SET_VMA,
            PR_SET_MM
        ],
    )
}

pub fn getrandom_flags(v: u64) -> String {
    bits(v, named![GRND_NONBLOCK, GRND_RANDOM, GRND_INSECURE], "0")
}

pub fn epoll_op(v: u64) -> String {
    value(v, named![EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD])
}

pub fn mremap_flags(v: u64) -> String {
    bits(
        v,
        named![MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP],
        "0",
    )
}

pub fn itimer_which(v: u64) -> String {
    value(v, named![ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF])
}

pub fn ioctl_request(v: u64) -> String {
    value(
        v,
        named![
            TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, TIOCSWINSZ, TIOCGPGRP, TIOCSPGRP,
            FIONREAD, FIONBIO, FIOCLEX, FIONCLEX, TIOCSCTTY, TIOCNOTTY
        ],
    )
}

pub fn shutdown_how(v: u64) -> String {
    value(v, named![SHUT_RD, SHUT_WR, SHUT_RDWR])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_read_like_strace() {
        let v = |x: i32| x as u64;
        assert_eq!(
            open_flags(v(libc::O_RDONLY | libc::O_CLOEXEC)),
            "O_RDONLY|O_CLOEXEC"
        );
        assert_eq!(
            open_flags(v(libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC)),
            "O_WRONLY|O_CREAT|O_TRUNC"
        );
        assert_eq!(prot(3), "PROT_READ|PROT_WRITE");
        assert_eq!(prot(0), "PROT_NONE");
        assert_eq!(map_flags(0x22), "MAP_PRIVATE|MAP_ANONYMOUS");
        assert_eq!(map_flags(0x812), "MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE");
        assert_eq!(
            clone_flags(0x1200011),
            "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD"
        );
        assert_eq!(file_mode(0o100644), "S_IFREG|0644");
        assert_eq!(futex_op(0x81), "FUTEX_WAKE_PRIVATE");
        assert_eq!(bits(0x1_0000_0000, PROT, "PROT_NONE"), "0x100000000");
    }
}

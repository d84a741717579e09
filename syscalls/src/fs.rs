//! Files, directories, descriptors and readiness: how each syscall is recorded.

use crate::rule::{out, Len::*, Rule, Rule::*, Sent, Special};
use libc::*;

const NONE: Rule = Emulate(&[]);

/// `vmsplice` on a pipe's read end: the kernel fills the iovecs like readv.
pub const VMSPLICE_FROM_PIPE: Rule = EmulateSpecial(Special::Iov { iov: 1, cnt: 2 });
const STAT: Rule = Emulate(&[out(1, Fixed(144))]);

/// Calls the kernel no longer implements: any program that uses them falls back.
const GONE: Rule = Refuse("the kernel no longer implements this call");
const SET_XATTR: Rule = Refuse("changing extended attributes is not recorded yet");
const GET_XATTR: Rule =
    Refuse("reading extended attributes by directory descriptor is not recorded yet");
const AIO: Rule = Refuse("Linux AIO (io_submit) is not recorded yet");
const MOUNT: Rule =
    Refuse("mounting and changing the root are not recorded (ftrun records ordinary programs)");
const FANOTIFY: Rule = Refuse("fanotify is not recorded yet");
const HANDLES: Rule = Refuse("file handles (name_to_handle_at) are not recorded yet");
const QUOTA: Rule = Refuse("disk quotas are not recorded");
const SWAP: Rule = Refuse("swap devices are not recorded (ftrun records ordinary programs)");

pub(crate) const RULES: &[(c_long, Rule)] = &[
    (SYS_read, Emulate(&[out(1, Ret)])),
    (SYS_pread64, Emulate(&[out(1, Ret)])),
    (SYS_readv, EmulateSpecial(Special::Iov { iov: 1, cnt: 2 })),
    (SYS_preadv, EmulateSpecial(Special::Iov { iov: 1, cnt: 2 })),
    (SYS_preadv2, EmulateSpecial(Special::Iov { iov: 1, cnt: 2 })),
    (
        SYS_write,
        Output {
            fd: 0,
            sent: Sent::Buf { buf: 1 },
        },
    ),
    (
        SYS_pwrite64,
        Output {
            fd: 0,
            sent: Sent::Buf { buf: 1 },
        },
    ),
    (
        SYS_writev,
        Output {
            fd: 0,
            sent: Sent::Iov { iov: 1, cnt: 2 },
        },
    ),
    (
        SYS_pwritev,
        Output {
            fd: 0,
            sent: Sent::Iov { iov: 1, cnt: 2 },
        },
    ),
    (
        SYS_pwritev2,
        Output {
            fd: 0,
            sent: Sent::Iov { iov: 1, cnt: 2 },
        },
    ),
    (SYS_open, NONE),
    (SYS_openat, NONE),
    (SYS_openat2, NONE),
    (SYS_creat, NONE),
    (SYS_close, NONE),
    (SYS_close_range, NONE),
    (SYS_dup, NONE),
    (SYS_dup2, NONE),
    (SYS_dup3, NONE),
    (SYS_lseek, NONE),
    (SYS_stat, STAT),
    (SYS_fstat, STAT),
    (SYS_lstat, STAT),
    (SYS_newfstatat, Emulate(&[out(2, Fixed(144))])),
    (SYS_statx, Emulate(&[out(4, Fixed(256))])),
    (SYS_statfs, Emulate(&[out(1, Fixed(120))])),
    (SYS_fstatfs, Emulate(&[out(1, Fixed(120))])),
    (SYS_getdents, Emulate(&[out(1, Ret)])),
    (SYS_getdents64, Emulate(&[out(1, Ret)])),
    (SYS_readlink, Emulate(&[out(1, Ret)])),
    (SYS_readlinkat, Emulate(&[out(2, Ret)])),
    (SYS_getcwd, Emulate(&[out(0, Ret)])),
    (SYS_getxattr, Emulate(&[out(2, Ret)])),
    (SYS_lgetxattr, Emulate(&[out(2, Ret)])),
    (SYS_fgetxattr, Emulate(&[out(2, Ret)])),
    (SYS_listxattr, Emulate(&[out(1, Ret)])),
    (SYS_llistxattr, Emulate(&[out(1, Ret)])),
    (SYS_flistxattr, Emulate(&[out(1, Ret)])),
    (SYS_access, NONE),
    (SYS_faccessat, NONE),
    (SYS_faccessat2, NONE),
    (SYS_mkdir, NONE),
    (SYS_mkdirat, NONE),
    (SYS_mknod, NONE),
    (SYS_mknodat, NONE),
    (SYS_rmdir, NONE),
    (SYS_unlink, NONE),
    (SYS_unlinkat, NONE),
    (SYS_rename, NONE),
    (SYS_renameat, NONE),
    (SYS_renameat2, NONE),
    (SYS_link, NONE),
    (SYS_linkat, NONE),
    (SYS_symlink, NONE),
    (SYS_symlinkat, NONE),
    (SYS_chmod, NONE),
    (SYS_fchmod, NONE),
    (SYS_fchmodat, NONE),
    (SYS_chown, NONE),
    (SYS_fchown, NONE),
    (SYS_lchown, NONE),
    (SYS_fchownat, NONE),
    (SYS_umask, NONE),
    (SYS_truncate, NONE),
    (SYS_ftruncate, NONE),
    (SYS_fsync, NONE),
    (SYS_fdatasync, NONE),
    (SYS_sync, NONE),
    (SYS_syncfs, NONE),
    (SYS_flock, NONE),
    (SYS_chdir, NONE),
    (SYS_fchdir, NONE),
    (SYS_utime, NONE),
    (SYS_utimes, NONE),
    (SYS_utimensat, NONE),
    (SYS_fadvise64, NONE),
    (SYS_fallocate, NONE),
    (SYS_sendfile, Emulate(&[out(2, Fixed(8))])),
    (
        SYS_copy_file_range,
        Emulate(&[out(1, Fixed(8)), out(3, Fixed(8))]),
    ),
    (SYS_splice, Emulate(&[out(1, Fixed(8)), out(3, Fixed(8))])),
    (SYS_tee, NONE),
    (SYS_memfd_create, NONE),
    (SYS_ioctl, EmulateSpecial(Special::Ioctl)),
    (SYS_fcntl, EmulateSpecial(Special::Fcntl)),
    (SYS_pipe, Emulate(&[out(0, Fixed(8))])),
    (SYS_pipe2, Emulate(&[out(0, Fixed(8))])),
    (SYS_poll, Emulate(&[out(0, ArgTimes { arg: 1, size: 8 })])),
    (
        SYS_ppoll,
        Emulate(&[out(0, ArgTimes { arg: 1, size: 8 }), out(2, Fixed(16))]),
    ),
    (
        SYS_select,
        EmulateSpecial(Special::Select { timeout_len: 16 }),
    ),
    (
        SYS_pselect6,
        EmulateSpecial(Special::Select { timeout_len: 16 }),
    ),
    (SYS_epoll_create, NONE),
    (SYS_epoll_create1, NONE),
    (SYS_epoll_ctl, NONE),
    (SYS_epoll_wait, Emulate(&[out(1, RetTimes(12))])),
    (SYS_epoll_pwait, Emulate(&[out(1, RetTimes(12))])),
    (SYS_epoll_pwait2, Emulate(&[out(1, RetTimes(12))])),
    (SYS_eventfd, NONE),
    (SYS_eventfd2, NONE),
    (SYS_inotify_init, NONE),
    (SYS_inotify_init1, NONE),
    (SYS_inotify_add_watch, NONE),
    (SYS_inotify_rm_watch, NONE),
    // Not recorded: each says why.
    // Changes to a file's extended attributes: made when recorded, like other file changes.
    (SYS_setxattr, Emulate(&[])),
    (SYS_lsetxattr, Emulate(&[])),
    (SYS_fsetxattr, Emulate(&[])),
    (SYS_removexattr, Emulate(&[])),
    (SYS_lremovexattr, Emulate(&[])),
    (SYS_fremovexattr, Emulate(&[])),
    (463, SET_XATTR), // setxattrat
    (464, GET_XATTR), // getxattrat
    (465, GET_XATTR), // listxattrat
    (466, SET_XATTR), // removexattrat
    (SYS_readahead, Refuse("readahead is not recorded yet")),
    (
        SYS_sync_file_range,
        Refuse("sync_file_range is not recorded yet"),
    ),
    // Into a pipe the pages are the pipe's data, as writev's bytes are (a later change to
    // them is seen by the reader, whose read logs what it got). Out of a pipe into memory
    // the recorder applies `VMSPLICE_FROM_PIPE` instead.
    (
        SYS_vmsplice,
        Output {
            fd: 0,
            sent: Sent::Iov { iov: 1, cnt: 2 },
        },
    ),
    (
        SYS_futimesat,
        Refuse("futimesat is not recorded yet (libc uses utimensat)"),
    ),
    (
        SYS_fchmodat2,
        Refuse("fchmodat2 is not recorded yet (libc falls back to fchmodat)"),
    ),
    (SYS_fanotify_init, FANOTIFY),
    (SYS_fanotify_mark, FANOTIFY),
    (SYS_name_to_handle_at, HANDLES),
    (SYS_open_by_handle_at, HANDLES),
    (
        451,
        Refuse("cachestat (page-cache statistics) is not recorded"),
    ), // cachestat
    (468, Refuse("file_getattr is not recorded yet")), // file_getattr
    (469, Refuse("file_setattr is not recorded yet")), // file_setattr
    (SYS_io_setup, AIO),
    (SYS_io_destroy, AIO),
    (SYS_io_getevents, AIO),
    (SYS_io_submit, AIO),
    (SYS_io_cancel, AIO),
    (333, AIO), // io_pgetevents
    (SYS_chroot, MOUNT),
    (SYS_pivot_root, MOUNT),
    (SYS_mount, MOUNT),
    (SYS_umount2, MOUNT),
    (SYS_open_tree, MOUNT),
    (SYS_move_mount, MOUNT),
    (SYS_fsopen, MOUNT),
    (SYS_fsconfig, MOUNT),
    (SYS_fsmount, MOUNT),
    (SYS_fspick, MOUNT),
    (SYS_mount_setattr, MOUNT),
    (467, MOUNT), // open_tree_attr
    (
        457,
        Refuse("reading mount information with statmount is not recorded yet"),
    ), // statmount
    (
        458,
        Refuse("listing mounts with listmount is not recorded yet"),
    ), // listmount
    (SYS_quotactl, QUOTA),
    (SYS_quotactl_fd, QUOTA),
    (SYS_swapon, SWAP),
    (SYS_swapoff, SWAP),
    (SYS_ustat, Refuse("ustat is not recorded (statfs is)")),
    (
        SYS_sysfs,
        Refuse("sysfs (file-system type lookup) is not recorded"),
    ),
    (SYS_uselib, GONE),
    (SYS_nfsservctl, GONE),
    (SYS_epoll_ctl_old, GONE),
    (SYS_epoll_wait_old, GONE),
    (SYS_lookup_dcookie, GONE),
];

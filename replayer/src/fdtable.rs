//! The replayed process's descriptor table, rebuilt from the log. During replay no
//! descriptor really exists (every fd syscall is emulated); this model says what each
//! number stood for, so that going live can make them real again.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use schema::SyscallEvent;
use tracee::Tracee;

/// What one descriptor refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FdKind {
    /// One of the descriptors the program started with (stdin, stdout, stderr).
    Inherited,
    /// A file opened by path, with its open flags and the file offset reached.
    File {
        path: PathBuf,
        flags: i32,
        offset: i64,
    },
    Socket(SocketState),
    /// One end of a pipe; `pair` identifies the pipe.
    Pipe {
        pair: u64,
        read_end: bool,
    },
    /// An epoll instance with its interest list (`fd -> (events, data)`).
    Epoll {
        interest: BTreeMap<i32, (u32, u64)>,
    },
    EventFd {
        flags: i32,
    },
    /// Something going live cannot recreate (timerfd, signalfd, inotify, memfd …).
    Other(&'static str),
}

/// How a socket was made and configured.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SocketState {
    pub domain: i32,
    pub type_: i32,
    pub protocol: i32,
    pub bound: Option<Vec<u8>>,
    pub backlog: Option<i32>,
    /// `(level, name, value)` in the order set, the last one per option kept.
    pub options: Vec<(i32, i32, Vec<u8>)>,
    /// Connected to a peer (accepted or connected): a peer that is gone after takeover.
    pub connected: bool,
    /// Other end of a socketpair inside the process.
    pub pair: Option<u64>,
}

/// One descriptor: what it is, and its descriptor flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdEntry {
    pub kind: FdKind,
    /// File status flags set later with fcntl(F_SETFL) / FIONBIO (O_NONBLOCK …).
    pub status_flags: Option<i32>,
    pub cloexec: bool,
}

/// The descriptor table of the replayed process.
#[derive(Debug, Clone)]
pub struct FdTable {
    pub fds: BTreeMap<i32, FdEntry>,
    cwd: PathBuf,
    next_pair: u64,
}

fn entry(kind: FdKind, cloexec: bool) -> FdEntry {
    FdEntry {
        kind,
        status_flags: None,
        cloexec,
    }
}

impl FdTable {
    /// A process that starts with stdin, stdout and stderr in `cwd`.
    pub fn new(cwd: PathBuf) -> Self {
        let fds = (0..3)
            .map(|fd| (fd, entry(FdKind::Inherited, false)))
            .collect();
        FdTable {
            fds,
            cwd,
            next_pair: 1,
        }
    }

    fn resolve(&self, tracee: &mut Tracee, dirfd: i32, addr: u64) -> Option<PathBuf> {
        let raw = tracee.read_cstring(addr, 4096).ok()?;
        let p = PathBuf::from(std::ffi::OsStr::from_bytes(&raw));
        if p.is_absolute() {
            return Some(p);
        }
        let base = if dirfd == libc::AT_FDCWD {
            self.cwd.clone()
        } else {
            match self.fds.get(&dirfd).map(|e| &e.kind) {
                Some(FdKind::File { path, .. }) => path.clone(),
                _ => return None,
            }
        };
        Some(base.join(p))
    }

    fn new_pair(&mut self) -> u64 {
        self.next_pair += 1;
        self.next_pair
    }

    fn dup_to(&mut self, old: i32, new: i32, cloexec: bool) {
        if let Some(e) = self.fds.get(&old).cloned() {
            self.fds.insert(new, FdEntry { cloexec, ..e });
        }
    }

    fn socket_mut(&mut self, fd: i32) -> Option<&mut SocketState> {
        match self.fds.get_mut(&fd).map(|e| &mut e.kind) {
            Some(FdKind::Socket(s)) => Some(s),
            _ => None,
        }
    }

    fn advance(&mut self, fd: i32, by: i64) {
        if let Some(FdKind::File { offset, .. }) = self.fds.get_mut(&fd).map(|e| &mut e.kind) {
            *offset += by;
        }
    }

    fn read_int(tracee: &mut Tracee, addr: u64) -> Option<i32> {
        let b = tracee.read_mem(addr, 4).ok()?;
        Some(i32::from_le_bytes(b.try_into().ok()?))
    }

    /// Updates the table with a replayed syscall (its memory effects already applied).
    // libc spells syscall numbers in lower case; they are constants all the same.
    #[allow(non_upper_case_globals)]
    pub fn observe(&mut self, tracee: &mut Tracee, s: &SyscallEvent) {
        use libc::*;
        let a = s.args;
        let ret = s.result;
        if ret < 0 {
            return;
        }
        let (fd0, r) = (a[0] as i32, ret as i32);
        match s.number as c_long {
            SYS_open | SYS_creat | SYS_openat | SYS_openat2 => {
                // (directory fd, path argument, open flags) by syscall.
                let (dirfd, path_arg, flags) = match s.number as c_long {
                    SYS_open => (AT_FDCWD, a[0], a[1] as i32),
                    SYS_creat => (AT_FDCWD, a[0], O_CREAT | O_WRONLY | O_TRUNC),
                    SYS_openat => (fd0, a[1], a[2] as i32),
                    _ => (
                        fd0,
                        a[1],
                        tracee.read_u64(a[2]).map(|f| f as i32).unwrap_or(0),
                    ),
                };
                if let Some(path) = self.resolve(tracee, dirfd, path_arg) {
                    let file = FdKind::File {
                        path,
                        flags,
                        offset: 0,
                    };
                    self.fds.insert(r, entry(file, flags & O_CLOEXEC != 0));
                }
            }
            SYS_close => {
                self.fds.remove(&fd0);
            }
            SYS_close_range => {
                let (first, last) = (a[0] as u32, a[1] as u32);
                let cloexec_only = a[2] as u32 & 4 != 0; // CLOSE_RANGE_CLOEXEC
                let affected: Vec<i32> = self
                    .fds
                    .range(first as i32..)
                    .map(|(&k, _)| k)
                    .filter(|&k| (k as u32) <= last)
                    .collect();
                for fd in affected {
                    if cloexec_only {
                        if let Some(e) = self.fds.get_mut(&fd) {
                            e.cloexec = true;
                        }
                    } else {
                        self.fds.remove(&fd);
                    }
                }
            }
            SYS_dup => self.dup_to(fd0, r, false),
            SYS_dup2 => self.dup_to(fd0, a[1] as i32, false),
            SYS_dup3 => self.dup_to(fd0, a[1] as i32, a[2] as i32 & O_CLOEXEC != 0),
            SYS_fcntl => match a[1] as i32 {
                F_DUPFD => self.dup_to(fd0, r, false),
                F_DUPFD_CLOEXEC => self.dup_to(fd0, r, true),
                F_SETFD => {
                    if let Some(e) = self.fds.get_mut(&fd0) {
                        e.cloexec = a[2] as i32 & FD_CLOEXEC != 0;
                    }
                }
                F_SETFL => {
                    if let Some(e) = self.fds.get_mut(&fd0) {
                        e.status_flags = Some(a[2] as i32);
                    }
                }
                _ => {}
            },
            SYS_ioctl if a[1] == FIONBIO => {
                let on = Self::read_int(tracee, a[2]).unwrap_or(0) != 0;
                if let Some(e) = self.fds.get_mut(&fd0) {
                    let flags = e.status_flags.unwrap_or(O_RDWR);
                    e.status_flags = Some(if on {
                        flags | O_NONBLOCK
                    } else {
                        flags & !O_NONBLOCK
                    });
                }
            }
            SYS_lseek => {
                if let Some(FdKind::File { offset, .. }) =
                    self.fds.get_mut(&fd0).map(|e| &mut e.kind)
                {
                    *offset = ret;
                }
            }
            SYS_read | SYS_write | SYS_readv | SYS_writev => self.advance(fd0, ret),
            SYS_sendfile if a[2] == 0 => self.advance(a[1] as i32, ret),
            SYS_socket => {
                let sock = SocketState {
                    domain: a[0] as i32,
                    type_: a[1] as i32,
                    protocol: a[2] as i32,
                    ..Default::default()
                };
                self.fds.insert(
                    r,
                    entry(FdKind::Socket(sock), a[1] as i32 & SOCK_CLOEXEC != 0),
                );
            }
            SYS_socketpair => {
                if let Ok(b) = tracee.read_mem(a[3], 8) {
                    let pair = self.new_pair();
                    for i in 0..2 {
                        let fd =
                            i32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
                        let sock = SocketState {
                            domain: a[0] as i32,
                            type_: a[1] as i32,
                            protocol: a[2] as i32,
                            connected: true,
                            pair: Some(pair),
                            ..Default::default()
                        };
                        self.fds.insert(
                            fd,
                            entry(FdKind::Socket(sock), a[1] as i32 & SOCK_CLOEXEC != 0),
                        );
                    }
                }
            }
            SYS_bind => {
                let addr = tracee.read_mem(a[1], (a[2] as usize).min(128)).ok();
                if let Some(s) = self.socket_mut(fd0) {
                    s.bound = addr;
                }
            }
            SYS_listen => {
                if let Some(s) = self.socket_mut(fd0) {
                    s.backlog = Some(a[1] as i32);
                }
            }
            SYS_connect => {
                if let Some(s) = self.socket_mut(fd0) {
                    s.connected = true;
                }
            }
            SYS_setsockopt => {
                let value = tracee
                    .read_mem(a[3], (a[4] as usize).min(256))
                    .unwrap_or_default();
                let (level, name) = (a[1] as i32, a[2] as i32);
                if let Some(s) = self.socket_mut(fd0) {
                    s.options.retain(|(l, n, _)| (*l, *n) != (level, name));
                    s.options.push((level, name, value));
                }
            }
            SYS_accept | SYS_accept4 => {
                let flags = if s.number as c_long == SYS_accept4 {
                    a[3] as i32
                } else {
                    0
                };
                let listener = self.socket_mut(fd0).cloned().unwrap_or_default();
                let sock = SocketState {
                    domain: listener.domain,
                    type_: (listener.type_ & 0xf) | (flags & SOCK_NONBLOCK),
                    protocol: listener.protocol,
                    connected: true,
                    ..Default::default()
                };
                self.fds
                    .insert(r, entry(FdKind::Socket(sock), flags & SOCK_CLOEXEC != 0));
            }
            SYS_pipe | SYS_pipe2 => {
                let flags = if s.number as c_long == SYS_pipe2 {
                    a[1] as i32
                } else {
                    0
                };
                if let Ok(b) = tracee.read_mem(a[0], 8) {
                    let pair = self.new_pair();
                    for (i, read_end) in [(0usize, true), (1, false)] {
                        let fd =
                            i32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
                        let mut e = entry(FdKind::Pipe { pair, read_end }, flags & O_CLOEXEC != 0);
                        if flags & O_NONBLOCK != 0 {
                            e.status_flags = Some(O_NONBLOCK);
                        }
                        self.fds.insert(fd, e);
                    }
                }
            }
            SYS_epoll_create | SYS_epoll_create1 => {
                let cloexec =
                    s.number as c_long == SYS_epoll_create1 && a[0] as i32 & EPOLL_CLOEXEC != 0;
                self.fds.insert(
                    r,
                    entry(
                        FdKind::Epoll {
                            interest: BTreeMap::new(),
                        },
                        cloexec,
                    ),
                );
            }
            SYS_epoll_ctl => {
                let (op, fd) = (a[1] as i32, a[2] as i32);
                let ev = tracee.read_mem(a[3], 12).ok();
                if let Some(FdKind::Epoll { interest }) =
                    self.fds.get_mut(&fd0).map(|e| &mut e.kind)
                {
                    match (op, ev) {
                        (EPOLL_CTL_DEL, _) => {
                            interest.remove(&fd);
                        }
                        (_, Some(b)) => {
                            let events = u32::from_le_bytes(b[0..4].try_into().expect("4 bytes"));
                            let data = u64::from_le_bytes(b[4..12].try_into().expect("8 bytes"));
                            interest.insert(fd, (events, data));
                        }
                        _ => {}
                    }
                }
            }
            SYS_eventfd | SYS_eventfd2 => {
                let flags = if s.number as c_long == SYS_eventfd2 {
                    a[1] as i32
                } else {
                    0
                };
                self.fds.insert(
                    r,
                    entry(FdKind::EventFd { flags }, flags & EFD_CLOEXEC != 0),
                );
            }
            SYS_timerfd_create => {
                self.fds.insert(r, entry(FdKind::Other("timerfd"), false));
            }
            SYS_signalfd | SYS_signalfd4 => {
                self.fds.insert(r, entry(FdKind::Other("signalfd"), false));
            }
            SYS_inotify_init | SYS_inotify_init1 => {
                self.fds.insert(r, entry(FdKind::Other("inotify"), false));
            }
            SYS_memfd_create => {
                self.fds.insert(r, entry(FdKind::Other("memfd"), false));
            }
            SYS_pidfd_open => {
                self.fds.insert(r, entry(FdKind::Other("pidfd"), true));
            }
            SYS_chdir => {
                if let Some(p) = self.resolve(tracee, AT_FDCWD, a[0]) {
                    self.cwd = p;
                }
            }
            SYS_fchdir => {
                if let Some(FdKind::File { path, .. }) = self.fds.get(&fd0).map(|e| &e.kind) {
                    self.cwd = path.clone();
                }
            }
            SYS_execve | SYS_execveat => self.fds.retain(|_, e| !e.cloexec),
            _ => {}
        }
    }

    /// The working directory the process has reached.
    pub fn cwd(&self) -> &Path {
        &self.cwd
    }
}

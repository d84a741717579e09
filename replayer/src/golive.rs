//! Going live: a replayed process whose log has ended is turned into a real one. Its
//! descriptors, which only existed in the log, are made real with syscalls injected into it
//! (files reopened at their offsets, listening sockets bound again, connections to vanished
//! peers turned into closed sockets). Then either rdtsc is untrapped and it is let go
//! (`go_live`), or it stays traced, stopped, rdtsc still trapping, for the recorder to
//! adopt as the new primary's server (`go_live_traced`).

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;

use tracee::{Regs, Resume, Stop, Tracee, TraceeError};

use crate::fdtable::{FdEntry, FdKind, FdTable, SocketState};
use crate::ReplayError;

const SCRATCH_LEN: u64 = 64 * 1024;

/// A replayed process stopped right after the last logged event, ready to go live.
pub struct LiveHandoff {
    /// The process's id in the log.
    pub process: u32,
    /// Its threads, each stopped; syscalls are injected into the first.
    pub threads: Vec<LiveThread>,
    pub fds: FdTable,
    /// Address of a `syscall` instruction in the current image.
    pub syscall_insn: u64,
    /// Its in-process runtime (off), for the recorder that adopts it.
    pub space: Option<Box<fastpath::Space>>,
}

/// One stopped thread of a process about to go live.
pub struct LiveThread {
    pub tracee: Tracee,
    /// The thread's id in the log.
    pub tid: u32,
    /// A signal the replay was about to deliver, with its siginfo.
    pub pending_signal: Option<(i32, tracee::RawSiginfo)>,
}

impl LiveHandoff {
    /// Ends the process instead of letting it go live. Its leader's end is reported only
    /// after the other threads' ends are collected, so those go first.
    pub fn kill(&mut self) {
        self.threads.sort_by_key(|t| is_leader(t.tracee.pid()));
        for t in &mut self.threads {
            t.tracee.kill();
        }
    }
}

/// True when `tid` is its process's leader (its id is the process id).
pub(crate) fn is_leader(tid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{tid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Tgid:"))
                .and_then(|v| v.trim().parse::<i32>().ok())
        })
        .is_some_and(|tgid| tgid == tid)
}

/// What going live did, for the takeover report.
#[derive(Debug, Default)]
pub struct GoLiveReport {
    pub files: usize,
    pub listeners: usize,
    pub closed_peers: usize,
    pub warnings: Vec<String>,
}

/// Runs syscalls inside the stopped tracee.
struct Injector<'a> {
    tracee: &'a mut Tracee,
    saved: Regs,
    insn: u64,
    scratch: u64,
}

impl Injector<'_> {
    fn syscall(&mut self, nr: i64, args: &[u64]) -> Result<i64, ReplayError> {
        // Signals arriving meanwhile are kept by the tracee, not delivered.
        match self.tracee.inject_syscall(&self.saved, self.insn, nr, args) {
            Err(TraceeError::TraceeDied { .. }) => Err(ReplayError::Setup(
                "the process died while going live".into(),
            )),
            other => Ok(other?),
        }
    }

    /// Copies `data` into scratch memory at `offset`, returning its tracee address.
    fn put(&mut self, offset: u64, data: &[u8]) -> Result<u64, ReplayError> {
        let addr = self.scratch + offset;
        self.tracee.write_mem(addr, data)?;
        Ok(addr)
    }

    fn check(&self, what: &str, ret: i64) -> Result<i64, ReplayError> {
        if ret < 0 {
            return Err(ReplayError::Setup(format!(
                "going live: {what} failed: {}",
                std::io::Error::from_raw_os_error(-ret as i32)
            )));
        }
        Ok(ret)
    }
}

/// Makes every descriptor of the table real, untraps rdtsc in every thread and detaches
/// them all. Returns the pid.
pub fn go_live(mut h: LiveHandoff) -> Result<(i32, GoLiveReport), ReplayError> {
    if h.threads.iter().any(|t| t.tracee.is_filtered()) {
        // Untraced, the filter's traced calls would fail with ENOSYS.
        return Err(ReplayError::Setup(
            "going live untraced: the replay runs under ftrun's seccomp filter, which a \
             process cannot shed (a debugger's replay runs without it)"
                .into(),
        ));
    }
    let report = make_real(&mut h, true)?;
    let pid = h.threads[0].tracee.pid();
    for thread in &mut h.threads {
        let sig = match thread.pending_signal {
            Some((signo, info)) => redeliver(&mut thread.tracee, signo, &info)?,
            None => 0,
        };
        thread.tracee.detach(sig)?;
    }
    Ok((pid, report))
}

/// A live process still traced: each thread stopped where going live left it.
pub struct TracedLive {
    pub threads: Vec<TracedThread>,
    /// The process's id in the log, and its real pid.
    pub process: (u32, i32),
    /// Its in-process runtime (off): the new primary's recorder turns it on.
    pub space: Option<Box<fastpath::Space>>,
}

pub struct TracedThread {
    pub tracee: Tracee,
    /// The thread's id in the log (its real id is `tracee.pid()`).
    pub recorded: u32,
    /// A signal to deliver when it is resumed (it is at that signal's delivery stop).
    pub deliver: i32,
}

/// Makes every descriptor of the table real but keeps the process traced, stopped and
/// trapping rdtsc, for a recorder to adopt: nothing it did while going live runs again.
pub fn go_live_traced(mut h: LiveHandoff) -> Result<(TracedLive, GoLiveReport), ReplayError> {
    let report = make_real(&mut h, false)?;
    let process = (h.process, h.threads[0].tracee.pid());
    let mut threads = Vec::new();
    for mut thread in h.threads {
        let deliver = match thread.pending_signal {
            Some((signo, info)) => redeliver(&mut thread.tracee, signo, &info)?,
            None => 0,
        };
        // Signals that came while syscalls were injected meet the recorder as new stops.
        thread.tracee.resend_deferred_signals()?;
        threads.push(TracedThread {
            recorded: thread.tid,
            tracee: thread.tracee,
            deliver,
        });
    }
    Ok((
        TracedLive {
            threads,
            process,
            space: h.space.take(),
        },
        report,
    ))
}

/// Recreates the descriptors through the first thread and clears every thread's
/// breakpoints; with `untrap_rdtsc`, rdtsc stops trapping in each thread.
fn make_real(h: &mut LiveHandoff, untrap_rdtsc: bool) -> Result<GoLiveReport, ReplayError> {
    let Some(first) = h.threads.first_mut() else {
        return Err(ReplayError::Setup("going live: no thread is left".into()));
    };
    let insn_bytes = first.tracee.read_mem(h.syscall_insn, 2)?;
    if insn_bytes != [0x0f, 0x05] {
        return Err(ReplayError::Setup(format!(
            "going live: no syscall instruction at {:#x}",
            h.syscall_insn
        )));
    }
    let mut report = GoLiveReport::default();
    for (i, thread) in h.threads.iter_mut().enumerate() {
        let saved = thread.tracee.regs()?;
        thread.tracee.clear_breakpoints()?;
        let mut inj = Injector {
            tracee: &mut thread.tracee,
            saved,
            insn: h.syscall_insn,
            scratch: 0,
        };
        if i == 0 {
            let prot = (libc::PROT_READ | libc::PROT_WRITE) as u64;
            let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
            let scratch =
                inj.syscall(libc::SYS_mmap, &[0, SCRATCH_LEN, prot, flags, u64::MAX, 0])?;
            inj.scratch = inj.check("mmap of scratch memory", scratch)? as u64;
            materialize(&mut inj, &h.fds, &mut report)?;
            inj.syscall(libc::SYS_munmap, &[inj.scratch, SCRATCH_LEN])?;
        }
        if untrap_rdtsc {
            // rdtsc trapping is a per-thread flag.
            inj.syscall(
                libc::SYS_prctl,
                &[libc::PR_SET_TSC as u64, libc::PR_TSC_ENABLE as u64],
            )?;
        }
        thread.tracee.set_regs(&saved)?;
    }
    Ok(report)
}

/// The replay was delivering this signal: brings the thread to its delivery stop again,
/// with the recorded siginfo, so that detaching delivers it.
fn redeliver(
    tracee: &mut Tracee,
    signo: i32,
    info: &tracee::RawSiginfo,
) -> Result<i32, ReplayError> {
    tracee.send_signal(signo)?;
    tracee.resume(Resume::Continue, 0)?;
    loop {
        match tracee.wait()? {
            Stop::Signal { signo: s } if s == signo => break,
            Stop::Exited { .. } | Stop::Killed { .. } => {
                return Err(ReplayError::Setup(
                    "the process died while going live".into(),
                ))
            }
            _ => tracee.resume(Resume::Continue, 0)?,
        }
    }
    tracee.set_siginfo(info)?;
    Ok(signo)
}

/// Creates each descriptor at a temporary number above all targets, then moves them into
/// place, so that creating one never clobbers another.
fn materialize(
    inj: &mut Injector,
    table: &FdTable,
    report: &mut GoLiveReport,
) -> Result<(), ReplayError> {
    let base = table.fds.keys().copied().max().unwrap_or(2) + 1;
    let mut made: BTreeMap<i32, i32> = BTreeMap::new(); // target -> temporary
    let mut pairs: BTreeMap<u64, PairEnds> = BTreeMap::new();
    for (&fd, e) in &table.fds {
        let created = match &e.kind {
            FdKind::Inherited => None,
            FdKind::File {
                path,
                flags,
                offset,
            } => {
                let f = open_file(inj, path.as_os_str().as_bytes(), *flags, *offset, report)?;
                if f.is_some() {
                    report.files += 1;
                }
                f
            }
            FdKind::Socket(SocketState { pair: Some(p), .. }) | FdKind::Pipe { pair: p, .. } => {
                Some(pair_end(inj, &e.kind, *p, &mut pairs)?)
            }
            FdKind::Socket(s) => Some(socket(inj, fd, s, base, report)?),
            FdKind::Epoll { .. } => Some(inj.syscall(libc::SYS_epoll_create1, &[0])?),
            FdKind::EventFd { flags } => Some(inj.syscall(
                libc::SYS_eventfd2,
                &[0, (*flags & libc::EFD_NONBLOCK) as u64],
            )?),
            FdKind::Other(what) => {
                report.warnings.push(format!(
                    "fd {fd} ({what}) cannot be recreated; it is /dev/null now"
                ));
                let p = inj.put(0, b"/dev/null\0")?;
                Some(inj.syscall(
                    libc::SYS_openat,
                    &[libc::AT_FDCWD as u64, p, libc::O_RDWR as u64],
                )?)
            }
        };
        if let Some(tmp) = created {
            let tmp = inj.check(&format!("recreating fd {fd}"), tmp)?;
            let high = inj.syscall(
                libc::SYS_fcntl,
                &[tmp as u64, libc::F_DUPFD as u64, base as u64],
            )?;
            let high = inj.check("moving a descriptor", high)?;
            inj.syscall(libc::SYS_close, &[tmp as u64])?;
            made.insert(fd, high as i32);
        }
    }
    // The pairs' own ends were duplicated where needed; the originals go.
    for ends in pairs.values() {
        for end in [ends.first, ends.second] {
            inj.syscall(libc::SYS_close, &[end as u64])?;
        }
    }
    for (&fd, &tmp) in &made {
        inj.syscall(libc::SYS_dup2, &[tmp as u64, fd as u64])?;
        inj.syscall(libc::SYS_close, &[tmp as u64])?;
        apply_flags(inj, fd, &table.fds[&fd])?;
    }
    for (&fd, e) in &table.fds {
        if let FdKind::Epoll { interest } = &e.kind {
            for (&target, &(events, data)) in interest {
                let mut ev = events.to_le_bytes().to_vec();
                ev.extend_from_slice(&data.to_le_bytes());
                let p = inj.put(0, &ev)?;
                inj.syscall(
                    libc::SYS_epoll_ctl,
                    &[fd as u64, libc::EPOLL_CTL_ADD as u64, target as u64, p],
                )?;
            }
        }
    }
    Ok(())
}

fn apply_flags(inj: &mut Injector, fd: i32, e: &FdEntry) -> Result<(), ReplayError> {
    if let Some(fl) = e.status_flags {
        inj.syscall(
            libc::SYS_fcntl,
            &[fd as u64, libc::F_SETFL as u64, fl as u64],
        )?;
    }
    if e.cloexec {
        inj.syscall(
            libc::SYS_fcntl,
            &[fd as u64, libc::F_SETFD as u64, libc::FD_CLOEXEC as u64],
        )?;
    }
    Ok(())
}

fn open_file(
    inj: &mut Injector,
    path: &[u8],
    flags: i32,
    offset: i64,
    report: &mut GoLiveReport,
) -> Result<Option<i64>, ReplayError> {
    let mut p = path.to_vec();
    p.push(0);
    let addr = inj.put(0, &p)?;
    // Reopen what exists: no creating, truncating or exclusive opens a second time.
    let flags = flags & !(libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC);
    let fd = inj.syscall(
        libc::SYS_openat,
        &[libc::AT_FDCWD as u64, addr, flags as u64, 0],
    )?;
    if fd < 0 {
        report.warnings.push(format!(
            "{} could not be reopened: {}",
            String::from_utf8_lossy(path),
            std::io::Error::from_raw_os_error(-fd as i32)
        ));
        return Ok(None);
    }
    if offset > 0 && flags & libc::O_APPEND == 0 {
        inj.syscall(
            libc::SYS_lseek,
            &[fd as u64, offset as u64, libc::SEEK_SET as u64],
        )?;
    }
    Ok(Some(fd))
}

fn socket(
    inj: &mut Injector,
    fd: i32,
    s: &SocketState,
    base: i32,
    report: &mut GoLiveReport,
) -> Result<i64, ReplayError> {
    if s.connected {
        // The peer belonged to the dead primary's world: hand the server a closed connection.
        report.closed_peers += 1;
        return closed_socket(inj, base);
    }
    let sock = inj.syscall(
        libc::SYS_socket,
        &[s.domain as u64, s.type_ as u64, s.protocol as u64],
    )?;
    let sock = inj.check(&format!("socket for fd {fd}"), sock)?;
    for (level, name, value) in &s.options {
        let p = inj.put(0, value)?;
        inj.syscall(
            libc::SYS_setsockopt,
            &[
                sock as u64,
                *level as u64,
                *name as u64,
                p,
                value.len() as u64,
            ],
        )?;
    }
    if let Some(addr) = &s.bound {
        let p = inj.put(0, addr)?;
        // The dead primary's socket may linger a moment on this host: retry for a while.
        let mut tries = 0;
        loop {
            let r = inj.syscall(libc::SYS_bind, &[sock as u64, p, addr.len() as u64])?;
            if r != -(libc::EADDRINUSE as i64) || tries >= 100 {
                inj.check(&format!("bind of fd {fd}"), r)?;
                break;
            }
            tries += 1;
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    if let Some(backlog) = s.backlog {
        let r = inj.syscall(libc::SYS_listen, &[sock as u64, backlog as u64])?;
        inj.check(&format!("listen on fd {fd}"), r)?;
        report.listeners += 1;
    }
    Ok(sock)
}

/// A stream socket whose peer has gone: reads see EOF. The peer end stays open (above the
/// program's descriptors, close-on-exec) with its sending side shut, so that a reply the
/// server was about to send to the vanished client still succeeds, as it usually would over
/// TCP, instead of failing with EPIPE; the server then reads EOF and closes.
fn closed_socket(inj: &mut Injector, park_above: i32) -> Result<i64, ReplayError> {
    let p = inj.put(0, &[0u8; 8])?;
    let r = inj.syscall(
        libc::SYS_socketpair,
        &[libc::AF_UNIX as u64, libc::SOCK_STREAM as u64, 0, p],
    )?;
    inj.check("socketpair", r)?;
    let b = inj.tracee.read_mem(p, 8)?;
    let (mine, peer) = (
        i32::from_le_bytes(b[0..4].try_into().expect("4 bytes")),
        i32::from_le_bytes(b[4..8].try_into().expect("4 bytes")),
    );
    inj.syscall(libc::SYS_shutdown, &[peer as u64, libc::SHUT_WR as u64])?;
    let parked = inj.syscall(
        libc::SYS_fcntl,
        &[peer as u64, libc::F_DUPFD_CLOEXEC as u64, park_above as u64],
    )?;
    inj.check("parking a vanished client's end", parked)?;
    inj.syscall(libc::SYS_close, &[peer as u64])?;
    Ok(mine as i64)
}

/// A real pipe or socketpair standing in for one inside the replayed process.
struct PairEnds {
    first: i32,
    second: i32,
    handed_out: usize,
}

/// One end of a pipe or socketpair inside the process; both ends come from one real pair.
fn pair_end(
    inj: &mut Injector,
    kind: &FdKind,
    pair: u64,
    pairs: &mut BTreeMap<u64, PairEnds>,
) -> Result<i64, ReplayError> {
    #[allow(clippy::map_entry)] // creating the pair needs `inj`, which the entry would borrow
    if !pairs.contains_key(&pair) {
        let p = inj.put(0, &[0u8; 8])?;
        let r = match kind {
            FdKind::Pipe { .. } => inj.syscall(libc::SYS_pipe2, &[p, 0])?,
            _ => inj.syscall(
                libc::SYS_socketpair,
                &[libc::AF_UNIX as u64, libc::SOCK_STREAM as u64, 0, p],
            )?,
        };
        inj.check("pipe", r)?;
        let b = inj.tracee.read_mem(p, 8)?;
        pairs.insert(
            pair,
            PairEnds {
                first: i32::from_le_bytes(b[0..4].try_into().expect("4 bytes")),
                second: i32::from_le_bytes(b[4..8].try_into().expect("4 bytes")),
                handed_out: 0,
            },
        );
    }
    let ends = pairs.get_mut(&pair).expect("inserted");
    // Pipes: the first end reads, the second writes. Socketpairs: in order of appearance.
    let take_first = match kind {
        FdKind::Pipe { read_end, .. } => *read_end,
        _ => ends.handed_out == 0,
    };
    ends.handed_out += 1;
    let end = if take_first { ends.first } else { ends.second };
    inj.syscall(libc::SYS_dup, &[end as u64])
}

//! What a syscall wrote into tracee memory, captured at its exit following the syscall
//! table (the bytes it sent out are `syscalls::sent`).

use schema::MemWrite;
use tracee::{Tracee, TraceeError};

use syscalls::sent::{read_buf, read_iov};
use syscalls::{Ipc, Len, Out, Rule, Special};

/// Values read at syscall entry that the exit side needs (buffer sizes the kernel overwrites).
#[derive(Debug, Default, Clone)]
pub struct EntrySnapshot {
    /// `(arg index, value)` of `socklen_t` arguments before the call.
    len_at: Vec<(usize, u32)>,
    /// A msghdr as it was before the call (for recvmsg), or recvmmsg's whole mmsghdr array.
    msghdr: Option<Vec<u8>>,
}

/// `struct msghdr`, and `struct mmsghdr` (a msghdr and its `msg_len`), on x86-64.
const MSGHDR: usize = 56;
const MMSGHDR: usize = 64;
/// Most mmsghdr entries one recvmmsg fills (the kernel's UIO_MAXIOV).
const MAX_MMSG: u64 = 1024;

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

/// Reads what the exit side will need to know about the arguments as they were.
pub fn snapshot_entry(
    tracee: &mut Tracee,
    rule: Rule,
    args: &[u64; 6],
) -> Result<EntrySnapshot, TraceeError> {
    let mut snap = EntrySnapshot::default();
    match rule {
        Rule::Emulate(outs) => {
            for o in outs {
                if let Len::LenAt(a) = o.len {
                    if args[a] != 0 {
                        let b = tracee.read_mem_partial(args[a], 4)?;
                        if b.len() == 4 {
                            snap.len_at.push((a, u32_at(&b, 0)));
                        }
                    }
                }
            }
        }
        Rule::EmulateSpecial(Special::RecvMsg { msg }) if args[msg] != 0 => {
            snap.msghdr = Some(tracee.read_mem(args[msg], MSGHDR)?);
        }
        Rule::EmulateSpecial(Special::RecvMmsg { vec }) if args[vec] != 0 => {
            let entries = args[vec + 1].min(MAX_MMSG) as usize;
            snap.msghdr = Some(tracee.read_mem(args[vec], entries * MMSGHDR)?);
        }
        _ => {}
    }
    Ok(snap)
}

/// Keeps up to `len` bytes at `addr` (as far as mapped) as a memory write.
fn capture(
    tracee: &mut Tracee,
    addr: u64,
    len: usize,
    into: &mut Vec<MemWrite>,
) -> Result<(), TraceeError> {
    let mut parts = Vec::new();
    read_buf(tracee, addr, len, &mut parts)?;
    into.extend(parts.into_iter().map(|(addr, data)| MemWrite {
        addr,
        data: data.into(),
    }));
    Ok(())
}

/// Reads an iovec array and captures up to `total` bytes spread over its buffers.
fn capture_iov(
    tracee: &mut Tracee,
    iov: u64,
    cnt: u64,
    total: usize,
    into: &mut Vec<MemWrite>,
) -> Result<(), TraceeError> {
    let mut parts = Vec::new();
    read_iov(tracee, iov, cnt, total, &mut parts)?;
    into.extend(parts.into_iter().map(|(addr, data)| MemWrite {
        addr,
        data: data.into(),
    }));
    Ok(())
}

fn out_len(
    o: &Out,
    args: &[u64; 6],
    ret: i64,
    snap: &EntrySnapshot,
    tracee: &mut Tracee,
) -> Result<usize, TraceeError> {
    let ret = ret.max(0) as usize;
    Ok(match o.len {
        Len::Fixed(n) => n,
        Len::Ret => ret,
        Len::ArgTimes { arg, size } => (args[arg] as usize).saturating_mul(size),
        Len::RetTimes(size) => ret.saturating_mul(size),
        Len::PagesIn(arg) => args[arg].div_ceil(4096) as usize,
        Len::LenAt(a) => {
            let before = snap.len_at.iter().find(|(i, _)| *i == a).map(|&(_, v)| v);
            let after = if args[a] != 0 {
                let b = tracee.read_mem_partial(args[a], 4)?;
                (b.len() == 4).then(|| u32_at(&b, 0))
            } else {
                None
            };
            match (before, after) {
                (Some(b), Some(a)) => b.min(a) as usize,
                _ => 0,
            }
        }
    })
}

/// What one received message filled, from its msghdr before and after the call: the
/// sender's name, `received` bytes over the iovecs, and the control data.
fn capture_received(
    tracee: &mut Tracee,
    before: &[u8],
    after: &[u8],
    received: usize,
    w: &mut Vec<MemWrite>,
) -> Result<(), TraceeError> {
    let name_len = u32_at(before, 8).min(u32_at(after, 8)) as usize;
    capture(tracee, u64_at(after, 0), name_len, w)?;
    capture_iov(tracee, u64_at(after, 16), u64_at(after, 24), received, w)?;
    let control_len = u64_at(before, 40).min(u64_at(after, 40)) as usize;
    capture(tracee, u64_at(after, 32), control_len, w)
}

/// The memory the kernel wrote during the syscall, read back at its exit.
pub fn capture_writes(
    tracee: &mut Tracee,
    rule: Rule,
    args: &[u64; 6],
    ret: i64,
    snap: &EntrySnapshot,
) -> Result<Vec<MemWrite>, TraceeError> {
    let mut writes = Vec::new();
    // Failed calls write nothing, except that sleeps and waits interrupted by a signal may
    // report the time left (the tracer sees the restart code the kernel turns into EINTR
    // when a handler runs: clock_nanosleep has written the time left by then).
    if ret < 0 && ret != -(libc::EINTR as i64) && !syscalls::is_restart_code(ret) {
        return Ok(writes);
    }
    match rule {
        Rule::Emulate(outs) => {
            for o in outs {
                let len = out_len(o, args, ret, snap, tracee)?;
                capture(tracee, args[o.arg], len, &mut writes)?;
            }
        }
        Rule::EmulateSpecial(special) => {
            special_writes(tracee, special, args, ret, snap, &mut writes)?
        }
        _ => {}
    }
    Ok(writes)
}

fn special_writes(
    tracee: &mut Tracee,
    special: Special,
    args: &[u64; 6],
    ret: i64,
    snap: &EntrySnapshot,
    w: &mut Vec<MemWrite>,
) -> Result<(), TraceeError> {
    let nret = ret.max(0) as usize;
    match special {
        Special::Iov { iov, cnt } => capture_iov(tracee, args[iov], args[cnt], nret, w)?,
        Special::RecvMsg { msg } => {
            let Some(before) = &snap.msghdr else {
                return Ok(());
            };
            let after = tracee.read_mem(args[msg], MSGHDR)?;
            capture_received(tracee, before, &after, nret, w)?;
            w.push(MemWrite {
                addr: args[msg],
                data: after.into(),
            });
        }
        Special::RecvMmsg { vec } => {
            let Some(before) = &snap.msghdr else {
                return Ok(());
            };
            let filled = nret.min(before.len() / MMSGHDR);
            if filled == 0 {
                return Ok(());
            }
            let after = tracee.read_mem(args[vec], filled * MMSGHDR)?;
            for (was, now) in before
                .chunks_exact(MMSGHDR)
                .zip(after.chunks_exact(MMSGHDR))
            {
                let received = u32_at(now, MSGHDR) as usize;
                capture_received(tracee, was, now, received, w)?;
            }
            w.push(MemWrite {
                addr: args[vec],
                data: after.into(),
            });
        }
        Special::Select { timeout_len } => {
            let set_bytes = (args[0] as usize).div_ceil(64) * 8;
            for &set in &args[1..=3] {
                capture(tracee, set, set_bytes, w)?;
            }
            if ret >= 0 {
                capture(tracee, args[4], timeout_len, w)?;
            }
        }
        Special::Ioctl if args[1] as u32 == FS_IOC_FIEMAP && ret >= 0 => {
            // The extents the kernel found follow the header it updates.
            let header = tracee.read_mem(args[2], 32)?;
            let extents = u32_at(&header, 20).min(u32_at(&header, 24)) as usize;
            capture(tracee, args[2], 32 + 56 * extents, w)?;
        }
        Special::Ioctl => {
            if let Some(len) = ioctl_output_len(args[1]) {
                capture(tracee, args[2], len, w)?;
            }
        }
        Special::Fcntl => {
            let len = match args[1] as i32 {
                libc::F_GETLK | libc::F_OFD_GETLK => 32,
                16 => 8, // F_GETOWN_EX
                _ => 0,
            };
            capture(tracee, args[2], len, w)?;
        }
        Special::Futex => {
            // Waits and wakes write nothing; these operations change futex words. (A PI
            // lock word also changes while waiters block, racing with the capture here:
            // replay adds the waiters it knows of from the log.)
            use syscalls::futex::op::*;
            let op = syscalls::futex::op_of(args);
            if matches!(
                op,
                LOCK_PI | UNLOCK_PI | TRYLOCK_PI | LOCK_PI2 | CMP_REQUEUE_PI
            ) {
                capture(tracee, args[0], 4, w)?;
            }
            if matches!(op, WAKE_OP | WAIT_REQUEUE_PI | CMP_REQUEUE_PI) {
                capture(tracee, args[4], 4, w)?;
            }
        }
        Special::IpcCtl(of) => {
            let (cmd, buf) = match of {
                Ipc::Sem => (args[2], args[3]),
                Ipc::Msg | Ipc::Shm => (args[1], args[2]),
            };
            let len = ipc_ctl_output_len(of, args[0] as i32, cmd as i32 & 0xff);
            capture(tracee, buf, len, w)?;
        }
        Special::Keyctl => {
            // KEYCTL_DESCRIBE, KEYCTL_READ, KEYCTL_GET_SECURITY: as much of the answer as
            // fits (the result is its whole length).
            if [6, 11, 17].contains(&args[0]) {
                capture(tracee, args[2], nret.min(args[3] as usize), w)?;
            }
        }
        Special::ProcessVmWritev => {
            if same_process(tracee.pid(), args[0] as i32) {
                capture_iov(tracee, args[3], args[4], nret, w)?;
            }
        }
        Special::MsgRcv => {
            // `long mtype`, then the text.
            capture(tracee, args[1], 8 + nret, w)?;
        }
        Special::Prctl => {
            let len = match args[0] as i32 {
                libc::PR_GET_NAME => 16,
                libc::PR_GET_PDEATHSIG | libc::PR_GET_CHILD_SUBREAPER | libc::PR_GET_TSC => 4,
                libc::PR_GET_TID_ADDRESS => 8,
                _ => 0,
            };
            capture(tracee, args[1], len, w)?;
        }
    }
    Ok(())
}

/// How many bytes a SysV control command writes at its buffer (sizes of the x86-64 structs).
fn ipc_ctl_output_len(of: Ipc, id: i32, cmd: i32) -> usize {
    use libc::{IPC_INFO, IPC_STAT};
    const STAT: [i32; 3] = [IPC_STAT, 18, 20]; // IPC_STAT, SEM_STAT, SEM_STAT_ANY
    match of {
        Ipc::Sem if STAT.contains(&cmd) => 104,
        Ipc::Sem if cmd == IPC_INFO || cmd == 19 => 40, // SEM_INFO
        Ipc::Sem if cmd == 13 => 2 * semaphores_in_set(id), // GETALL
        Ipc::Msg if [IPC_STAT, 11, 13].contains(&cmd) => 120, // MSG_STAT, MSG_STAT_ANY
        Ipc::Msg if cmd == IPC_INFO || cmd == 12 => 32, // MSG_INFO
        Ipc::Shm if [IPC_STAT, 13, 15].contains(&cmd) => 112, // SHM_STAT, SHM_STAT_ANY
        Ipc::Shm if cmd == IPC_INFO => 72,
        Ipc::Shm if cmd == 14 => 48, // SHM_INFO
        _ => 0,
    }
}

/// The number of semaphores in set `id`, as `/proc/sysvipc/sem` lists it (the recorder
/// shares the program's IPC namespace).
fn semaphores_in_set(id: i32) -> usize {
    let Ok(table) = std::fs::read_to_string("/proc/sysvipc/sem") else {
        return 0;
    };
    table
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|cols| cols.get(1).and_then(|c| c.parse::<i32>().ok()) == Some(id))
        .and_then(|cols| cols.get(3).and_then(|c| c.parse().ok()))
        .unwrap_or(0)
}

/// `FS_IOC_FIEMAP`: a file's extents (`struct fiemap`, then `fm_mapped_extents` extents).
const FS_IOC_FIEMAP: u32 = 0xc020_660b;

/// How many bytes an ioctl request writes at its argument, if any.
fn ioctl_output_len(req: u64) -> Option<usize> {
    let req = req as u32;
    match req as u64 {
        libc::TCGETS => Some(36),
        libc::TIOCGWINSZ => Some(8),
        libc::TIOCGPGRP | libc::FIONREAD | libc::TIOCGSID | libc::TIOCOUTQ | libc::TIOCGPTN => {
            Some(4)
        }
        libc::TIOCGETD => Some(4),
        _ => {
            // Encoded requests carry direction and size: _IOC_READ means the kernel writes.
            let dir = req >> 30;
            let size = ((req >> 16) & 0x3fff) as usize;
            (dir & 2 != 0 && size > 0).then_some(size)
        }
    }
}

/// Whether thread `b` (a pid as a program names one: any of its threads) is in thread
/// `a`'s process.
fn same_process(a: i32, b: i32) -> bool {
    let tgid = |pid: i32| {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("Tgid:"))
            .and_then(|v| v.trim().parse::<i32>().ok())
    };
    a == b || matches!((tgid(a), tgid(b)), (Some(x), Some(y)) if x == y)
}

//! One syscall event as strace would print it: `openat(AT_FDCWD, "/etc/hostname",
//! O_RDONLY|O_CLOEXEC) = 3`, `= -1 ENOENT (No such file or directory)`.

use super::syscall_name;
use libc::c_long;
use schema::{SyscallEvent, SyscallMode};

use super::memory::KnownMemory;
use super::names;
use super::structs::{self, quote, SHOWN_BYTES};
use super::table::{self, Arg, Ret, Written};

/// A decoded syscall: each argument and the result as text, and the whole line.
pub struct Decoded {
    pub name: String,
    pub args: Vec<String>,
    pub result: String,
    /// The errno name when the call failed.
    pub errno: Option<&'static str>,
    pub line: String,
}

/// The errno of a failed call (`-4095..=-1` in `rax`).
fn errno_of(result: i64) -> Option<i64> {
    (-4095..=-1).contains(&result).then_some(-result)
}

fn ptr(v: u64) -> String {
    if v == 0 {
        "NULL".into()
    } else {
        format!("{v:#x}")
    }
}

fn written(s: &SyscallEvent, addr: u64) -> Option<&[u8]> {
    s.writes
        .iter()
        .find(|w| w.addr == addr && addr != 0)
        .map(|w| w.data.as_slice())
}

fn written_struct(kind: Written, b: &[u8]) -> Option<String> {
    match kind {
        Written::Stat => structs::stat(b),
        Written::Statx => structs::statx(b),
        Written::Timespec => structs::timespec(b),
        Written::Timeval => structs::timeval(b),
        Written::Rlimit => structs::rlimit(b),
        Written::FdPair => structs::fd_pair(b),
        Written::WaitStatus => structs::wait_status(b),
        Written::Utsname => structs::utsname(b),
        Written::Dirents => structs::dirents(b),
        Written::CString => structs::c_string(b),
    }
}

fn arg_text(kind: Arg, i: usize, s: &SyscallEvent, tid: u32, mem: &KnownMemory) -> String {
    let v = s.args[i];
    let ok = s.result >= 0 && s.mode != SyscallMode::Refused;
    match kind {
        Arg::Int => (v as i32).to_string(),
        Arg::Long => (v as i64).to_string(),
        Arg::Size => v.to_string(),
        Arg::Hex if v == 0 => "0".into(),
        Arg::Hex => format!("{v:#x}"),
        Arg::Ptr => ptr(v),
        Arg::Fd => {
            let fd = v as i32;
            // A file mapping names the file behind its descriptor (strace's `-y`).
            match (&s.mapping, s.number as c_long, i) {
                (Some(m), libc::SYS_mmap, 4) => {
                    format!("{fd}<{}>", String::from_utf8_lossy(&m.file.path))
                }
                _ => fd.to_string(),
            }
        }
        Arg::DirFd if v as i32 == libc::AT_FDCWD => "AT_FDCWD".into(),
        Arg::DirFd => (v as i32).to_string(),
        Arg::Path => match mem.c_string(tid, v) {
            Some(bytes) => quote(&bytes, 4096),
            None => ptr(v),
        },
        Arg::BufIn(len_arg) => {
            let len = s.args.get(len_arg).copied().unwrap_or(0) as usize;
            let want = len.min(SHOWN_BYTES + 1);
            match mem.bytes(tid, v, want) {
                Some(bytes) if len > 0 => quote(&bytes, SHOWN_BYTES),
                _ => ptr(v),
            }
        }
        Arg::BufOut => match written(s, v) {
            Some(bytes) if ok => quote(bytes, SHOWN_BYTES),
            None if ok && s.result == 0 => "\"\"".into(),
            _ => ptr(v),
        },
        Arg::Out(kind) => match written(s, v).filter(|_| ok) {
            Some(bytes) => written_struct(kind, bytes).unwrap_or_else(|| ptr(v)),
            None => ptr(v),
        },
        Arg::Named(name) => name(v),
        Arg::Mode if v == 0 => "0".into(),
        Arg::Mode => format!("0{:o}", v & 0o7777),
        Arg::Signal => names::signal_name(v as i32 as i64),
    }
}

/// `3`, `0x7ffff7fc1000`, or `-1 ENOENT (No such file or directory)`.
fn result_text(s: &SyscallEvent, ret: Ret) -> (String, Option<&'static str>) {
    if let Some(e) = errno_of(s.result) {
        return (format!("-1 {}", names::errno_text(e)), names::errno_name(e));
    }
    let text = match ret {
        Ret::Hex => format!("{:#x}", s.result as u64),
        Ret::Int => s.result.to_string(),
    };
    (text, None)
}

pub fn decode(s: &SyscallEvent, tid: u32, mem: &KnownMemory) -> Decoded {
    let name = syscall_name(s.number).to_string();
    let (kinds, ret): (Vec<Arg>, Ret) = match table::row(s.number) {
        Some((kinds, ret)) => (kinds.to_vec(), ret),
        None => (vec![Arg::Hex; 6], Ret::Int),
    };
    let mut count = kinds.len();
    if let Some(flags_at) = table::mode_only_when_creating(s.number) {
        let flags = s.args[flags_at];
        let tmpfile = libc::O_TMPFILE as u64;
        if flags & libc::O_CREAT as u64 == 0 && flags & tmpfile != tmpfile {
            count = flags_at + 1;
        }
    }
    let args: Vec<String> = kinds[..count]
        .iter()
        .enumerate()
        .map(|(i, &k)| arg_text(k, i, s, tid, mem))
        .collect();
    let (result, errno) = result_text(s, ret);
    let mut line = format!("{name}({}) = {result}", args.join(", "));
    match s.mode {
        SyscallMode::Refused => line.push_str(" [refused by ftrun]"),
        SyscallMode::Executed => line.push_str(" [executed]"),
        SyscallMode::Buffered => line.push_str(" [in-process]"),
        SyscallMode::Emulated => {}
    }
    Decoded {
        name,
        args,
        result,
        errno,
        line,
    }
}

/// Keeps `mem` up to date with what the syscall did to the address space.
pub fn track(s: &SyscallEvent, tid: u32, mem: &mut KnownMemory) {
    if errno_of(s.result).is_some() || s.mode == SyscallMode::Refused {
        return;
    }
    let a = &s.args;
    let writable = |prot: u64| prot & libc::PROT_WRITE as u64 != 0;
    match s.number as c_long {
        libc::SYS_mmap => mem.mapped(
            tid,
            s.result as u64,
            a[1],
            writable(a[2]),
            s.mapping.as_deref(),
        ),
        libc::SYS_munmap => mem.forget(tid, a[0], a[1]),
        libc::SYS_mprotect if writable(a[2]) => mem.forget(tid, a[0], a[1]),
        libc::SYS_mremap => {
            mem.forget(tid, a[0], a[1]);
            mem.forget(tid, s.result as u64, a[2]);
        }
        libc::SYS_fork | libc::SYS_vfork if s.result > 0 => {
            let shares = s.number as c_long == libc::SYS_vfork;
            mem.fork(tid, s.result as u32, shares)
        }
        libc::SYS_clone if s.result > 0 => {
            mem.fork(tid, s.result as u32, a[0] & libc::CLONE_VM as u64 != 0)
        }
        _ => {}
    }
}

//! The in-process runtime: code the tracer maps into every recorded process at a fixed
//! address. A rewritten syscall site jumps to a stub, the stub calls `ftrun_entry`, and the
//! runtime either runs the call itself from its one untraced `syscall` instruction (which the
//! seccomp filter lets through) and appends the result and the bytes the kernel wrote to the
//! ring, or returns to the stub's own `syscall`, which the filter traps to the tracer.
//!
//! Freestanding: no libc, no allocation, no panics reachable (a panic would be a fault in
//! the program's process), and built without vector registers (`build.rs`), so that the
//! program's x87/SSE/AVX state passes through untouched and need not be saved. Memory
//! that the tracer also maps is touched through raw pointers only.

#![no_std]
#![no_main]
#![allow(clippy::missing_safety_doc)]

#[path = "../src/layout.rs"]
#[allow(dead_code)]
mod layout;
mod gate;
mod ready;
mod shapes;
mod vector;

use core::ptr::{read_volatile, write_volatile};
use gate::gate_passed;
use layout::*;
use ready::{file_of, opens_now, readable_now, writable_now};
use shapes::{nonblocking, sleep, time_call, with_sized_out};
use vector::{output_size, readv, recvmsg, Sent};

core::arch::global_asm!(
    ".section .text.entry,\"ax\",@progbits",
    ".globl ftrun_entry",
    // Entered from a stub by `call`: [rsp] is the address of the stub's traced syscall;
    // above it the 128 bytes of red zone the stub stepped over, then the program's stack.
    // Whatever the mode, the program's stack gets the same two words (that address and
    // the flags), so that its memory is the same in recording and replay.
    "ftrun_entry:",
    "pushfq",
    "cmp dword ptr [{mode}], {off}",
    "je 2f",
    "mov qword ptr [{saved}], rsp",
    "mov rsp, {stack_top}",
    "push rax",
    "push rcx",
    "push rdx",
    "push rbx",
    "push rbp",
    "push rsi",
    "push rdi",
    "push r8",
    "push r9",
    "push r10",
    "push r11",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "mov rbp, rsp",
    "and rsp, -16",
    "mov rdi, rbp",
    "mov rsi, qword ptr [{saved}]",
    "call ftrun_hook",
    "mov rsp, rbp",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop r11",
    "pop r10",
    "pop r9",
    "pop r8",
    "pop rdi",
    "pop rsi",
    "pop rbp",
    "pop rbx",
    "pop rdx",
    "pop rcx",
    "pop rax",
    "mov rsp, qword ptr [{saved}]",
    "popfq",
    "lea rsp, [rsp + 136]",
    "jmp qword ptr [{target}]",
    // The runtime is off (replay, a live process, a forked child): straight to the
    // stub's traced syscall, touching nothing shared.
    "2:",
    "popfq",
    "lea rsp, [rsp + 136]",
    "jmp qword ptr [rsp - 136]",
    ".globl ftrun_untraced_syscall",
    ".globl ftrun_untraced_insn",
    // fn(nr, a0, a1, a2, a3, a4, a5 on the stack) -> result
    "ftrun_untraced_syscall:",
    "mov rax, rdi",
    "mov rdi, rsi",
    "mov rsi, rdx",
    "mov rdx, rcx",
    "mov r10, r8",
    "mov r8, r9",
    "mov r9, [rsp + 8]",
    "ftrun_untraced_insn:",
    "syscall",
    "ret",
    // The tracer's batch of calls (`tracee::Runner`): rbx is the table, eight words an
    // entry (number, six arguments, the result written back), a number of -1 ends it.
    ".globl ftrun_batch",
    ".globl ftrun_batch_done",
    "ftrun_batch:",
    "mov rdi, qword ptr [rbx]",
    "cmp rdi, -1",
    "je ftrun_batch_done",
    "mov rsi, qword ptr [rbx + 8]",
    "mov rdx, qword ptr [rbx + 16]",
    "mov rcx, qword ptr [rbx + 24]",
    "mov r8, qword ptr [rbx + 32]",
    "mov r9, qword ptr [rbx + 40]",
    "push qword ptr [rbx + 48]",
    "call ftrun_untraced_syscall",
    "add rsp, 8",
    "mov qword ptr [rbx + 56], rax",
    "add rbx, 64",
    "jmp ftrun_batch",
    "ftrun_batch_done:",
    "int3",
    mode = const CONTROL_MODE,
    off = const MODE_OFF,
    saved = const CONTROL_SAVED_RSP,
    target = const CONTROL_TARGET,
    stack_top = const STACK_BASE + STACK_SIZE,
);

extern "C" {
    fn ftrun_untraced_syscall(nr: u64, a0: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64)
        -> i64;
}

/// The program's registers as `ftrun_entry` pushed them.
#[repr(C)]
pub struct Frame {
    r15: u64,
    r14: u64,
    r13: u64,
    r12: u64,
    r11: u64,
    r10: u64,
    r9: u64,
    r8: u64,
    rdi: u64,
    rsi: u64,
    rbp: u64,
    rbx: u64,
    rdx: u64,
    rcx: u64,
    rax: u64,
}

mod nr {
    pub const READ: u64 = 0;
    pub const WRITE: u64 = 1;
    pub const OPEN: u64 = 2;
    pub const CLOSE: u64 = 3;
    pub const STAT: u64 = 4;
    pub const FSTAT: u64 = 5;
    pub const LSTAT: u64 = 6;
    pub const POLL: u64 = 7;
    pub const LSEEK: u64 = 8;
    pub const MMAP: u64 = 9;
    pub const MPROTECT: u64 = 10;
    pub const MUNMAP: u64 = 11;
    pub const BRK: u64 = 12;
    pub const MADVISE: u64 = 28;
    pub const RT_SIGACTION: u64 = 13;
    pub const RT_SIGPROCMASK: u64 = 14;
    pub const PREAD64: u64 = 17;
    pub const ACCESS: u64 = 21;
    pub const GETPID: u64 = 39;
    pub const NANOSLEEP: u64 = 35;
    pub const SENDTO: u64 = 44;
    pub const RECVFROM: u64 = 45;
    pub const UNAME: u64 = 63;
    pub const IOCTL: u64 = 16;
    pub const FCNTL: u64 = 72;
    pub const GETCWD: u64 = 79;
    pub const READLINK: u64 = 89;
    pub const GETTIMEOFDAY: u64 = 96;
    pub const GETUID: u64 = 102;
    pub const GETGID: u64 = 104;
    pub const GETEUID: u64 = 107;
    pub const GETEGID: u64 = 108;
    pub const GETPPID: u64 = 110;
    pub const GETPGRP: u64 = 111;
    pub const SYSINFO: u64 = 99;
    pub const GETRUSAGE: u64 = 98;
    pub const SCHED_GETAFFINITY: u64 = 204;
    pub const GETTID: u64 = 186;
    pub const FUTEX: u64 = 202;
    pub const TIME: u64 = 201;
    pub const GETDENTS64: u64 = 217;
    pub const CLOCK_GETTIME: u64 = 228;
    pub const CLOCK_NANOSLEEP: u64 = 230;
    pub const EPOLL_WAIT: u64 = 232;
    pub const OPENAT: u64 = 257;
    pub const NEWFSTATAT: u64 = 262;
    pub const READLINKAT: u64 = 267;
    pub const FACCESSAT: u64 = 269;
    pub const EPOLL_PWAIT: u64 = 281;
    pub const GETRANDOM: u64 = 318;
    pub const TGKILL: u64 = 234;
    pub const READV: u64 = 19;
    pub const WRITEV: u64 = 20;
    pub const SENDMSG: u64 = 46;
    pub const RECVMSG: u64 = 47;
    pub const PROCESS_VM_READV: u64 = 310;
    pub const STATX: u64 = 332;
    pub const ACCEPT: u64 = 43;
    pub const ACCEPT4: u64 = 288;
    pub const GETSOCKNAME: u64 = 51;
    pub const GETPEERNAME: u64 = 52;
    pub const SETSOCKOPT: u64 = 54;
    pub const GETSOCKOPT: u64 = 55;
    pub const EPOLL_CTL: u64 = 233;
    pub const FACCESSAT2: u64 = 439;
}

const EAGAIN: i64 = 11;
const FUTEX_WAIT: u64 = 0;
const CLOCK_MONOTONIC: u64 = 1;
const SIGALRM: u64 = 14;
/// How long a gated output sleeps before it looks again without being woken (the
/// tracer's clock also serves requests every 2 ms).
const GATE_NAP_NS: u64 = 2_000_000;
const EINTR: i64 = 4;
const FUTEX_CMD_MASK: u64 = 0x7f;
const FUTEX_WAKE: u64 = 1;
const FUTEX_WAKE_BITSET: u64 = 10;
const ENOENT: i64 = 2;
const ENOTDIR: i64 = 20;
const O_NONBLOCK: i64 = 0o4000;
const MAP_TYPE: u64 = 0x0f;
const SIG_BLOCK: u64 = 0;
const MAP_PRIVATE: u64 = 0x02;
const MAP_ANONYMOUS: u64 = 0x20;
const O_CREAT: u64 = 0o100;
const O_TRUNC: u64 = 0o1000;
const O_APPEND: u64 = 0o2000;
const O_WRONLY_OR_RDWR: u64 = 3;
const F_GETFL: u64 = 3;
const F_GETFD: u64 = 1;
const POLLIN: u16 = 1;
const POLLOUT: u16 = 4;
const MSG_DONTWAIT: u64 = 0x40;
const MSG_WAITALL: u64 = 0x100;
const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;
const S_IFSOCK: u32 = 0o140000;
const S_IFIFO: u32 = 0o010000;
const S_IFCHR: u32 = 0o020000;
const PROT_EXEC: u64 = 4;
const AT_FDCWD: u64 = -100i64 as u64;
/// A write this small to a descriptor that polls writable does not block.
const SMALL_WRITE: u64 = 4096;
/// Most iovec entries a call made in-process may have (more: the traced path).
const MAX_IOV: usize = 64;

unsafe fn sys(nr: u64, a: [u64; 6]) -> i64 {
    ftrun_untraced_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5])
}

unsafe fn sys3(nr: u64, a0: u64, a1: u64, a2: u64) -> i64 {
    ftrun_untraced_syscall(nr, a0, a1, a2, 0, 0, 0)
}

#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    core::arch::asm!("rep movsb", inout("rcx") n => _, inout("rdi") dst => _,
        inout("rsi") src => _, options(nostack, preserves_flags));
    dst
}

#[no_mangle]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    core::arch::asm!("rep stosb", inout("rcx") n => _, inout("rdi") dst => _,
        in("al") c as u8, options(nostack, preserves_flags));
    dst
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // Unreachable by construction; a trap the tracer reports is better than running on.
    loop {
        // SAFETY: ud2 only raises SIGILL.
        unsafe { core::arch::asm!("ud2") };
    }
}

fn control() -> *mut Control {
    CONTROL_BASE as *mut Control
}

fn ring() -> *mut RingHeader {
    RING_BASE as *mut RingHeader
}

/// A record being built at the ring's write position; published by `commit`.
struct Record {
    start: *mut u8,
    /// The ring position the record starts at (after a wrap marker, if one was needed).
    pos: u64,
    at: u64,
    limit: u64,
    nwrites: u32,
    /// `RECORD_RUN_AT_REPLAY` for a call replay makes again, or 0.
    flags: u16,
}

impl Record {
    /// Room for a record of at most `max` bytes after the header, or `None` (ring full:
    /// the call takes the traced path, and the tracer empties the ring at that stop).
    unsafe fn begin(max: u64) -> Option<Record> {
        let r = ring();
        let pos = read_volatile(&(*r).write_pos);
        let shipped = read_volatile(&(*r).ship_pos);
        let need = RECORD_HEADER_SIZE + pad8(max);
        let used = pos.wrapping_sub(shipped);
        if used > RING_DATA_SIZE || need > RING_DATA_SIZE {
            return None;
        }
        let offset = pos % RING_DATA_SIZE;
        // A record does not wrap: the rest of the data is skipped when it would not fit.
        let skip = if offset + need > RING_DATA_SIZE {
            RING_DATA_SIZE - offset
        } else {
            0
        };
        if RING_DATA_SIZE - used < skip + need {
            return None;
        }
        let data = (RING_BASE + RING_HEADER_SIZE) as *mut u8;
        if skip > 0 {
            // Published with the record (write_pos moves past both at once).
            let marker = data.add(offset as usize) as *mut u32;
            write_volatile(marker, skip as u32);
            write_volatile(marker.add(1), WRAP);
        }
        let pos = pos + skip;
        Some(Record {
            start: data.add((pos % RING_DATA_SIZE) as usize),
            pos,
            at: RECORD_HEADER_SIZE,
            limit: need,
            nwrites: 0,
            flags: 0,
        })
    }

    /// Appends `len` bytes the kernel wrote at `addr` (copied from there now).
    unsafe fn write(&mut self, addr: u64, len: u64) {
        if addr == 0 || len == 0 || self.at + WRITE_HEADER_SIZE + pad8(len) > self.limit {
            return;
        }
        let h = self.start.add(self.at as usize) as *mut WriteHeader;
        write_volatile(h, WriteHeader { addr, len });
        memcpy(
            self.start.add((self.at + WRITE_HEADER_SIZE) as usize),
            addr as *const u8,
            len as usize,
        );
        self.at += WRITE_HEADER_SIZE + pad8(len);
        self.nwrites += 1;
    }

    /// Appends the first `len` bytes the kernel wrote into the buffers of the iovec array
    /// at `iov` (`cnt` entries, checked readable before the call), in order.
    unsafe fn write_iov(&mut self, iov: u64, cnt: u64, len: u64) {
        let mut left = len;
        for i in 0..cnt as usize {
            if left == 0 {
                break;
            }
            let entry = (iov as *const u64).add(2 * i);
            let n = read_volatile(entry.add(1)).min(left);
            self.write(read_volatile(entry), n);
            left -= n;
        }
    }

    /// Appends the first `len` bytes an output call sent from `from`.
    unsafe fn sent(&mut self, from: Sent, len: u64) -> u32 {
        if len == 0 || self.at + pad8(len) > self.limit {
            return 0;
        }
        from.copy_to(self.start.add(self.at as usize), len);
        self.at += pad8(len);
        len as u32
    }

    unsafe fn commit(self, nr: u64, args: [u64; 6], result: i64, sent_len: u32) -> i64 {
        self.commit_output(nr, args, result, sent_len, (0, 0), true)
    }

    /// Publishes the record. `input`: anything but an output that went through the gate
    /// (a later output waits until the follower has this one).
    unsafe fn commit_output(
        self,
        nr: u64,
        args: [u64; 6],
        result: i64,
        sent_len: u32,
        file: (u64, u64),
        input: bool,
    ) -> i64 {
        let header = RecordHeader {
            size: self.at as u32,
            nr: nr as u32,
            nwrites: self.nwrites as u16,
            flags: self.flags | if input { 0 } else { RECORD_GATED_OUTPUT },
            sent_len,
            result,
            args,
            dev: file.0,
            ino: file.1,
        };
        write_volatile(self.start as *mut RecordHeader, header);
        let r = ring();
        // The record is complete before it is published (x86 keeps stores in order; the
        // fence keeps the compiler from moving them), and counted before its bytes are, so
        // that the tracer, reading `write_pos` first, never finds more records than `count`.
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
        let ordinal = read_volatile(&(*r).count) + 1;
        write_volatile(&mut (*r).count, ordinal);
        if input {
            write_volatile(&mut (*r).last_input, ordinal);
        } else {
            write_volatile(&mut (*r).gated_outputs, read_volatile(&(*r).gated_outputs) + 1);
        }
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
        write_volatile(&mut (*r).write_pos, self.pos + self.at);
        result
    }
}

/// Runs `nr` and records it with one memory write of `len(result)` bytes at `addr`.
unsafe fn with_write(nr: u64, a: [u64; 6], max: u64, addr: u64, len: impl Fn(i64) -> u64) -> Option<i64> {
    with_write_marked(nr, a, max, addr, len, 0)
}

/// `with_write`, the record's flags `flags`.
unsafe fn with_write_marked(
    nr: u64,
    a: [u64; 6],
    max: u64,
    addr: u64,
    len: impl Fn(i64) -> u64,
    flags: u16,
) -> Option<i64> {
    let mut rec = Record::begin(WRITE_HEADER_SIZE + max)?;
    rec.flags = flags;
    let r = sys(nr, a);
    if r >= 0 {
        rec.write(addr, len(r).min(max));
    }
    Some(rec.commit(nr, a, r, 0))
}

unsafe fn plain(nr: u64, a: [u64; 6]) -> Option<i64> {
    let rec = Record::begin(0)?;
    let r = sys(nr, a);
    Some(rec.commit(nr, a, r, 0))
}

/// A call without memory effects that replay makes again (marked so in its record).
unsafe fn run_at_replay(nr: u64, a: [u64; 6]) -> Option<i64> {
    let mut rec = Record::begin(0)?;
    rec.flags = RECORD_RUN_AT_REPLAY;
    let r = sys(nr, a);
    Some(rec.commit(nr, a, r, 0))
}

fn fixed(n: u64) -> impl Fn(i64) -> u64 {
    move |_| n
}

fn returned(r: i64) -> u64 {
    r as u64
}

/// Whether the file (device, inode) is ftrun's own stdout or stderr.
unsafe fn is_echoed(file: (u64, u64)) -> bool {
    let echo = &(*control()).echo;
    let (out, err) = (
        (read_volatile(&echo[0]), read_volatile(&echo[1])),
        (read_volatile(&echo[2]), read_volatile(&echo[3])),
    );
    file != (0, 0) && (file == out || file == err)
}

/// Runs an output call, keeping the bytes it sent and its descriptor's file; with
/// `FLAG_ECHO_TRACED`, one to ftrun's stdout or stderr goes to the tracer instead. With
/// `FLAG_OUTPUT_GATE`, bytes that leave the process (a socket, a pipe, a terminal) first
/// wait at the gate; a write that stays (a file) is an input like any other call.
unsafe fn output(n: u64, a: [u64; 6], size: u64, flags: u32) -> Option<i64> {
    let facts = file_of(a[0]);
    let file = facts.map_or((0, 0), |(dev, ino, _)| (dev, ino));
    if flags & FLAG_ECHO_TRACED != 0 && is_echoed(file) {
        return None;
    }
    let leaves = facts.is_none_or(|(_, _, mode)| {
        matches!(mode & S_IFMT, S_IFSOCK | S_IFIFO | S_IFCHR)
    });
    let gated = flags & FLAG_OUTPUT_GATE != 0 && leaves;
    if gated && !gate_passed(flags) {
        return None;
    }
    let mut rec = Record::begin(size)?;
    let r = sys(n, a);
    let sent = if r > 0 {
        rec.sent(Sent::of(n, a), r as u64)
    } else {
        0
    };
    Some(rec.commit_output(n, a, r, sent, file, !gated))
}

/// Bytes an ioctl that only reads terminal or descriptor state writes at its argument
/// (the same requests and sizes the traced path captures), if it is one.
fn ioctl_query_len(request: u64) -> Option<u64> {
    match request as u32 {
        0x5401 => Some(36),                   // TCGETS
        0x5413 => Some(8),                    // TIOCGWINSZ
        0x540f | 0x541b | 0x5429 => Some(4), // TIOCGPGRP, FIONREAD, TIOCGSID
        _ => None,
    }
}

/// Runs and records a bufferable call, or `None` for the traced path. Calls that may
/// block run in-process only when the process has one thread (`FLAG_MAY_BLOCK`), or
/// when they cannot block.
unsafe fn record(n: u64, a: [u64; 6], flags: u32) -> Option<i64> {
    let may_block = flags & (FLAG_MAY_BLOCK | FLAG_MAY_BLOCK_UNTIMED) != 0;
    let timed_may_block = flags & FLAG_MAY_BLOCK != 0;
    let outputs = flags & FLAG_OUTPUTS_TRACED == 0;
    // Under fault tolerance opens stay traced (see below), outputs wait at the gate.
    let opens = outputs && flags & FLAG_OUTPUT_GATE == 0;
    match n {
        // Wakes return at once and change nothing the program can read.
        nr::FUTEX if matches!(a[1] & FUTEX_CMD_MASK, FUTEX_WAKE | FUTEX_WAKE_BITSET) => {
            plain(n, a)
        }
        nr::NANOSLEEP if timed_may_block => sleep(n, a, a[1]),
        nr::CLOCK_NANOSLEEP if timed_may_block => sleep(n, a, a[3]),
        // Memory calls replay makes again itself (the log has their results to compare):
        // run here they keep the thread's turn and cost no stop. A file mapping stays
        // traced: the recorder keeps the file's bytes.
        // Executable memory stays traced: the tracer looks at every piece of code (see
        // `FLAG_TSC_FREE`).
        nr::MPROTECT if a[2] & PROT_EXEC == 0 => run_at_replay(n, a),
        nr::MUNMAP | nr::BRK | nr::MADVISE => run_at_replay(n, a),
        nr::MMAP
            if a[3] & MAP_ANONYMOUS != 0
                && a[3] & MAP_TYPE == MAP_PRIVATE
                && a[2] & PROT_EXEC == 0 =>
        {
            run_at_replay(n, a)
        }
        nr::GETPID | nr::GETPPID | nr::GETTID | nr::GETUID | nr::GETEUID | nr::GETGID
        | nr::GETEGID | nr::GETPGRP | nr::LSEEK | nr::ACCESS | nr::FACCESSAT
        | nr::FACCESSAT2 | nr::CLOSE => plain(n, a),
        // Under fault tolerance opens stay traced: the follower's descriptor table, which
        // going live rebuilds, reads their paths at the stop.
        nr::OPENAT if opens && opens_now(a[0], a[1], a[2]) => plain(n, a),
        nr::OPEN if opens && opens_now(AT_FDCWD, a[0], a[1]) => plain(n, a),
        // What a server does for each connection. Under fault tolerance these stay traced
        // too: going live rebuilds the follower's sockets and epoll sets from them.
        nr::SETSOCKOPT | nr::EPOLL_CTL if opens => plain(n, a),
        nr::GETSOCKOPT if opens => with_sized_out(n, a, a[3], a[4]),
        nr::GETPEERNAME | nr::GETSOCKNAME if opens => with_sized_out(n, a, a[1], a[2]),
        nr::ACCEPT | nr::ACCEPT4 if opens && (may_block || nonblocking(a[0])) => {
            with_sized_out(n, a, a[1], a[2])
        }
        nr::CLOCK_GETTIME | nr::TIME => {
            let (addr, len) = if n == nr::TIME { (a[0], 8) } else { (a[1], 16) };
            let mut rec = Record::begin(WRITE_HEADER_SIZE + len)?;
            let r = time_call(n, a);
            if r >= 0 {
                rec.write(addr, len);
            }
            Some(rec.commit(n, a, r, 0))
        }
        nr::GETTIMEOFDAY => {
            let mut rec = Record::begin(2 * WRITE_HEADER_SIZE + 24)?;
            let r = time_call(n, a);
            if r == 0 {
                rec.write(a[0], 16);
                rec.write(a[1], 8);
            }
            Some(rec.commit(n, a, r, 0))
        }
        nr::UNAME => with_write(n, a, 390, a[0], fixed(390)),
        // Signal state: queries, new dispositions, and masks that only block more (replay
        // makes those itself). A mask that may unblock stays traced: a pending signal it
        // unblocks must be delivered before the call returns, which the tracer does.
        nr::RT_SIGACTION => {
            with_write_marked(n, a, 32, a[2], fixed(24 + a[3].min(8)), RECORD_RUN_AT_REPLAY)
        }
        nr::RT_SIGPROCMASK if a[1] == 0 || a[0] == SIG_BLOCK => {
            with_write_marked(n, a, 8, a[2], fixed(a[3].min(8)), RECORD_RUN_AT_REPLAY)
        }
        // sigaltstack stays traced: the kernel tells SS_ONSTACK by the stack pointer, and
        // here it is the runtime's own stack, never the alternate one.
        // Reading a descriptor's flags changes nothing (the runtime asks the same itself).
        nr::FCNTL if a[1] == F_GETFL || a[1] == F_GETFD => plain(n, a),
        nr::SYSINFO => with_write(n, a, 112, a[0], fixed(112)),
        nr::GETRUSAGE => with_write(n, a, 144, a[1], fixed(144)),
        nr::SCHED_GETAFFINITY => with_write(n, a, a[1], a[2], returned),
        nr::IOCTL => {
            let len = ioctl_query_len(a[1])?;
            with_write(n, a, len, a[2], move |_| len)
        }
        nr::FSTAT | nr::STAT | nr::LSTAT => with_write(n, a, 144, a[1], fixed(144)),
        nr::NEWFSTATAT => with_write(n, a, 144, a[2], fixed(144)),
        nr::STATX => with_write(n, a, 256, a[4], fixed(256)),
        nr::GETRANDOM => with_write(n, a, a[1], a[0], returned),
        nr::GETCWD => with_write(n, a, a[1], a[0], returned),
        nr::READLINK => with_write(n, a, a[2], a[1], returned),
        nr::READLINKAT => with_write(n, a, a[3], a[2], returned),
        nr::GETDENTS64 => with_write(n, a, a[2], a[1], returned),
        nr::PREAD64 => with_write(n, a, a[2], a[1], returned),
        nr::READ if may_block || readable_now(a[0]) => with_write(n, a, a[2], a[1], returned),
        nr::RECVFROM if may_block && a[4] == 0 => with_write(n, a, a[2], a[1], returned),
        nr::RECVFROM if a[4] == 0 && a[3] & MSG_WAITALL == 0 => {
            let mut rec = Record::begin(WRITE_HEADER_SIZE + a[2])?;
            let mut tried = a;
            tried[3] |= MSG_DONTWAIT;
            let r = sys(n, tried);
            if r == -EAGAIN && a[3] & MSG_DONTWAIT == 0 {
                // It would block: the blocking call goes to the tracer.
                return None;
            }
            if r > 0 {
                rec.write(a[1], r as u64);
            }
            Some(rec.commit(n, a, r, 0))
        }
        nr::EPOLL_WAIT | nr::EPOLL_PWAIT if n == nr::EPOLL_WAIT || a[4] == 0 => {
            let max = a[2].min(RING_DATA_SIZE / 16) * 12;
            let mut rec = Record::begin(WRITE_HEADER_SIZE + max)?;
            let mut tried = a;
            let waits = timed_may_block || (may_block && (a[3] as i32) < 0);
            if !waits {
                tried[3] = 0;
            }
            let r = sys(n, tried);
            if r == 0 && a[3] as i32 != 0 && !waits {
                return None;
            }
            if r > 0 {
                rec.write(a[1], (r as u64 * 12).min(max));
            }
            Some(rec.commit(n, a, r, 0))
        }
        nr::POLL => {
            let max = a[1].min(RING_DATA_SIZE / 16) * 8;
            let mut rec = Record::begin(WRITE_HEADER_SIZE + max)?;
            let waits = timed_may_block || (may_block && (a[2] as i32) < 0);
            let r = sys3(n, a[0], a[1], if waits { a[2] } else { 0 });
            if r == 0 && a[2] as i32 != 0 && !waits {
                return None;
            }
            if r >= 0 {
                rec.write(a[0], max);
            }
            Some(rec.commit(n, a, r, 0))
        }
        nr::READV if may_block || readable_now(a[0]) => readv(n, a),
        nr::RECVMSG if a[2] & MSG_WAITALL == 0 => recvmsg(n, a, may_block),
        nr::WRITE | nr::WRITEV if outputs => {
            let size = output_size(n, a)?;
            if !may_block && !writable_now(a[0], size) {
                return None;
            }
            output(n, a, size, flags)
        }
        nr::SENDTO | nr::SENDMSG if outputs && (n == nr::SENDMSG || a[4] == 0) => {
            let send_flags = if n == nr::SENDTO { a[3] } else { a[2] };
            if !may_block && send_flags & MSG_DONTWAIT == 0 && !nonblocking(a[0]) {
                return None;
            }
            output(n, a, output_size(n, a)?, flags)
        }
        _ => None,
    }
}

/// Word by word, so that the compiler does not call a `bcmp` the runtime does not have.
fn same_args(x: &[u64; 6], y: &[u64; 6]) -> bool {
    let mut differ = 0;
    for i in 0..6 {
        // SAFETY: both indexes are in bounds; volatile keeps this a plain loop.
        differ |= unsafe { read_volatile(&x[i]) ^ read_volatile(&y[i]) };
    }
    differ == 0
}

/// Replay: hands back the next record the tracer put in the ring, if it is this call's:
/// makes the call first if the record says replay runs it (and compares the results),
/// writes its memory effects, keeps the bytes an output sends (the tracer checks them), and
/// returns its result. `None` (the traced path) when the ring is empty or holds another
/// call, or when a call made here returned something else (the tracer reports it).
unsafe fn replay(n: u64, a: [u64; 6]) -> Option<i64> {
    let r = ring();
    let pos = read_volatile(&(*r).read_pos);
    let end = read_volatile(&(*r).write_pos);
    if pos >= end || end > RING_DATA_SIZE {
        return None;
    }
    let start = (RING_BASE + RING_HEADER_SIZE + pos) as *mut u8;
    let h = read_volatile(start as *const RecordHeader);
    if h.nr as u64 != n || !same_args(&h.args, &a) || h.size as u64 > end - pos {
        write_volatile(&mut (*r).mismatch_nr, n + 1);
        return None;
    }
    let mut at = RECORD_HEADER_SIZE;
    if h.flags & RECORD_RUN_AT_REPLAY != 0 {
        if (h.size as u64) < RECORD_HEADER_SIZE + RUN_ARGS_SIZE {
            write_volatile(&mut (*r).mismatch_nr, n + 1);
            return None;
        }
        let run = read_volatile(start.add(at as usize) as *const [u64; 6]);
        at += RUN_ARGS_SIZE;
        let made = sys(n, run);
        if h.flags & RECORD_ANY_RESULT == 0 && made != h.result {
            write_volatile(&mut (*r).diverged_result, made);
            write_volatile(&mut (*r).diverged_nr, n + 1);
            return None;
        }
    }
    for _ in 0..h.nwrites {
        let w = read_volatile(start.add(at as usize) as *const WriteHeader);
        at += WRITE_HEADER_SIZE;
        memcpy(w.addr as *mut u8, start.add(at as usize), w.len as usize);
        at += pad8(w.len);
    }
    if h.sent_len > 0 {
        // The call's arguments are the recorded ones, and so is the memory they point to.
        Sent::of(n, a).copy_to(start.add(at as usize), h.sent_len as u64);
    }
    write_volatile(&mut (*r).read_pos, pos + h.size as u64);
    write_volatile(&mut (*r).consumed, read_volatile(&(*r).consumed) + 1);
    Some(h.result)
}

/// Called by `ftrun_entry` with the program's registers and stack pointer (where the
/// flags and then the stub's return address are): handles the call in-process, or leaves
/// the registers as they are so that the stub's traced `syscall` runs.
#[no_mangle]
pub unsafe extern "C" fn ftrun_hook(f: *mut Frame, prog_rsp: *const u64) {
    let c = control();
    let traced = read_volatile(prog_rsp.add(1));
    write_volatile(&mut (*c).target, traced);
    if read_volatile(&(*c).magic) != CONTROL_MAGIC {
        return;
    }
    let flags = read_volatile(&(*c).flags);
    if flags & FLAG_TRACED_NEXT != 0 {
        return;
    }
    let f = &mut *f;
    let args = [f.rdi, f.rsi, f.rdx, f.r10, f.r8, f.r9];
    let handled = match read_volatile(&(*c).mode) {
        MODE_RECORD => record(f.rax, args, flags),
        MODE_REPLAY => replay(f.rax, args),
        _ => None,
    };
    if let Some(result) = handled {
        // As after the stub's own syscall: rax the result, rcx the address after it,
        // r11 the flags.
        f.rax = result as u64;
        f.rcx = traced + 2;
        f.r11 = read_volatile(prog_rsp);
        write_volatile(&mut (*c).target, traced + 2);
    }
}

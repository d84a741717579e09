//! How one syscall is recorded and replayed, as data: the table's vocabulary.

/// The length of an output buffer, known once the syscall has returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Len {
    /// A fixed-size struct.
    Fixed(usize),
    /// As many bytes as the syscall returned.
    Ret,
    /// `size` bytes for each of `args[arg]` elements.
    ArgTimes { arg: usize, size: usize },
    /// `size` bytes for each of the returned count of elements.
    RetTimes(usize),
    /// One byte for each page of the length in `args[arg]` (mincore's vector).
    PagesIn(usize),
    /// The `socklen_t` that `args[arg]` points to (the smaller of its value before and after).
    LenAt(usize),
}

/// An argument that points at memory the kernel fills in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Out {
    pub arg: usize,
    pub len: Len,
}

/// Output buffers whose shape needs code rather than a table row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// `readv`-like: iovec array at `args[iov]`, `args[cnt]` entries, filled up to the result.
    Iov { iov: usize, cnt: usize },
    /// `recvmsg`: a msghdr whose iovecs, name and control buffers are filled.
    RecvMsg { msg: usize },
    /// `recvmmsg`: an array of `struct mmsghdr` at `args[vec]`, the returned count of them
    /// filled like recvmsg's msghdr, each with its `msg_len`.
    RecvMmsg { vec: usize },
    /// `select`/`pselect6`: three fd_sets sized by `args[0]`, and a timeout.
    Select { timeout_len: usize },
    /// `ioctl`: the request decides.
    Ioctl,
    /// `fcntl`: only the lock queries write memory.
    Fcntl,
    /// `prctl`: the option decides.
    Prctl,
    /// `futex`: the PI and wake-op operations change the futex words.
    Futex,
    /// `semctl`, `msgctl`, `shmctl`: the command decides what is written at the buffer.
    IpcCtl(Ipc),
    /// `msgrcv`: the message's type and the returned count of text bytes.
    MsgRcv,
    /// `keyctl`: the describe, read and security commands fill a buffer.
    Keyctl,
    /// `process_vm_writev`: into the caller's own process, the remote iovecs at
    /// `args[3]`/`args[4]` are filled up to the result.
    ProcessVmWritev,
}

/// The SysV IPC object a control call is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipc {
    Sem,
    Msg,
    Shm,
}

/// Where the bytes an output syscall sends out of the process are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// One buffer at `args[buf]` of the returned length.
    Buf { buf: usize },
    /// An iovec array at `args[iov]` with `args[cnt]` entries.
    Iov { iov: usize, cnt: usize },
    /// A msghdr at `args[msg]`.
    Msg { msg: usize },
}

/// The whole treatment of a syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Result and the listed output buffers are logged; replay skips the call.
    Emulate(&'static [Out]),
    /// Like `Emulate`, with outputs found by code.
    EmulateSpecial(Special),
    /// Emulated, and its bytes leave the process: hashed for divergence checks, echoed
    /// at replay when they went to our stdout/stderr.
    Output { fd: usize, sent: Sent },
    /// Changes the address space or kernel state of the process: replay runs it again.
    /// With `same_result` the replayed result must equal the recorded one; otherwise the
    /// recorded result is handed back (e.g. a thread id).
    Execute { same_result: bool },
    /// `mmap` (and `shmat`): executed, file contents preserved in the trace.
    Mmap,
    /// Blocks until a signal with a mask it sets itself: replay must run it too.
    ExecuteUntilSignal,
    /// Not supported: the tracee gets ENOSYS and the reason is printed once.
    Refuse(&'static str),
    /// Not run; the tracee is told it succeeded with this result (e.g. prctl(PR_SET_TSC)).
    Pretend(i64),
}

impl Rule {
    /// Replay makes the call itself (it changes the address space or kernel state), also
    /// when the runtime ran it in-process while recording.
    pub fn runs_at_replay(self) -> bool {
        matches!(
            self,
            Rule::Execute { .. } | Rule::Mmap | Rule::ExecuteUntilSignal
        )
    }
}

pub(crate) const fn out(arg: usize, len: Len) -> Out {
    Out { arg, len }
}

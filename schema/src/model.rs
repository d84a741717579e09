//! The trace as plain Rust values: what the recorder produces and the replayer consumes.
//! `codec.rs` converts these to and from the Cap'n Proto encoding in `trace.capnp`.

/// Version of the trace format; a reader refuses any other.
pub const FORMAT_VERSION: u32 = 5;

/// How a recording measured thread progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickSource {
    /// No hardware counter: asynchronous events were placed at deterministic points only.
    None,
    /// A PMU counter of retired conditional branches (raw event code in `Header::tick_event`).
    Pmu,
}

/// One resource limit of the recorded process (`RLIMIT_*` number, soft, hard).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: u32,
    pub soft: u64,
    pub hard: u64,
}

/// What the recording's parent handed down through exec that the program may observe
/// (rlimits are kept apart, in `Header::rlimits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Inherited {
    /// Signals set to `SIG_IGN`, bit N-1 for signal N.
    pub ignored_signals: u64,
    /// The signal mask, bit N-1 for signal N.
    pub blocked_signals: u64,
    pub umask: u32,
}

/// What a trace says about the run as a whole; written first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub format_version: u32,
    /// ftrun's own version string.
    pub recorder_version: String,
    /// The program as given on the command line and as resolved to a path.
    pub argv: Vec<Vec<u8>>,
    pub env: Vec<Vec<u8>>,
    pub cwd: Vec<u8>,
    pub exe: Vec<u8>,
    pub kernel_release: String,
    pub cpu_vendor: String,
    pub cpu_model: String,
    /// Raw cpuid leaf 1 and leaf 7 results (eax, ebx, ecx, edx each), for a replay-side check.
    pub cpuid_signature: Vec<u32>,
    pub tick_source: TickSource,
    /// The raw PMU event used for ticks, 0 when `tick_source` is `None`.
    pub tick_event: u64,
    pub rlimits: Vec<Rlimit>,
    /// Wall-clock time the recording started, nanoseconds since the epoch.
    pub start_time_ns: u64,
    /// Signal dispositions, mask and umask as the program got them (`None` in older traces).
    pub inherited: Option<Inherited>,
}

/// How a syscall was handled while recording, and so how replay treats it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyscallMode {
    /// Result and memory effects logged; replay skips the syscall and writes them back.
    Emulated,
    /// Changes the address space or process state; replay runs it again and checks the result.
    Executed,
    /// Not supported: the tracee was given ENOSYS without the kernel seeing the call.
    Refused,
    /// Run inside the process by the in-process runtime and logged from its ring: like
    /// `Emulated`, without the registers of a ptrace stop.
    Buffered,
}

/// Bytes the kernel wrote into tracee memory during a syscall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemWrite {
    pub addr: u64,
    pub data: WriteBytes,
}

/// The bytes of a memory write: most are a few words (a time, a stat buffer's size is
/// 144), held in place without an allocation; longer ones on the heap.
pub type WriteBytes = smallvec::SmallVec<[u8; 16]>;
/// A call's memory writes: most calls write one buffer or none.
pub type Writes = smallvec::SmallVec<[MemWrite; 1]>;

/// The identity of a file as seen when it was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileIdentity {
    pub path: Vec<u8>,
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
}

impl FileIdentity {
    /// The identity of the file at `path` now (following symlinks such as
    /// `/proc/PID/fd/N`), named `shown_as` in messages.
    pub fn of(path: &std::path::Path, shown_as: &[u8]) -> std::io::Result<FileIdentity> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path)?;
        Ok(FileIdentity {
            path: shown_as.to_vec(),
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        })
    }
}

/// A file-backed mapping: where its contents come from at replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMapping {
    /// Name of the copy kept in the trace directory's `files/`: the hash of its content
    /// (`kept::content_name`), or in older traces a name made of the file's identity.
    pub stored_as: String,
    pub file: FileIdentity,
    pub offset: u64,
    pub length: u64,
}

/// Where stdout/stderr bytes of an output syscall go when replaying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    None,
    Stdout,
    Stderr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyscallEvent {
    pub number: u64,
    pub args: [u64; 6],
    /// Raw return value (negative errno on failure).
    pub result: i64,
    pub mode: SyscallMode,
    pub writes: Writes,
    /// Instruction pointer at entry (just after the `syscall` instruction).
    pub rip: u64,
    /// Hash of the general-purpose registers at entry, for divergence checks.
    pub regs_hash: u64,
    /// Hash of bytes the syscall sent out of the process (write, send …), 0 if none.
    pub output_hash: u64,
    pub echo: Echo,
    /// Set for an mmap of a file (boxed: rare, and an event is moved several times).
    pub mapping: Option<Box<FileMapping>>,
}

/// Calls one thread ran in-process between two of its stops: `count` syscall events of
/// mode `Buffered` from seq `first_seq`, packed (see `packed.rs`). Writers take them as one
/// item; readers serve them as events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferedCalls {
    pub first_seq: u64,
    pub tid: u32,
    pub count: u32,
    pub packed: Vec<u8>,
}

/// What the kernel read to start an image, kept whole in the trace's `files/`, so that replay
/// can start the same image after the program was rebuilt, deleted, or on another machine.
/// In each, `file.path` is the path as the kernel opened it (as given to execve or in a `#!`
/// line; for the interpreter, where it was mapped from), `offset` is 0 and `length` the file's
/// size. A trace outside `$FTRUN_DIR` names these copies without holding them until it is
/// packed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecImage {
    pub exe: FileMapping,
    /// The ELF interpreter (`None` for a static executable).
    pub interp: Option<FileMapping>,
    /// The `#!` scripts that led to `exe`, the file given to execve first.
    pub scripts: Vec<FileMapping>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecEvent {
    /// `/proc/PID/exe` after the exec.
    pub exe: FileIdentity,
    /// The 16 `AT_RANDOM` bytes and where they sit in tracee memory.
    pub at_random_addr: u64,
    pub at_random: Vec<u8>,
    /// Stack pointer after the exec (points at argc).
    pub rsp: u64,
    /// The copies of the image's files (`None` in traces written before they were kept).
    pub image: Option<Box<ExecImage>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RdtscEvent {
    pub value: u64,
    /// `IA32_TSC_AUX` handed out by rdtscp (the cpu number); 0 for rdtsc.
    pub aux: u32,
    pub is_rdtscp: bool,
    pub rip: u64,
}

/// A point where execution can be found again exactly without a tick counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landmark {
    pub rip: u64,
    /// Hash of all general-purpose registers at the point.
    pub regs_hash: u64,
    /// Hash of the writable memory of the process at the point.
    pub mem_hash: u64,
}

/// Where an asynchronous signal was delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalPlacement {
    /// Raised by the CPU (fault, trap): replay expects it to happen by itself.
    Synchronous,
    /// Delivered on the way out of the syscall just before it in the event stream.
    AtSyscallExit,
    /// Delivered just before the next syscall of the thread, which restarts after it.
    BeforeSyscall,
    /// Delivered at a recurring state of a spinning thread.
    AtLandmark(Landmark),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalEvent {
    pub signo: u32,
    /// The raw 128-byte `siginfo_t`.
    pub siginfo: Vec<u8>,
    pub placement: SignalPlacement,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(i32),
    Killed { signo: i32, core_dumped: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    Syscall(SyscallEvent),
    Exec(ExecEvent),
    Rdtsc(RdtscEvent),
    Signal(SignalEvent),
    Exit(ExitStatus),
    /// A thread of a multi-threaded process entered syscall `number` at `rip`; its
    /// `Syscall` event follows once it may run on.
    SyscallEntry {
        number: u64,
        rip: u64,
    },
    /// A spinning thread was preempted at this landmark (see `trace.capnp`).
    Sched(Landmark),
    /// A computing thread was preempted at this exact state.
    SchedAtState(ForcedSwitch),
    /// The in-process runtime was mapped into the process, after its exec.
    RuntimeMapped,
    /// A syscall site was rewritten to jump into the runtime.
    SitePatched(SitePatch),
}

/// A rewritten syscall site (see `trace.capnp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SitePatch {
    pub site: u64,
    pub site_bytes: Vec<u8>,
    pub stub: u64,
    pub stub_bytes: Vec<u8>,
    /// A stub page mapped first, or 0.
    pub new_stub_page: u64,
}

/// Where a thread that computed without syscalls was preempted (see `trace.capnp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForcedSwitch {
    pub landmark: Landmark,
    /// The general-purpose registers, 27 words in `user_regs_struct` order.
    pub regs: Vec<u64>,
    /// The x87/SSE registers (FXSAVE area, 512 bytes).
    pub fpregs: Vec<u8>,
    /// Memory words the loop changed between the two passes before, with their values at
    /// this one (address, value).
    pub words: Vec<(u64, u64)>,
    /// The general-purpose registers that changed between those passes (bit i: the i-th
    /// of rax rbx rcx rdx rsi rdi rbp rsp r8..r15).
    pub changed_regs: u32,
    /// The bytes of the instructions the filter's `jmp` replaces when they are several
    /// (the head of a loop), 0 for one instruction.
    pub run_len: u8,
    /// Memory other threads' finished calls had written, whose results come later in the
    /// log (address, length): left out of the memory hash.
    pub unlogged_writes: Vec<(u64, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Position in the global order, from 0 without gaps.
    pub seq: u64,
    /// Thread id as recorded.
    pub tid: u32,
    pub kind: EventKind,
}

/// Written last by a recorder that finished: its absence means the recording was cut short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Footer {
    pub finished_cleanly: bool,
    pub event_count: u64,
    pub exit: Option<ExitStatus>,
}

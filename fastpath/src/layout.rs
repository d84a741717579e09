//! Where the in-process runtime lives in a tracee and how its shared memory is laid out:
//! the one description that the runtime (built freestanding from `runtime/`) and the tracer
//! both compile. Plain constants and `#[repr(C)]` structs only, so that it builds `no_std`.

/// The runtime's code, at the same address in every process (the seccomp filter names the
/// address of its one untraced `syscall` instruction, and filters outlive `exec`).
pub const RUNTIME_BASE: u64 = 0x7000_0000;
/// Room reserved for the runtime's code.
pub const CODE_SIZE: u64 = 0x1_0000;
/// The control word page: private memory, wiped in a forked child (which so starts with
/// the fast path off, every call traced, until the tracer gives it a ring of its own).
pub const CONTROL_BASE: u64 = RUNTIME_BASE + CODE_SIZE;
pub const CONTROL_SIZE: u64 = 0x1000;
/// The ring: shared memory (a memfd the tracer maps too), not inherited by a fork.
pub const RING_BASE: u64 = CONTROL_BASE + CONTROL_SIZE;
/// The ring's header page, then its records.
pub const RING_HEADER_SIZE: u64 = 0x1000;
pub const RING_DATA_SIZE: u64 = 1 << 20;
pub const RING_MAP_SIZE: u64 = RING_HEADER_SIZE + RING_DATA_SIZE;
/// The runtime's stack while it records (one per process: only the thread holding its
/// process's turn runs there, and only a process with one thread blocks there). Replay and a live process
/// never use it, so the program's own stack looks the same in every mode.
pub const STACK_BASE: u64 = RING_BASE + RING_MAP_SIZE;
pub const STACK_SIZE: u64 = 0x1_0000;
/// Replay never runs on the runtime's stack: a landmark filter (`landmark.rs`) keeps its
/// registers, the state it looks for and a stack of its own there.
pub const FILTER_DATA: u64 = STACK_BASE;
/// Stub pages for syscall sites within reach of the runtime (non-PIE executables).
pub const NEAR_STUBS_BASE: u64 = RUNTIME_BASE + 0x20_0000;

/// Magic at the start of the control page once the tracer has set it up.
pub const CONTROL_MAGIC: u64 = u64::from_le_bytes(*b"FTRUNRT1");

/// The runtime does nothing: every call takes the traced path (a plain `syscall` when the
/// process is not traced at all, as after going live).
pub const MODE_OFF: u32 = 0;
/// Recording: bufferable calls run in-process and are appended to the ring.
pub const MODE_RECORD: u32 = 1;
/// Replay: the tracer fills the ring with the recorded calls of the thread it lets run; the
/// runtime hands back their results and memory effects without making them.
pub const MODE_REPLAY: u32 = 2;

/// The next call takes the traced path (a signal is waiting, or another thread wants the
/// token); the tracer clears it at the thread's next stop.
pub const FLAG_TRACED_NEXT: u32 = 1;
/// Calls whose bytes leave the process take the traced path (the Output Rule's gate).
pub const FLAG_OUTPUTS_TRACED: u32 = 2;
/// The process has one thread: a call may block in-process (nobody waits for its turn).
/// A signal that interrupts it there is handed to the tracer as if the call had been made
/// from the stub's traced `syscall`, so that it interrupts the call as it would natively.
pub const FLAG_MAY_BLOCK: u32 = 4;
/// The process has several threads: a call that waits without a timeout (a read, an
/// `epoll_wait(-1)`) may block in-process; when another thread wants the token, the tracer
/// interrupts it and moves it to its stub's traced `syscall`, where it hands the token on.
/// (A timed wait would start its timeout again there, so those stay traced.)
pub const FLAG_MAY_BLOCK_UNTIMED: u32 = 8;

/// Writes and sends to ftrun's own stdout or stderr (the files `Control::echo` names) take
/// the traced path, where they take the recording's output turn: set while several
/// processes run, so that what they print comes out in the log's order.
pub const FLAG_ECHO_TRACED: u32 = 16;

/// Fault tolerance: a write or send to a socket, pipe or terminal runs in-process once the
/// follower has acknowledged every input logged before it (the Output Rule's gate, kept
/// in the ring's header: see `RingHeader::gate_floor`); other writes are inputs.
pub const FLAG_OUTPUT_GATE: u32 = 32;
/// Several processes run: an output under `FLAG_OUTPUT_GATE` always asks the tracer, which
/// first takes every process's records (another process's input may be what it answers).
pub const FLAG_GATE_ASK: u32 = 64;

/// Every thread of the process reads the time-stamp counter without trapping, and nothing
/// in its code reads it unrecorded (`recorder::tsc_free`): time calls run the vDSO
/// functions `Control::vdso` names, in-process, instead of a syscall.
pub const FLAG_TSC_FREE: u32 = 128;

/// The control page (private to the process).
#[repr(C)]
pub struct Control {
    pub magic: u64,
    pub mode: u32,
    pub flags: u32,
    /// The program's stack pointer while the runtime runs on its own stack.
    pub saved_rsp: u64,
    /// Where the entry jumps when it leaves: the stub's traced syscall or just past it.
    pub target: u64,
    /// The device and inode of ftrun's stdout, then of its stderr (0, 0: none).
    pub echo: [u64; 4],
    /// The tracer's process and thread that a gated output wakes with `SIGALRM` when it
    /// asks for the gate (0: none; the tracer's clock then finds the request).
    pub doorbell: [u32; 2],
    /// The vDSO's `clock_gettime`, `gettimeofday` and `time` (0: none), for
    /// `FLAG_TSC_FREE`.
    pub vdso: [u64; 3],
}
/// Address of `Control::echo`, for the tracer.
pub const CONTROL_ECHO: u64 = CONTROL_BASE + 32;
/// Address of `Control::doorbell`, for the tracer.
pub const CONTROL_DOORBELL: u64 = CONTROL_BASE + 64;
/// Address of `Control::vdso`, for the tracer.
pub const CONTROL_VDSO: u64 = CONTROL_BASE + 72;
/// Addresses of `Control` fields, for the entry's assembly.
pub const CONTROL_MODE: u64 = CONTROL_BASE + 8;
pub const CONTROL_SAVED_RSP: u64 = CONTROL_BASE + 16;
pub const CONTROL_TARGET: u64 = CONTROL_BASE + 24;

/// The ring's header page (shared with the tracer).
///
/// Recording, the ring is circular: the runtime appends records at `write_pos` while the
/// tracer takes them from `ship_pos`, at the thread's stops and while it runs. Both are
/// byte counts since the ring was made (never reset); a record's place in the data is its
/// position modulo `RING_DATA_SIZE`. A record never wraps: when one would not fit before
/// the end of the data, a `WRAP` marker fills the rest, published with the record after it.
/// The runtime publishes a record (writes `count`, then `write_pos`) only once it is
/// complete, and never writes where the tracer has not taken yet.
///
/// Replay, the tracer loads records from the start of the data up to `write_pos`, and the
/// runtime hands them back from `read_pos`.
#[repr(C)]
pub struct RingHeader {
    /// Recording: bytes of published records since the ring was made. Replay: the end of
    /// the loaded records.
    pub write_pos: u64,
    /// Recording: records published since the ring was made.
    pub count: u64,
    /// Replay: bytes of records the runtime has consumed.
    pub read_pos: u64,
    /// Replay: records consumed.
    pub consumed: u64,
    /// Replay: the call the runtime met when the next record did not match (0: none).
    pub mismatch_nr: u64,
    /// Recording: bytes the tracer has taken.
    pub ship_pos: u64,
    /// Recording: records the tracer has taken.
    pub shipped: u64,
    /// The output gate (fault tolerance, `FLAG_OUTPUT_GATE`). An output may run at once
    /// when the follower has acknowledged `gate_floor` events (everything logged when the
    /// thread last resumed), the ring's records up to `last_input` (its latest input), and
    /// the clock is before `clear_until_ns` (the acknowledgements are recent enough that
    /// the follower cannot have taken over since). Otherwise it asks: it raises
    /// `gate_req`, rings the doorbell and waits on `gate_word` until `gate_granted`
    /// reaches its request. Tracer-written but for `gate_req` and `last_input`.
    pub gate_floor: u64,
    pub acked_events: u64,
    pub acked_records: u64,
    pub clear_until_ns: u64,
    pub gate_req: u64,
    pub gate_granted: u64,
    pub last_input: u64,
    /// Changed by the tracer whenever it publishes gate words; woken only while
    /// `gate_sleeping` says a runtime may sleep on it (a wake nobody waits for is a
    /// syscall per acknowledgement for nothing).
    pub gate_word: u32,
    /// Set by the runtime (1) from before it first reads `gate_word` until it stops
    /// waiting at the gate (0).
    pub gate_sleeping: u32,
    /// Outputs the runtime let through the gate (for the tracer's report).
    pub gated_outputs: u64,
    /// The events the follower must have acknowledged for request `gate_need_req` to go
    /// (written by the tracer when it takes the request up; the acknowledgements that reach
    /// it are published by the link's receiving thread directly).
    pub gate_need: u64,
    pub gate_need_req: u64,
    /// The last request the runtime stopped waiting for (let through, or sent to the
    /// traced path).
    pub gate_done: u64,
    /// Replay: a call the runtime made itself (`RECORD_RUN_AT_REPLAY`) returned something
    /// else than the recorded result: its number plus one (0: none), and what it returned.
    pub diverged_nr: u64,
    pub diverged_result: i64,
    /// Outputs that had to ask at the gate, and the nanoseconds they waited there in all
    /// (from the ask to going on, as the runtime's clock saw it; for the tracer's report).
    pub gate_waits: u64,
    pub gate_wait_ns: u64,
}

/// The `nr` of a marker that fills the ring's data to its end (its `size` says how much).
pub const WRAP: u32 = u32::MAX;
/// Byte offsets of `RingHeader` fields, for the tracer.
pub const RING_WRITE_POS: u64 = 0;
pub const RING_COUNT: u64 = 8;
pub const RING_READ_POS: u64 = 16;
pub const RING_CONSUMED: u64 = 24;
pub const RING_MISMATCH: u64 = 32;
pub const RING_SHIP_POS: u64 = 40;
pub const RING_SHIPPED: u64 = 48;
pub const RING_GATE_FLOOR: u64 = 56;
pub const RING_ACKED_EVENTS: u64 = 64;
pub const RING_ACKED_RECORDS: u64 = 72;
pub const RING_CLEAR_UNTIL: u64 = 80;
pub const RING_GATE_REQ: u64 = 88;
pub const RING_GATE_GRANTED: u64 = 96;
pub const RING_LAST_INPUT: u64 = 104;
pub const RING_GATE_WORD: u64 = 112;
pub const RING_GATE_SLEEPING: u64 = 116;
pub const RING_GATED_OUTPUTS: u64 = 120;
pub const RING_GATE_NEED: u64 = 128;
pub const RING_GATE_NEED_REQ: u64 = 136;
pub const RING_GATE_DONE: u64 = 144;
pub const RING_DIVERGED_NR: u64 = 152;
pub const RING_DIVERGED_RESULT: u64 = 160;
pub const RING_GATE_WAITS: u64 = 168;
pub const RING_GATE_WAIT_NS: u64 = 176;

/// One record: this header, `nwrites` memory writes (`WriteHeader` then the bytes, padded
/// to 8), then `sent_len` bytes that an output call sent (padded to 8).
#[repr(C)]
pub struct RecordHeader {
    /// Whole record, a multiple of 8.
    pub size: u32,
    pub nr: u32,
    pub nwrites: u16,
    /// `RECORD_GATED_OUTPUT`, `RECORD_RUN_AT_REPLAY`, `RECORD_ANY_RESULT`, or 0.
    pub flags: u16,
    pub sent_len: u32,
    pub result: i64,
    pub args: [u64; 6],
    /// For an output: the device and inode of the descriptor's file when it was written
    /// (0, 0 if unknown), which tells the tracer whether the bytes went to its own stdout.
    pub dev: u64,
    pub ino: u64,
}

#[repr(C)]
pub struct WriteHeader {
    pub addr: u64,
    pub len: u64,
}

/// An output the runtime let through the Output Rule's gate (not an input a later
/// output must wait for).
pub const RECORD_GATED_OUTPUT: u16 = 1;
/// A call replay must make again (it changes the address space or the signal state): the
/// recording marks it, and replay's runtime makes it itself, from the `[u64; 6]` arguments
/// the tracer put right after the header (an `mmap` placed at its recorded address), and
/// compares its result with the recorded one.
pub const RECORD_RUN_AT_REPLAY: u16 = 2;
/// Replay, with `RECORD_RUN_AT_REPLAY`: the result may differ (an id); the recorded one
/// is handed back.
pub const RECORD_ANY_RESULT: u16 = 4;
/// The replay arguments of a `RECORD_RUN_AT_REPLAY` record.
pub const RUN_ARGS_SIZE: u64 = 48;

pub const RECORD_HEADER_SIZE: u64 = core::mem::size_of::<RecordHeader>() as u64;
pub const WRITE_HEADER_SIZE: u64 = core::mem::size_of::<WriteHeader>() as u64;

/// Rounds up to the ring's 8-byte alignment.
pub const fn pad8(n: u64) -> u64 {
    (n + 7) & !7
}

/// A stub (see `patch.rs`): the moved `mov` if any, `lea -128(%rsp),%rsp; call *slot(%rip)`,
/// the traced `syscall` the runtime returns to when it does not handle the call, the moved
/// instructions and a jump back. The runtime finds the traced `syscall` from the return
/// address the call pushes, so stubs of every shape share one entry.
/// Every stub page starts with the runtime entry's address, which stubs call through.
pub const STUB_PAGE_HEADER: u64 = 16;
pub const STUB_SIZE: u64 = 64;
pub const STUB_PAGE_SIZE: u64 = 0x1000;

// The offsets the tracer uses are those of the structs the runtime uses.
const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(Control, echo) as u64 == CONTROL_ECHO - CONTROL_BASE);
    assert!(offset_of!(Control, doorbell) as u64 == CONTROL_DOORBELL - CONTROL_BASE);
    assert!(offset_of!(Control, vdso) as u64 == CONTROL_VDSO - CONTROL_BASE);
    assert!(offset_of!(RingHeader, shipped) as u64 == RING_SHIPPED);
    assert!(offset_of!(RingHeader, gate_floor) as u64 == RING_GATE_FLOOR);
    assert!(offset_of!(RingHeader, acked_events) as u64 == RING_ACKED_EVENTS);
    assert!(offset_of!(RingHeader, acked_records) as u64 == RING_ACKED_RECORDS);
    assert!(offset_of!(RingHeader, clear_until_ns) as u64 == RING_CLEAR_UNTIL);
    assert!(offset_of!(RingHeader, gate_req) as u64 == RING_GATE_REQ);
    assert!(offset_of!(RingHeader, gate_granted) as u64 == RING_GATE_GRANTED);
    assert!(offset_of!(RingHeader, last_input) as u64 == RING_LAST_INPUT);
    assert!(offset_of!(RingHeader, gate_word) as u64 == RING_GATE_WORD);
    assert!(offset_of!(RingHeader, gate_sleeping) as u64 == RING_GATE_SLEEPING);
    assert!(offset_of!(RingHeader, gated_outputs) as u64 == RING_GATED_OUTPUTS);
    assert!(offset_of!(RingHeader, gate_need) as u64 == RING_GATE_NEED);
    assert!(offset_of!(RingHeader, gate_need_req) as u64 == RING_GATE_NEED_REQ);
    assert!(offset_of!(RingHeader, gate_done) as u64 == RING_GATE_DONE);
    assert!(offset_of!(RingHeader, diverged_nr) as u64 == RING_DIVERGED_NR);
    assert!(offset_of!(RingHeader, diverged_result) as u64 == RING_DIVERGED_RESULT);
    assert!(offset_of!(RingHeader, gate_waits) as u64 == RING_GATE_WAITS);
    assert!(offset_of!(RingHeader, gate_wait_ns) as u64 == RING_GATE_WAIT_NS);
};

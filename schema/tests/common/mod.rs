//! Test helpers shared by the integration tests: sample headers and events, a deterministic
//! PRNG, and a writer that records where each frame starts.
#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, Mutex};

use schema::*;

/// xorshift64*: deterministic, good enough to pick bytes and sizes.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

pub fn sample_header() -> Header {
    Header {
        format_version: FORMAT_VERSION,
        recorder_version: "ftrun 0.1.0-test".to_string(),
        argv: vec![
            b"/bin/echo".to_vec(),
            b"hello \xff world".to_vec(),
            Vec::new(),
        ],
        env: vec![b"PATH=/usr/bin:/bin".to_vec(), b"LANG=C.UTF-8".to_vec()],
        cwd: b"/tmp/some \xfe dir".to_vec(),
        exe: b"/usr/bin/echo".to_vec(),
        kernel_release: "6.1.0-test".to_string(),
        cpu_vendor: "GenuineIntel".to_string(),
        cpu_model: "Intel(R) Test CPU @ 2.00GHz".to_string(),
        cpuid_signature: vec![
            0x906ea, 0x100800, 0x7ffafbff, 0xbfebfbff, 0, 0x29c6fbf, 0, 0,
        ],
        tick_source: TickSource::Pmu,
        tick_event: 0x5101c4,
        rlimits: vec![
            Rlimit {
                resource: 3,
                soft: 8 << 20,
                hard: u64::MAX,
            },
            Rlimit {
                resource: 7,
                soft: 1024,
                hard: 4096,
            },
        ],
        start_time_ns: 1_700_000_000_123_456_789,
        inherited: Some(Inherited {
            ignored_signals: 1 << 1 | 1 << 12,
            blocked_signals: 1 << 9 | 1 << 33,
            umask: 0o027,
        }),
    }
}

pub fn identity(n: u64) -> FileIdentity {
    FileIdentity {
        path: format!("/usr/lib/libtest{n}.so").into_bytes(),
        dev: 0x803,
        ino: 1000 + n,
        size: 4096 * n,
        mtime_ns: -5 + n as i64,
    }
}

/// One event of every kind and variant (seq numbers from `first`).
pub fn every_kind(first: u64) -> Vec<Event> {
    let kinds = vec![
        EventKind::Syscall(SyscallEvent {
            number: 0,
            args: [3, 0x7fff_0000, 4096, 0, 0, u64::MAX],
            result: 12,
            mode: SyscallMode::Emulated,
            writes: smallvec::smallvec![
                MemWrite {
                    addr: 0x7fff_0000,
                    data: (b"hello world\n".to_vec()).into(),
                },
                MemWrite {
                    addr: 0x7fff_1000,
                    data: Vec::new().into(),
                },
            ],
            rip: 0x401000,
            regs_hash: 0xdead_beef,
            output_hash: 0,
            echo: Echo::None,
            mapping: None,
        }),
        EventKind::Syscall(SyscallEvent {
            number: 9,
            args: [0, 8192, 5, 2, 3, 0],
            result: 0x7f00_0000_0000,
            mode: SyscallMode::Executed,
            writes: Default::default(),
            rip: 0x401010,
            regs_hash: 1,
            output_hash: 0,
            echo: Echo::None,
            mapping: Some(Box::new(FileMapping {
                stored_as: "libtest1.so-1001".to_string(),
                file: identity(1),
                offset: 4096,
                length: 8192,
            })),
        }),
        EventKind::Syscall(SyscallEvent {
            number: 1,
            args: [1, 0x1000, 6, 0, 0, 0],
            result: 6,
            mode: SyscallMode::Emulated,
            writes: Default::default(),
            rip: 0x401020,
            regs_hash: 2,
            output_hash: 0x1234_5678_9abc_def0,
            echo: Echo::Stdout,
            mapping: None,
        }),
        EventKind::Syscall(SyscallEvent {
            number: 1,
            args: [2, 0x1000, 6, 0, 0, 0],
            result: -9,
            mode: SyscallMode::Refused,
            writes: Default::default(),
            rip: 0x401030,
            regs_hash: 3,
            output_hash: 7,
            echo: Echo::Stderr,
            mapping: None,
        }),
        EventKind::Exec(ExecEvent {
            exe: identity(2),
            at_random_addr: 0x7ffd_1234_5678,
            at_random: (0u8..16).collect(),
            rsp: 0x7ffd_1234_0000,
            image: None,
        }),
        EventKind::Exec(ExecEvent {
            exe: identity(3),
            at_random_addr: 0x7ffd_1234_5678,
            at_random: (0u8..16).collect(),
            rsp: 0x7ffd_1234_0000,
            image: Some(Box::new(ExecImage {
                exe: FileMapping {
                    stored_as: "0123456789abcdef0123456789abcdef".to_string(),
                    file: identity(3),
                    offset: 0,
                    length: 4096 * 3,
                },
                interp: Some(FileMapping {
                    stored_as: "fedcba9876543210fedcba9876543210".to_string(),
                    file: identity(4),
                    offset: 0,
                    length: 4096 * 4,
                }),
                scripts: vec![FileMapping {
                    stored_as: "00112233445566778899aabbccddeeff".to_string(),
                    file: identity(5),
                    offset: 0,
                    length: 4096 * 5,
                }],
            })),
        }),
        EventKind::Rdtsc(RdtscEvent {
            value: 123_456_789_012,
            aux: 0,
            is_rdtscp: false,
            rip: 0x401040,
        }),
        EventKind::Rdtsc(RdtscEvent {
            value: u64::MAX,
            aux: 3,
            is_rdtscp: true,
            rip: 0x401045,
        }),
        EventKind::Signal(SignalEvent {
            signo: 11,
            siginfo: vec![0xab; 128],
            placement: SignalPlacement::Synchronous,
        }),
        EventKind::Signal(SignalEvent {
            signo: 14,
            siginfo: vec![1; 128],
            placement: SignalPlacement::AtSyscallExit,
        }),
        EventKind::Signal(SignalEvent {
            signo: 2,
            siginfo: vec![2; 128],
            placement: SignalPlacement::BeforeSyscall,
        }),
        EventKind::Signal(SignalEvent {
            signo: 10,
            siginfo: vec![3; 128],
            placement: SignalPlacement::AtLandmark(Landmark {
                rip: 0x401050,
                regs_hash: 4,
                mem_hash: 5,
            }),
        }),
        EventKind::Exit(ExitStatus::Exited(0)),
        EventKind::Exit(ExitStatus::Exited(-1)),
        EventKind::Exit(ExitStatus::Killed {
            signo: 9,
            core_dumped: false,
        }),
        EventKind::Exit(ExitStatus::Killed {
            signo: 11,
            core_dumped: true,
        }),
    ];
    kinds
        .into_iter()
        .enumerate()
        .map(|(i, kind)| Event {
            seq: first + i as u64,
            tid: 100 + (i as u32 % 3),
            kind,
        })
        .collect()
}

/// `n` varied events (seq 0..n): every kind, with random payload sizes.
pub fn varied_events(n: u64, rng: &mut Rng) -> Vec<Event> {
    let templates = every_kind(0);
    (0..n)
        .map(|seq| {
            let mut e = templates[rng.below(templates.len() as u64) as usize].clone();
            e.seq = seq;
            e.tid = 1 + rng.below(4) as u32;
            if let EventKind::Syscall(s) = &mut e.kind {
                s.args[0] = rng.next();
                s.result = rng.next() as i64;
                if rng.below(3) == 0 {
                    let len = rng.below(3000) as usize;
                    s.writes.push(MemWrite {
                        addr: rng.next(),
                        data: rng.bytes(len).into(),
                    });
                }
            }
            e
        })
        .collect()
}

pub fn footer_for(events: u64) -> Footer {
    Footer {
        finished_cleanly: true,
        event_count: events,
        exit: Some(ExitStatus::Exited(0)),
    }
}

/// Bytes written through the frame sink, one entry per call.
pub type Captured = Arc<Mutex<Vec<Vec<u8>>>>;

pub fn capture(writer: &mut TraceWriter) -> Captured {
    let captured: Captured = Arc::new(Mutex::new(Vec::new()));
    let c = captured.clone();
    writer.set_frame_sink(Box::new(move |bytes| {
        c.lock().unwrap().push(bytes.to_vec())
    }));
    captured
}

/// Writes a trace of `events` to `dir`, calling `flush` after every `flush_every` events;
/// returns the frame boundaries seen by the sink (end offset of the prelude, then of each frame).
pub fn write_trace(
    dir: &Path,
    events: &[Event],
    flush_every: usize,
    footer: Option<&Footer>,
) -> Vec<u64> {
    let mut w = TraceWriter::create(dir, &sample_header()).unwrap();
    let captured = capture(&mut w);
    for (i, e) in events.iter().enumerate() {
        w.push(e.clone()).unwrap();
        if (i + 1) % flush_every == 0 {
            w.flush().unwrap();
        }
    }
    match footer {
        Some(f) => w.finish(f).unwrap(),
        None => w.flush().unwrap(),
    }
    let mut ends = Vec::new();
    let mut at = 0u64;
    for piece in captured.lock().unwrap().iter() {
        at += piece.len() as u64;
        ends.push(at);
    }
    ends
}

/// Reads every event of the trace in `dir`.
pub fn read_all(dir: &Path) -> Result<(Vec<Event>, TraceReader), TraceError> {
    let mut r = TraceReader::open(dir)?;
    let mut out = Vec::new();
    while let Some(e) = r.next_event()? {
        out.push(e);
    }
    Ok((out, r))
}

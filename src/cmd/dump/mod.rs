//! `ftrun dump [--json] [DIR]`: the events of a trace, syscalls as strace prints them.
//!
//! The trace logs syscall arguments, results and the bytes the kernel wrote, so results,
//! buffers read, structs filled in and flags are decoded; strings passed in are shown when
//! the trace knows their bytes (`memory.rs`), otherwise as addresses.

mod event;
mod flags;
mod memory;
mod names;
mod structs;
mod syscall;
mod table;

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use schema::{EndState, Event, EventKind, Header, SignalPlacement, TickSource, TraceReader};
use serde_json::{json, Value};

use crate::trace_dir;
use event::SignalPoint;
use memory::KnownMemory;

/// The syscall's name, or `syscall_N` for a number the table does not name.
fn syscall_name(nr: u64) -> String {
    syscalls::known_name(nr).map_or_else(|| format!("syscall_{nr}"), str::to_owned)
}

#[derive(clap::Args)]
pub struct DumpArgs {
    /// One JSON object per line instead of text: a header record, the events, an end record.
    #[arg(long)]
    json: bool,
    /// The trace directory (default: the latest recording).
    dir: Option<PathBuf>,
}

/// How far ahead a signal delivered before a syscall looks for that syscall (its rip).
const LOOKAHEAD: usize = 1024;

/// Events in order, with a look ahead at what a thread does next.
struct Events {
    reader: TraceReader,
    ahead: VecDeque<Event>,
    /// An error met while looking ahead, reported once the events before it are out.
    failed: Option<schema::TraceError>,
}

impl Events {
    fn next(&mut self) -> anyhow::Result<Option<Event>> {
        if let Some(ev) = self.ahead.pop_front() {
            return Ok(Some(ev));
        }
        if let Some(e) = self.failed.take() {
            return Err(e.into());
        }
        Ok(self.reader.next_event()?)
    }

    /// The rip of `tid`'s next syscall, if it comes within `LOOKAHEAD` events.
    fn next_syscall_rip(&mut self, tid: u32) -> Option<u64> {
        let mut i = 0;
        loop {
            if i == self.ahead.len() {
                if i >= LOOKAHEAD {
                    return None;
                }
                if self.failed.is_some() {
                    return None;
                }
                match self.reader.next_event() {
                    Ok(Some(ev)) => self.ahead.push_back(ev),
                    Ok(None) => return None,
                    Err(e) => {
                        self.failed = Some(e);
                        return None;
                    }
                }
            }
            let ev = &self.ahead[i];
            if ev.tid == tid {
                return match &ev.kind {
                    EventKind::Syscall(s) => Some(s.rip),
                    EventKind::SyscallEntry { rip, .. } => Some(*rip),
                    _ => None,
                };
            }
            i += 1;
        }
    }
}

/// An argument as a shell would need it written.
fn shell_word(a: &[u8]) -> String {
    let plain = !a.is_empty()
        && a.iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"/._-=+:,@%".contains(&c));
    if plain {
        String::from_utf8_lossy(a).into_owned()
    } else {
        structs::quote(a, usize::MAX)
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn tick_text(h: &Header) -> String {
    match h.tick_source {
        TickSource::None => "no tick counter".into(),
        TickSource::Pmu => format!("ticks from PMU event {:#x}", h.tick_event),
    }
}

fn header_text(dir: &Path, h: &Header) -> String {
    let argv: Vec<String> = h.argv.iter().map(|a| shell_word(a)).collect();
    format!(
        "# trace {} of: {}\n# format {}, recorded by ftrun {} on Linux {} ({}), {}; cwd {}, exe {}",
        dir.display(),
        argv.join(" "),
        h.format_version,
        h.recorder_version,
        h.kernel_release,
        h.cpu_model,
        tick_text(h),
        lossy(&h.cwd),
        lossy(&h.exe),
    )
}

fn header_json(dir: &Path, h: &Header) -> Value {
    json!({
        "event": "header",
        "trace": dir.display().to_string(),
        "format_version": h.format_version,
        "recorder_version": h.recorder_version,
        "argv": h.argv.iter().map(|a| lossy(a)).collect::<Vec<_>>(),
        "env": h.env.iter().map(|a| lossy(a)).collect::<Vec<_>>(),
        "cwd": lossy(&h.cwd),
        "exe": lossy(&h.exe),
        "kernel_release": h.kernel_release,
        "cpu_vendor": h.cpu_vendor,
        "cpu_model": h.cpu_model,
        "tick_source": match h.tick_source { TickSource::None => "none", TickSource::Pmu => "pmu" },
        "tick_event": h.tick_event,
        "rlimits": h.rlimits.iter().map(|r| json!({
            "resource": names::rlimit_name(r.resource as u64), "soft": r.soft, "hard": r.hard,
        })).collect::<Vec<_>>(),
        "start_time_ns": h.start_time_ns,
        "inherited": h.inherited.map(|i| json!({
            "ignored_signals": signal_names(i.ignored_signals),
            "blocked_signals": signal_names(i.blocked_signals),
            "umask": format!("{:03o}", i.umask),
        })),
    })
}

/// The signals of a mask (bit N-1 for signal N) by name.
fn signal_names(mask: u64) -> Vec<String> {
    (1..=64)
        .filter(|s| mask & (1u64 << (s - 1)) != 0)
        .map(names::signal_name)
        .collect()
}

/// How the trace ends: the text line, the JSON record, and a message for stderr.
fn end_record(dir: &Path, end: &EndState) -> (String, Value, Option<String>) {
    match end {
        EndState::Finished(f) => {
            let exit = f.exit.as_ref().map(event::exit_text);
            let text = format!(
                "# end: {} events, {}",
                f.event_count,
                exit.as_deref().unwrap_or("no exit status")
            );
            let value = json!({
                "event": "end", "state": "finished", "events": f.event_count,
                "finished_cleanly": f.finished_cleanly,
                "exit": f.exit.as_ref().map(event::exit_json),
            });
            (text, value, None)
        }
        EndState::Interrupted { events, offset, .. } => match trace_dir::live_recorder(dir) {
            Some(pid) => (
                format!("# end: still being recorded by pid {pid}, {events} events so far"),
                json!({"event": "end", "state": "still being recorded", "recorder_pid": pid,
                       "events": events}),
                Some(format!(
                    "{} is still being recorded by pid {pid}: these are the {events} events written so far",
                    dir.display()
                )),
            ),
            None => (
                format!("# end: cut short after {events} events (no footer at offset {offset})"),
                json!({"event": "end", "state": "cut short", "events": events, "offset": offset}),
                Some(format!(
                    "{}: the trace ends without the recorder's footer at offset {offset}, after {events} events: the recording was cut short",
                    dir.display()
                )),
            ),
        },
    }
}

pub fn run(args: DumpArgs) -> anyhow::Result<i32> {
    let dir = trace_dir::resolve(args.dir)?;
    let mut reader =
        TraceReader::open(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
    if trace_dir::live_recorder(&dir).is_some() {
        // The events written so far: a recorder faster than the dump is never caught up.
        reader
            .stop_at_current_end()
            .with_context(|| format!("cannot read {}", dir.display()))?;
    }
    let header = reader.header().clone();
    let mut mem = KnownMemory::new(&dir, &header);
    let mut events = Events {
        reader,
        ahead: VecDeque::new(),
        failed: None,
    };
    // Lines go out in blocks, not a write each (a dump of millions of events).
    let mut out = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock());
    let first = if args.json {
        header_json(&dir, &header).to_string()
    } else {
        header_text(&dir, &header)
    };
    if writeln!(out, "{first}").is_err() {
        return Ok(0);
    }
    // The rip of each thread's last syscall: where a signal at its exit was delivered.
    let mut last_rip = std::collections::HashMap::new();
    while let Some(ev) = events
        .next()
        .with_context(|| format!("reading {}", dir.display()))?
    {
        let at = match &ev.kind {
            EventKind::Signal(s) => SignalPoint {
                rip: match &s.placement {
                    // A trap's si_addr is the faulting instruction; a fault's is the data.
                    SignalPlacement::Synchronous
                        if matches!(s.signo as i32, libc::SIGFPE | libc::SIGILL) =>
                    {
                        s.siginfo
                            .get(16..24)
                            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
                    }
                    SignalPlacement::Synchronous => None,
                    SignalPlacement::AtSyscallExit => last_rip.get(&ev.tid).copied(),
                    SignalPlacement::BeforeSyscall => events.next_syscall_rip(ev.tid),
                    SignalPlacement::AtLandmark(l) => Some(l.rip),
                },
            },
            _ => SignalPoint { rip: None },
        };
        if let EventKind::Syscall(s) = &ev.kind {
            last_rip.insert(ev.tid, s.rip);
        }
        let (text, value) = event::render(&ev, &at, &mut mem, args.json);
        let line = if args.json {
            value.to_string()
        } else {
            format!("{:>8} {:>7} {text}", ev.seq, ev.tid)
        };
        if writeln!(out, "{line}").is_err() {
            return Ok(0);
        }
    }
    let (text, value, message) = end_record(&dir, &events.reader.end_state());
    let line = if args.json { value.to_string() } else { text };
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    if let Some(m) = message {
        eprintln!("ftrun: {m}");
    }
    Ok(0)
}

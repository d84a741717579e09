//! `ftrun dump [--json] [DIR]`

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use schema::{Event, EventKind, SignalPlacement, TraceReader};
use serde_json::json;
use syscalls::known_name;

use crate::trace_dir;

#[derive(clap::Args)]
pub struct DumpArgs {
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
    /// The trace directory (default: the latest recording).
    dir: Option<PathBuf>,
}

/// The syscall's name, or `syscall_N` for a number the table does not name.
fn syscall_name(nr: u64) -> String {
    known_name(nr).map_or_else(|| format!("syscall_{nr}"), str::to_owned)
}

fn text(ev: &Event) -> String {
    let what = match &ev.kind {
        EventKind::Syscall(s) => {
            let mut line = format!(
                "syscall {}({}) = {} [{:?}]",
                syscall_name(s.number),
                s.args
                    .iter()
                    .map(|a| format!("{a:#x}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                s.result,
                s.mode
            );
            let written: usize = s.writes.iter().map(|w| w.data.len()).sum();
            if written > 0 {
                line += &format!(" wrote {written} bytes in {} places", s.writes.len());
            }
            if let Some(m) = &s.mapping {
                line += &format!(
                    " maps {} @{:#x}",
                    String::from_utf8_lossy(&m.file.path),
                    m.offset
                );
            }
            line
        }
        EventKind::RuntimeMapped => "in-process runtime mapped".to_string(),
        EventKind::SitePatched(p) => format!(
            "syscall site {:#x} rewritten to jump to {:#x}",
            p.site, p.stub
        ),
        EventKind::Exec(e) => format!(
            "exec {} (stack {:#x})",
            String::from_utf8_lossy(&e.exe.path),
            e.rsp
        ),
        EventKind::Rdtsc(r) => format!(
            "{} = {} at {:#x}",
            if r.is_rdtscp { "rdtscp" } else { "rdtsc" },
            r.value,
            r.rip
        ),
        EventKind::Signal(s) => format!("signal {} {}", s.signo, placement(&s.placement)),
        EventKind::Exit(x) => format!("exit {x:?}"),
        EventKind::SyscallEntry { number, rip } => {
            format!("enter {} at {rip:#x}", syscall_name(*number))
        }
        EventKind::Sched(l) => format!(
            "preempted in a spin at rip={:#x} regs={:#x} mem={:#x}",
            l.rip, l.regs_hash, l.mem_hash
        ),
        EventKind::SchedAtState(f) => format!(
            "preempted computing at rip={:#x} regs={:#x} mem={:#x}",
            f.landmark.rip, f.landmark.regs_hash, f.landmark.mem_hash
        ),
    };
    format!("{:>8} {:>7} {what}", ev.seq, ev.tid)
}

fn placement(p: &SignalPlacement) -> String {
    match p {
        SignalPlacement::Synchronous => "synchronous".into(),
        SignalPlacement::AtSyscallExit => "at-syscall-exit".into(),
        SignalPlacement::BeforeSyscall => "before-syscall".into(),
        SignalPlacement::AtLandmark(l) => format!(
            "at-landmark rip={:#x} regs={:#x} mem={:#x}",
            l.rip, l.regs_hash, l.mem_hash
        ),
    }
}

fn as_json(ev: &Event) -> serde_json::Value {
    let body = match &ev.kind {
        EventKind::Syscall(s) => json!({
            "kind": "syscall", "name": syscall_name(s.number), "number": s.number, "args": s.args,
            "result": s.result, "mode": format!("{:?}", s.mode).to_lowercase(),
            "writes": s.writes.iter().map(|w| json!({"addr": w.addr, "len": w.data.len()})).collect::<Vec<_>>(),
            "output_hash": s.output_hash, "echo": format!("{:?}", s.echo).to_lowercase(),
            "mapping": s.mapping.as_ref().map(|m| json!({"path": String::from_utf8_lossy(&m.file.path), "offset": m.offset, "length": m.length})),
        }),
        EventKind::RuntimeMapped => json!({"kind": "runtime_mapped"}),
        EventKind::SitePatched(p) => {
            json!({"kind": "site_patched", "site": p.site, "stub": p.stub, "new_stub_page": p.new_stub_page})
        }
        EventKind::Exec(e) => {
            json!({"kind": "exec", "exe": String::from_utf8_lossy(&e.exe.path), "rsp": e.rsp})
        }
        EventKind::Rdtsc(r) => {
            json!({"kind": "rdtsc", "value": r.value, "aux": r.aux, "rdtscp": r.is_rdtscp, "rip": r.rip})
        }
        EventKind::Signal(s) => {
            json!({"kind": "signal", "signo": s.signo, "placement": placement(&s.placement)})
        }
        EventKind::Exit(x) => json!({"kind": "exit", "status": format!("{x:?}")}),
        EventKind::SyscallEntry { number, rip } => {
            json!({"kind": "syscall_entry", "name": syscall_name(*number), "number": number, "rip": rip})
        }
        EventKind::Sched(l) => {
            json!({"kind": "sched", "rip": l.rip, "regs_hash": l.regs_hash, "mem_hash": l.mem_hash})
        }
        EventKind::SchedAtState(f) => {
            let l = &f.landmark;
            json!({"kind": "sched_at_state", "rip": l.rip, "regs_hash": l.regs_hash, "mem_hash": l.mem_hash})
        }
    };
    let mut obj = json!({"seq": ev.seq, "tid": ev.tid});
    if let (Some(o), serde_json::Value::Object(b)) = (obj.as_object_mut(), body) {
        o.extend(b);
    }
    obj
}

pub fn run(args: DumpArgs) -> anyhow::Result<i32> {
    let dir = trace_dir::resolve(args.dir)?;
    let mut reader =
        TraceReader::open(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let out = std::io::stdout();
    let mut out = out.lock();
    if !args.json {
        let h = reader.header();
        let argv: Vec<String> = h
            .argv
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        writeln!(
            out,
            "# trace of {:?}, format {}, recorded by ftrun {} on {} ({}), ticks: {:?}",
            argv,
            h.format_version,
            h.recorder_version,
            h.kernel_release,
            h.cpu_model,
            h.tick_source
        )?;
    }
    while let Some(ev) = reader
        .next_event()
        .with_context(|| format!("reading {}", dir.display()))?
    {
        let line = if args.json {
            as_json(&ev).to_string()
        } else {
            text(&ev)
        };
        if writeln!(out, "{line}").is_err() {
            return Ok(0);
        }
    }
    match reader.end_state() {
        schema::EndState::Finished(_) => {}
        other => eprintln!("ftrun: the trace ends without the recorder's footer: {other:?}"),
    }
    Ok(0)
}

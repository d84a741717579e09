//! Every kind of event as one line of text and as one JSON object with the same name.

use super::syscall_name;
use schema::{
    Echo, Event, EventKind, ExitStatus, SignalEvent, SignalPlacement, SyscallEvent, SyscallMode,
};
use serde_json::{json, Map, Value};

use super::memory::KnownMemory;
use super::names::{si_code_name, signal_name};
use super::syscall;

/// Where a signal was delivered, for its line: the instruction pointer when the trace knows it.
pub struct SignalPoint {
    pub rip: Option<u64>,
}

/// `exited 0`, `killed by SIGKILL (core dumped)`.
pub fn exit_text(x: &ExitStatus) -> String {
    match *x {
        ExitStatus::Exited(code) => format!("exited {code}"),
        ExitStatus::Killed { signo, core_dumped } => format!(
            "killed by {}{}",
            signal_name(signo as i64),
            if core_dumped { " (core dumped)" } else { "" }
        ),
    }
}

pub fn exit_json(x: &ExitStatus) -> Value {
    match *x {
        ExitStatus::Exited(code) => json!({"status": exit_text(x), "code": code}),
        ExitStatus::Killed { signo, core_dumped } => json!({
            "status": exit_text(x), "signal": signal_name(signo as i64), "signo": signo,
            "core_dumped": core_dumped,
        }),
    }
}

fn placement_text(p: &SignalPlacement) -> &'static str {
    match p {
        SignalPlacement::Synchronous => "synchronous",
        SignalPlacement::AtSyscallExit => "at syscall exit",
        SignalPlacement::BeforeSyscall => "before syscall",
        SignalPlacement::AtLandmark(_) => "at landmark",
    }
}

fn word(b: &[u8], off: usize) -> Option<i32> {
    Some(i32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn quad(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

/// The siginfo's fields worth showing, by name, in strace's order (`si_code=…, si_addr=…`).
fn siginfo_fields(s: &SignalEvent) -> Vec<(&'static str, Value, String)> {
    let b = &s.siginfo;
    let signo = s.signo as i64;
    let mut out = Vec::new();
    let Some(code) = word(b, 8) else {
        return out;
    };
    out.push((
        "si_code",
        json!(si_code_name(signo, code)),
        si_code_name(signo, code),
    ));
    let fault = matches!(
        signo as i32,
        libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP
    );
    let mut push_num = |name: &'static str, v: Option<i64>| {
        if let Some(v) = v {
            out.push((name, json!(v), v.to_string()));
        }
    };
    if code > 0 && code != 0x80 && fault {
        if let Some(addr) = quad(b, 16) {
            out.push(("si_addr", json!(addr), format!("{addr:#x}")));
        }
    } else if code > 0 && code != 0x80 && signo as i32 == libc::SIGCHLD {
        push_num("si_pid", word(b, 16).map(i64::from));
        push_num("si_uid", word(b, 20).map(i64::from));
        if let Some(st) = word(b, 24) {
            if code == libc::CLD_EXITED {
                out.push(("si_status", json!(st), st.to_string()));
            } else {
                let name = signal_name(st as i64);
                out.push(("si_status", json!(name), name));
            }
        }
    } else if code == -2 {
        push_num("si_timerid", word(b, 16).map(i64::from));
        push_num("si_overrun", word(b, 20).map(i64::from));
    } else if code <= 0 {
        push_num("si_pid", word(b, 16).map(i64::from));
        push_num("si_uid", word(b, 20).map(i64::from));
    }
    out
}

fn signal(s: &SignalEvent, at: &SignalPoint, body: &mut Map<String, Value>) -> String {
    let name = signal_name(s.signo as i64);
    let fields = siginfo_fields(s);
    let mut text = format!(
        "signal {name} {{{}}} {}",
        fields
            .iter()
            .map(|(k, _, t)| format!("{k}={t}"))
            .collect::<Vec<_>>()
            .join(", "),
        placement_text(&s.placement)
    );
    match at.rip {
        Some(rip) => text += &format!(", rip {rip:#x}"),
        None => text += ", rip not in the trace",
    }
    body.insert("signal".into(), json!(name));
    body.insert("signo".into(), json!(s.signo));
    for (k, v, _) in fields {
        body.insert(k.into(), v);
    }
    body.insert("placement".into(), json!(placement_text(&s.placement)));
    body.insert("rip".into(), json!(at.rip));
    if let SignalPlacement::AtLandmark(l) = &s.placement {
        text += &format!(" (registers {:#x}, memory {:#x})", l.regs_hash, l.mem_hash);
        body.insert(
            "landmark".into(),
            json!({"rip": l.rip, "regs_hash": l.regs_hash, "mem_hash": l.mem_hash}),
        );
    }
    text
}

fn mode_name(m: SyscallMode) -> &'static str {
    match m {
        SyscallMode::Emulated => "emulated",
        SyscallMode::Executed => "executed",
        SyscallMode::Refused => "refused",
        SyscallMode::Buffered => "in-process",
    }
}

fn echo_name(e: Echo) -> &'static str {
    match e {
        Echo::None => "none",
        Echo::Stdout => "stdout",
        Echo::Stderr => "stderr",
    }
}

/// The event as text (after the seq and tid columns) and, if `json`, as JSON (syscalls'
/// JSON is left out of a text dump); `mem` is consulted for strings and updated with what
/// the event did to memory.
pub fn render(ev: &Event, at: &SignalPoint, mem: &mut KnownMemory, json: bool) -> (String, Value) {
    let mut body = Map::new();
    body.insert("seq".into(), json!(ev.seq));
    body.insert("tid".into(), json!(ev.tid));
    let mut put = |k: &str, v: Value| {
        body.insert(k.into(), v);
    };
    let text = match &ev.kind {
        EventKind::Syscall(s) => {
            let d = syscall::decode(s, ev.tid, mem);
            syscall::track(s, ev.tid, mem);
            let mut line = d.line.clone();
            if s.echo != Echo::None {
                line += &format!(" [echoed to {}]", echo_name(s.echo));
            }
            // Most events are syscalls: their JSON is built only for a JSON dump.
            if json {
                syscall_json(s, d, &line, &mut put);
            }
            line
        }
        EventKind::Exec(e) => {
            mem.exec(ev.tid, e.rsp, e.at_random_addr);
            let path = String::from_utf8_lossy(&e.exe.path).into_owned();
            put("event", json!("exec"));
            put("exe", json!(path));
            put("rsp", json!(e.rsp));
            put("at_random_addr", json!(e.at_random_addr));
            format!("exec {path} (stack {:#x})", e.rsp)
        }
        EventKind::Rdtsc(r) => {
            let name = if r.is_rdtscp { "rdtscp" } else { "rdtsc" };
            put("event", json!(name));
            put("value", json!(r.value));
            put("aux", json!(r.aux));
            put("rip", json!(r.rip));
            if r.is_rdtscp {
                format!("rdtscp = {} (aux {}), rip {:#x}", r.value, r.aux, r.rip)
            } else {
                format!("rdtsc = {}, rip {:#x}", r.value, r.rip)
            }
        }
        EventKind::Signal(s) => {
            put("event", json!("signal"));
            signal(s, at, &mut body)
        }
        EventKind::Exit(x) => {
            let (name, text) = match x {
                ExitStatus::Exited(_) => ("exited", exit_text(x)),
                ExitStatus::Killed { .. } => ("killed", exit_text(x)),
            };
            put("event", json!(name));
            if let Value::Object(fields) = exit_json(x) {
                body.extend(fields);
            }
            text
        }
        EventKind::SyscallEntry { number, rip } => {
            put("event", json!("enter"));
            put("name", json!(syscall_name(*number)));
            put("number", json!(number));
            put("rip", json!(rip));
            format!("enter {}, rip {rip:#x}", syscall_name(*number))
        }
        EventKind::Sched(l) => {
            put("event", json!("preempted"));
            put("where", json!("in a spin"));
            put("rip", json!(l.rip));
            put("regs_hash", json!(l.regs_hash));
            put("mem_hash", json!(l.mem_hash));
            format!(
                "preempted in a spin, rip {:#x} (registers {:#x}, memory {:#x})",
                l.rip, l.regs_hash, l.mem_hash
            )
        }
        EventKind::RuntimeMapped => {
            put("event", json!("runtime"));
            "runtime mapped (in-process fast path)".to_string()
        }
        EventKind::SitePatched(p) => {
            put("event", json!("rewrite"));
            put("site", json!(p.site));
            put("stub", json!(p.stub));
            put("new_stub_page", json!(p.new_stub_page));
            format!(
                "rewrite syscall site {:#x} to jump to {:#x}",
                p.site, p.stub
            )
        }
        EventKind::SchedAtState(f) => {
            let l = &f.landmark;
            put("event", json!("preempted"));
            put("where", json!("computing"));
            put("rip", json!(l.rip));
            put("regs_hash", json!(l.regs_hash));
            put("mem_hash", json!(l.mem_hash));
            put("watched_words", json!(f.words.len()));
            put("filter_run", json!(f.run_len));
            let unlogged: u64 = f.unlogged_writes.iter().map(|w| w.1).sum();
            put("unlogged_bytes", json!(unlogged));
            let mut run = match f.run_len {
                0 => String::new(),
                n => format!(", a filter over the loop's first {n} bytes"),
            };
            if unlogged > 0 {
                run += &format!(", {unlogged} bytes other threads' calls wrote left out");
            }
            format!(
                "preempted computing, rip {:#x} (registers {:#x}, memory {:#x}, {} watched words{run})",
                l.rip,
                l.regs_hash,
                l.mem_hash,
                f.words.len()
            )
        }
    };
    (text, Value::Object(body))
}

/// The JSON fields of a syscall event, decoded as `d`, whose text is `line`.
fn syscall_json(
    s: &SyscallEvent,
    d: syscall::Decoded,
    line: &str,
    put: &mut impl FnMut(&str, Value),
) {
    put("event", json!("syscall"));
    put("name", json!(d.name));
    put("number", json!(s.number));
    put("args", json!(s.args));
    put("decoded_args", json!(d.args));
    put("result", json!(s.result));
    put("decoded_result", json!(d.result));
    put("errno", json!(d.errno));
    put("mode", json!(mode_name(s.mode)));
    put("rip", json!(s.rip));
    put(
        "writes",
        Value::Array(
            s.writes
                .iter()
                .map(|w| json!({"addr": w.addr, "len": w.data.len()}))
                .collect(),
        ),
    );
    put("output_hash", json!(s.output_hash));
    put("echo", json!(echo_name(s.echo)));
    if let Some(m) = &s.mapping {
        put(
            "mapping",
            json!({"path": String::from_utf8_lossy(&m.file.path), "offset": m.offset,
                   "length": m.length, "stored_as": m.stored_as}),
        );
    }
    put("text", json!(line));
}

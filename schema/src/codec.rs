//! Conversion between the plain values of `model.rs` and Cap'n Proto messages (`trace.capnp`).
//!
//! Encoding produces a complete message in the standard serialization (segment table and
//! segments, as `capnp::serialize` writes it). Decoding takes such bytes from an untrusted
//! source: every capnp error, unknown enum value or union discriminant, list of the wrong
//! length, bad UTF-8 or trailing byte becomes a [`CodecError`]; nothing panics.

use std::fmt;

use capnp::message::{self, HeapAllocator};
use capnp::serialize;

use crate::model::*;
use crate::packed;
use crate::trace_capnp as tc;

mod read;
use read::{read_message, read_message_in_place};

/// Largest byte string or list one field may hold when encoding (256 MiB, far beyond what a
/// frame can carry anyway); larger values are refused rather than truncated.
pub const MAX_FIELD_LEN: usize = 1 << 28;

/// A value could not be encoded, or bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError {
    /// What was wrong, for a person to read.
    pub what: String,
}

impl CodecError {
    fn new(what: impl Into<String>) -> Self {
        CodecError { what: what.into() }
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl std::error::Error for CodecError {}

/// Attaches the name of the field being handled to a lower-level error.
trait Ctx<T> {
    fn ctx(self, what: &str) -> Result<T, CodecError>;
}

impl<T, E: fmt::Display> Ctx<T> for Result<T, E> {
    fn ctx(self, what: &str) -> Result<T, CodecError> {
        self.map_err(|e| CodecError::new(format!("{what}: {e}")))
    }
}

fn len32(len: usize, what: &str) -> Result<u32, CodecError> {
    if len > MAX_FIELD_LEN {
        return Err(CodecError::new(format!(
            "{what} holds {len} elements, more than the {MAX_FIELD_LEN} a trace field may hold"
        )));
    }
    u32::try_from(len).ctx(what)
}

fn checked_data<'a>(data: &'a [u8], what: &str) -> Result<&'a [u8], CodecError> {
    len32(data.len(), what)?;
    Ok(data)
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// Encodes a header as a complete capnp message.
pub fn encode_header(h: &Header) -> Result<Vec<u8>, CodecError> {
    let mut msg = message::Builder::new_default();
    let mut b = msg.init_root::<tc::header::Builder>();
    b.set_format_version(h.format_version);
    b.set_recorder_version(checked_text(&h.recorder_version, "recorder version")?);
    set_data_list(
        b.reborrow().init_argv(len32(h.argv.len(), "argv")?),
        &h.argv,
        "argv",
    )?;
    set_data_list(
        b.reborrow().init_env(len32(h.env.len(), "env")?),
        &h.env,
        "env",
    )?;
    b.set_cwd(checked_data(&h.cwd, "cwd")?);
    b.set_exe(checked_data(&h.exe, "exe")?);
    b.set_kernel_release(checked_text(&h.kernel_release, "kernel release")?);
    b.set_cpu_vendor(checked_text(&h.cpu_vendor, "cpu vendor")?);
    b.set_cpu_model(checked_text(&h.cpu_model, "cpu model")?);
    {
        let sig = &h.cpuid_signature;
        let mut l = b
            .reborrow()
            .init_cpuid_signature(len32(sig.len(), "cpuid signature")?);
        for (i, v) in (0u32..).zip(sig) {
            l.set(i, *v);
        }
    }
    b.set_tick_source(match h.tick_source {
        TickSource::None => tc::TickSource::None,
        TickSource::Pmu => tc::TickSource::Pmu,
    });
    b.set_tick_event(h.tick_event);
    {
        let mut l = b
            .reborrow()
            .init_rlimits(len32(h.rlimits.len(), "rlimits")?);
        for (i, r) in (0u32..).zip(&h.rlimits) {
            let mut e = l.reborrow().get(i);
            e.set_resource(r.resource);
            e.set_soft(r.soft);
            e.set_hard(r.hard);
        }
    }
    b.set_start_time_ns(h.start_time_ns);
    if let Some(inh) = &h.inherited {
        let mut e = b.reborrow().init_inherited();
        e.set_ignored_signals(inh.ignored_signals);
        e.set_blocked_signals(inh.blocked_signals);
        e.set_umask(inh.umask);
    }
    Ok(serialize::write_message_to_words(&msg))
}

/// What a chunk holds: events, and calls packed by the thousand that readers serve as
/// events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkItem {
    Event(Event),
    Calls(BufferedCalls),
}

impl ChunkItem {
    /// The seq of its (first) event.
    pub fn seq(&self) -> u64 {
        match self {
            ChunkItem::Event(e) => e.seq,
            ChunkItem::Calls(c) => c.first_seq,
        }
    }

    /// How many events it stands for.
    pub fn events(&self) -> u64 {
        match self {
            ChunkItem::Event(_) => 1,
            ChunkItem::Calls(c) => u64::from(c.count),
        }
    }

    /// A rough upper bound of the bytes it takes once encoded.
    pub fn estimated_size(&self) -> usize {
        match self {
            ChunkItem::Event(e) => estimated_size(e),
            ChunkItem::Calls(c) => packed::estimated_size(c),
        }
    }
}

/// Encodes a chunk of events (`events[i]` should have seq `first_seq + i`; not checked here).
pub fn encode_chunk(first_seq: u64, events: &[Event]) -> Result<Vec<u8>, CodecError> {
    let items: Vec<ChunkItem> = events.iter().cloned().map(ChunkItem::Event).collect();
    encode_items(first_seq, &items)
}

/// Encodes a chunk of items (each should start at the seq after the previous one's events;
/// not checked here).
pub fn encode_items(first_seq: u64, items: &[ChunkItem]) -> Result<Vec<u8>, CodecError> {
    // Size the first segment for the whole chunk so the message is usually one segment.
    let estimate: usize = items.iter().map(ChunkItem::estimated_size).sum();
    let words = u32::try_from(estimate / 8 + 64).unwrap_or(u32::MAX / 2);
    let mut msg = message::Builder::new(HeapAllocator::new().first_segment_words(words));
    let mut b = msg.init_root::<tc::chunk::Builder>();
    b.set_first_seq(first_seq);
    let mut list = b.init_events(len32(items.len(), "chunk")?);
    for (i, item) in (0u32..).zip(items) {
        match item {
            ChunkItem::Event(e) => encode_event(list.reborrow().get(i), e)?,
            ChunkItem::Calls(c) => {
                let mut b = list.reborrow().get(i);
                b.set_seq(c.first_seq);
                b.set_tid(c.tid);
                let mut calls = b.init_kind().init_buffered_calls();
                calls.set_count(c.count);
                calls.set_packed(checked_data(&c.packed, "packed in-process calls")?);
            }
        }
    }
    // Segments appended as they are (`write_message_to_words` zeroes its buffer first).
    let mut out = Vec::with_capacity(serialize::compute_serialized_size_in_words(&msg) * 8);
    serialize::write_message(&mut out, &msg).ctx("writing the chunk")?;
    Ok(out)
}

/// Encodes a footer as a complete capnp message.
pub fn encode_footer(f: &Footer) -> Result<Vec<u8>, CodecError> {
    let mut msg = message::Builder::new_default();
    let mut b = msg.init_root::<tc::footer::Builder>();
    b.set_finished_cleanly(f.finished_cleanly);
    b.set_event_count(f.event_count);
    let mut exit = b.init_exit();
    match &f.exit {
        None => exit.set_not_exited(()),
        Some(status) => encode_exit(exit.init_exit_status(), status),
    }
    Ok(serialize::write_message_to_words(&msg))
}

/// A rough upper bound of the bytes an event takes once encoded; the writer uses it to
/// decide when a chunk is full.
pub fn estimated_size(e: &Event) -> usize {
    fn pad(n: usize) -> usize {
        n.saturating_add(7) & !7
    }
    fn identity(f: &FileIdentity) -> usize {
        48usize.saturating_add(pad(f.path.len()))
    }
    let kind = match &e.kind {
        EventKind::Syscall(s) => {
            let writes = s
                .writes
                .iter()
                .fold(0usize, |acc, w| acc.saturating_add(24 + pad(w.data.len())));
            let mapping = s.mapping.as_ref().map_or(0, |m| {
                48usize
                    .saturating_add(pad(m.stored_as.len() + 1))
                    .saturating_add(identity(&m.file))
            });
            (128usize).saturating_add(writes).saturating_add(mapping)
        }
        EventKind::Exec(x) => {
            let image = x.image.as_ref().map_or(0, |i| {
                std::iter::once(&i.exe)
                    .chain(&i.interp)
                    .chain(&i.scripts)
                    .fold(32usize, |acc, m| {
                        acc.saturating_add(48)
                            .saturating_add(pad(m.stored_as.len() + 1))
                            .saturating_add(identity(&m.file))
                    })
            });
            48usize
                .saturating_add(identity(&x.exe))
                .saturating_add(pad(x.at_random.len()))
                .saturating_add(image)
        }
        EventKind::Rdtsc(_) => 32,
        EventKind::Signal(s) => 64usize.saturating_add(pad(s.siginfo.len())),
        EventKind::Exit(_) => 24,
        EventKind::SyscallEntry { .. } => 24,
        EventKind::Sched(_) => 32,
        EventKind::SchedAtState(f) => 56usize
            .saturating_add(f.regs.len().saturating_mul(8))
            .saturating_add(f.words.len().saturating_mul(16))
            .saturating_add(f.unlogged_writes.len().saturating_mul(16))
            .saturating_add(pad(f.fpregs.len())),
        EventKind::RuntimeMapped => 16,
        EventKind::SitePatched(p) => 64usize
            .saturating_add(pad(p.site_bytes.len()))
            .saturating_add(pad(p.stub_bytes.len())),
    };
    kind.saturating_add(40)
}

fn checked_text<'a>(s: &'a str, what: &str) -> Result<&'a str, CodecError> {
    len32(s.len() + 1, what)?;
    Ok(s)
}

fn set_data_list(
    mut l: capnp::data_list::Builder<'_>,
    items: &[Vec<u8>],
    what: &str,
) -> Result<(), CodecError> {
    for (i, item) in (0u32..).zip(items) {
        l.set(i, checked_data(item, what)?);
    }
    Ok(())
}

fn encode_identity(
    mut b: tc::file_identity::Builder<'_>,
    f: &FileIdentity,
) -> Result<(), CodecError> {
    b.set_path(checked_data(&f.path, "file path")?);
    b.set_dev(f.dev);
    b.set_ino(f.ino);
    b.set_size(f.size);
    b.set_mtime_ns(f.mtime_ns);
    Ok(())
}

fn encode_exit(mut b: tc::exit_status::Builder<'_>, status: &ExitStatus) {
    match *status {
        ExitStatus::Exited(code) => b.set_exited(code),
        ExitStatus::Killed { signo, core_dumped } => {
            let mut k = b.init_killed();
            k.set_signo(signo);
            k.set_core_dumped(core_dumped);
        }
    }
}

fn encode_landmark(mut b: tc::landmark::Builder<'_>, l: &Landmark) {
    b.set_rip(l.rip);
    b.set_regs_hash(l.regs_hash);
    b.set_mem_hash(l.mem_hash);
}

fn decode_landmark(l: tc::landmark::Reader<'_>) -> Landmark {
    Landmark {
        rip: l.get_rip(),
        regs_hash: l.get_regs_hash(),
        mem_hash: l.get_mem_hash(),
    }
}

fn encode_event(mut b: tc::event::Builder<'_>, e: &Event) -> Result<(), CodecError> {
    b.set_seq(e.seq);
    b.set_tid(e.tid);
    let mut kind = b.init_kind();
    match &e.kind {
        EventKind::Syscall(s) => encode_syscall(kind.init_syscall(), s)?,
        EventKind::Exec(x) => {
            let mut b = kind.init_exec();
            encode_identity(b.reborrow().init_exe(), &x.exe)?;
            b.set_at_random_addr(x.at_random_addr);
            b.set_at_random(checked_data(&x.at_random, "AT_RANDOM bytes")?);
            b.set_rsp(x.rsp);
            if let Some(image) = &x.image {
                let mut ib = b.init_image();
                encode_file_mapping(ib.reborrow().init_exe(), &image.exe)?;
                if let Some(interp) = &image.interp {
                    encode_file_mapping(ib.reborrow().init_interp(), interp)?;
                }
                let mut l = ib.init_scripts(len32(image.scripts.len(), "scripts")?);
                for (i, s) in (0u32..).zip(&image.scripts) {
                    encode_file_mapping(l.reborrow().get(i), s)?;
                }
            }
        }
        EventKind::Rdtsc(r) => {
            let mut b = kind.init_rdtsc();
            b.set_value(r.value);
            b.set_aux(r.aux);
            b.set_is_rdtscp(r.is_rdtscp);
            b.set_rip(r.rip);
        }
        EventKind::Signal(s) => {
            let mut b = kind.init_signal();
            b.set_signo(s.signo);
            b.set_siginfo(checked_data(&s.siginfo, "siginfo")?);
            let mut p = b.init_placement();
            match &s.placement {
                SignalPlacement::Synchronous => p.set_synchronous(()),
                SignalPlacement::AtSyscallExit => p.set_at_syscall_exit(()),
                SignalPlacement::BeforeSyscall => p.set_before_syscall(()),
                SignalPlacement::AtLandmark(l) => encode_landmark(p.init_at_landmark(), l),
            }
        }
        EventKind::Exit(status) => encode_exit(kind.init_exit(), status),
        EventKind::SyscallEntry { number, rip } => {
            let mut b = kind.init_syscall_entry();
            b.set_number(*number);
            b.set_rip(*rip);
        }
        EventKind::Sched(l) => encode_landmark(kind.init_sched(), l),
        EventKind::SchedAtState(f) => {
            let mut b = kind.init_sched_at_state();
            encode_landmark(b.reborrow().init_landmark(), &f.landmark);
            let mut regs = b.reborrow().init_regs(len32(f.regs.len(), "registers")?);
            for (i, w) in (0u32..).zip(&f.regs) {
                regs.set(i, *w);
            }
            b.set_fpregs(checked_data(&f.fpregs, "fp registers")?);
            let n = len32(f.words.len().saturating_mul(2), "watched words")?;
            set_pairs(b.reborrow().init_watched_words(n), &f.words);
            b.set_changed_regs(f.changed_regs);
            b.set_run_len(f.run_len);
            let n = len32(f.unlogged_writes.len().saturating_mul(2), "unlogged writes")?;
            set_pairs(b.reborrow().init_unlogged_writes(n), &f.unlogged_writes);
        }
        EventKind::RuntimeMapped => kind.set_runtime_mapped(()),
        EventKind::SitePatched(p) => {
            let mut b = kind.init_site_patched();
            b.set_site(p.site);
            b.set_site_bytes(checked_data(&p.site_bytes, "site bytes")?);
            b.set_stub(p.stub);
            b.set_stub_bytes(checked_data(&p.stub_bytes, "stub bytes")?);
            b.set_new_stub_page(p.new_stub_page);
        }
    }
    Ok(())
}

fn encode_syscall(
    mut b: tc::syscall_event::Builder<'_>,
    s: &SyscallEvent,
) -> Result<(), CodecError> {
    b.set_number(s.number);
    {
        let mut args = b.reborrow().init_args(6);
        for (i, a) in (0u32..).zip(&s.args) {
            args.set(i, *a);
        }
    }
    b.set_result(s.result);
    b.set_mode(match s.mode {
        SyscallMode::Emulated => tc::SyscallMode::Emulated,
        SyscallMode::Executed => tc::SyscallMode::Executed,
        SyscallMode::Refused => tc::SyscallMode::Refused,
        SyscallMode::Buffered => tc::SyscallMode::Buffered,
    });
    {
        let mut l = b
            .reborrow()
            .init_writes(len32(s.writes.len(), "memory writes")?);
        for (i, w) in (0u32..).zip(&s.writes) {
            let mut wb = l.reborrow().get(i);
            wb.set_addr(w.addr);
            wb.set_data(checked_data(&w.data, "memory write")?);
        }
    }
    b.set_rip(s.rip);
    b.set_regs_hash(s.regs_hash);
    b.set_output_hash(s.output_hash);
    b.set_echo(match s.echo {
        Echo::None => tc::Echo::None,
        Echo::Stdout => tc::Echo::Stdout,
        Echo::Stderr => tc::Echo::Stderr,
    });
    let mut m = b.init_mapping();
    match &s.mapping {
        None => m.set_no_mapping(()),
        Some(fm) => encode_file_mapping(m.init_file_mapping(), fm)?,
    }
    Ok(())
}

fn encode_file_mapping(
    mut mb: tc::file_mapping::Builder<'_>,
    fm: &FileMapping,
) -> Result<(), CodecError> {
    mb.set_stored_as(checked_text(&fm.stored_as, "stored file name")?);
    encode_identity(mb.reborrow().init_file(), &fm.file)?;
    mb.set_offset(fm.offset);
    mb.set_length(fm.length);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Decoding

fn text(r: capnp::Result<capnp::text::Reader<'_>>, what: &str) -> Result<String, CodecError> {
    r.ctx(what)?.to_string().ctx(what)
}

fn data(r: capnp::Result<capnp::data::Reader<'_>>, what: &str) -> Result<Vec<u8>, CodecError> {
    Ok(r.ctx(what)?.to_vec())
}

fn data_list(
    r: capnp::Result<capnp::data_list::Reader<'_>>,
    what: &str,
) -> Result<Vec<Vec<u8>>, CodecError> {
    let l = r.ctx(what)?;
    let mut out = Vec::with_capacity(l.len().min(1024) as usize);
    for item in l.iter() {
        out.push(item.ctx(what)?.to_vec());
    }
    Ok(out)
}

/// Decodes a header message.
pub fn decode_header(bytes: &[u8]) -> Result<Header, CodecError> {
    let msg = read_message(bytes)?;
    let r = msg.get_root::<tc::header::Reader>().ctx("header")?;
    let cpuid_signature = r
        .get_cpuid_signature()
        .ctx("cpuid signature")?
        .iter()
        .collect();
    let mut rlimits = Vec::new();
    for l in r.get_rlimits().ctx("rlimits")?.iter() {
        rlimits.push(Rlimit {
            resource: l.get_resource(),
            soft: l.get_soft(),
            hard: l.get_hard(),
        });
    }
    let inherited = if r.has_inherited() {
        let e = r.get_inherited().ctx("inherited state")?;
        Some(Inherited {
            ignored_signals: e.get_ignored_signals(),
            blocked_signals: e.get_blocked_signals(),
            umask: e.get_umask(),
        })
    } else {
        None
    };
    Ok(Header {
        format_version: r.get_format_version(),
        recorder_version: text(r.get_recorder_version(), "recorder version")?,
        argv: data_list(r.get_argv(), "argv")?,
        env: data_list(r.get_env(), "env")?,
        cwd: data(r.get_cwd(), "cwd")?,
        exe: data(r.get_exe(), "exe")?,
        kernel_release: text(r.get_kernel_release(), "kernel release")?,
        cpu_vendor: text(r.get_cpu_vendor(), "cpu vendor")?,
        cpu_model: text(r.get_cpu_model(), "cpu model")?,
        cpuid_signature,
        tick_source: match r.get_tick_source().ctx("tick source")? {
            tc::TickSource::None => TickSource::None,
            tc::TickSource::Pmu => TickSource::Pmu,
        },
        tick_event: r.get_tick_event(),
        rlimits,
        start_time_ns: r.get_start_time_ns(),
        inherited,
    })
}

/// Decodes a chunk message into its first seq and its events (their seq numbers are not
/// checked here; see `stream.rs`).
pub fn decode_chunk(bytes: &[u8]) -> Result<(u64, Vec<Event>), CodecError> {
    let mut events = Vec::new();
    let first_seq = decode_chunk_into(bytes, &mut events)?;
    Ok((first_seq, events))
}

/// `decode_chunk`, appending the events to `events` (a reader reuses one buffer, so that
/// the memory of a chunk's events is not fresh, page by page, for every chunk); returns the
/// chunk's first seq. On an error `events` holds what was decoded before it.
pub fn decode_chunk_into(bytes: &[u8], events: &mut Vec<Event>) -> Result<u64, CodecError> {
    // A chunk is the largest message and read once: in place where it can be.
    if bytes.as_ptr().align_offset(8) == 0 {
        chunk_events(&read_message_in_place(bytes)?, events)
    } else {
        chunk_events(&read_message(bytes)?, events)
    }
}

fn chunk_events<S: capnp::message::ReaderSegments>(
    msg: &message::Reader<S>,
    events: &mut Vec<Event>,
) -> Result<u64, CodecError> {
    let r = msg.get_root::<tc::chunk::Reader>().ctx("chunk")?;
    let list = r.get_events().ctx("chunk events")?;
    events.reserve(list.len().min(4096) as usize);
    for e in list.iter() {
        if let Ok(tc::event::kind::Which::BufferedCalls(calls)) = e.get_kind().which() {
            let seq = e.get_seq();
            let calls = calls.ctx("packed in-process calls")?;
            let calls = packed::PackedView {
                first_seq: seq,
                tid: e.get_tid(),
                count: calls.get_count(),
                packed: calls.get_packed().ctx("packed in-process calls")?,
            };
            packed::unpack_view_into(calls, events)
                .map_err(|why| CodecError::new(format!("event {seq}: {why}")))?;
            continue;
        }
        events.push(decode_event(e)?);
    }
    Ok(r.get_first_seq())
}

/// Decodes a footer message.
pub fn decode_footer(bytes: &[u8]) -> Result<Footer, CodecError> {
    let msg = read_message(bytes)?;
    let r = msg.get_root::<tc::footer::Reader>().ctx("footer")?;
    let exit = match r.get_exit().which().ctx("footer exit")? {
        tc::footer::exit::Which::NotExited(()) => None,
        tc::footer::exit::Which::ExitStatus(s) => Some(decode_exit(s.ctx("footer exit")?)?),
    };
    Ok(Footer {
        finished_cleanly: r.get_finished_cleanly(),
        event_count: r.get_event_count(),
        exit,
    })
}

fn decode_file_mapping(m: tc::file_mapping::Reader<'_>) -> Result<FileMapping, CodecError> {
    Ok(FileMapping {
        stored_as: text(m.get_stored_as(), "stored file name")?,
        file: decode_identity(m.get_file().ctx("mapped file")?)?,
        offset: m.get_offset(),
        length: m.get_length(),
    })
}

fn decode_image(r: tc::exec_image::Reader<'_>) -> Result<ExecImage, CodecError> {
    let interp = if r.has_interp() {
        Some(decode_file_mapping(r.get_interp().ctx("interpreter")?)?)
    } else {
        None
    };
    let mut scripts = Vec::new();
    for s in r.get_scripts().ctx("scripts")?.iter() {
        scripts.push(decode_file_mapping(s)?);
    }
    Ok(ExecImage {
        exe: decode_file_mapping(r.get_exe().ctx("kept executable")?)?,
        interp,
        scripts,
    })
}

fn decode_identity(r: tc::file_identity::Reader<'_>) -> Result<FileIdentity, CodecError> {
    Ok(FileIdentity {
        path: data(r.get_path(), "file path")?,
        dev: r.get_dev(),
        ino: r.get_ino(),
        size: r.get_size(),
        mtime_ns: r.get_mtime_ns(),
    })
}

fn decode_exit(r: tc::exit_status::Reader<'_>) -> Result<ExitStatus, CodecError> {
    Ok(match r.which().ctx("exit status")? {
        tc::exit_status::Which::Exited(code) => ExitStatus::Exited(code),
        tc::exit_status::Which::Killed(k) => ExitStatus::Killed {
            signo: k.get_signo(),
            core_dumped: k.get_core_dumped(),
        },
    })
}

fn decode_event(r: tc::event::Reader<'_>) -> Result<Event, CodecError> {
    let seq = r.get_seq();
    let kind =
        decode_kind(r.get_kind()).map_err(|e| CodecError::new(format!("event {seq}: {e}")))?;
    Ok(Event {
        seq,
        tid: r.get_tid(),
        kind,
    })
}

fn decode_kind(r: tc::event::kind::Reader<'_>) -> Result<EventKind, CodecError> {
    use tc::event::kind::Which as K;
    Ok(match r.which().ctx("kind")? {
        K::Syscall(s) => EventKind::Syscall(decode_syscall(s.ctx("syscall")?)?),
        K::Exec(x) => {
            let x = x.ctx("exec")?;
            EventKind::Exec(ExecEvent {
                exe: decode_identity(x.get_exe().ctx("exec file")?)?,
                at_random_addr: x.get_at_random_addr(),
                at_random: data(x.get_at_random(), "AT_RANDOM bytes")?,
                rsp: x.get_rsp(),
                image: if x.has_image() {
                    Some(Box::new(decode_image(x.get_image().ctx("exec image")?)?))
                } else {
                    None
                },
            })
        }
        K::Rdtsc(t) => {
            let t = t.ctx("rdtsc")?;
            EventKind::Rdtsc(RdtscEvent {
                value: t.get_value(),
                aux: t.get_aux(),
                is_rdtscp: t.get_is_rdtscp(),
                rip: t.get_rip(),
            })
        }
        K::Signal(s) => {
            let s = s.ctx("signal")?;
            let p = s.get_placement().ctx("signal placement")?;
            use tc::signal_placement::Which as P;
            let placement = match p.which().ctx("signal placement")? {
                P::Synchronous(()) => SignalPlacement::Synchronous,
                P::AtSyscallExit(()) => SignalPlacement::AtSyscallExit,
                P::BeforeSyscall(()) => SignalPlacement::BeforeSyscall,
                P::AtLandmark(l) => {
                    SignalPlacement::AtLandmark(decode_landmark(l.ctx("landmark")?))
                }
            };
            EventKind::Signal(SignalEvent {
                signo: s.get_signo(),
                siginfo: data(s.get_siginfo(), "siginfo")?,
                placement,
            })
        }
        K::Exit(x) => EventKind::Exit(decode_exit(x.ctx("exit")?)?),
        K::SyscallEntry(e) => {
            let e = e.ctx("syscall entry")?;
            EventKind::SyscallEntry {
                number: e.get_number(),
                rip: e.get_rip(),
            }
        }
        K::Sched(l) => EventKind::Sched(decode_landmark(l.ctx("sched")?)),
        K::SchedAtState(f) => {
            let f = f.ctx("forced switch")?;
            EventKind::SchedAtState(ForcedSwitch {
                landmark: decode_landmark(f.get_landmark().ctx("forced switch landmark")?),
                regs: f
                    .get_regs()
                    .ctx("forced switch registers")?
                    .iter()
                    .collect(),
                fpregs: data(f.get_fpregs(), "forced switch fp registers")?,
                words: pairs(f.get_watched_words().ctx("forced switch watched words")?),
                changed_regs: f.get_changed_regs(),
                run_len: f.get_run_len(),
                unlogged_writes: pairs(
                    f.get_unlogged_writes()
                        .ctx("forced switch unlogged writes")?,
                ),
            })
        }
        K::RuntimeMapped(()) => EventKind::RuntimeMapped,
        K::SitePatched(p) => {
            let p = p.ctx("site patch")?;
            EventKind::SitePatched(SitePatch {
                site: p.get_site(),
                site_bytes: data(p.get_site_bytes(), "site bytes")?,
                stub: p.get_stub(),
                stub_bytes: data(p.get_stub_bytes(), "stub bytes")?,
                new_stub_page: p.get_new_stub_page(),
            })
        }
        // Unpacked by `decode_chunk` before it gets here.
        K::BufferedCalls(_) => {
            return Err(CodecError::new(
                "packed in-process calls outside a chunk".to_string(),
            ))
        }
    })
}

fn decode_syscall(r: tc::syscall_event::Reader<'_>) -> Result<SyscallEvent, CodecError> {
    let list = r.get_args().ctx("syscall arguments")?;
    if list.len() != 6 {
        return Err(CodecError::new(format!(
            "syscall has {} arguments instead of 6",
            list.len()
        )));
    }
    let mut args = [0u64; 6];
    for (slot, v) in args.iter_mut().zip(list.iter()) {
        *slot = v;
    }
    let mut writes = Writes::new();
    for w in r.get_writes().ctx("memory writes")?.iter() {
        writes.push(MemWrite {
            addr: w.get_addr(),
            data: data(w.get_data(), "memory write")?.into(),
        });
    }
    use tc::syscall_event::mapping::Which as M;
    let mapping = match r.get_mapping().which().ctx("file mapping")? {
        M::NoMapping(()) => None,
        M::FileMapping(m) => Some(decode_file_mapping(m.ctx("file mapping")?)?),
    };
    Ok(SyscallEvent {
        number: r.get_number(),
        args,
        result: r.get_result(),
        mode: match r.get_mode().ctx("syscall mode")? {
            tc::SyscallMode::Emulated => SyscallMode::Emulated,
            tc::SyscallMode::Executed => SyscallMode::Executed,
            tc::SyscallMode::Refused => SyscallMode::Refused,
            tc::SyscallMode::Buffered => SyscallMode::Buffered,
        },
        writes,
        rip: r.get_rip(),
        regs_hash: r.get_regs_hash(),
        output_hash: r.get_output_hash(),
        echo: match r.get_echo().ctx("echo")? {
            tc::Echo::None => Echo::None,
            tc::Echo::Stdout => Echo::Stdout,
            tc::Echo::Stderr => Echo::Stderr,
        },
        mapping: mapping.map(Box::new),
    })
}

/// A list of words read back as the pairs it holds flat (an odd last word is dropped).
fn pairs(list: capnp::primitive_list::Reader<'_, u64>) -> Vec<(u64, u64)> {
    let w: Vec<u64> = list.iter().collect();
    w.chunks_exact(2).map(|p| (p[0], p[1])).collect()
}

/// Pairs written flat into a list of words.
fn set_pairs(mut list: capnp::primitive_list::Builder<'_, u64>, pairs: &[(u64, u64)]) {
    for (i, &(a, b)) in (0u32..).step_by(2).zip(pairs) {
        list.set(i, a);
        list.set(i + 1, b);
    }
}

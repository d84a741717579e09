//! The recorder's side of the in-process fast path: mapping the runtime after every exec,
//! turning the records of a process's ring into events at each stop of its running thread,
//! rewriting syscall sites at their first traced call, and the flag that sends a thread's
//! next call to the tracer when a signal waits for it or another thread wants the token.

use fastpath::layout::{
    FLAG_ECHO_TRACED, FLAG_GATE_ASK, FLAG_MAY_BLOCK, FLAG_MAY_BLOCK_UNTIMED, FLAG_OUTPUTS_TRACED,
    FLAG_OUTPUT_GATE, FLAG_TRACED_NEXT, FLAG_TSC_FREE, MODE_RECORD,
};
use fastpath::{Setup, Space};
use schema::EventKind;
use tracee::{RawSiginfo, Regs};

use crate::futex::thread_state;
use crate::ring_records::RingRecords;
use crate::session::{HeldSignal, Recorder};
use crate::RecordError;

/// A fast-path failure in process `tgid`. A process that died under us (a SIGKILL, a
/// SIGPIPE while its site was being rewritten) is not a failure of the recording: its end
/// comes as its next stop.
pub(crate) fn failure(tgid: i32, pid: i32, e: fastpath::FastPathError) -> RecordError {
    let gone = matches!(thread_state(pid), Some('Z' | 'X') | None);
    match e {
        fastpath::FastPathError::Tracee(t) => RecordError::Tracee(t),
        _ if gone => RecordError::Tracee(tracee::TraceeError::TraceeDied { pid }),
        other => RecordError::Other(format!("process {tgid}: {other}")),
    }
}

/// How long records may wait in a ring, at most, before a tick takes them (and, under
/// fault tolerance, ships them to the follower). Ticks come every `session::TICK`.
const STREAM_EVERY: std::time::Duration = std::time::Duration::from_millis(10);

impl Recorder<'_> {
    /// How outputs go: in-process (0), behind the runtime's gate, or traced (under the
    /// Output Rule without gates, or while a file is mapped shared: a write may go into
    /// it, and is logged with its bytes).
    fn output_flags(&self) -> u32 {
        match (self.sink.gates_output(), self.gates.is_some()) {
            _ if !self.shared_files.is_empty() => FLAG_OUTPUTS_TRACED,
            (true, true) => FLAG_OUTPUT_GATE,
            (true, false) => FLAG_OUTPUTS_TRACED,
            (false, _) => 0,
        }
    }

    pub(crate) fn setup(&self) -> Setup {
        let flags = self.output_flags();
        let id = |f: Option<(u64, u64)>| f.map_or([0, 0], |(dev, ino)| [dev, ino]);
        let echo = self.echo_targets();
        let (out, err) = (id(echo.stdout), id(echo.stderr));
        Setup {
            mode: MODE_RECORD,
            flags,
            install_filter: !self.tasks.filtered,
            echo: [out[0], out[1], err[0], err[1]],
        }
    }

    /// A forked child at its first stop, before it ran: its runtime gets a ring of its own
    /// (logged, so that replay does the same there).
    pub(crate) fn give_child_ring(&mut self) -> Result<(), RecordError> {
        let tgid = self.t.tgid;
        if !self.spaces.get(&tgid).is_some_and(|s| s.needs_ring()) {
            return Ok(());
        }
        let setup = self.setup();
        let pid = self.t.tracee.pid();
        let Some(space) = self.spaces.get_mut(&tgid) else {
            return Ok(());
        };
        match space.give_ring(&mut self.t.tracee, &setup) {
            Ok(()) => {
                self.ring_doorbell_setup(tgid)?;
                self.push(EventKind::RuntimeMapped)
            }
            Err(e) => match failure(tgid, pid, e) {
                RecordError::Other(why) => {
                    // It runs with every call traced, as before.
                    self.spaces.remove(&tgid);
                    self.warn_once(format!("{why}; this process runs without the fast path"));
                    Ok(())
                }
                other => Err(other),
            },
        }
    }

    /// The process has just exec'd (the thread is at the exec's exit): maps the runtime,
    /// and the seccomp filter in the first process.
    pub(crate) fn install_runtime(&mut self) -> Result<(), RecordError> {
        let tgid = self.t.tgid;
        self.spaces.remove(&tgid);
        if !self.fast_path || self.t.vfork_parent.is_some() {
            return Ok(());
        }
        let setup = self.setup();
        match Space::install(&mut self.t.tracee, &setup) {
            Ok(space) => {
                self.spaces.insert(tgid, space);
                self.tasks.filtered = true;
                self.t.tracee.set_filtered(true);
                self.ring_doorbell_setup(tgid)?;
                self.push(EventKind::RuntimeMapped)
            }
            Err(fastpath::FastPathError::Tracee(e)) => Err(e.into()),
            Err(e) => {
                self.warn_once(format!("{e}; this process runs without the fast path"));
                Ok(())
            }
        }
    }

    /// A new ring in process `tgid`: under the output gate, its runtime learns where its
    /// doorbell is, and its records count from 0.
    pub(crate) fn ring_doorbell_setup(&mut self, tgid: i32) -> Result<(), RecordError> {
        let Some(gates) = self.gates.as_mut() else {
            return Ok(());
        };
        gates.forget(tgid);
        let (pid, tid) = gates.doorbell();
        if let Some(space) = self.spaces.get(&tgid) {
            let me = self.t.tracee.pid();
            space
                .set_doorbell(&mut self.t.tracee, pid, tid)
                .map_err(|e| failure(tgid, me, e))?;
        }
        Ok(())
    }

    /// Logs the calls the runtime made since the running thread's last stop; they come
    /// before whatever stopped it.
    pub(crate) fn drain_buffered(&mut self) -> Result<(), RecordError> {
        let tgid = self.t.tgid;
        let me = self.t.tid as i32;
        // Only the thread holding its process's token runs its own code, so every record
        // is that thread's; while it runs, the ring is its own (read at its stops only).
        let tid = match self.sched.holder(tgid) {
            Some(holder) if holder != me => return Ok(()),
            _ => me as u32,
        };
        let Some(space) = self.spaces.get(&tgid) else {
            return Ok(());
        };
        if !space.has_records() {
            return Ok(());
        }
        // Stopped inside the runtime (a signal came as its own call returned, or in the
        // vDSO it called for a time call), the thread may be half-way through a record:
        // the ring is read at its next stop outside.
        let inside = match self.t.tracee.regs() {
            Ok(regs) => fastpath::in_runtime_code(regs.rip) || self.tsc.in_vdso(tgid, regs.rip),
            Err(_) => false,
        };
        if inside {
            return Ok(());
        }
        let (bytes, count) = space.take_records(true).map_err(|e| failure(tgid, me, e))?;
        self.log_taken(tgid, tid, bytes, count).map(|_| ())
    }

    /// Logs `count` records just taken from process `tgid`'s ring, made by thread `tid`;
    /// returns whether there were any.
    pub(crate) fn log_taken(
        &mut self,
        tgid: i32,
        tid: u32,
        bytes: Vec<u8>,
        count: u64,
    ) -> Result<bool, RecordError> {
        if count == 0 {
            return Ok(false);
        }
        let count = u32::try_from(count).map_err(|_| {
            RecordError::Other(format!("process {tgid}: the ring counts {count} records"))
        })?;
        self.push_ring(RingRecords::taken(
            tid,
            count,
            bytes,
            self.echo_targets(),
            tgid,
        ))?;
        Ok(true)
    }

    /// Whether a tick should take the rings' records now: every `STREAM_EVERY`, or sooner
    /// when a ring fills up. An output that waits for its inputs takes them itself (its
    /// doorbell), so the ticks in between would only cut the same records into more
    /// frames — each one a compression, a send, a wake-up of the follower and an
    /// acknowledgement more.
    pub(crate) fn stream_due(&self) -> bool {
        self.streamed_at.elapsed() >= STREAM_EVERY
            || self
                .spaces
                .values()
                .any(|s| s.pending_record_bytes() >= fastpath::layout::RING_DATA_SIZE / 8)
    }

    /// While the programs run (at a tick): takes the records each process's token holder
    /// has published since, so that the log — and a follower — has them without waiting
    /// for a stop, and the ring has room again. Records are only ever published whole, so
    /// taking them cannot cut one; the rest is taken at the holder's next stop, before
    /// the event of that stop.
    pub(crate) fn stream_rings(&mut self) -> Result<(), RecordError> {
        self.streamed_at = std::time::Instant::now();
        let ready: Vec<(i32, i32)> = self
            .spaces
            .iter()
            .filter(|(_, space)| space.has_records())
            .filter_map(|(&tgid, _)| Some((tgid, self.sched.holder(tgid)?)))
            .collect();
        let mut streamed = false;
        for (tgid, holder) in ready {
            // A token shared by processes: the holder may be another process's thread,
            // whose records are in its own ring.
            if self.task_mut(holder).map(|t| t.tgid) != Some(tgid) {
                continue;
            }
            let Some(space) = self.spaces.get(&tgid) else {
                continue;
            };
            let (bytes, count) = space
                .take_records(false)
                .map_err(|e| failure(tgid, holder, e))?;
            streamed |= self.log_taken(tgid, holder as u32, bytes, count)?;
        }
        if streamed {
            self.sink.streamed()?;
        }
        Ok(())
    }

    /// At a traced syscall's exit: the site is rewritten if the call could have run
    /// in-process; a thread coming back into a rewritten site goes on in its stub (`regs`,
    /// the thread's registers now, follow it there).
    pub(crate) fn after_exit(
        &mut self,
        nr: u64,
        ran: bool,
        regs: &mut Regs,
    ) -> Result<(), RecordError> {
        let tgid = self.t.tgid;
        if ran && crate::tsc_free::changes_code(nr) {
            self.tsc.code_call_ran(tgid, nr, regs);
        }
        let Some(space) = self.spaces.get_mut(&tgid) else {
            return Ok(());
        };
        if ran && fastpath::bufferable(nr) && self.t.vfork_parent.is_none() {
            let pid = self.t.tracee.pid();
            let patched = match space.patch_site(&mut self.t.tracee, regs) {
                // The site's code could not be read (a thread whose process is going away):
                // it stays as it is, its calls traced.
                Err(fastpath::FastPathError::Tracee(tracee::TraceeError::Memory { .. })) => None,
                other => other.map_err(|e| failure(tgid, pid, e))?,
            };
            if let Some(p) = patched {
                self.push(EventKind::SitePatched(p))?;
            }
        }
        if let Some(rip) = self.spaces.get(&tgid).and_then(|s| s.translate(regs.rip)) {
            regs.rip = rip;
            self.t.tracee.set_regs(regs)?;
        }
        Ok(())
    }

    /// Whether the current thread's process has the runtime, recording in-process.
    pub(crate) fn runs_in_process(&self) -> bool {
        self.spaces.get(&self.t.tgid).is_some_and(|s| s.active())
    }

    /// Whether `rip` is in the runtime, a stub or the vDSO the runtime calls for a time
    /// call: no landmark may be placed there (replay runs other code in the runtime, and
    /// hands a time call's logged result back without the vDSO).
    pub(crate) fn in_runtime_code(&self, rip: u64) -> bool {
        self.spaces
            .get(&self.t.tgid)
            .is_some_and(|space| space.owns(rip))
            || self.tsc.in_vdso(self.t.tgid, rip)
    }

    /// Sends the thread's next call to the tracer while a signal waits for it, the
    /// scheduler wants it to yield or a vfork child shares the process's runtime, and lets
    /// it run in-process again otherwise.
    pub(crate) fn sync_traced_next(&mut self) -> Result<(), RecordError> {
        self.tsc_refresh()?;
        let tsc_free = self.tsc_flag();
        let outputs = self.output_flags();
        let echo_traced = self.outputs_from_several_processes();
        let Some(space) = self.spaces.get_mut(&self.t.tgid) else {
            return Ok(());
        };
        if !space.active() {
            return Ok(());
        }
        let sharing = self
            .vfork_children
            .get(&self.t.tgid)
            .is_some_and(|&n| n > 0);
        let want = !self.t.held.is_empty() || self.t.yield_wanted || sharing;
        let mut flags = space.flags()
            & !(FLAG_TRACED_NEXT
                | FLAG_MAY_BLOCK
                | FLAG_MAY_BLOCK_UNTIMED
                | FLAG_OUTPUTS_TRACED
                | FLAG_OUTPUT_GATE
                | FLAG_GATE_ASK
                | FLAG_ECHO_TRACED
                | FLAG_TSC_FREE);
        if want {
            flags |= FLAG_TRACED_NEXT;
        }
        flags |= outputs | tsc_free;
        if echo_traced {
            // What it prints may come out beside another process's: a write to ftrun's
            // stdout or stderr takes the output turn at its stop. And an output may
            // answer another process's input: it asks for the gate, and the tracer first
            // takes every process's records.
            flags |= FLAG_ECHO_TRACED;
            if outputs == FLAG_OUTPUT_GATE {
                flags |= FLAG_GATE_ASK;
            }
        }
        if !sharing {
            flags |= match self.sched.shares_token(self.t.tgid) {
                true => FLAG_MAY_BLOCK_UNTIMED,
                false => FLAG_MAY_BLOCK,
            };
        }
        let (tgid, pid) = (self.t.tgid, self.t.tracee.pid());
        match space.set_flags(&mut self.t.tracee, flags) {
            // A thread an exec is ending no longer has the address space it shared.
            Err(fastpath::FastPathError::Tracee(tracee::TraceeError::Memory {
                source, ..
            })) if source.raw_os_error() == Some(libc::EIO) => Ok(()),
            Err(e) => match failure(tgid, pid, e) {
                // Its end is its next stop.
                RecordError::Tracee(tracee::TraceeError::TraceeDied { .. }) => Ok(()),
                other => Err(other),
            },
            Ok(()) => Ok(()),
        }
    }

    /// A signal stopped the thread while it was blocked in a call the runtime made for it
    /// (only a process with one thread blocks in-process). The call is made again from its
    /// stub's traced `syscall`, where the tracer sends the signal again once the call is in
    /// the kernel: it then interrupts a traced call, with the result (EINTR, a restart) and
    /// the log the program would have without the fast path. Returns whether that is so.
    pub(crate) fn interrupt_blocked_call(
        &mut self,
        signo: i32,
        info: &RawSiginfo,
        regs: &Regs,
    ) -> Result<bool, RecordError> {
        if !self.move_blocked_call_to_stub(regs)? {
            return Ok(false);
        }
        self.t.reinterrupt = Some(HeldSignal { signo, info: *info });
        Ok(true)
    }

    /// A thread that holds its process's token and sleeps is blocked in a call the runtime
    /// made for it (a traced call would have handed the token on): another thread wants the
    /// token, so it is interrupted, to be moved to its stub's traced `syscall`
    /// (`move_blocked_call_to_stub`).
    pub(crate) fn nudge_blocked_holder(&mut self) -> Result<(), RecordError> {
        let Some(holder) = self.sched.holder(self.t.tgid) else {
            return Ok(());
        };
        if holder == self.t.tid as i32 {
            return Ok(());
        }
        let Some(t) = self.tasks.get_mut(holder) else {
            return Ok(());
        };
        if t.running_since.is_none() || t.interrupting || thread_state(holder) != Some('S') {
            return Ok(());
        }
        t.interrupting = true;
        // It may stop by itself meanwhile: the interrupt then comes later and is ignored.
        let _ = t.tracee.interrupt();
        Ok(())
    }

    /// If the thread (its registers `regs`) is inside the runtime's untraced `syscall`,
    /// cut short while making the program's call, puts it before the stub's traced
    /// `syscall` for that call (`fastpath::unwind`). Returns whether it did. At an interrupt
    /// stop this is how a thread blocked in-process while others wait for the token makes
    /// its call again from the stub, in the kernel without the token.
    pub(crate) fn move_blocked_call_to_stub(&mut self, regs: &Regs) -> Result<bool, RecordError> {
        if !self.runs_in_process() {
            return Ok(false);
        }
        let (tgid, pid) = (self.t.tgid, self.t.tracee.pid());
        let at_stub = fastpath::unwind::blocked_call_regs(&mut self.t.tracee, regs)
            .map_err(|e| failure(tgid, pid, e))?;
        match at_stub {
            Some(at_stub) => {
                self.t.tracee.set_regs(&at_stub)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The call a signal interrupted in-process is in the kernel again: the signal is sent
    /// again (or held, if the call does not go into the kernel this time).
    pub(crate) fn resend_interrupting_signal(&mut self, enters: bool) -> Result<(), RecordError> {
        let Some(again) = self.t.reinterrupt.take() else {
            return Ok(());
        };
        if !enters {
            self.t.held.push_back(again);
            return Ok(());
        }
        self.t.tracee.send_signal(again.signo)?;
        self.t.reinterrupt = Some(again);
        Ok(())
    }

    /// A forked child inherits its parent's rewritten code; its runtime is off.
    pub(crate) fn fork_space(&mut self, parent: i32, child: i32) {
        if let Some(space) = self.spaces.get(&parent) {
            let forked = space.forked();
            self.spaces.insert(child, forked);
            self.tsc.forked(parent, child);
        }
    }
}

//! The recording loop: one traced process, every stop decided and logged in order.

use std::collections::HashSet;

use schema::{
    Echo, Event, EventKind, ExitStatus, Footer, SignalEvent, SignalPlacement, SyscallEvent,
    SyscallMode,
};
use syscalls::futex::{locks_pi, never_blocks};
use syscalls::{
    leaves_process, syscall_args, syscall_name, Rule, ERESTARTNOINTR, ERESTART_RESTARTBLOCK,
};
use tracee::{regs_hash, PtraceEvent, RawSiginfo, Regs, Resume, Stop, Tracee, TraceeError};
use xxhash_rust::xxh3::xxh3_64;

use crate::effects::{self, EntrySnapshot};
use crate::files::FileStore;
use crate::output_order::fd_identity;
use crate::ring_records::{EchoTargets, RingRecords};
use crate::sched::Scheduler;
use crate::sink::EventSink;
use crate::tasks::{Task, Tasks};
use crate::timeslice::Ticker;
use crate::{futex, RecordError};

/// `MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE` (`MAP_SHARED_VALIDATE` is shared too).
const MAP_TYPE: i32 = 0x01;

/// How often the scheduler looks for a thread to preempt and takes what runtimes published
/// (a ring of 1 MiB holds about 10 k calls: a program making a call every 200 ns fills it
/// in 2 ms; past that its calls wait in traced stops until the ring has room).
pub(crate) const TICK: std::time::Duration = std::time::Duration::from_millis(2);

/// Stops after which the thread goes back to its own code (and so needs its token):
/// every stop but a syscall entry, which it reached running, and the clone/fork events
/// inside a syscall.
fn needs_token(stop: &Stop) -> bool {
    !matches!(
        stop,
        Stop::SyscallEntry { .. }
            | Stop::Exited { .. }
            | Stop::Killed { .. }
            | Stop::Event {
                event: PtraceEvent::Fork | PtraceEvent::Vfork | PtraceEvent::Clone,
                ..
            }
    )
}

pub(crate) struct Pending {
    nr: u64,
    pub(crate) args: [u64; 6],
    entry_regs: Regs,
    pub(crate) rule: Rule,
    pub(crate) snap: EntrySnapshot,
    /// The syscall was not run: the tracee gets this result.
    pub(crate) instead: Option<i64>,
    /// For `restart_syscall`: the call it goes on with (which a signal may interrupt again).
    restart_of: Option<u64>,
}

pub(crate) struct HeldSignal {
    pub signo: i32,
    pub info: RawSiginfo,
}

/// Watching a thread that got an asynchronous signal while computing, to find a point in
/// a loop whose whole state recurs.
pub(crate) struct SpinWatch {
    pub rip: u64,
    pub last_regs: u64,
    pub last_mem: Option<u64>,
    pub hits: u32,
}

/// Records a process tree into an event sink.
pub struct Recorder<'a> {
    /// The thread whose stop is being handled; the others wait in `tasks`.
    pub(crate) t: Task,
    pub(crate) tasks: Tasks,
    pub(crate) sched: Scheduler,
    /// Ticks while some process has several threads, so that a spinning one is preempted.
    pub(crate) ticker: Option<Ticker>,
    /// When the rings' records were last taken while the programs ran (`stream_due`).
    pub(crate) streamed_at: std::time::Instant,
    pub(crate) sink: &'a mut dyn EventSink,
    pub(crate) files: FileStore,
    pub(crate) seq: u64,
    warned: HashSet<String>,
    /// ftrun's own stdout and stderr.
    pub(crate) echo: EchoTargets,
    /// Map the in-process runtime after every exec (off: every syscall is traced).
    pub(crate) fast_path: bool,
    /// The fast path of each process (by thread group id) that has one.
    pub(crate) spaces: std::collections::HashMap<i32, fastpath::Space>,
    /// By process: the thread a signal was last logged as delivered to, and the signal.
    pub(crate) last_signal: std::collections::HashMap<i32, (u32, u32)>,
    /// vfork children alive, by the parent's process: they share its runtime.
    pub(crate) vfork_children: std::collections::HashMap<i32, u32>,
    /// Processes (by thread group id) with `MAP_SHARED` mappings: the children they fork
    /// share their token.
    pub(crate) shared_memory: HashSet<i32>,
    /// Processes (by thread group id) that installed a seccomp filter of their own, or
    /// inherited one from their parent: `PR_GET_SECCOMP` says 2 to them.
    pub(crate) own_seccomp: HashSet<i32>,
    /// Files (device, inode) mapped `MAP_SHARED` so far: writes to them are logged with
    /// their bytes, so that replay's mappings of them see the writes.
    pub(crate) shared_files: HashSet<(u64, u64)>,
    /// The thread whose write to ftrun's stdout or stderr is in the kernel, and the
    /// threads waiting at the entry of one (`output_order`).
    pub(crate) output_turn: Option<u32>,
    pub(crate) output_waiters: std::collections::VecDeque<u32>,
    /// The daemons left after the root process ended were killed.
    pub(crate) daemons_ended: bool,
    /// Fault tolerance with the fast path: the runtimes' output gates.
    pub(crate) gates: Option<crate::output_gate::OutputGates>,
    /// Where rdtsc may run untrapped (`tsc_free`).
    pub(crate) tsc: crate::tsc_free::TscState,
}

impl<'a> Recorder<'a> {
    pub fn new(tracee: Tracee, sink: &'a mut dyn EventSink, trace_dir: &std::path::Path) -> Self {
        let tasks = Tasks::new(tracee.pid());
        let mut sched = Scheduler::default();
        sched.add_thread(tracee.pid(), tracee.pid());
        Recorder {
            t: Task::new(tracee, None),
            tasks,
            sched,
            ticker: None,
            streamed_at: std::time::Instant::now(),
            sink,
            files: FileStore::new(trace_dir),
            shared_files: HashSet::new(),
            output_turn: None,
            output_waiters: Default::default(),
            daemons_ended: false,
            seq: 0,
            warned: HashSet::new(),
            echo: EchoTargets {
                stdout: fd_identity("/proc/self/fd/1"),
                stderr: fd_identity("/proc/self/fd/2"),
            },
            fast_path: true,
            spaces: std::collections::HashMap::new(),
            last_signal: std::collections::HashMap::new(),
            vfork_children: std::collections::HashMap::new(),
            shared_memory: HashSet::new(),
            own_seccomp: HashSet::new(),
            gates: None,
            tsc: crate::tsc_free::TscState::new(true),
        }
    }

    /// Keeps copies of mapped and exec'd files in the shared `store` (hard links in the
    /// trace) instead of copying them into the trace.
    pub fn with_store(mut self, store: crate::store::Store) -> Self {
        self.files = self.files.with_store(store);
        self
    }

    /// Records with every syscall traced (no in-process runtime).
    pub fn without_fast_path(mut self) -> Self {
        self.fast_path = false;
        self.tsc = crate::tsc_free::TscState::new(false);
        self
    }

    /// Logs the records of a ring, as that many events (packed by the sink).
    pub(crate) fn push_ring(&mut self, mut records: RingRecords) -> Result<(), RecordError> {
        records.first_seq = self.seq;
        self.seq += u64::from(records.count);
        let tgid = records.tgid;
        self.sink.push_ring(records)?;
        self.note_shipped(tgid);
        Ok(())
    }

    pub(crate) fn echo_targets(&self) -> EchoTargets {
        self.echo
    }

    pub(crate) fn push(&mut self, kind: EventKind) -> Result<(), RecordError> {
        if let EventKind::Signal(s) = &kind {
            self.last_signal.insert(self.t.tgid, (self.t.tid, s.signo));
        }
        let event = Event {
            seq: self.seq,
            tid: self.t.tid,
            kind,
        };
        self.seq += 1;
        self.sink.push(event)
    }

    /// Logs an event as thread `tid`'s (of the current thread's process).
    pub(crate) fn push_as(&mut self, tid: u32, kind: EventKind) -> Result<(), RecordError> {
        let event = Event {
            seq: self.seq,
            tid,
            kind,
        };
        self.seq += 1;
        self.sink.push(event)
    }

    pub(crate) fn warn_once(&mut self, msg: String) {
        if self.warned.insert(msg.clone()) {
            eprintln!("ftrun: {msg}");
        }
    }

    /// Runs the tracee to its end, logging everything; returns how it ended.
    pub fn run(mut self) -> Result<ExitStatus, RecordError> {
        self.prepare_gates()?;
        // The tracee is on its way to its first stop (the exec).
        let first = self.t.tracee.wait()?;
        if let Err(e) = self.record_from(first) {
            self.kill_all();
            return Err(e);
        }
        let exit = self.tasks.root_exit().unwrap_or(ExitStatus::Exited(0));
        let footer = Footer {
            finished_cleanly: true,
            event_count: self.seq,
            exit: Some(exit),
        };
        self.sink.finish(footer)?;
        Ok(exit)
    }

    /// Every turn handles one stop of one thread, hands free tokens to waiting threads,
    /// and waits for the next stop of any.
    fn record_from(&mut self, first: Stop) -> Result<(), RecordError> {
        let root_session = crate::tasks::session_of(self.t.tgid);
        let mut stop = first;
        loop {
            self.step(stop)?;
            self.dispatch()?;
            if self.tasks.all_ended(&self.t) {
                return Ok(());
            }
            if let Some(session) = root_session {
                self.end_daemons(session);
            }
            stop = self.next_stop()?;
        }
    }

    /// Handles a stop of the current thread, unless it must first wait for its token.
    pub(crate) fn step(&mut self, stop: Stop) -> Result<(), RecordError> {
        if debug_stops() {
            let rip = self.t.tracee.regs().map(|r| r.rip).unwrap_or(0);
            eprintln!("ftrun: [record {}] {stop:?} rip={rip:#x}", self.t.tid);
        }
        if self.dying_with_process(&stop) {
            return Ok(());
        }
        if self.t.unannounced {
            // Nothing it does may be logged before the clone that made it.
            self.t.parked = Some(stop);
            return Ok(());
        }
        if self.waits_for_output_turn(&stop)? {
            self.t.parked = Some(stop);
            return Ok(());
        }
        if needs_token(&stop) && !self.sched.acquire(self.t.tgid, self.t.tid as i32) {
            self.t.parked = Some(stop);
            return self.nudge_blocked_holder();
        }
        self.handle(stop)
    }

    /// Hands each free token to the thread that has waited longest for it.
    pub(crate) fn dispatch(&mut self) -> Result<(), RecordError> {
        while let Some(tid) = self.sched.next_grant() {
            self.tasks.switch_to(&mut self.t, tid);
            match self.t.parked.take() {
                Some(stop) => self.handle(stop)?,
                None => self.sched.release(self.t.tgid, tid),
            }
        }
        self.dispatch_output_turn()
    }

    /// A stop of a thread whose process is on its way out (another thread entered
    /// exit_group, whose end is logged already): the thread is left stopped, nothing more
    /// of it is logged, and the kernel's kill takes it from there, as at replay, which ends
    /// every thread at the exit_group.
    fn dying_with_process(&self, stop: &Stop) -> bool {
        !stop.is_gone() && !self.t.exit_logged && self.sched.exiting(self.t.tgid)
    }

    fn handle(&mut self, stop: Stop) -> Result<(), RecordError> {
        match self.handle_stop(stop) {
            // Killed while its stop was being handled (a SIGKILL from another process, or
            // its process's end): the kernel reports its end next, which is logged then.
            Err(RecordError::Tracee(TraceeError::TraceeDied { pid }))
                if pid == self.t.tid as i32 || pid == self.t.tgid =>
            {
                Ok(())
            }
            other => other,
        }
    }

    fn handle_stop(&mut self, stop: Stop) -> Result<(), RecordError> {
        if self.dying_with_process(&stop) {
            return Ok(());
        }
        if !stop.is_gone() {
            self.give_child_ring()?;
        }
        self.drain_buffered()?;
        self.t.tsc_stop = Some(stop);
        let outcome = self.on_stop(stop);
        if outcome.is_ok() && !stop.is_gone() {
            self.sync_traced_next()?;
        }
        match outcome {
            Ok(Some(exit)) => self.on_thread_end(exit)?,
            Ok(None) if stop.is_group_stop() => {
                // Stopped by a stop signal: the process stays stopped until a SIGCONT, as
                // without a tracer, and its token passes on meanwhile.
                match self.t.tracee.listen() {
                    Ok(()) | Err(TraceeError::TraceeDied { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
                self.sched.release(self.t.tgid, self.t.tid as i32);
            }
            Ok(None) if self.t.held_for_vfork => {}
            Ok(None) if std::mem::take(&mut self.t.preempted) => {}
            Ok(None) => {
                self.resume_current()?;
                if std::mem::take(&mut self.t.entered_kernel) {
                    if std::mem::take(&mut self.t.wait_until_blocked) {
                        // The kernel marks the lock word as waited for before the thread
                        // sleeps; nobody may run before that, as in replay.
                        futex::wait_until_asleep(self.t.tracee.pid());
                    }
                    if std::mem::take(&mut self.t.wait_until_gone) {
                        // Nobody may run before the kernel cleared the thread's tid word,
                        // as replay runs the exit to its end at this point.
                        futex::wait_until_gone(self.t.tracee.pid());
                    }
                    self.sched.release(self.t.tgid, self.t.tid as i32);
                } else {
                    self.t.running_since = Some(std::time::Instant::now());
                }
            }
            // The tracee was killed under us (SIGKILL): its exit status comes next.
            Err(RecordError::Tracee(TraceeError::TraceeDied { .. })) => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    pub(crate) fn resume_current(&mut self) -> Result<(), RecordError> {
        self.tsc_before_resume()?;
        self.set_gate_floor();
        let deliver = std::mem::take(&mut self.t.deliver);
        match self.t.tracee.resume(Resume::Syscall, deliver) {
            Ok(()) | Err(TraceeError::TraceeDied { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn task_mut(&mut self, tid: i32) -> Option<&mut Task> {
        if self.t.tid as i32 == tid {
            return Some(&mut self.t);
        }
        self.tasks.get_mut(tid)
    }

    pub(crate) fn kill_all(&mut self) {
        self.tasks.kill_all(&mut self.t);
    }

    fn on_stop(&mut self, stop: Stop) -> Result<Option<ExitStatus>, RecordError> {
        match stop {
            Stop::SyscallEntry { nr } => self.on_entry(nr)?,
            Stop::SyscallExit { ret } => self.on_exit(ret)?,
            Stop::Signal { signo } => self.on_signal(signo)?,
            Stop::Event {
                event: PtraceEvent::Exec,
                ..
            } => self.on_exec()?,
            Stop::Event {
                event: event @ (PtraceEvent::Fork | PtraceEvent::Vfork | PtraceEvent::Clone),
                ..
            } => self.on_new_process(event == PtraceEvent::Vfork)?,
            Stop::Event {
                event: PtraceEvent::Stop,
                ..
            } if stop.is_group_stop() => {}
            Stop::Event {
                event: PtraceEvent::Stop,
                ..
            } => self.on_interrupted()?,
            Stop::Event { .. } => {}
            Stop::Exited { code } => return Ok(Some(ExitStatus::Exited(code))),
            Stop::Killed { signo, core_dumped } => {
                return Ok(Some(ExitStatus::Killed { signo, core_dumped }))
            }
        }
        Ok(None)
    }

    /// Makes the kernel skip the syscall the tracee is entering.
    fn skip_syscall(&mut self, regs: &mut Regs) -> Result<(), RecordError> {
        regs.orig_rax = u64::MAX;
        self.t.tracee.set_regs(regs)?;
        Ok(())
    }

    fn on_entry(&mut self, nr: u64) -> Result<(), RecordError> {
        self.t.exit_regs = None;
        self.t.yield_wanted = false;
        self.end_sched_watch()?;
        let mut regs = self.t.tracee.regs()?;
        let deliverable = match self.t.held.front() {
            Some(h) => !crate::call_facts::signal_blocked(self.t.tracee.pid(), h.signo),
            None => false,
        };
        if deliverable {
            let held = self.t.held.pop_front().expect("checked");
            self.held_signal_delivered();
            // A signal that arrived while the tracee computed is delivered now, before this
            // syscall, which then restarts (see `on_exit`).
            self.stop_spin_watch()?;
            self.push(EventKind::Signal(SignalEvent {
                signo: held.signo as u32,
                siginfo: held.info.to_vec(),
                placement: SignalPlacement::BeforeSyscall,
            }))?;
            self.skip_syscall(&mut regs)?;
            self.t.pending = Some(Pending {
                nr,
                args: syscall_args(&regs),
                entry_regs: regs,
                rule: Rule::Pretend(ERESTARTNOINTR),
                snap: EntrySnapshot::default(),
                instead: Some(ERESTARTNOINTR),
                restart_of: None,
            });
            self.t.injecting = Some(held);
            return Ok(());
        }
        let args = syscall_args(&regs);
        // restart_syscall goes on with the call a signal interrupted, on the same arguments.
        // Any other syscall in between (a handler's rt_sigreturn) ends the restart, as in the
        // kernel; restart_syscall then gets its rule's EINTR.
        let restart_of = self
            .t
            .restart_nr
            .take()
            .filter(|_| nr == libc::SYS_restart_syscall as u64);
        let execs = nr == libc::SYS_execve as u64 || nr == libc::SYS_execveat as u64;
        let threaded = self.sched.threaded(self.t.tgid);
        let rule = self.rule_at_entry(nr, &args, restart_of);
        if execs && threaded && !matches!(rule, Rule::Refuse(_)) {
            // The exec ends every other thread; replay ends them at the exec too.
            self.tasks.end_silently(self.t.tgid);
        }
        let mut instead = None;
        match rule {
            Rule::Refuse(_) if syscalls::never_a_syscall(nr) => {
                instead = Some(-(libc::ENOSYS as i64));
            }
            Rule::Refuse(why) => {
                self.warn_once(format!(
                    "refused syscall {} ({nr}): {why}; the program was told ENOSYS",
                    syscall_name(nr)
                ));
                instead = Some(-(libc::ENOSYS as i64));
            }
            Rule::Pretend(result) => instead = Some(result),
            _ if leaves_process(nr, rule) => self.sink.before_output()?,
            _ => {}
        }
        if instead.is_none() {
            if let Some(out_fd) = crate::call_facts::kernel_copy_destination(nr, &args) {
                // Bytes copied inside the kernel never pass through the tracee's memory, so
                // replay could not show them: the program is told to copy by hand instead
                // (EINVAL makes cat, cp and friends fall back to read and write).
                if self.echo_for(out_fd) != Echo::None {
                    instead = Some(-(libc::EINVAL as i64));
                }
            }
        }
        let entry_regs = regs;
        if instead.is_some() {
            self.skip_syscall(&mut regs)?;
        }
        let snap = effects::snapshot_entry(&mut self.t.tracee, rule, &args)?;
        if instead.is_none() {
            // A write to ftrun's stdout or stderr holds the output turn until its exit, and
            // a thread that takes turns with others keeps its token through it.
            let ours = self.writes_to_our_output(rule, &args);
            if ours {
                self.output_turn = Some(self.t.tid);
            }
            let keeps_token = ours && self.sched.shares_token(self.t.tgid);
            self.enter_kernel(nr, &args, regs.rip, keeps_token)?;
        }
        self.resend_interrupting_signal(instead.is_none())?;
        self.t.pending = Some(Pending {
            nr,
            args,
            entry_regs,
            rule,
            snap,
            instead,
            restart_of,
        });
        Ok(())
    }

    /// The syscall goes into the kernel, where it may block: in a process with several
    /// threads the token passes on, and the log says where this thread stopped running.
    fn enter_kernel(
        &mut self,
        nr: u64,
        args: &[u64; 6],
        rip: u64,
        keeps_token: bool,
    ) -> Result<(), RecordError> {
        self.t.slice_backoff = 0;
        if keeps_token
            || never_blocks(nr, args)
            || syscalls::changes_address_space(nr)
            || (self.runs_in_process() && syscalls::returns_at_once(nr, args))
        {
            // A wake or a PI unlock changes futex words and wakes others inside the call,
            // which returns at once: the thread keeps the token, so that nobody runs
            // before the call is done. An mmap or munmap must not run beside another
            // either: the kernel would place them in an order the log does not show. With
            // the fast path, a query that never waits (a clock, an id, its own signal mask)
            // keeps it too, as the same call does in-process once its site is rewritten:
            // its thread would otherwise wait a whole slice for the token back at its exit
            // while another computes. (Without, every such call stays a hand-over point.)
            return Ok(());
        }
        self.t.entered_kernel = true;
        self.t.wait_until_blocked = locks_pi(nr, args);
        if !self.sched.shares_token(self.t.tgid) {
            return Ok(());
        }
        let code = args[0] as i32 & 0xff;
        let last_thread = !self.sched.threaded(self.t.tgid);
        if nr == libc::SYS_exit_group as u64 || (nr == libc::SYS_exit as u64 && last_thread) {
            // Every thread ends here; replay ends them all at this point.
            self.sched.set_exiting(self.t.tgid);
            self.t.exit_logged = true;
            return self.push(EventKind::Exit(ExitStatus::Exited(code)));
        }
        if nr == libc::SYS_exit as u64 {
            // Logged now: the kernel clears the thread's tid word and wakes its joiner
            // before the tracer hears of the end, and replay must do the same at this point.
            self.t.exit_logged = true;
            self.t.wait_until_gone = true;
            return self.push(EventKind::Exit(ExitStatus::Exited(code)));
        }
        self.push(EventKind::SyscallEntry { number: nr, rip })
    }

    fn on_exit(&mut self, ret: i64) -> Result<(), RecordError> {
        self.end_output_turn();
        let Some(p) = self.t.pending.take() else {
            // The exit of an exec: nothing to log; the new image gets its runtime.
            if std::mem::take(&mut self.t.exec_exit_pending) {
                self.install_runtime()?;
            }
            return Ok(());
        };
        let mut regs = self.t.tracee.regs()?;
        if let Some(held) = &self.t.injecting {
            // Deliver the held signal now; -ERESTARTNOINTR makes the syscall run again after it.
            regs.rax = ERESTARTNOINTR as u64;
            regs.orig_rax = p.nr;
            self.t.tracee.set_regs(&regs)?;
            self.t.tracee.send_signal(held.signo)?;
            return Ok(());
        }
        let ret = match p.instead {
            Some(result) => {
                regs.rax = result as u64;
                self.t.tracee.set_regs(&regs)?;
                result
            }
            None => ret,
        };
        if ret == ERESTART_RESTARTBLOCK {
            // A restart_syscall interrupted in turn still goes on with the first call.
            self.t.restart_nr = Some(p.restart_of.unwrap_or(p.nr));
        }
        let (nr, ran) = (p.nr, p.instead.is_none());
        if ran && ret == 0 && crate::call_facts::is_get_tsc(nr, &p.args) {
            // ftrun made rdtsc fault for its own sake; the program sees the mode it would
            // have without ftrun (its own PR_SET_TSC is pretended too).
            let enabled = libc::PR_TSC_ENABLE.to_ne_bytes();
            self.t.tracee.write_mem(p.args[1], &enabled)?;
        }
        if ran && ret == 0 && crate::call_facts::installs_seccomp_filter(nr, &p.args) {
            self.own_seccomp.insert(self.t.tgid);
        }
        self.log_syscall(p, ret)?;
        self.after_exit(nr, ran, &mut regs)?;
        self.t.exit_regs = Some(regs_hash(&regs));
        Ok(())
    }

    /// Logs a finished syscall with everything replay needs to reproduce or check it.
    pub(crate) fn log_syscall(&mut self, p: Pending, ret: i64) -> Result<(), RecordError> {
        let writes = effects::capture_writes(&mut self.t.tracee, p.rule, &p.args, ret, &p.snap)?;
        let (mut output_hash, mut echo, mut mapping) = (0, Echo::None, None);
        let mode = match p.rule {
            Rule::Refuse(_) => SyscallMode::Refused,
            Rule::Execute { .. } if p.nr == libc::SYS_mremap as u64 && ret >= 0 => {
                mapping = self.mremap_copy(&p.args, ret as u64)?;
                SyscallMode::Executed
            }
            Rule::Execute { .. } | Rule::ExecuteUntilSignal => SyscallMode::Executed,
            Rule::Mmap if p.nr == libc::SYS_shmat as u64 => {
                if ret >= 0 {
                    self.shared_memory.insert(self.t.tgid);
                    mapping = crate::sysv_shm::keep_attached(
                        &mut self.t.tracee,
                        &mut self.files,
                        ret as u64,
                    )?;
                }
                SyscallMode::Executed
            }
            Rule::Mmap => {
                let shared = p.args[3] as i32 & MAP_TYPE == libc::MAP_SHARED;
                if ret >= 0 && shared {
                    self.shared_memory.insert(self.t.tgid);
                }
                mapping = self.preserve_mapping(&p.args, ret)?;
                if shared {
                    self.note_shared_file(&p.args, mapping.as_ref());
                }
                SyscallMode::Executed
            }
            Rule::Output { fd, sent } => {
                if ret > 0 {
                    let bytes = syscalls::sent::sent_bytes(
                        &mut self.t.tracee,
                        sent,
                        &p.args,
                        ret as usize,
                    )?;
                    output_hash = xxh3_64(&bytes);
                    echo = self.echo_for(p.args[fd]);
                    mapping = self.write_through(p.nr, &p.args, ret, &bytes)?;
                }
                SyscallMode::Emulated
            }
            _ => SyscallMode::Emulated,
        };
        self.push(EventKind::Syscall(SyscallEvent {
            number: p.nr,
            args: p.args,
            result: ret,
            mode,
            writes: writes.into(),
            rip: p.entry_regs.rip,
            regs_hash: regs_hash(&p.entry_regs),
            output_hash,
            echo,
            mapping: mapping.map(Box::new),
        }))
    }

    pub(crate) fn drain_file_warnings(&mut self) {
        for w in self.files.take_warnings() {
            self.warn_once(w);
        }
    }

    /// A fork, vfork or clone made a process: the call is logged now, before the new
    /// process runs (replay must create it before replaying anything it does).
    fn on_new_process(&mut self, vfork: bool) -> Result<(), RecordError> {
        let child = self.t.tracee.event_msg()? as i32;
        let mut thread = false;
        // clone(CLONE_VFORK) without CLONE_VM holds the parent like vfork, but the child
        // has its own copy of the memory, as after fork.
        let mut shares_memory = vfork;
        if let Some(p) = self.t.pending.take() {
            let clone_flags = (p.nr == libc::SYS_clone as u64).then_some(p.args[0] as i32);
            thread = clone_flags.is_some_and(|f| f & libc::CLONE_THREAD != 0);
            shares_memory &= clone_flags.is_none_or(|f| f & libc::CLONE_VM != 0);
            self.log_syscall(p, child as i64)?;
        }
        self.t.held_for_vfork = vfork;
        if shares_memory {
            // The child runs in its parent's memory, runtime and ring included, while the
            // parent's other threads may run on: every call of the process is traced until
            // the child execs or ends, and the child takes turns with those threads, so that
            // never two of them run in the runtime (its stack is one) or write the memory
            // they share at once.
            *self.vfork_children.entry(self.t.tgid).or_default() += 1;
            self.sched.share_token(child, self.t.tgid);
            self.sync_traced_next()?;
        } else if !thread {
            self.fork_space(self.t.tgid, child);
        }
        let tgid = if thread { self.t.tgid } else { child };
        if self.own_seccomp.contains(&self.t.tgid) {
            // Filters are inherited.
            self.own_seccomp.insert(tgid);
        }
        if !thread && !shares_memory && self.shared_memory.contains(&self.t.tgid) {
            // The child has the parent's shared mappings: they take turns, and the log
            // orders what each does to the memory they share.
            self.shared_memory.insert(child);
            self.sched.share_token(child, self.t.tgid);
        }
        self.sched.add_thread(tgid, child);
        let stopped_first = self
            .tasks
            .adopt(child, tgid, vfork.then_some(self.t.tid as i32));
        // Trapping rdtsc or not is inherited.
        let tsc_free = self.t.tsc_free;
        if let Some(t) = self.tasks.get_mut(child) {
            t.tsc_free = tsc_free;
        }
        if stopped_first {
            // Its first stop is parked; it runs once it holds its process's token.
            self.sched.enqueue(tgid, child);
        }
        Ok(())
    }

    /// A vfork child that execs or ends lets its parent go on.
    pub(crate) fn release_vfork_parent(&mut self) -> Result<(), RecordError> {
        if let Some(parent) = self.t.vfork_parent.take() {
            if let Some(tgid) = self.task_mut(parent).map(|t| t.tgid) {
                if let Some(n) = self.vfork_children.get_mut(&tgid) {
                    *n = n.saturating_sub(1);
                }
            }
            self.tasks.release_vfork_parent(parent)?;
        }
        Ok(())
    }
}

/// `FTRUN_DEBUG_STOPS=1` prints every ptrace stop (for debugging ftrun itself).
pub(crate) fn debug_stops() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FTRUN_DEBUG_STOPS").is_some())
}

//! The replay loop: one traced process driven by the event stream.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use schema::{
    Event, EventKind, ExitStatus, Header, SignalEvent, SignalPlacement, SyscallEvent, SyscallMode,
};
use syscalls::{is_restart_code, rule_for, syscall_args, syscall_name, Rule, ERESTARTNOINTR};
use tracee::{regs_hash, PtraceEvent, Regs, Resume, SpawnSpec, Stop, Tracee, TraceeError};

use crate::fdtable::FdTable;
use crate::golive::LiveHandoff;
use crate::pi::PiLocks;
use crate::robust::RobustLists;
use crate::source::EventSource;
use crate::sysv_shm;
use crate::tasks::{Stash, Task, Tasks};
use crate::{mem, process, ReplayError};
const NR_RESTART_SYSCALL: u64 = libc::SYS_restart_syscall as u64;

/// How to replay.
pub struct ReplayOptions {
    /// The trace directory (for the `files/` kept while recording).
    pub trace_dir: PathBuf,
    /// Write the program's stdout/stderr output again (off for a follower).
    pub echo_output: bool,
}

pub(crate) enum Pending {
    /// Skipped by the kernel; the recorded result and memory effects are written back.
    Skip(SyscallEvent),
    /// Run again; its result is checked (or replaced, where it is an id).
    Run(SyscallEvent),
    /// Skipped so that a signal can be delivered before it; it restarts afterwards.
    Inject { nr: u64, signal: SignalEvent },
}

/// Replays a process tree.
pub struct Replayer<'a> {
    /// The thread being driven; the others wait in `tasks` for their turn.
    pub(crate) t: Task,
    pub(crate) tasks: Tasks,
    pub(crate) stash: Stash,
    pub(crate) pi: PiLocks,
    pub(crate) robust: RobustLists,
    pub(crate) events: &'a mut dyn EventSource,
    /// Events read but not yet replayed, the head of the log first.
    pub(crate) ahead: std::collections::VecDeque<Event>,
    pub(crate) opts: ReplayOptions,
    pub(crate) replayed: u64,
    /// The fast path of each process (by recorded thread group id) that has one.
    pub(crate) spaces: std::collections::HashMap<u32, fastpath::Space>,
    /// A debugger's hook at each resume and stop (see `debug`).
    pub(crate) hook: Option<&'a mut dyn crate::debug::DebugHook>,
    /// The files behind shared file mappings.
    pub(crate) shared_files: mem::SharedFiles,
    /// The copies of exec'd files the trace kept, for images whose files have changed.
    pub(crate) kept: crate::kept::Kept,
    /// Built from a checkpoint: the run goes on with the current thread's turn.
    pub(crate) restored: bool,
    /// The ring of the current thread holds what a load at this turn would put there (a
    /// checkpoint's copy starts with an empty ring and loads the same calls).
    pub(crate) ring_loaded_fresh: bool,
    /// At the last load of a ring: the events replayed, and the calls loaded.
    pub(crate) ring_load_mark: Option<(u64, usize)>,
    /// What the replay cost (`FTRUN_REPLAY_STATS`).
    pub(crate) stats: crate::stats::ReplayStats,
    /// Most in-process calls put into a ring at once (a debugger asks for fewer, so that a
    /// thread living on in-process calls still stops now and then).
    pub(crate) ring_batch: usize,
    /// A thread set an alternate signal stack (which a checkpoint's re-created threads
    /// would not have).
    pub(crate) alt_stack_set: bool,
}

enum Turn {
    Stopped(Stop),
    /// The replay is over: the program ended (`Some`), or the log did first (`None`).
    Done(Option<ExitStatus>),
}

/// How a replay ended.
pub enum ReplayEnd {
    /// The program ended as it did when recorded.
    Exited(ExitStatus),
    /// The log ran out with the program still running (a live log whose primary is gone,
    /// or a recording that was cut short); the process is stopped right after the last event.
    LogEnded(LiveHandoff),
}

/// Starts the recorded program under ptrace exactly as it was started when recording.
pub fn spawn_for_replay(header: &Header) -> Result<Tracee, ReplayError> {
    use std::os::unix::ffi::OsStrExt;
    spawn_for_replay_from(
        header,
        PathBuf::from(std::ffi::OsStr::from_bytes(&header.exe)),
    )
}

/// Like [`spawn_for_replay`], exec'ing `path` (see `Kept::spawn_path`).
pub fn spawn_for_replay_from(header: &Header, path: PathBuf) -> Result<Tracee, ReplayError> {
    use std::os::unix::ffi::OsStrExt;
    let spec = SpawnSpec {
        path,
        argv: header.argv.clone(),
        env: header.env.clone(),
        cwd: Some(PathBuf::from(std::ffi::OsStr::from_bytes(&header.cwd))).filter(|p| p.is_dir()),
        rlimits: header
            .rlimits
            .iter()
            .map(|r| (r.resource, r.soft, r.hard))
            .collect(),
        trap_rdtsc: true,
        // Ignored and blocked signals and the umask as the recording's parent handed them
        // down, not as this replay's parent did.
        inherited: header
            .inherited
            .map(|i| tracee::InheritedState {
                ignored: i.ignored_signals,
                blocked: i.blocked_signals,
                umask: Some(i.umask),
            })
            .unwrap_or_default(),
    };
    Ok(tracee::spawn_traced(&spec)?)
}

impl<'a> Replayer<'a> {
    pub fn new(tracee: Tracee, events: &'a mut dyn EventSource, opts: ReplayOptions) -> Self {
        let root = tracee.pid() as u32;
        let fds = FdTable::new(std::env::current_dir().unwrap_or_default());
        Replayer {
            t: Task::new(tracee, root, root, Rc::new(RefCell::new(fds))),
            tasks: Tasks::new(root),
            stash: Stash::default(),
            pi: PiLocks::default(),
            robust: RobustLists::default(),
            events,
            ahead: std::collections::VecDeque::new(),
            kept: crate::kept::Kept::new(&opts.trace_dir),
            opts,
            replayed: 0,
            spaces: std::collections::HashMap::new(),
            hook: None,
            shared_files: Default::default(),
            restored: false,
            ring_loaded_fresh: true,
            ring_load_mark: None,
            ring_batch: crate::inproc::RING_BATCH,
            stats: Default::default(),
            alt_stack_set: false,
        }
    }

    /// Uses `kept`, which started the first process (see `Kept::spawn_path`).
    pub fn use_kept(&mut self, kept: crate::kept::Kept) {
        self.kept = kept;
    }

    pub(crate) fn peek(&mut self) -> Result<Option<&Event>, ReplayError> {
        if self.ahead.is_empty() {
            if let Some(ev) = self.events.next_event()? {
                self.ahead.push_back(ev);
            }
        }
        Ok(self.ahead.front())
    }

    /// The current thread's next event, looking past other threads' events (at most
    /// `LOOKAHEAD` of them).
    pub(crate) fn peek_own(&mut self) -> Result<Option<&Event>, ReplayError> {
        const LOOKAHEAD: usize = 4096;
        let me = self.t.tid;
        let mut i = 0;
        while i < LOOKAHEAD {
            if i == self.ahead.len() {
                match self.events.next_event()? {
                    Some(ev) => self.ahead.push_back(ev),
                    None => return Ok(None),
                }
            }
            if self.ahead[i].tid == me {
                return Ok(self.ahead.get(i));
            }
            i += 1;
        }
        Ok(None)
    }

    pub(crate) fn take(&mut self) -> Result<Event, ReplayError> {
        self.peek()?;
        match self.ahead.pop_front() {
            Some(ev) if ev.tid != self.t.tid => {
                let (seq, tid) = (ev.seq, ev.tid);
                self.ahead.push_front(ev);
                Err(ReplayError::Divergence {
                    seq,
                    tid,
                    expected: format!("thread {tid} to go on"),
                    got: format!("thread {} needing its next event", self.t.tid),
                })
            }
            Some(ev) => {
                self.replayed = ev.seq + 1;
                Ok(ev)
            }
            None => Err(ReplayError::TraceEnded {
                events: self.replayed,
            }),
        }
    }

    pub(crate) fn divergence(
        &self,
        expected: impl Into<String>,
        got: impl Into<String>,
    ) -> ReplayError {
        let (seq, tid) = self
            .ahead
            .front()
            .map(|e| (e.seq, e.tid))
            .unwrap_or((self.replayed, self.t.tracee.pid() as u32));
        ReplayError::Divergence {
            seq,
            tid,
            expected: expected.into(),
            got: got.into(),
        }
    }

    /// The working directory the replayed process started in (for reopening relative paths).
    pub fn set_start_dir(&mut self, cwd: PathBuf) {
        self.t.fds = Rc::new(RefCell::new(FdTable::new(cwd)));
    }

    /// Replays to the end of the log; returns how the program ended, or the stopped
    /// process if the log ended first.
    pub fn run(mut self) -> Result<ReplayEnd, ReplayError> {
        let ran = self.run_loop();
        if crate::stats::wanted() {
            eprintln!("{}", self.stats.line());
        }
        match ran {
            Ok(Some(status)) => Ok(ReplayEnd::Exited(status)),
            Ok(None) => match self.handoff() {
                Ok(h) => Ok(ReplayEnd::LogEnded(h)),
                Err(e) => {
                    self.kill_everything();
                    Err(e)
                }
            },
            Err(e) => {
                self.kill_everything();
                Err(e)
            }
        }
    }

    /// True when every event taken so far is fully applied (none half-way, like a syscall
    /// entered but not yet exited): a point where the log may end.
    fn between_events(&self) -> bool {
        self.t.pending.is_none() && self.t.injecting.is_none()
    }

    fn run_loop(&mut self) -> Result<Option<ExitStatus>, ReplayError> {
        let mut stop = if self.restored {
            // A checkpoint's copy: the stop before this turn was handled already.
            match self.next_turn()? {
                Turn::Stopped(stop) => stop,
                Turn::Done(end) => return Ok(end),
            }
        } else {
            // Events name processes by their recorded ids: the first event is the root's.
            if let Some(first) = self.peek()?.map(|e| e.tid) {
                self.t.tid = first;
                self.t.tgid = first;
                self.tasks.root = first;
            }
            let stop = self.stash.wait(&mut self.t.tracee)?;
            self.stats.stopped(&stop);
            stop
        };
        loop {
            if debug_stops() {
                let rip = self.t.tracee.regs().map(|r| r.rip).unwrap_or(0);
                eprintln!("ftrun: [replay {}] {stop:?} rip={rip:#x}", self.t.tid);
            }
            if let Some(status) = self.on_stop(stop)? {
                if self.t.tid == self.tasks.root {
                    self.tasks.root_exit = Some(status);
                }
                self.t.ended = true;
            }
            stop = loop {
                match self.next_turn()? {
                    Turn::Stopped(stop) => break stop,
                    // A takeover inside the log: the next primary's events follow.
                    Turn::Done(None) if self.cross_takeover_here()? => continue,
                    Turn::Done(end) => return Ok(end),
                }
            };
        }
    }

    /// Lets the thread of the next event run to its next stop. Whose turn it is: the thread
    /// of the next event, so that every thread sees its events, and stdout its bytes, in the
    /// recorded order.
    fn next_turn(&mut self) -> Result<Turn, ReplayError> {
        loop {
            let next = match self.peek()?.map(|e| e.tid) {
                _ if self.t.creating_child && !self.t.ended => self.t.tid,
                Some(tid) => tid,
                None if self.t.ended && self.tasks.none_waiting() => {
                    let status = self.tasks.root_exit.unwrap_or(ExitStatus::Exited(0));
                    return Ok(Turn::Done(Some(status)));
                }
                None if !self.t.ended && !self.between_events() => self.t.tid,
                None if self.tasks.only_threads_of(self.t.tgid) => return Ok(Turn::Done(None)),
                None => {
                    return Err(ReplayError::TraceEnded {
                        events: self.replayed,
                    })
                }
            };
            self.exec_in_place_of_leader(next)?;
            self.tasks.switch_to(&mut self.t, next)?;
            if let Some(nr) = self.t.parked_entry.take() {
                // Its syscall goes on now that its event is next; like any entry, the rest
                // (the exit) waits for the thread's next event.
                self.on_entry(nr)?;
                continue;
            }
            self.give_child_ring()?;
            self.arm_landmark()?;
            self.note_ring_load()?;
            if debug_stops() {
                let head = self.peek()?.map(|e| (e.seq, e.tid));
                eprintln!(
                    "ftrun: [replay] resuming {} (next event {head:?})",
                    self.t.tid
                );
            }
            // A stop the debug hook keeps to itself resumes the thread again.
            loop {
                let how = self.hook_before_resume()?;
                let deliver = std::mem::take(&mut self.t.deliver);
                let resumed = match how {
                    crate::debug::HookResume::Syscall => {
                        self.t.tracee.resume(Resume::Syscall, deliver)
                    }
                    crate::debug::HookResume::Step => {
                        crate::debug::single_step(self.t.tracee.pid(), deliver)
                    }
                };
                match resumed {
                    Ok(()) | Err(TraceeError::TraceeDied { .. }) => {
                        let stop = self.stash.wait(&mut self.t.tracee)?;
                        self.stats.stopped(&stop);
                        if self.hook_after_stop(&stop)? == crate::debug::StopVerdict::Swallow {
                            continue;
                        }
                        self.take_handed_back()?;
                        return Ok(Turn::Stopped(stop));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }

    /// Loads the ring before a turn, noting whether what it holds then is what a load at
    /// this turn puts there: it was empty, or it holds an earlier load that nothing has
    /// been taken from since (no event was replayed: a load now would choose the same).
    fn note_ring_load(&mut self) -> Result<(), ReplayError> {
        let tgid = self.t.tgid;
        let before = self
            .spaces
            .get(&tgid)
            .map(|s| (s.can_load() || !s.active(), s.pending()));
        self.ring_loaded_fresh = match before {
            None | Some((true, _)) => true,
            Some((false, pending)) => self.ring_load_mark == Some((self.replayed, pending)),
        };
        self.load_ring()?;
        if let (Some((true, _)), Some(space)) = (before, self.spaces.get(&tgid)) {
            self.ring_load_mark = Some((self.replayed, space.pending()));
        }
        Ok(())
    }

    /// Handles one stop of the current process; the exit status if it ended.
    pub(crate) fn on_stop(&mut self, stop: Stop) -> Result<Option<ExitStatus>, ReplayError> {
        match stop {
            Stop::SyscallEntry { nr } => self.on_entry(nr)?,
            Stop::SyscallExit { ret } => {
                self.on_exit(ret)?;
                self.arm_deferred_filter()?;
            }
            Stop::Signal { signo } => self.on_signal(signo)?,
            Stop::Event {
                event: PtraceEvent::Exec,
                ..
            } => self.on_exec()?,
            Stop::Event {
                event: PtraceEvent::Fork | PtraceEvent::Vfork | PtraceEvent::Clone,
                ..
            } => self.on_new_process()?,
            Stop::Event { .. } => {}
            Stop::Exited { code } => return self.on_end(ExitStatus::Exited(code)).map(Some),
            Stop::Killed { signo, core_dumped } => {
                return self
                    .on_end(ExitStatus::Killed { signo, core_dumped })
                    .map(Some)
            }
        }
        Ok(None)
    }

    pub(crate) fn skip_syscall(&mut self, regs: &mut Regs) -> Result<(), ReplayError> {
        regs.orig_rax = u64::MAX;
        self.t.tracee.set_regs(regs)?;
        Ok(())
    }

    fn on_entry(&mut self, nr: u64) -> Result<(), ReplayError> {
        let mut regs = self.t.tracee.regs()?;
        self.t.syscall_insn = regs.rip - 2;
        if std::mem::take(&mut self.t.restarting) {
            // The kernel runs the call again after a stray signal: the same event goes on.
            return Ok(());
        }
        let me = self.t.tid;
        if self.peek()?.is_some_and(|e| e.tid != me) && self.peek_own()?.is_some() {
            // It ran its in-process calls and reached this syscall before its turn: it
            // waits here until its event is the head of the log.
            self.t.parked_entry = Some(nr);
            return Ok(());
        }
        let marker = match self.peek()? {
            Some(Event {
                tid,
                kind: EventKind::SyscallEntry { number, .. },
                ..
            }) if *tid == me => Some(*number),
            _ => None,
        };
        if let Some(number) = marker {
            if number != nr {
                return Err(self.divergence(
                    format!("syscall {} ({number})", syscall_name(number)),
                    format!("syscall {} ({nr}) at rip {:#x}", syscall_name(nr), regs.rip),
                ));
            }
            // Other threads ran while this one was in the kernel: it waits for its turn.
            self.take()?;
            self.t.parked_entry = Some(nr);
            return self.replay_entry_effects(nr, &syscall_args(&regs));
        }
        let args = syscall_args(&regs);
        let before_syscall = matches!(
            self.peek()?.map(|e| &e.kind),
            Some(EventKind::Signal(SignalEvent {
                placement: SignalPlacement::BeforeSyscall,
                ..
            }))
        );
        if before_syscall {
            let EventKind::Signal(signal) = self.take()?.kind else {
                unreachable!("peeked")
            };
            self.skip_syscall(&mut regs)?;
            self.t.pending = Some(Pending::Inject { nr, signal });
            return Ok(());
        }
        let s = match self.peek()?.map(|e| &e.kind) {
            Some(EventKind::Syscall(s)) => s.clone(),
            // exit and exit_group never return, so the recording logged only the end itself.
            Some(EventKind::Exit(ExitStatus::Killed { signo, .. })) if *signo == libc::SIGKILL => {
                return self.kill_as_recorded();
            }
            Some(EventKind::Exit(_)) if is_exit(nr) => {
                let whole =
                    nr == libc::SYS_exit_group as u64 || !self.tasks.has_threads_of(self.t.tgid);
                let (tgid, tid) = (self.t.tgid, self.t.tid);
                self.robust
                    .owners_die(&mut self.t.tracee, tgid, (!whole).then_some(tid))?;
                if self.tasks.has_threads_of(self.t.tgid) {
                    return self.end_thread_at_entry(nr);
                }
                return Ok(());
            }
            Some(other) => {
                let expected = describe(other);
                return Err(
                    self.divergence(expected, format!("syscall {} ({nr})", syscall_name(nr)))
                );
            }
            None => {
                return Err(ReplayError::TraceEnded {
                    events: self.replayed,
                })
            }
        };
        self.check_entry(&s, nr, &args, &regs)?;
        self.take()?;
        // A failed call changed nothing (but an madvise or mprotect that met a hole), so it
        // is not run again; rt_sigreturn's "result" is the restored rax and rt_sigsuspend
        // always "fails". A fork that a signal interrupted made no process either.
        let failed = s.result < 0
            && (!is_restart_code(s.result) || is_new_process(nr))
            && !syscalls::applies_in_part(nr, s.result)
            && nr != libc::SYS_rt_sigreturn as u64
            && nr != libc::SYS_rt_sigsuspend as u64;
        // A memory call the runtime ran in-process while recording runs here for real too.
        let executes = s.mode == SyscallMode::Executed
            || (s.mode == SyscallMode::Buffered && rule_for(nr).runs_at_replay());
        match s.mode {
            _ if executes && !failed && !sysv_shm::replayed_by_hand(nr) => {
                if nr == libc::SYS_mmap as u64 {
                    mem::prepare_mmap(&mut regs, &s);
                    self.t.tracee.set_regs(&regs)?;
                }
                if nr == libc::SYS_execve as u64 || nr == libc::SYS_execveat as u64 {
                    // Its exec is logged right after it.
                    let next = self.peek()?.cloned();
                    self.kept
                        .before_exec(&mut self.t.tracee, &s, next.as_ref())?;
                }
                self.t.creating_child = is_new_process(nr) && s.result > 0;
                self.note_thread_state(nr, &args);
                self.t.pending = Some(Pending::Run(s));
                // A signal that ended this blocking call is sent now; the call sets its own
                // mask and is interrupted just as when recording.
                self.send_signal_at_exit(true)?;
            }
            _ => {
                // A vmsplice out of a pipe was logged with the bytes it put in memory (no
                // output hash); they are written at its exit.
                let filled_memory = nr == libc::SYS_vmsplice as u64 && s.output_hash == 0;
                if let Rule::Output { sent, .. } = rule_for(nr) {
                    if !filled_memory {
                        self.replay_output(&s, sent)?;
                    }
                }
                self.skip_or_suspend_for_signal(&s, &mut regs)?;
                self.t.pending = Some(Pending::Skip(s));
            }
        }
        Ok(())
    }

    fn check_entry(
        &self,
        s: &SyscallEvent,
        nr: u64,
        args: &[u64; 6],
        regs: &Regs,
    ) -> Result<(), ReplayError> {
        if s.number != nr {
            return Err(self.divergence(
                format!("syscall {} ({})", syscall_name(s.number), s.number),
                format!("syscall {} ({nr}) at rip {:#x}", syscall_name(nr), regs.rip),
            ));
        }
        if &s.args != args {
            return Err(self.divergence(
                crate::divergence::call_with_args(syscall_name(nr), &s.args),
                crate::divergence::call_with_args(syscall_name(nr), args),
            ));
        }
        // A call the runtime ran in-process was logged without registers.
        if s.mode != SyscallMode::Buffered && s.regs_hash != regs_hash(regs) {
            return Err(self.divergence(
                format!(
                    "registers with hash {:#x} at {} (rip {:#x})",
                    s.regs_hash,
                    syscall_name(nr),
                    s.rip
                ),
                format!("hash {:#x} (rip {:#x})", regs_hash(regs), regs.rip),
            ));
        }
        Ok(())
    }

    fn replay_output(&mut self, s: &SyscallEvent, sent: syscalls::Sent) -> Result<(), ReplayError> {
        if s.result <= 0 {
            return Ok(());
        }
        let bytes =
            syscalls::sent::sent_bytes(&mut self.t.tracee, sent, &s.args, s.result as usize)?;
        self.check_sent(s, &bytes)
    }

    fn on_exit(&mut self, ret: i64) -> Result<(), ReplayError> {
        let Some(pending) = self.t.pending.take() else {
            if std::mem::take(&mut self.t.exec_exit_pending) {
                self.on_exec_exit()?;
            }
            return Ok(());
        };
        // A site rewritten at this exit was logged right after the call.
        if !matches!(pending, Pending::Inject { .. }) {
            self.apply_site_patches()?;
        }
        let mut regs = self.t.tracee.regs()?;
        if !matches!(pending, Pending::Inject { .. }) && self.translate_rip(&mut regs) {
            self.t.tracee.set_regs(&regs)?;
        }
        match pending {
            Pending::Inject { nr, signal } => {
                regs.rax = ERESTARTNOINTR as u64;
                regs.orig_rax = nr;
                self.t.tracee.set_regs(&regs)?;
                self.t.tracee.send_signal(signal.signo as i32)?;
                self.t.injecting = Some(signal);
                return Ok(());
            }
            Pending::Skip(s) => {
                for w in &s.writes {
                    self.t.tracee.write_mem(w.addr, &w.data)?;
                }
                if s.number == libc::SYS_futex as u64 {
                    self.pi.returned(&mut self.t.tracee, self.t.tid, &s.args)?;
                }
                regs.rax = s.result as u64;
                (regs.rdi, regs.rsi) = (s.args[0], s.args[1]); // see skip_or_suspend_for_signal
                if is_restart_code(s.result) {
                    regs.orig_rax = s.number;
                    // The thread's own next event: other processes' events may come
                    // between the call and its signal (they ran meanwhile when recorded).
                    let signal_next = matches!(
                        self.peek_own()?.map(|e| &e.kind),
                        Some(EventKind::Signal(sig)) if sig.placement == SignalPlacement::AtSyscallExit
                    );
                    if !signal_next {
                        // Interrupted without a signal to deliver: the kernel restarted it.
                        regs.rip -= 2;
                        regs.rax = if s.result == -516 {
                            NR_RESTART_SYSCALL
                        } else {
                            s.number
                        };
                    }
                }
                self.t.tracee.set_regs(&regs)?;
                if sysv_shm::replayed_by_hand(s.number) {
                    sysv_shm::finish(
                        &mut self.t.tracee,
                        &regs,
                        &s,
                        &self.opts.trace_dir,
                        &mut self.shared_files,
                    )?;
                } else if let Some(written) = &s.mapping {
                    // A write into a file mapped shared.
                    self.shared_files
                        .write_through(written, &self.opts.trace_dir)?;
                }
                self.replay_id_map_write(&s, None)?;
                self.t.fds.borrow_mut().observe(&mut self.t.tracee, &s);
            }
            Pending::Run(s) if is_restart_code(ret) && !is_restart_code(s.result) => {
                // A signal of the replay's own (a replayed child's real SIGCHLD, which is
                // dropped) interrupted a call that completed when recorded: the kernel
                // restarts it once the signal is gone, and it goes on as the same event.
                self.t.pending = Some(Pending::Run(s));
                self.t.restarting = true;
                return Ok(());
            }
            Pending::Run(s) if self.t.creating_child => {
                return Err(ReplayError::Divergence {
                    seq: self.replayed.saturating_sub(1),
                    tid: self.t.tid,
                    expected: format!("{} to make process {}", syscall_name(s.number), s.result),
                    got: format!("it returned {ret} without making one"),
                });
            }
            Pending::Run(s) => {
                let same_result =
                    !matches!(rule_for(s.number), Rule::Execute { same_result: false });
                if same_result && ret != s.result {
                    return Err(ReplayError::Divergence {
                        seq: self.replayed.saturating_sub(1),
                        tid: self.t.tracee.pid() as u32,
                        expected: format!("{} to return {:#x}", syscall_name(s.number), s.result),
                        got: format!("{ret:#x}"),
                    });
                }
                if !same_result {
                    regs.rax = s.result as u64;
                    self.t.tracee.set_regs(&regs)?;
                }
                if s.number == libc::SYS_set_robust_list as u64 && s.result == 0 {
                    self.robust.registered(self.t.tid, self.t.tgid, s.args[0]);
                }
                if s.number == libc::SYS_mremap as u64 {
                    mem::finish_mremap(
                        &mut self.t.tracee,
                        &s,
                        &self.opts.trace_dir,
                        &mut self.shared_files,
                    )?;
                }
                if s.number == libc::SYS_mmap as u64 {
                    mem::restore_args(&mut regs, &s);
                    self.t.tracee.set_regs(&regs)?;
                    mem::finish_mapping(
                        &mut self.t.tracee,
                        &regs,
                        &s,
                        &self.opts.trace_dir,
                        &mut self.shared_files,
                    )?;
                }
                self.t.fds.borrow_mut().observe(&mut self.t.tracee, &s);
            }
        }
        self.send_signal_at_exit(false)
    }

    fn on_exec(&mut self) -> Result<(), ReplayError> {
        self.t.exec_exit_pending = true;
        // The execve that got here was taken at its entry; its exit carries nothing more.
        if let Some(Pending::Run(s)) = self.t.pending.take() {
            self.t.fds.borrow_mut().observe(&mut self.t.tracee, &s);
        }
        // Other threads ended in the exec, as when recording.
        self.reap_other_threads(self.t.tgid)?;
        let ev = self.take()?;
        match ev.kind {
            EventKind::Exec(e) => {
                self.kept.after_exec(&mut self.t.tracee, &e)?;
                process::replay_exec(&mut self.t.tracee, &e, ev.seq, ev.tid)
            }
            other => Err(ReplayError::Divergence {
                seq: ev.seq,
                tid: ev.tid,
                expected: describe(&other),
                got: "an exec".to_string(),
            }),
        }
    }
}

impl Replayer<'_> {
    /// The next event is an exec of process leader `next` while the current thread of its
    /// process is in an execve: that thread made the exec in place of the leader and has
    /// the leader's id from now on (the leader is gone, with nothing to collect).
    fn exec_in_place_of_leader(&mut self, next: u32) -> Result<(), ReplayError> {
        if next == self.t.tid || self.t.ended {
            return Ok(());
        }
        let in_execve = matches!(&self.t.pending, Some(Pending::Run(s))
            if [libc::SYS_execve as u64, libc::SYS_execveat as u64].contains(&s.number));
        let exec_next = matches!(self.peek()?.map(|e| &e.kind), Some(EventKind::Exec(_)));
        if in_execve && exec_next && self.tasks.tgid_of(next) == Some(self.t.tgid) {
            self.tasks.forget(next);
            self.t.tid = next;
        }
        Ok(())
    }
}

fn is_new_process(nr: u64) -> bool {
    [libc::SYS_fork, libc::SYS_vfork, libc::SYS_clone].contains(&(nr as libc::c_long))
}

fn is_exit(nr: u64) -> bool {
    nr == libc::SYS_exit as u64 || nr == libc::SYS_exit_group as u64
}

/// A short description of an event for divergence messages.
pub(crate) fn describe(kind: &EventKind) -> String {
    match kind {
        EventKind::Syscall(s) => format!("syscall {} ({})", syscall_name(s.number), s.number),
        EventKind::Exec(e) => format!("an exec of {}", String::from_utf8_lossy(&e.exe.path)),
        EventKind::Rdtsc(r) => format!("rdtsc at rip {:#x}", r.rip),
        EventKind::Signal(s) => crate::signal::describe_signal(s),
        EventKind::Exit(x) => crate::signal::describe_exit(x),
        EventKind::SyscallEntry { number, .. } => {
            format!("entry to syscall {} ({number})", syscall_name(*number))
        }
        EventKind::Sched(l) => format!("a thread switch in a spin at rip {:#x}", l.rip),
        EventKind::RuntimeMapped => "the in-process runtime to be mapped".to_string(),
        EventKind::SitePatched(p) => format!("a syscall site rewritten at {:#x}", p.site),
        EventKind::SchedAtState(f) => format!(
            "a thread switch at rip {:#x} with registers {:#x} and memory {:#x}",
            f.landmark.rip, f.landmark.regs_hash, f.landmark.mem_hash
        ),
    }
}

/// `FTRUN_DEBUG_STOPS=1` prints every ptrace stop (for debugging ftrun itself).
pub(crate) fn debug_stops() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FTRUN_DEBUG_STOPS").is_some())
}

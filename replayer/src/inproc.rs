//! The replayer's side of the in-process fast path: the runtime is mapped after an exec
//! where the recording mapped it, sites are rewritten where the recording rewrote them, and
//! a thread coming back into a rewritten site goes on in its stub, all as when recording.
//! Before a thread runs, the calls it made in-process (`Buffered` events at the head of the
//! log) are put into the ring, and the runtime hands their results back without a stop; at
//! the thread's next stop the handed-back events are taken off the log, outputs checked and
//! echoed. A `Buffered` call met at a ptrace stop (the ring was not loaded) is written back
//! like any emulated call.

use std::io::Write;

use fastpath::layout::{MODE_OFF, MODE_REPLAY};
use fastpath::{Refusal, Setup, Space, ToLoad};
use schema::{Echo, Event, EventKind, SignalPlacement, SyscallEvent, SyscallMode};
use tracee::Regs;
use xxhash_rust::xxh3::xxh3_64;

use crate::run_again::{in_ring, InRing};
use crate::session::Replayer;
use crate::ReplayError;
use syscalls::syscall_name;

/// The runtime in replay: it hands back what the ring holds, and makes again itself the
/// calls replay runs for real. Without a debugger the process gets the recording's seccomp
/// filter at the same point (its first runtime), so that the runtime's own syscalls make no
/// stop; a debugger's replay goes without, those calls made at ptrace stops.
fn replay_setup(install_filter: bool) -> Setup {
    Setup {
        mode: MODE_REPLAY,
        flags: 0,
        install_filter,
        echo: [0; 4],
    }
}

/// Most calls a ring is loaded with at once, unless a debugger asks for fewer: as many as
/// fit (the smallest record is a header), so that a load costs a stop as rarely as it can.
pub(crate) const RING_BATCH: usize =
    (fastpath::layout::RING_DATA_SIZE / fastpath::layout::RECORD_HEADER_SIZE) as usize;

fn setup_error(e: fastpath::FastPathError) -> ReplayError {
    match e {
        fastpath::FastPathError::Tracee(e) => e.into(),
        other => ReplayError::Setup(other.to_string()),
    }
}

fn run_again(how: InRing) -> Option<fastpath::RunAgain> {
    match how {
        InRing::MadeAgain(run) => Some(run),
        _ => None,
    }
}

/// A result as a divergence message shows it: an error as its negative number, else hex.
fn result_text(r: i64) -> String {
    if r < 0 {
        r.to_string()
    } else {
        format!("{r:#x}")
    }
}

impl Replayer<'_> {
    fn next_is(&mut self, want: fn(&EventKind) -> bool) -> Result<bool, ReplayError> {
        let me = self.t.tid;
        Ok(matches!(self.peek()?, Some(Event { tid, kind, .. }) if *tid == me && want(kind)))
    }

    /// At the exit of an exec: the runtime, if the recording mapped one here.
    pub(crate) fn on_exec_exit(&mut self) -> Result<(), ReplayError> {
        let tgid = self.t.tgid;
        self.spaces.remove(&tgid);
        if !self.next_is(|k| matches!(k, EventKind::RuntimeMapped))? {
            return Ok(());
        }
        self.take()?;
        let filter = self.hook.is_none() && !self.t.tracee.is_filtered();
        let space =
            Space::install(&mut self.t.tracee, &replay_setup(filter)).map_err(setup_error)?;
        if filter {
            self.t.tracee.set_filtered(true);
        }
        self.spaces.insert(tgid, space);
        Ok(())
    }

    /// A forked child about to run for the first time gets a ring where the recording gave
    /// it one.
    pub(crate) fn give_child_ring(&mut self) -> Result<(), ReplayError> {
        let tgid = self.t.tgid;
        if !self.spaces.get(&tgid).is_some_and(|s| s.needs_ring()) {
            return Ok(());
        }
        if !self.next_is(|k| matches!(k, EventKind::RuntimeMapped))? {
            return Ok(());
        }
        self.take()?;
        let space = self.spaces.get_mut(&tgid).expect("checked");
        space
            .give_ring(&mut self.t.tracee, &replay_setup(false))
            .map_err(setup_error)
    }

    /// Rewrites the sites the recording rewrote at this syscall's exit.
    pub(crate) fn apply_site_patches(&mut self) -> Result<(), ReplayError> {
        while self.next_is(|k| matches!(k, EventKind::SitePatched(_)))? {
            let EventKind::SitePatched(p) = self.take()?.kind else {
                unreachable!("peeked")
            };
            let tgid = self.t.tgid;
            let regs = self.t.tracee.regs()?;
            let Some(space) = self.spaces.get_mut(&tgid) else {
                return Err(self.divergence(
                    "no rewritten syscall site (this process has no runtime)",
                    format!("a site rewritten at {:#x}", p.site),
                ));
            };
            space
                .apply(&mut self.t.tracee, &regs, &p)
                .map_err(|e| ReplayError::Setup(e.to_string()))?;
        }
        Ok(())
    }

    /// Moves a thread standing inside a rewritten site to the same point in its stub.
    pub(crate) fn translate_rip(&self, regs: &mut Regs) -> bool {
        match self
            .spaces
            .get(&self.t.tgid)
            .and_then(|s| s.translate(regs.rip))
        {
            Some(rip) => {
                regs.rip = rip;
                true
            }
            None => false,
        }
    }

    /// Puts the thread's in-process calls at the head of the log into its ring before it
    /// runs. The last of them is left for a ptrace stop unless the thread's next event is
    /// one it stops for by itself (a traced call, an rdtsc, a fault), so that it never runs
    /// on past its turn.
    pub(crate) fn load_ring(&mut self) -> Result<(), ReplayError> {
        let most = self.ring_batch;
        let (me, tgid) = (self.t.tid, self.t.tgid);
        if !self.spaces.get(&tgid).is_some_and(|s| s.can_load()) {
            return Ok(());
        }
        let filtered = self.t.tracee.is_filtered();
        let mut run = 0;
        let mut stops_by_itself = false;
        let mut to_load = Vec::new();
        let mut bytes = 0u64;
        loop {
            if run == self.ahead.len() {
                // The batch's events come in at once (one move each), not one per look.
                let wanted = (most + 1).saturating_sub(run).max(1);
                if self.events.next_events(&mut self.ahead, wanted)? == 0 {
                    break;
                }
            }
            let ev = &self.ahead[run];
            if ev.tid != me {
                break;
            }
            match &ev.kind {
                // A call replay runs for real that the runtime cannot make itself here is
                // made at a stop (the thread stops there by itself, its ring empty).
                EventKind::Syscall(s)
                    if s.mode == SyscallMode::Buffered
                        && run < most
                        && in_ring(s, filtered) != InRing::Traced =>
                {
                    let how = in_ring(s, filtered);
                    bytes += ToLoad {
                        call: s,
                        run: run_again(how),
                    }
                    .size();
                    if bytes > fastpath::layout::RING_DATA_SIZE {
                        break;
                    }
                    run += 1;
                    to_load.push(how);
                }
                EventKind::Syscall(_)
                | EventKind::SyscallEntry { .. }
                | EventKind::Exit(_)
                | EventKind::Rdtsc(_) => {
                    stops_by_itself = true;
                    break;
                }
                EventKind::Signal(sig) => {
                    stops_by_itself = matches!(
                        sig.placement,
                        SignalPlacement::Synchronous | SignalPlacement::BeforeSyscall
                    );
                    break;
                }
                _ => break,
            }
        }
        if !stops_by_itself {
            run = run.saturating_sub(1);
        }
        if run == 0 {
            return Ok(());
        }
        let calls: Vec<ToLoad> = self
            .ahead
            .iter()
            .take(run)
            .zip(&to_load)
            .filter_map(|(e, how)| match &e.kind {
                EventKind::Syscall(call) => Some(ToLoad {
                    call,
                    run: run_again(*how),
                }),
                _ => None,
            })
            .collect();
        if let Some(space) = self.spaces.get_mut(&tgid) {
            let loaded = space.load(&calls);
            self.stats.ring_loads += 1;
            self.stats.calls_loaded += loaded as u64;
        }
        Ok(())
    }

    /// At a stop of the thread: takes the calls the runtime handed back off the log.
    pub(crate) fn take_handed_back(&mut self) -> Result<(), ReplayError> {
        let tgid = self.t.tgid;
        let Some(space) = self.spaces.get_mut(&tgid) else {
            return Ok(());
        };
        let (done, refused) = space.handed_back();
        let filtered = self.t.tracee.is_filtered();
        for call in done {
            let EventKind::Syscall(s) = self.take()?.kind else {
                return Err(self.divergence("an in-process call", "another event"));
            };
            self.stats.in_process += 1;
            if matches!(in_ring(&s, filtered), InRing::MadeAgain(_)) {
                self.stats.made_again += 1;
            }
            if s.output_hash != 0 || s.echo != Echo::None {
                self.check_sent(&s, &call.sent)?;
            }
            self.replay_id_map_write(&s, Some(&call.sent))?;
            self.t.fds.borrow_mut().observe(&mut self.t.tracee, &s);
        }
        match refused {
            Some(Refusal::OtherCall(nr)) => {
                let expected = match self.peek()? {
                    Some(ev) => crate::session::describe(&ev.kind),
                    None => "the end of the log".into(),
                };
                Err(self.divergence(
                    expected,
                    format!("in-process call {} ({nr})", syscall_name(nr)),
                ))
            }
            Some(Refusal::Diverged(d)) => {
                let recorded = match self.peek()? {
                    Some(Event {
                        kind: EventKind::Syscall(s),
                        ..
                    }) => result_text(s.result),
                    _ => "another result".into(),
                };
                Err(self.divergence(
                    format!("{} to return {recorded}", syscall_name(d.nr)),
                    format!(
                        "{} (made again in-process at replay)",
                        result_text(d.result)
                    ),
                ))
            }
            None => Ok(()),
        }
    }

    /// The bytes an output sent must be the recorded ones; they are echoed where they went
    /// to the recorder's stdout or stderr.
    pub(crate) fn check_sent(&mut self, s: &SyscallEvent, sent: &[u8]) -> Result<(), ReplayError> {
        if s.result > 0 && xxh3_64(sent) != s.output_hash {
            return Err(self.divergence(
                format!(
                    "{} of {} bytes with hash {:#x}",
                    syscall_name(s.number),
                    s.result,
                    s.output_hash
                ),
                format!("bytes with hash {:#x}", xxh3_64(sent)),
            ));
        }
        if self.opts.echo_output {
            // Our own stdout closed (e.g. `| head`) must not turn into a divergence.
            let _ = match s.echo {
                Echo::Stdout => std::io::stdout()
                    .lock()
                    .write_all(sent)
                    .and_then(|_| std::io::stdout().flush()),
                Echo::Stderr => std::io::stderr().lock().write_all(sent),
                Echo::None => Ok(()),
            };
        }
        Ok(())
    }

    /// Before a replayed process goes live: its runtime runs every call natively.
    pub(crate) fn runtime_off(&mut self) -> Result<(), ReplayError> {
        let tgid = self.t.tgid;
        if let Some(space) = self.spaces.get_mut(&tgid) {
            space
                .set_mode(&mut self.t.tracee, MODE_OFF)
                .map_err(setup_error)?;
        }
        Ok(())
    }

    /// A forked child inherits its parent's rewritten code.
    pub(crate) fn fork_space(&mut self, parent: u32, child: u32) {
        if let Some(space) = self.spaces.get(&parent) {
            let forked = space.forked();
            self.spaces.insert(child, forked);
        }
    }
}

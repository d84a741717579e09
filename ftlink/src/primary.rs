//! The primary's side of the link: the event log streams to the follower, every output
//! waits for the follower's acknowledgement of everything before it (the Output Rule), and
//! a follower that falls silent is replaced by the arbiter's verdict. An output is released
//! only while the follower cannot have taken over: within half a timeout of handing over
//! the events it acknowledged, or after the arbiter says the epoch is still this primary's
//! (a primary that was paused past the timeout finds out here that it lost, before it says
//! anything). A primary alone (its follower lost, or just after it took over as the new
//! primary) finds a new follower as its `Recruit` says and sends it the whole log
//! (`join.rs`); it is protected again once that follower has it.

use std::collections::{HashSet, VecDeque};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use recorder::{EventSink, RecordError};
use replayer::takeover::{format_takeovers, Takeover};
use schema::{BufferedCalls, Event, EventKind, Footer};

#[path = "primary_gate.rs"]
mod gate;
#[path = "primary_monitor.rs"]
mod monitor;
use monitor::{monitor_loop, Monitor};

pub use crate::join::Recruit;
use crate::join::{self, LinkCtx, LogSender, Outgoing};
use crate::log::LogWriter;
use crate::message::LinkError;
use crate::outbox::Outbox;
use crate::status;
use crate::{Arbiter, Timing};

/// How the primary reaches its followers and decides when one is gone.
pub struct PrimaryConfig {
    pub timing: Timing,
    pub arbiter: Arc<dyn Arbiter>,
    pub state_dir: PathBuf,
    /// How long to keep trying to reach the first follower.
    pub connect_timeout: Duration,
    /// How to find a new follower while alone.
    pub recruit: Recruit,
    /// The takeovers of the log (each new follower needs them to replay it).
    pub takeovers: Vec<Takeover>,
    /// A primary that starts alone with a follower on its way (a new local follower after
    /// a takeover) holds outputs until that follower has the whole log, at most this long:
    /// a reply it released before would be lost with it if it died before then.
    pub hold_outputs: Option<Duration>,
    /// The follower's replay lag past which outputs wait for it (throttling).
    pub max_lag: Duration,
}

/// What the primary knows about its follower.
#[derive(Debug)]
pub(crate) struct LinkState {
    acked: Option<u64>,
    last_heard: Instant,
    events_logged: u64,
    pub(crate) epoch: u64,
    /// No follower has the whole log: outputs are not held (a follower that joins cannot
    /// take over before it has had it all).
    alone: bool,
    /// The follower was declared dead and won the epoch: this primary must stop.
    lost: Option<u64>,
    finished: bool,
    tracee_pid: i32,
    /// The tracee's start time, to tell it from a later process with its pid.
    tracee_start: Option<u64>,
    /// When the output now held at the gate started waiting: acknowledgements that stop
    /// coming while heartbeats still arrive (a one-way partition) count as a dead follower.
    gate_since: Option<Instant>,
    /// When the acknowledged sequence number last went up (a follower still working through
    /// a long catch-up acknowledges as it goes: that is not a stuck gate).
    ack_progress: Instant,
    /// The current link's number (0: none): a receive loop of an older one changes nothing.
    pub(crate) link: u64,
    /// A new follower is being greeted and sent the log.
    joining: bool,
    /// Followers that were sent the whole log (the first included).
    synced_links: u64,
    /// Since when this primary has been alone.
    alone_since: Option<Instant>,
    /// The newest follower must acknowledge this many events to have the whole log.
    catching_up: Option<u64>,
    /// Alone, outputs wait until then for a follower on its way (see `hold_outputs`).
    hold_until: Option<Instant>,
    /// How far behind the follower's replay said it was in its last heartbeat.
    follower_lag: Option<Duration>,
    /// Outputs are held for a follower too far behind (throttling, decided by the sink).
    throttling: bool,
    /// The monitor is claiming the next epoch for this primary.
    claiming: bool,
    /// Half the timeout (how long an acknowledgement proves the follower cannot have
    /// taken over), and the lag past which outputs are throttled.
    half_timeout: Duration,
    max_lag: Duration,
    /// When the newest frame the follower acknowledged was handed to the link: it heard
    /// this primary no earlier, and claims no epoch until a timeout after it heard it last.
    ack_heard: Option<Instant>,
}

impl LinkState {
    /// Alone but waiting for a follower on its way: outputs are held.
    fn holding(&self) -> bool {
        self.hold_until.is_some_and(|t| Instant::now() < t)
    }

    /// Outputs may go without an acknowledgement (no follower has the log, none is awaited).
    fn ungated(&self) -> bool {
        self.alone && !self.holding()
    }
}

pub(crate) struct Shared {
    pub(crate) state: Mutex<LinkState>,
    changed: Condvar,
    /// Frames handed to the link and not yet acknowledged: the events in the log after
    /// each, and when (see `LinkState::ack_heard`).
    handovers: Mutex<VecDeque<(u64, Instant)>>,
    /// The in-process output gate's hooks (see `primary_gate.rs`).
    gate_hooks: Mutex<Option<gate::Hooks>>,
}

/// Frames remembered at most (beyond, the oldest are forgotten: the follower's
/// acknowledgements then prove less recent hearing, which only holds outputs longer).
const HANDOVERS_KEPT: usize = 4096;

impl Shared {
    /// Wakes whoever waits for a change: the traced gate, and the in-process one.
    fn notify(&self, st: &LinkState) {
        self.changed.notify_all();
        if let Some(hooks) = self.gate_hooks.lock().expect("gate hooks").as_ref() {
            hooks.changed(st);
        }
    }
}

/// The event sink of a fault-tolerant recording.
pub struct FtSink {
    writer: Option<LogWriter>,
    shared: Arc<Shared>,
    arbiter: Arc<dyn Arbiter>,
    timing: Timing,
    /// What goes to the follower (closed at the end).
    outbox: Arc<Outbox>,
    trace_dir: PathBuf,
    state_dir: PathBuf,
    sent_files: HashSet<String>,
    /// Events up to the last one that is not an output: what an output must wait for.
    inputs_through: u64,
    /// Outputs let through the gate; those that had to wait for an acknowledgement, and
    /// how long in total (for the report).
    pub outputs: u64,
    pub gated_outputs: u64,
    pub gate_wait: Duration,
    max_lag: Duration,
    /// Outputs that waited for a follower too far behind, and how long in total.
    pub throttled: u64,
    pub throttle_wait: Duration,
    /// The in-process gate holds outputs for a follower too far behind, since then.
    throttle_since: Option<Instant>,
    /// Set at the end: a follower acknowledged the whole log, the program's end included.
    pub follower_has_end: bool,
}

impl FtSink {
    /// Connects to the follower at `follower` and introduces the log. Nothing runs until
    /// this succeeds: a primary without a follower does not start its server.
    pub fn connect(
        writer: LogWriter,
        cfg: PrimaryConfig,
        follower: &str,
    ) -> Result<FtSink, LinkError> {
        let mut stream = join::connect_retrying(follower, cfg.connect_timeout)?;
        let epoch = crate::arbiter::claim_fresh(
            cfg.arbiter.as_ref(),
            &format!("primary pid {}", std::process::id()),
        )?;
        join::greet_follower(
            &mut stream,
            cfg.arbiter.as_ref(),
            cfg.timing,
            epoch,
            writer.prelude().to_vec(),
        )?;
        let sink = FtSink::start(writer, cfg, epoch, false)?;
        let gen = sink.shared.start_link(&stream, sink.timing)?;
        sink.outbox.push(Outgoing::Link {
            stream,
            gen: Some(gen),
        });
        Ok(sink)
    }

    /// A primary for a log that goes on after a takeover this process won as `epoch`: it
    /// runs alone until a new follower has the whole log.
    pub fn alone(writer: LogWriter, cfg: PrimaryConfig, epoch: u64) -> Result<FtSink, LinkError> {
        FtSink::start(writer, cfg, epoch, true)
    }

    fn start(
        mut writer: LogWriter,
        cfg: PrimaryConfig,
        epoch: u64,
        alone: bool,
    ) -> Result<FtSink, LinkError> {
        let trace_dir = writer
            .path()
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default();
        let shared = Arc::new(Shared {
            state: Mutex::new(LinkState {
                acked: None,
                last_heard: Instant::now(),
                events_logged: writer.events_written(),
                epoch,
                alone,
                lost: None,
                finished: false,
                tracee_pid: 0,
                tracee_start: None,
                gate_since: None,
                ack_progress: Instant::now(),
                link: 0,
                joining: false,
                synced_links: 0,
                alone_since: alone.then(Instant::now),
                catching_up: None,
                hold_until: cfg
                    .hold_outputs
                    .filter(|_| alone)
                    .map(|d| Instant::now() + d),
                follower_lag: None,
                throttling: false,
                claiming: false,
                half_timeout: cfg.timing.timeout / 2,
                max_lag: cfg.max_lag,
                ack_heard: None,
            }),
            changed: Condvar::new(),
            handovers: Mutex::new(VecDeque::new()),
            gate_hooks: Mutex::new(None),
        });
        let ctx = LinkCtx {
            shared: shared.clone(),
            arbiter: cfg.arbiter.clone(),
            timing: cfg.timing,
            log_path: writer.path().to_path_buf(),
            files_dir: trace_dir.join("files"),
            prelude: writer.prelude().to_vec(),
            takeovers: format_takeovers(&cfg.takeovers),
        };
        let outbox = Arc::new(Outbox::new(LogSender::new(
            ctx,
            writer.len(),
            writer.events_written(),
        )));
        let (frame_shared, frame_outbox) = (shared.clone(), outbox.clone());
        writer.set_frame_sink(Box::new(move |bytes: &[u8], events: u64| {
            let now = Instant::now();
            let mut handovers = frame_shared.handovers.lock().expect("hand-overs");
            if handovers.len() >= HANDOVERS_KEPT {
                handovers.pop_front();
            }
            handovers.push_back((events, now));
            drop(handovers);
            frame_outbox.frame(bytes, events);
        }));
        let send_outbox = outbox.clone();
        thread::spawn(move || send_outbox.send_loop());
        let PrimaryConfig {
            timing,
            arbiter,
            state_dir,
            recruit,
            max_lag,
            ..
        } = cfg;
        let (recruit_shared, recruit_outbox) = (shared.clone(), outbox.clone());
        thread::spawn(move || join::recruit_loop(recruit_shared, recruit, recruit_outbox));
        let monitor = Monitor {
            timing,
            arbiter: arbiter.clone(),
            state_dir: state_dir.clone(),
        };
        let monitor_shared = shared.clone();
        thread::spawn(move || monitor_loop(&monitor_shared, monitor));
        // A log that goes on from an earlier primary's: all of that history is input.
        let inputs_through = writer.events_written();
        Ok(FtSink {
            writer: Some(writer),
            shared,
            arbiter,
            timing,
            outbox,
            trace_dir,
            state_dir,
            sent_files: HashSet::new(),
            inputs_through,
            outputs: 0,
            gated_outputs: 0,
            gate_wait: Duration::ZERO,
            max_lag,
            throttled: 0,
            throttle_wait: Duration::ZERO,
            throttle_since: None,
            follower_has_end: false,
        })
    }

    /// The follower lag past which outputs wait (`--max-lag-ms`).
    pub fn max_lag(&self) -> Duration {
        self.max_lag
    }

    /// The tracee to stop if this primary loses its epoch.
    pub fn set_tracee(&self, pid: i32) {
        let mut st = self.shared.state.lock().expect("link state");
        st.tracee_pid = pid;
        st.tracee_start = status::process_start(pid);
        let report = st.report(self.timing);
        drop(st);
        status::write(&self.state_dir, "primary", &report);
    }

    /// The epoch this primary lost, if it did.
    pub fn lost_epoch(&self) -> Option<u64> {
        self.shared.state.lock().expect("link state").lost
    }

    /// Waits until the follower has every event logged so far (or this primary is alone).
    fn wait_for_acks(&mut self) -> Result<(), RecordError> {
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        writer.flush()?;
        // Only what the program took in must be acknowledged first: an output is a
        // function of the inputs before it, and the outputs before it (whose own results
        // the follower may lack) changed nothing a client can see after a takeover, which
        // closes the clients' connections. So replies written one after another, with no
        // input between them, wait for one acknowledgement (a group commit).
        let need = self.inputs_through;
        if need == 0 {
            return Ok(());
        }
        let start = Instant::now();
        let acked = self.shared.state.lock().expect("link state").acked;
        let waits = acked.is_none_or(|a| a + 1 < need);
        self.shared.state.lock().expect("link state").gate_since = Some(start);
        let mut st = self.shared.wait_until_acked(need, None);
        loop {
            // The lease runs from the hand-over of the newest frame the follower
            // acknowledged (it heard this primary no earlier), not from the newest frame
            // handed over: that one may have gone out after a pause, beside an
            // acknowledgement sent before the follower took over.
            let fresh = st
                .ack_heard
                .is_some_and(|at| at.elapsed() < self.timing.timeout / 2);
            if st.lost.is_some() || st.ungated() || fresh {
                break;
            }
            // The acknowledgement came late (this primary may have been paused): the
            // follower may have gone live meanwhile. Only the arbiter knows.
            let epoch = st.epoch;
            drop(st);
            let latest = self.arbiter.latest();
            st = self.shared.state.lock().expect("link state");
            match latest {
                Ok(l) if l <= epoch || st.epoch > epoch => break,
                // This primary's own monitor is claiming: wait for its verdict.
                Ok(_) if st.claiming => {
                    st = self
                        .shared
                        .changed
                        .wait_timeout(st, self.timing.heartbeat)
                        .expect("link state")
                        .0
                }
                Ok(l) => {
                    eprintln!(
                        "ftrun: an acknowledgement came {} ms after its events were sent, and epoch {l} was claimed at {} meanwhile: this primary lost epoch {}; stopping the server without releasing its output",
                        st.ack_heard.map_or(0, |at| at.elapsed().as_millis()),
                        self.arbiter.describe(),
                        epoch + 1
                    );
                    self.shared.lose(&mut st, epoch + 1);
                }
                // Not known: hold the output; the monitor decides once the gate has waited
                // a timeout.
                Err(_) => {
                    st = self
                        .shared
                        .changed
                        .wait_timeout(st, self.timing.heartbeat)
                        .expect("link state")
                        .0
                }
            }
        }
        st.gate_since = None;
        if let Some(epoch) = st.lost {
            return Err(RecordError::Other(format!(
                "the follower took over: this primary lost epoch {epoch} and stops"
            )));
        }
        drop(st);
        self.outputs += 1;
        if waits {
            self.gated_outputs += 1;
            self.gate_wait += start.elapsed();
        }
        self.throttle();
        Ok(())
    }

    /// A follower whose replay is more than `max_lag` behind would take that long to go
    /// live after a takeover: the output waits until it is back within half of that (at
    /// most `max_lag`), so that the primary, not the failover time, gives way.
    fn throttle(&mut self) {
        let start = Instant::now();
        let mut st = self.shared.state.lock().expect("link state");
        let behind = |st: &LinkState, limit: Duration| {
            st.follower_lag.is_some_and(|l| l > limit) && !st.ungated() && st.lost.is_none()
        };
        if !behind(&st, self.max_lag) {
            return;
        }
        while behind(&st, self.max_lag / 2) && start.elapsed() < self.max_lag {
            st = self
                .shared
                .changed
                .wait_timeout(st, self.timing.heartbeat)
                .expect("link state")
                .0;
        }
        self.throttled += 1;
        self.throttle_wait += start.elapsed();
    }
}

impl Shared {
    /// Marks `epoch` lost and stops the server: nothing it does from now on gets out.
    fn lose(&self, st: &mut LinkState, epoch: u64) {
        st.lost = Some(epoch);
        if st.tracee_pid > 0 {
            // SAFETY: kill with a pid we started and a constant signal.
            unsafe {
                libc::kill(st.tracee_pid, libc::SIGKILL);
            }
        }
        self.notify(st);
    }

    /// A new link (greeted): its number, its receive loop started; a follower joining.
    pub(crate) fn start_link(
        self: &Arc<Self>,
        stream: &TcpStream,
        timing: Timing,
    ) -> Result<u64, LinkError> {
        let io_err = |source| LinkError::Io {
            what: "setting up the link".into(),
            source,
        };
        let mut reader = stream.try_clone().map_err(io_err)?;
        reader
            .set_read_timeout(Some(timing.heartbeat))
            .map_err(io_err)?;
        let gen = {
            let mut st = self.state.lock().expect("link state");
            st.link += 1;
            st.acked = None;
            st.follower_lag = None;
            st.last_heard = Instant::now();
            st.ack_progress = Instant::now();
            st.joining = true;
            st.link
        };
        let shared = self.clone();
        thread::spawn(move || join::receive_loop(&mut reader, &shared, gen));
        Ok(gen)
    }

    /// The follower of link `gen` was sent the whole log (`events` events, `bytes` bytes
    /// of frames and `files` mapped-file copies): from now on it could take over, so
    /// outputs wait for it again.
    pub(crate) fn synced(
        &self,
        gen: u64,
        peer: &str,
        events: u64,
        bytes: u64,
        files: usize,
        took: Duration,
    ) {
        let mut st = self.state.lock().expect("link state");
        if st.link != gen {
            return;
        }
        st.joining = false;
        st.synced_links += 1;
        st.last_heard = Instant::now();
        st.hold_until = None;
        // An output held until now for this follower waits for its acknowledgements from
        // here (the gate's timeout runs from now, not from the hold).
        if st.gate_since.is_some() {
            st.gate_since = Some(Instant::now());
        }
        if st.alone {
            st.alone = false;
            st.catching_up = Some(events);
            eprintln!(
                "ftrun: a new follower at {peer} was sent the whole log ({events} events, {:.1} MB, {files} files) in {} ms; outputs wait for it again (epoch {})",
                bytes as f64 / 1e6,
                took.as_millis(),
                st.epoch
            );
        }
        self.notify(&st);
    }

    /// The arbiter holds `latest`: above this primary's epoch, someone took over since,
    /// and this primary stops its server.
    pub(crate) fn fenced(&self, latest: u64, arbiter: &str) {
        let mut st = self.state.lock().expect("link state");
        if latest > st.epoch && st.lost.is_none() && !st.finished {
            eprintln!(
                "ftrun: epoch {latest} was claimed at {arbiter} after this primary's epoch {}: it lost, and stops the server",
                st.epoch
            );
            let epoch = st.epoch + 1;
            self.lose(&mut st, epoch);
        }
    }

    /// A follower being greeted was refused or went away.
    pub(crate) fn join_failed(&self) {
        let mut st = self.state.lock().expect("link state");
        st.joining = false;
        self.notify(&st);
    }

    pub(crate) fn acked(&self, gen: u64, seq: u64) {
        let mut st = self.state.lock().expect("link state");
        if st.link != gen {
            return;
        }
        if st.acked.is_none_or(|a| seq > a) {
            st.ack_progress = Instant::now();
        }
        st.acked = Some(st.acked.map_or(seq, |a| a.max(seq)));
        st.last_heard = Instant::now();
        // Acknowledging `seq` proves the follower has every frame before the first one
        // that brought the log to `seq + 1` events, and that one; not the frames after it
        // that added no event (an acknowledgement read late must not vouch for a frame
        // handed over after it was sent).
        let mut handovers = self.handovers.lock().expect("hand-overs");
        while let Some(&(events, at)) = handovers.front() {
            if events > seq + 1 {
                break;
            }
            st.ack_heard = Some(at);
            handovers.pop_front();
            if events == seq + 1 {
                break;
            }
        }
        drop(handovers);
        if let Some(need) = st.catching_up {
            if seq + 1 >= need {
                st.catching_up = None;
                let since = st.alone_since.take().map(|t| t.elapsed().as_millis());
                eprintln!(
                    "ftrun: the new follower has acknowledged the whole log ({need} events){}: protected again in epoch {}",
                    since.map_or(String::new(), |ms| format!(", {ms} ms after this primary was left alone")),
                    st.epoch
                );
            }
        }
        self.notify(&st);
    }

    /// The follower's heartbeat said how far behind its replay is.
    pub(crate) fn progress(&self, gen: u64, lag: Duration) {
        let mut st = self.state.lock().expect("link state");
        if st.link == gen {
            st.last_heard = Instant::now();
            st.follower_lag = Some(lag);
            self.notify(&st);
        }
    }

    pub(crate) fn heard(&self, gen: u64) {
        let mut st = self.state.lock().expect("link state");
        if st.link == gen {
            st.last_heard = Instant::now();
        }
    }

    /// Waits until this primary is alone with nobody joining; false once it has ended or
    /// lost, or (unless `again`) once a follower was synced and lost since.
    pub(crate) fn wait_for_vacancy(&self, again: bool) -> bool {
        let mut st = self.state.lock().expect("link state");
        loop {
            if st.finished || st.lost.is_some() {
                return false;
            }
            if st.alone && !st.joining {
                if st.synced_links > 0 && !again {
                    return false;
                }
                return true;
            }
            st = self
                .changed
                .wait_timeout(st, Duration::from_millis(200))
                .expect("link state")
                .0;
        }
    }

    /// No follower is on its way any more: outputs held for one go.
    pub(crate) fn stop_holding(&self) {
        let mut st = self.state.lock().expect("link state");
        st.hold_until = None;
        self.notify(&st);
    }

    /// A follower is about to be greeted.
    pub(crate) fn joining(&self) {
        self.state.lock().expect("link state").joining = true;
    }

    /// For a follower asking to join: Some(true) if it may (it is marked joining),
    /// Some(false) if the place is taken, None once this primary has ended or lost.
    pub(crate) fn take_vacancy(&self) -> Option<bool> {
        let mut st = self.state.lock().expect("link state");
        if st.finished || st.lost.is_some() {
            return None;
        }
        if st.alone && !st.joining {
            st.joining = true;
            return Some(true);
        }
        Some(false)
    }

    /// Waits until `need` events are acknowledged, this primary is alone or lost, or `limit`
    /// has passed; returns the state, locked.
    fn wait_until_acked(&self, need: u64, limit: Option<Duration>) -> MutexGuard<'_, LinkState> {
        let start = Instant::now();
        let mut st = self.state.lock().expect("link state");
        loop {
            let settled =
                st.ungated() || st.lost.is_some() || st.acked.is_some_and(|a| a + 1 >= need);
            if settled || limit.is_some_and(|l| start.elapsed() >= l) {
                return st;
            }
            st = self
                .changed
                .wait_timeout(st, Duration::from_millis(50))
                .expect("link state")
                .0;
        }
    }
}

impl EventSink for FtSink {
    fn push(&mut self, event: Event) -> Result<(), RecordError> {
        if let EventKind::Syscall(s) = &event.kind {
            if let Some(m) = &s.mapping {
                if self.sent_files.insert(m.stored_as.clone()) {
                    let path = self.trace_dir.join("files").join(&m.stored_as);
                    let data = std::fs::read(&path).map_err(|source| RecordError::Io {
                        what: format!("reading {} to send it to the follower", path.display()),
                        source,
                    })?;
                    self.outbox.push(Outgoing::File {
                        name: m.stored_as.clone(),
                        data,
                    });
                }
            }
        }
        self.shared.state.lock().expect("link state").events_logged += 1;
        if !crate::outputs::is_output(&event) {
            self.inputs_through = event.seq + 1;
        }
        match self.writer.as_mut() {
            Some(w) => Ok(w.push(event)?),
            None => Ok(()),
        }
    }

    fn push_ring(
        &mut self,
        records: recorder::ring_records::RingRecords,
    ) -> Result<(), RecordError> {
        let (first, before) = (records.first_seq, self.inputs_through);
        let (calls, inputs) = records.pack_counting_inputs()?;
        self.push_buffered(calls)?;
        // The outputs the runtime's gate let through after the last input are not inputs.
        self.inputs_through = match inputs {
            0 => before,
            k => first + u64::from(k),
        };
        Ok(())
    }

    fn inputs_logged(&self) -> Option<u64> {
        Some(self.inputs_through)
    }

    fn push_buffered(&mut self, calls: BufferedCalls) -> Result<(), RecordError> {
        self.shared.state.lock().expect("link state").events_logged += u64::from(calls.count);
        // Calls run in-process count as inputs here (outputs among them, let through by
        // the runtime's gate, only make a traced output after them wait a little longer).
        self.inputs_through = calls.first_seq + u64::from(calls.count);
        match self.writer.as_mut() {
            Some(w) => Ok(w.push_buffered(calls)?),
            None => Ok(()),
        }
    }

    fn gates_output(&self) -> bool {
        true
    }

    /// What the runtimes published while the program ran goes to the follower now, not
    /// at the program's next stop: the follower acknowledges it sooner, so the next output
    /// waits less (or not at all).
    fn streamed(&mut self) -> Result<(), RecordError> {
        match self.writer.as_mut() {
            Some(w) => Ok(w.flush()?),
            None => Ok(()),
        }
    }

    fn before_output(&mut self) -> Result<(), RecordError> {
        self.wait_for_acks()
    }

    fn clearance(&mut self) -> recorder::sink::Clearance {
        self.gate_clearance()
    }

    fn decide_gate(&mut self, need: u64, since: Instant) -> Result<bool, RecordError> {
        self.gate_decision(need, since)
    }

    fn count_outputs(&mut self, n: u64) {
        self.outputs += n;
    }

    fn count_gate_waits(&mut self, n: u64, waited: Duration) {
        self.gated_outputs += n;
        self.gate_wait += waited;
    }

    fn gate_passed(&mut self, _since: Instant) {
        self.shared.state.lock().expect("link state").gate_since = None;
    }

    fn set_gate_hooks(
        &mut self,
        wake: Arc<dyn Fn() + Send + Sync>,
        publish: Arc<dyn Fn(recorder::sink::Clearance) + Send + Sync>,
    ) {
        self.set_hooks(wake, publish)
    }

    fn finish(&mut self, footer: Footer) -> Result<(), RecordError> {
        if let Some(w) = self.writer.take() {
            w.finish(&footer)?;
        }
        // Let the follower have the end too, so it ends the way the program did.
        let mut st = self
            .shared
            .wait_until_acked(footer.event_count, Some(Duration::from_secs(5)));
        self.follower_has_end = st.acked.is_some_and(|a| a + 1 >= footer.event_count);
        st.finished = true;
        drop(st);
        self.outbox.close();
        Ok(())
    }
}

impl Drop for FtSink {
    /// The sender's thread ends once it has sent what was queued.
    fn drop(&mut self) {
        self.outbox.close();
    }
}

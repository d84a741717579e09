//! The primary's side of the link: the event log streams to the follower, every output
//! waits for the follower's acknowledgement of everything before it (the Output Rule), and
//! a follower that falls silent is replaced by the arbiter's verdict. An output is released
//! only while the follower cannot have taken over: within half a timeout of handing over
//! the events it acknowledged, or after the arbiter says the epoch is still this primary's
//! (a primary that was paused past the timeout finds out here that it lost, before it says
//! anything).

use std::collections::HashSet;
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use recorder::{EventSink, RecordError};
use schema::{BufferedCalls, Event, EventKind, Footer, TraceWriter};

use crate::message::{is_timeout, Hello, LinkError, Message, PROTOCOL_VERSION};
use crate::status::{self, RoleStatus};
use crate::{Arbiter, Timing};

/// How the primary reaches its follower and decides when it is gone.
pub struct PrimaryConfig {
    /// `HOST:PORT`, a host name or an IP address (every address it resolves to is tried).
    pub follower: String,
    pub timing: Timing,
    pub arbiter: Arc<dyn Arbiter>,
    pub state_dir: PathBuf,
    /// How long to keep trying to reach the follower at the start.
    pub connect_timeout: Duration,
}

/// What the primary knows about its follower.
#[derive(Debug)]
struct LinkState {
    acked: Option<u64>,
    last_heard: Instant,
    events_logged: u64,
    epoch: u64,
    /// The follower was declared dead and this primary won the next epoch.
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
}

struct Shared {
    state: Mutex<LinkState>,
    changed: Condvar,
}

enum Outgoing {
    Frame(Vec<u8>),
    File { name: String, data: Vec<u8> },
}

/// The event sink of a fault-tolerant recording.
pub struct FtSink {
    writer: Option<TraceWriter>,
    shared: Arc<Shared>,
    /// When the writer last handed a frame to the link: the follower, having acknowledged
    /// it, heard this primary no earlier than that, and claims no epoch until a timeout later.
    handed_over: Arc<Mutex<Instant>>,
    arbiter: Arc<dyn Arbiter>,
    timing: Timing,
    tx: Option<Sender<Outgoing>>,
    trace_dir: PathBuf,
    sent_files: HashSet<String>,
    /// Outputs that waited for an acknowledgement, and how long in total (for the report).
    pub gated_outputs: u64,
    pub gate_wait: Duration,
}

/// Connects to one of the addresses `addr` resolves to (resolved again at each attempt: a
/// name may come to resolve while the follower starts).
fn connect_once(addr: &str) -> Result<TcpStream, std::io::Error> {
    let mut last = std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "the name resolves to no address",
    );
    for a in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, Duration::from_millis(500)) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn connect_retrying(addr: &str, within: Duration) -> Result<TcpStream, LinkError> {
    let start = Instant::now();
    loop {
        match connect_once(addr) {
            Ok(s) => return Ok(s),
            Err(_) if start.elapsed() < within => thread::sleep(Duration::from_millis(50)),
            Err(source) => {
                return Err(LinkError::Io {
                    what: format!(
                        "cannot reach the follower at {addr} (tried for {} ms)",
                        within.as_millis()
                    ),
                    source,
                })
            }
        }
    }
}

/// Sends the hello and reads the follower's (which must be for this epoch).
fn greet_follower(
    stream: &mut TcpStream,
    cfg: &PrimaryConfig,
    epoch: u64,
    token: &str,
    trace_start: Vec<u8>,
) -> Result<Hello, LinkError> {
    Message::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        epoch,
        first_seq: 0,
        arbiter: cfg.arbiter.describe(),
        token: token.to_string(),
        proof: String::new(),
        trace_start,
    })
    .write_to(stream)?;
    // The follower may look for the token a while (shared storage can be slow to show it).
    stream
        .set_read_timeout(Some(cfg.timing.timeout.max(Duration::from_secs(4))))
        .map_err(|source| LinkError::Io {
            what: "configuring the link".into(),
            source,
        })?;
    match Message::read_from(stream)? {
        Message::Hello(h) if h.epoch == epoch => Ok(h),
        Message::Hello(h) if h.epoch > epoch => Err(LinkError::Other(format!(
            "epoch {} was claimed at {} after this primary's epoch {epoch}: this primary is fenced off",
            h.epoch,
            cfg.arbiter.describe()
        ))),
        Message::Hello(h) => Err(LinkError::Other(format!(
            "the follower answered for epoch {}, not {epoch}",
            h.epoch
        ))),
        other => Err(LinkError::Garbage(format!(
            "expected the follower's hello, got {other:?}"
        ))),
    }
}

impl FtSink {
    /// Connects to the follower and introduces the trace whose writer is given. Nothing
    /// runs until this succeeds: a primary without a follower does not start its server.
    pub fn connect(mut writer: TraceWriter, cfg: PrimaryConfig) -> Result<FtSink, LinkError> {
        let trace_dir = writer
            .path()
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default();
        let (tx, rx) = mpsc::channel::<Outgoing>();
        let frame_tx = tx.clone();
        let handed_over = Arc::new(Mutex::new(Instant::now()));
        let frame_time = handed_over.clone();
        writer.set_frame_sink(Box::new(move |bytes: &[u8]| {
            *frame_time.lock().expect("hand-over time") = Instant::now();
            let _ = frame_tx.send(Outgoing::Frame(bytes.to_vec()));
        }));
        // The sink was handed the file start and header at once: that is the Hello's payload.
        let mut trace_start = Vec::new();
        while let Ok(Outgoing::Frame(b)) = rx.try_recv() {
            trace_start.extend_from_slice(&b);
        }
        let mut stream = connect_retrying(&cfg.follower, cfg.connect_timeout)?;
        let epoch = crate::arbiter::claim_fresh(
            cfg.arbiter.as_ref(),
            &format!("primary pid {} (start)", std::process::id()),
        )?;
        let _ = stream.set_nodelay(true);
        let token = crate::arbiter::new_token_name()?;
        let proof = format!("{token} epoch {epoch} primary pid {}", std::process::id());
        cfg.arbiter.put_token(&token, &proof)?;
        let answer = greet_follower(&mut stream, &cfg, epoch, &token, trace_start);
        cfg.arbiter.remove_token(&token);
        let reply = answer?;
        if reply.proof != proof {
            return Err(LinkError::ArbiterNotShared {
                primary: cfg.arbiter.describe(),
                follower: reply.arbiter,
                token,
            });
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(LinkState {
                acked: None,
                last_heard: Instant::now(),
                events_logged: 0,
                epoch,
                alone: false,
                lost: None,
                finished: false,
                tracee_pid: 0,
                tracee_start: None,
                gate_since: None,
            }),
            changed: Condvar::new(),
        });
        let (arbiter, timing) = (cfg.arbiter.clone(), cfg.timing);
        start_threads(stream, rx, shared.clone(), cfg)?;
        Ok(FtSink {
            writer: Some(writer),
            shared,
            handed_over,
            arbiter,
            timing,
            tx: Some(tx),
            trace_dir,
            sent_files: HashSet::new(),
            gated_outputs: 0,
            gate_wait: Duration::ZERO,
        })
    }

    /// The tracee to stop if this primary loses its epoch.
    pub fn set_tracee(&self, pid: i32) {
        let mut st = self.shared.state.lock().expect("link state");
        st.tracee_pid = pid;
        st.tracee_start = status::process_start(pid);
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
        let need = writer.events_written();
        if need == 0 {
            return Ok(());
        }
        let lease_from = *self.handed_over.lock().expect("hand-over time");
        let start = Instant::now();
        self.shared.state.lock().expect("link state").gate_since = Some(start);
        let mut st = self.shared.wait_until_acked(need, None);
        loop {
            if st.lost.is_some() || st.alone || lease_from.elapsed() < self.timing.timeout / 2 {
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
                Ok(l) => {
                    eprintln!(
                        "ftrun: an acknowledgement came {} ms after its events were sent, and epoch {l} was claimed at {} meanwhile: this primary lost epoch {}; stopping the server without releasing its output",
                        lease_from.elapsed().as_millis(),
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
        self.gated_outputs += 1;
        self.gate_wait += start.elapsed();
        Ok(())
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
        self.changed.notify_all();
    }

    /// Waits until `need` events are acknowledged, this primary is alone or lost, or `limit`
    /// has passed; returns the state, locked.
    fn wait_until_acked(&self, need: u64, limit: Option<Duration>) -> MutexGuard<'_, LinkState> {
        let start = Instant::now();
        let mut st = self.state.lock().expect("link state");
        loop {
            let settled = st.alone || st.lost.is_some() || st.acked.is_some_and(|a| a + 1 >= need);
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
            if let (Some(m), Some(tx)) = (&s.mapping, &self.tx) {
                if self.sent_files.insert(m.stored_as.clone()) {
                    let path = self.trace_dir.join("files").join(&m.stored_as);
                    let data = std::fs::read(&path).map_err(|source| RecordError::Io {
                        what: format!("reading {} to send it to the follower", path.display()),
                        source,
                    })?;
                    let _ = tx.send(Outgoing::File {
                        name: m.stored_as.clone(),
                        data,
                    });
                }
            }
        }
        self.shared.state.lock().expect("link state").events_logged += 1;
        match self.writer.as_mut() {
            Some(w) => Ok(w.push(event)?),
            None => Ok(()),
        }
    }

    fn push_buffered(&mut self, calls: BufferedCalls) -> Result<(), RecordError> {
        self.shared.state.lock().expect("link state").events_logged += u64::from(calls.count);
        match self.writer.as_mut() {
            Some(w) => Ok(w.push_buffered(calls)?),
            None => Ok(()),
        }
    }

    fn gates_output(&self) -> bool {
        true
    }

    fn before_output(&mut self) -> Result<(), RecordError> {
        self.wait_for_acks()
    }

    fn finish(&mut self, footer: Footer) -> Result<(), RecordError> {
        if let Some(w) = self.writer.take() {
            w.finish(&footer)?;
        }
        // Let the follower have the end too, so it ends the way the program did.
        let mut st = self
            .shared
            .wait_until_acked(footer.event_count, Some(Duration::from_secs(5)));
        st.finished = true;
        drop(st);
        self.tx = None;
        Ok(())
    }
}

fn start_threads(
    stream: TcpStream,
    rx: Receiver<Outgoing>,
    shared: Arc<Shared>,
    cfg: PrimaryConfig,
) -> Result<(), LinkError> {
    let io_err = |source| LinkError::Io {
        what: "setting up the link".into(),
        source,
    };
    let mut reader = stream.try_clone().map_err(io_err)?;
    reader
        .set_read_timeout(Some(cfg.timing.heartbeat))
        .map_err(io_err)?;
    let heartbeat = cfg.timing.heartbeat;
    thread::spawn(move || send_loop(stream, rx, heartbeat));
    let s = shared.clone();
    thread::spawn(move || receive_loop(&mut reader, &s));
    thread::spawn(move || monitor_loop(&shared, cfg));
    Ok(())
}

/// Ships frames and files in order, and heartbeats when there is nothing to ship.
fn send_loop(mut stream: TcpStream, rx: Receiver<Outgoing>, heartbeat: Duration) {
    loop {
        let first = match rx.recv_timeout(heartbeat) {
            Ok(item) => item,
            Err(RecvTimeoutError::Timeout) => {
                if Message::Heartbeat.write_to(&mut stream).is_err() {
                    return;
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut batch = Vec::new();
        let mut next = Some(first);
        while let Some(item) = next.take().or_else(|| rx.try_recv().ok()) {
            match item {
                Outgoing::Frame(b) => batch.extend_from_slice(&b),
                Outgoing::File { name, data } => {
                    if !batch.is_empty()
                        && stream
                            .write_all(&Message::Events(std::mem::take(&mut batch)).encode())
                            .is_err()
                    {
                        return;
                    }
                    if (Message::File { name, data })
                        .write_to(&mut stream)
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
        if !batch.is_empty() && Message::Events(batch).write_to(&mut stream).is_err() {
            return;
        }
    }
}

fn receive_loop(reader: &mut TcpStream, shared: &Shared) {
    loop {
        match Message::read_from(reader) {
            Ok(Message::Ack(seq)) => {
                let mut st = shared.state.lock().expect("link state");
                st.acked = Some(st.acked.map_or(seq, |a| a.max(seq)));
                st.last_heard = Instant::now();
                shared.changed.notify_all();
            }
            Ok(_) => shared.state.lock().expect("link state").last_heard = Instant::now(),
            Err(e) if is_timeout(&e) => {}
            // A closed or broken connection is only a hint: silence decides.
            Err(_) => return,
        }
    }
}

/// Declares the follower dead after `timeout` of silence and asks the arbiter who goes on.
fn monitor_loop(shared: &Shared, cfg: PrimaryConfig) {
    let tick = cfg.timing.heartbeat / 2;
    let mut last_tick = Instant::now();
    loop {
        thread::sleep(tick);
        let paused = last_tick.elapsed();
        last_tick = Instant::now();
        let st = shared.state.lock().expect("link state");
        if paused > cfg.timing.timeout && !st.alone && st.lost.is_none() && !st.finished {
            // This process did not run for a timeout (paused, or starved): messages the
            // follower sent before it went silent may still be arriving, so silence is not
            // the measure here; the arbiter is.
            let epoch = st.epoch;
            drop(st);
            let latest = cfg.arbiter.latest();
            let mut st = shared.state.lock().expect("link state");
            if let Ok(l) = latest {
                if l > epoch && st.epoch == epoch && st.lost.is_none() {
                    eprintln!(
                        "ftrun: this primary did not run for {} ms, and epoch {l} was claimed at {} meanwhile: it lost epoch {}; stopping the server",
                        paused.as_millis(),
                        cfg.arbiter.describe(),
                        epoch + 1
                    );
                    shared.lose(&mut st, epoch + 1);
                }
            }
            continue;
        }
        let report = RoleStatus {
            role: if st.lost.is_some() {
                "lost"
            } else if st.finished {
                "exited"
            } else if st.alone {
                "alone"
            } else {
                "primary"
            }
            .into(),
            epoch: st.epoch,
            pid: std::process::id() as i32,
            server_pid: st.tracee_pid,
            server_start: st.tracee_start,
            last_seq: st.events_logged.checked_sub(1),
            acked_seq: st.acked,
            replayed: None,
            timeout: cfg.timing.timeout,
            peer_silent: (!st.alone && st.lost.is_none()).then(|| st.last_heard.elapsed()),
            gate_waiting: st.gate_since.map(|t| t.elapsed()),
        };
        let silent = st.last_heard.elapsed();
        let gate_stuck = st
            .gate_since
            .is_some_and(|t| t.elapsed() > cfg.timing.timeout);
        let decide = !st.alone
            && st.lost.is_none()
            && !st.finished
            && (silent > cfg.timing.timeout || gate_stuck);
        let next_epoch = st.epoch + 1;
        drop(st);
        status::write(&cfg.state_dir, "primary", &report);
        if !decide {
            continue;
        }
        let who = format!("primary pid {}", std::process::id());
        let won = cfg.arbiter.claim(next_epoch, &who);
        let mut st = shared.state.lock().expect("link state");
        match won {
            Ok(true) => {
                st.alone = true;
                st.epoch = next_epoch;
                eprintln!(
                    "ftrun: the follower is gone ({}); this primary won epoch {next_epoch} at {} and goes on alone",
                    if gate_stuck { "no acknowledgement within the timeout".to_string() } else { format!("silent for {} ms", silent.as_millis()) },
                    cfg.arbiter.describe()
                );
            }
            Ok(false) | Err(_) => {
                eprintln!(
                    "ftrun: the follower is unreachable and epoch {next_epoch} is taken ({}): this primary lost epoch {next_epoch}; stopping the server",
                    match won {
                        Err(e) => format!("arbiter error: {e}"),
                        _ => format!("at {}", cfg.arbiter.describe()),
                    }
                );
                shared.lose(&mut st, next_epoch);
            }
        }
        shared.changed.notify_all();
    }
}

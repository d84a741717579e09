//! The follower: stores the primary's log, acknowledges it once on disk, replays it live,
//! and — when the primary falls silent and the arbiter agrees — turns its replayed process
//! into the live server, still traced, for this process to record as the new primary. It
//! either listens for its primary or joins one that runs alone (`join`); a primary that
//! joins it late sends the whole log first, and it may take over only once it has had it.

use std::fs::File;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicU64, Ordering};

use replayer::takeover::{write_takeovers, Takeover, TakeoverSource};
use replayer::{EventSource, ReaderSource, ReplayEnd, ReplayError, ReplayOptions, Replayer};
use schema::{Event, ExitStatus, StreamDecoder, TraceReader, EVENTS_FILE};

use crate::lag::Arrivals;
use crate::message::{Hello, LinkError, Message, PROTOCOL_VERSION};
use crate::status::{self, RoleStatus};
pub use crate::takeover::LiveServer;
use crate::{Arbiter, Timing};

#[path = "follower_receive.rs"]
mod receive;
use receive::receive_loop;

pub struct FollowerConfig {
    /// `HOST:PORT`, a host name or an IP address (the first address it resolves to that
    /// can be bound is used): where to wait for the primary, unless `join` is given.
    pub listen: Option<String>,
    /// `HOST:PORT` of a primary running alone to join (`ftrun follow --join`).
    pub join: Option<String>,
    pub state_dir: PathBuf,
    pub timing: Timing,
    pub arbiter: Arc<dyn Arbiter>,
    /// Where to write the address actually listened on (for port 0).
    pub addr_file: Option<PathBuf>,
    /// When events are acknowledged.
    pub ack: AckMode,
}

/// When the follower acknowledges events to the primary (which releases outputs on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AckMode {
    /// Once they are in the follower's memory and its log file, before they reach its disk
    /// (as VMware FT's backup does): a dead primary loses nothing acknowledged; a follower
    /// whose host dies at the same moment may.
    #[default]
    Received,
    /// Once `fdatasync` has put them on the follower's disk: acknowledged events also
    /// survive a crash of the follower's host, at the cost of a disk flush per batch.
    Durable,
}

/// How following ended.
pub enum FollowOutcome {
    /// The primary's program ended; the replay ended the same way.
    Finished(ExitStatus),
    /// The follower took over: the server is live and still traced by this process.
    Live(Box<LiveServer>),
}

#[derive(Debug)]
pub(crate) struct FollowState {
    received: u64,
    last_heard: Instant,
    epoch: u64,
    /// Won the next epoch: replay what is on disk, then go live.
    takeover: Option<Instant>,
    lost: Option<u64>,
    /// Why the claim was lost when the arbiter could not be asked (it counts as lost).
    arbiter_error: Option<String>,
    /// The primary has sent the whole log before this link (a follower that has not had
    /// it cannot take over).
    synced: bool,
    /// The primary fell silent before that: nothing to take over.
    gave_up: bool,
    finished: bool,
    silent_for: Duration,
    /// What `status.json` says this side is: `follower`, `live`, `exited`.
    pub(crate) role: &'static str,
    /// The replayed process (the live server after a takeover) and its start time.
    server_pid: i32,
    server_start: Option<u64>,
    /// Events the replay has been handed so far.
    replayed: Arc<AtomicU64>,
    /// When the received events arrived, for the replay's lag.
    arrivals: Arrivals,
}

impl FollowState {
    /// Events received and not replayed yet, and how long the oldest of them has waited.
    fn lag(&mut self) -> (u64, Duration) {
        let replayed = self.replayed.load(Ordering::Relaxed);
        let waited = self.arrivals.lag(replayed, Instant::now());
        (self.received.saturating_sub(replayed), waited)
    }

    fn report(&mut self, timing: Timing) -> RoleStatus {
        let following = self.role == "follower";
        let lag_ms = following.then(|| self.lag().1.as_millis() as u64);
        RoleStatus {
            role: self.role.into(),
            epoch: self.epoch,
            pid: std::process::id() as i32,
            server_pid: self.server_pid,
            server_start: self.server_start,
            last_seq: self.received.checked_sub(1),
            acked_seq: following.then(|| self.received.checked_sub(1)).flatten(),
            replayed: following.then(|| self.replayed.load(Ordering::Relaxed)),
            timeout: timing.timeout,
            peer_silent: following.then(|| self.last_heard.elapsed()),
            gate_waiting: None,
            lag_ms,
        }
    }
}

pub(crate) struct Shared {
    pub(crate) state: Mutex<FollowState>,
    /// The follower decided, had the whole log, or gave up (see [`Shared::decided`]).
    changed: Condvar,
    /// New events arrived (or what `changed` says): the replay waits on this one alone, so
    /// that an arrival wakes it and nothing else.
    arrived: Condvar,
    /// Held while the status reporter writes this follower's section.
    pub(crate) reporting: Mutex<()>,
}

impl Shared {
    /// A follower of a primary in `epoch` that has received nothing yet.
    fn new(epoch: u64) -> Shared {
        Shared {
            state: Mutex::new(FollowState {
                received: 0,
                last_heard: Instant::now(),
                epoch,
                takeover: None,
                lost: None,
                arbiter_error: None,
                synced: false,
                gave_up: false,
                finished: false,
                silent_for: Duration::ZERO,
                role: "follower",
                server_pid: 0,
                server_start: None,
                replayed: Arc::new(AtomicU64::new(0)),
                arrivals: Arrivals::default(),
            }),
            changed: Condvar::new(),
            arrived: Condvar::new(),
            reporting: Mutex::new(()),
        }
    }

    /// Wakes everyone waiting on the follower's state: its decision, the whole log had,
    /// the end of the log.
    pub(crate) fn decided(&self) {
        self.changed.notify_all();
        self.arrived.notify_all();
    }

    /// Wakes the replay: new events are in the log copy.
    pub(crate) fn events_arrived(&self) {
        self.arrived.notify_all();
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LinkError {
    let what = what.into();
    move |source| LinkError::Io { what, source }
}

/// Waits for a primary (or joins one) and follows it to the end.
pub fn follow(cfg: FollowerConfig) -> Result<FollowOutcome, LinkError> {
    std::fs::create_dir_all(&cfg.state_dir)
        .map_err(io(format!("creating {}", cfg.state_dir.display())))?;
    let _ = std::fs::write(
        cfg.state_dir.join("follower.pid"),
        std::process::id().to_string(),
    );
    let log_dir = cfg.state_dir.join("follower-log");
    let (mut stream, hello, header) = match &cfg.join {
        Some(addr) => join_primary(&cfg, addr)?,
        None => wait_for_primary(&cfg)?,
    };
    // Right after the greeting: the log's takeovers (this follower replays through them).
    let takeovers = match Message::read_from(&mut stream)? {
        Message::Takeovers(text) => replayer::takeover::parse_takeovers(&text)
            .map_err(|e| LinkError::Garbage(format!("the primary's takeover list: {e}")))?,
        other => {
            return Err(LinkError::Garbage(format!(
                "expected the takeover list, got {other:?}"
            )))
        }
    };
    let _ = std::fs::remove_dir_all(&log_dir);
    std::fs::create_dir_all(log_dir.join("files"))
        .map_err(io(format!("creating {}", log_dir.display())))?;
    write_takeovers(&log_dir, &takeovers).map_err(io("writing the takeover list"))?;
    let mut log = File::create(log_dir.join(EVENTS_FILE)).map_err(io("creating the log copy"))?;
    log.write_all(&hello.trace_start)
        .map_err(io("writing the log copy"))?;
    log.sync_data().map_err(io("writing the log copy"))?;
    let shared = Arc::new(Shared::new(hello.epoch));
    // `status` shows this follower from the moment it may acknowledge.
    let report = shared
        .state
        .lock()
        .expect("follow state")
        .report(cfg.timing);
    status::write(&cfg.state_dir, "follower", &report);
    start_threads(
        stream,
        log,
        &log_dir,
        &hello.trace_start,
        shared.clone(),
        &cfg,
    )?;
    replay_live(&cfg, &log_dir, &header, takeovers, shared)
}

/// Listens, and takes the first peer that says a valid hello.
fn wait_for_primary(cfg: &FollowerConfig) -> Result<(TcpStream, Hello, schema::Header), LinkError> {
    let listen = cfg.listen.as_deref().unwrap_or("127.0.0.1:0");
    let listener = TcpListener::bind(listen).map_err(io(format!("listening on {listen}")))?;
    let local = listener
        .local_addr()
        .map_err(io("reading the listening address"))?;
    if let Some(f) = &cfg.addr_file {
        write_atomically(f, &local.to_string())?;
    }
    eprintln!("ftrun: follower listening on {local}");
    loop {
        let (mut stream, peer) = listener.accept().map_err(io("accepting the primary"))?;
        match greet(&mut stream, cfg.arbiter.as_ref()) {
            Ok((hello, header)) => {
                eprintln!(
                    "ftrun: following the primary at {peer} (epoch {}, arbiter {})",
                    hello.epoch, hello.arbiter
                );
                return Ok((stream, hello, header));
            }
            // Not a peer to wait past: this follower is set up with another arbiter.
            Err(e @ LinkError::ArbiterNotShared { .. }) => return Err(e),
            Err(e) => eprintln!("ftrun: refused a peer from {peer}: {e}"),
        }
    }
}

/// Connects to a primary that runs alone and is greeted by it.
fn join_primary(
    cfg: &FollowerConfig,
    addr: &str,
) -> Result<(TcpStream, Hello, schema::Header), LinkError> {
    let within = (cfg.timing.timeout * 10).max(Duration::from_secs(10));
    let mut stream = crate::join::connect_retrying(addr, within).map_err(|e| match e {
        LinkError::Io { source, .. } => LinkError::Io {
            what: format!(
                "cannot reach the primary at {addr} (tried for {} ms)",
                within.as_millis()
            ),
            source,
        },
        other => other,
    })?;
    match greet(&mut stream, cfg.arbiter.as_ref()) {
        Ok((hello, header)) => {
            eprintln!(
                "ftrun: joined the primary at {addr} (epoch {}, arbiter {}); it sends the whole log first",
                hello.epoch, hello.arbiter
            );
            Ok((stream, hello, header))
        }
        Err(LinkError::Closed) => Err(LinkError::Other(format!(
            "the primary at {addr} turned this follower away: it has a follower already (or is not a primary waiting for one)"
        ))),
        Err(e) => Err(e),
    }
}

fn write_atomically(f: &Path, text: &str) -> Result<(), LinkError> {
    let tmp = f.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(io(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, f).map_err(io(format!("writing {}", f.display())))
}

/// Reads the token the primary left, from this follower's arbiter; shared storage may show
/// a new file late, so it is looked for a while.
fn read_back_token(arbiter: &dyn Arbiter, name: &str) -> Result<Option<String>, LinkError> {
    let start = Instant::now();
    loop {
        if let Some(content) = arbiter.read_token(name)? {
            return Ok(Some(content));
        }
        if start.elapsed() > Duration::from_secs(1) {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Reads and checks the primary's hello (with a deadline), and answers it with the token
/// read back from this follower's arbiter; refuses a primary whose arbiter is not this
/// one, or whose epoch was superseded there (the epoch fences it off).
fn greet(
    stream: &mut TcpStream,
    arbiter: &dyn Arbiter,
) -> Result<(Hello, schema::Header), LinkError> {
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(io("configuring the link"))?;
    let hello = match Message::read_from(stream)? {
        Message::Hello(h) => h,
        other => {
            return Err(LinkError::Garbage(format!(
                "expected a hello, got {other:?}"
            )))
        }
    };
    let mut decoder = StreamDecoder::new();
    decoder.push(&hello.trace_start);
    let header = match decoder.poll_header() {
        Ok(Some(h)) => h.clone(),
        Ok(None) => {
            return Err(LinkError::Garbage(
                "the hello carries no trace header".into(),
            ))
        }
        Err(e) => return Err(LinkError::Garbage(format!("the hello's trace header: {e}"))),
    };
    let proof = read_back_token(arbiter, &hello.token)?;
    // A later epoch at a shared arbiter fences this primary off; the reply names it.
    let latest = match proof {
        Some(_) => arbiter.latest()?,
        None => 0,
    };
    Message::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        epoch: hello.epoch.max(latest),
        first_seq: 0,
        arbiter: arbiter.describe(),
        token: hello.token.clone(),
        proof: proof.clone().unwrap_or_default(),
        trace_start: Vec::new(),
    })
    .write_to(stream)?;
    if proof.is_none() {
        return Err(LinkError::ArbiterNotShared {
            primary: hello.arbiter,
            follower: arbiter.describe(),
            token: hello.token,
        });
    }
    if hello.epoch < latest {
        return Err(LinkError::Other(format!(
            "the primary speaks for epoch {} but epoch {latest} was claimed since at {}: it is fenced off",
            hello.epoch,
            arbiter.describe()
        )));
    }
    let _ = stream.set_nodelay(true);
    Ok((hello, header))
}

fn start_threads(
    stream: TcpStream,
    log: File,
    log_dir: &Path,
    trace_start: &[u8],
    shared: Arc<Shared>,
    cfg: &FollowerConfig,
) -> Result<(), LinkError> {
    let mut reader = stream.try_clone().map_err(io("setting up the link"))?;
    reader
        .set_read_timeout(Some(cfg.timing.heartbeat))
        .map_err(io("setting up the link"))?;
    let writer = Arc::new(Mutex::new(stream));
    let (hb_writer, heartbeat, hb_shared) = (writer.clone(), cfg.timing.heartbeat, shared.clone());
    thread::spawn(move || loop {
        thread::sleep(heartbeat);
        let progress = {
            // Once this follower has decided (taken over or lost) it falls silent for good,
            // so that a primary still hearing it cannot take it for a live follower.
            let mut st = hb_shared.state.lock().expect("follow state");
            if st.takeover.is_some() || st.lost.is_some() {
                let _ = hb_writer
                    .lock()
                    .expect("link")
                    .shutdown(std::net::Shutdown::Both);
                return;
            }
            // The heartbeat says how far behind the replay is: a primary whose follower
            // falls too far behind slows down.
            let (_, waited) = st.lag();
            Message::Progress {
                replayed: st.replayed.load(Ordering::Relaxed),
                lag_ms: waited.as_millis() as u64,
            }
        };
        if progress
            .write_to(&mut *hb_writer.lock().expect("link"))
            .is_err()
        {
            return;
        }
    });
    let (s, dir) = (shared.clone(), log_dir.to_path_buf());
    let mut decoder = StreamDecoder::new();
    decoder.push(trace_start);
    let ack = cfg.ack;
    thread::spawn(move || receive_loop(&mut reader, log, &dir, decoder, &writer, &s, ack));
    let timing = cfg.timing;
    let arbiter = cfg.arbiter.clone();
    let state_dir = cfg.state_dir.clone();
    thread::spawn(move || monitor_loop(&shared, timing, arbiter.as_ref(), &state_dir));
    Ok(())
}

/// Declares the primary dead after `timeout` of silence; the arbiter says who goes on.
fn monitor_loop(shared: &Shared, timing: Timing, arbiter: &dyn Arbiter, state_dir: &Path) {
    loop {
        thread::sleep(timing.heartbeat / 2);
        let st = shared.state.lock().expect("follow state");
        if st.takeover.is_some() || st.lost.is_some() || st.finished {
            return;
        }
        let silent = st.last_heard.elapsed();
        if silent <= timing.timeout {
            continue;
        }
        if !st.synced {
            // It never had the whole log: the server cannot go on from here.
            let mut st = st;
            st.gave_up = true;
            st.silent_for = silent;
            shared.decided();
            return;
        }
        let next = st.epoch + 1;
        drop(st);
        let won = arbiter.claim(next, &format!("follower pid {}", std::process::id()));
        let mut st = shared.state.lock().expect("follow state");
        st.silent_for = silent;
        match won {
            Ok(true) => {
                st.epoch = next;
                st.takeover = Some(Instant::now());
                drop(st);
                crate::takeover::stop_lost_primary(state_dir, next);
                shared.decided();
            }
            Ok(false) => {
                st.lost = Some(next);
                shared.decided();
            }
            Err(e) => {
                st.lost = Some(next);
                st.arbiter_error = Some(e.to_string());
                shared.decided();
            }
        }
        return;
    }
}

/// Events for the replayer from the log copy as it grows; ends when the follower takes
/// over (after everything on disk) or loses.
struct LiveSource {
    inner: ReaderSource,
    shared: Arc<Shared>,
    /// Events handed to the replay (its progress, for `status`).
    replayed: Arc<AtomicU64>,
}

impl EventSource for LiveSource {
    fn next_event(&mut self) -> Result<Option<Event>, ReplayError> {
        let ev = self.wait_for_event()?;
        if ev.is_some() {
            self.replayed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(ev)
    }
}

/// How long the replay, once it has replayed everything received, lets new events gather
/// before it goes on: under load the replay then runs once per few frames rather than
/// once per frame (fewer thread switches for it and its process, on cores the primary
/// needs), for a lag of a few milliseconds more. A decision wakes it at once.
const REPLAY_GATHER: Duration = Duration::from_millis(4);

impl LiveSource {
    fn wait_for_event(&mut self) -> Result<Option<Event>, ReplayError> {
        let mut gathered = false;
        loop {
            if let Some(ev) = self.inner.next_event()? {
                return Ok(Some(ev));
            }
            let st = self.shared.state.lock().expect("follow state");
            if st.lost.is_some() || st.gave_up {
                return Ok(None);
            }
            if st.takeover.is_some() || (st.finished && self.inner.reader.footer().is_some()) {
                // One more look: everything acknowledged is on disk by now.
                drop(st);
                return self.inner.next_event();
            }
            // First a pause that only a decision cuts short, then a wait for the next
            // arrival (an idle follower sleeps until events come).
            let (condvar, wait) = match gathered {
                false => (&self.shared.changed, REPLAY_GATHER),
                true => (&self.shared.arrived, Duration::from_millis(20)),
            };
            gathered = true;
            let _ = condvar.wait_timeout(st, wait).expect("follow state");
        }
    }
}

fn replay_live(
    cfg: &FollowerConfig,
    log_dir: &Path,
    header: &schema::Header,
    takeovers: Vec<Takeover>,
    shared: Arc<Shared>,
) -> Result<FollowOutcome, LinkError> {
    let reader = TraceReader::open(log_dir)
        .map_err(|e| LinkError::Other(format!("reading the log copy: {e}")))?;
    let tracee = replayer::session::spawn_for_replay(header)
        .map_err(|e| LinkError::Other(format!("starting the replay: {e}")))?;
    let replayed = {
        let mut st = shared.state.lock().expect("follow state");
        st.server_pid = tracee.pid();
        st.server_start = status::process_start(tracee.pid());
        st.replayed.clone()
    };
    let live = LiveSource {
        inner: ReaderSource { reader },
        shared: shared.clone(),
        replayed,
    };
    let mut source = TakeoverSource::new(live, takeovers.clone());
    let opts = ReplayOptions {
        trace_dir: log_dir.to_path_buf(),
        echo_output: false,
    };
    let mut replayer = Replayer::new(tracee, &mut source, opts);
    use std::os::unix::ffi::OsStrExt;
    replayer.set_start_dir(PathBuf::from(std::ffi::OsStr::from_bytes(&header.cwd)));
    let report_status = |role: &'static str| {
        let mut st = shared.state.lock().expect("follow state");
        st.role = role;
        let s = st.report(cfg.timing);
        drop(st);
        status::write(&cfg.state_dir, "follower", &s);
    };
    report_status("follower");
    let (status_shared, state_dir, timing) = (shared.clone(), cfg.state_dir.clone(), cfg.timing);
    // Detached: it stops by itself when following ends other than live, and with the
    // process otherwise (a live follower ends when its server does).
    thread::spawn(move || status_reporter(&status_shared, &state_dir, timing));
    let end = replayer.run();
    let st = shared.state.lock().expect("follow state");
    let (lost, takeover, epoch, silent) = (st.lost, st.takeover, st.epoch, st.silent_for);
    let (gave_up, received) = (st.gave_up, st.received);
    let arbiter_error = st.arbiter_error.clone();
    drop(st);
    match end {
        Ok(ReplayEnd::Exited(status)) => {
            report_status("exited");
            Ok(FollowOutcome::Finished(status))
        }
        Ok(ReplayEnd::LogEnded(mut handoff)) => {
            if let Some(epoch) = lost {
                handoff.kill();
                return Err(LinkError::Other(match arbiter_error {
                    Some(e) => format!(
                        "the primary is unreachable and the arbiter could not be asked ({e}): this follower does not go on alone; it lost epoch {epoch} and stops"
                    ),
                    None => format!(
                        "the primary is unreachable but epoch {epoch} is taken: this follower lost epoch {epoch} and stops"
                    ),
                }));
            }
            if gave_up {
                handoff.kill();
                return Err(LinkError::Other(format!(
                    "the primary fell silent for {} ms before it had sent this follower the whole log ({received} events arrived): there is nothing to take over, and this follower stops",
                    silent.as_millis()
                )));
            }
            let Some(decided) = takeover else {
                handoff.kill();
                return Err(LinkError::Other("the log ended without a takeover".into()));
            };
            let catch_up = decided.elapsed();
            let t = Instant::now();
            let (live, report) = replayer::go_live_traced(handoff)
                .map_err(|e| LinkError::Other(format!("going live failed: {e}")))?;
            let go_live = catch_up + t.elapsed();
            for w in &report.warnings {
                eprintln!("ftrun: {w}");
            }
            eprintln!(
                "ftrun: takeover in {} ms: detection {} ms (primary silent), go-live {} ms (arbiter, replay catch-up, {} files, {} listening sockets, {} client connections closed); live as epoch {epoch}",
                (silent + go_live).as_millis(),
                silent.as_millis(),
                go_live.as_millis(),
                report.files,
                report.listeners,
                report.closed_peers
            );
            let pid = live.process.1;
            {
                let mut st = shared.state.lock().expect("follow state");
                st.server_pid = pid;
                st.server_start = status::process_start(pid);
            }
            report_status("live");
            let (log_bytes, log_events) = match source.inner().inner.reader.end_state() {
                schema::EndState::Interrupted { events, offset, .. } => (offset, events),
                schema::EndState::Finished(_) => {
                    return Err(LinkError::Other(
                        "the log copy has its end, yet the server went live".into(),
                    ))
                }
            };
            let mut takeovers = takeovers;
            takeovers.push(Takeover {
                events: log_events,
                epoch,
                process: (live.process.0, pid as u32),
                threads: live
                    .threads
                    .iter()
                    .map(|t| (t.recorded, t.tracee.pid() as u32))
                    .collect(),
            });
            Ok(FollowOutcome::Live(Box::new(LiveServer {
                live,
                epoch,
                header: header.clone(),
                log_dir: log_dir.to_path_buf(),
                log_bytes,
                log_events,
                takeovers,
                shared: shared.clone(),
                state_dir: cfg.state_dir.clone(),
            })))
        }
        Err(ReplayError::TraceEnded { events }) if takeover.is_some() => Err(LinkError::Other(format!(
            "cannot go live after event {events}: the server runs several processes, and going live takes over one process with its threads (not yet supported)"
        ))),
        Err(e) => Err(LinkError::Other(format!(
            "replay of the primary's log failed: {e}"
        ))),
    }
}

/// Keeps `status.json` fresh while following and while live (a thread; ends with the
/// process, or once following ended another way).
fn status_reporter(shared: &Shared, state_dir: &Path, timing: Timing) {
    let interval = Duration::from_millis(200).min(timing.timeout / 2);
    let mut written_synced = false;
    loop {
        // Woken early when this follower has had the whole log: from then on its section
        // shows what it protects the primary with.
        let st = shared.state.lock().expect("follow state");
        let (mut st, _) = shared
            .changed
            .wait_timeout_while(st, interval, |st| st.synced == written_synced)
            .expect("follow state");
        written_synced = st.synced;
        // A decided follower falls silent until it is live; an ended one for good, and one
        // whose process runs the server as the primary now.
        if st.lost.is_some() || st.gave_up || !matches!(st.role, "follower" | "live") {
            return;
        }
        if st.takeover.is_some() && st.role != "live" {
            continue;
        }
        let s = st.report(timing);
        let writing = shared.reporting.lock().expect("status reporter");
        drop(st);
        status::write(state_dir, "follower", &s);
        drop(writing);
    }
}

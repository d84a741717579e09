//! `ftrun [--follower HOST:PORT] [--state-dir DIR] [--arbiter file:DIR|etcd://HOST:PORT[/PREFIX]]
//! -- PROG ARGS…`:
//! PROG runs as a fault-tolerant primary; with no `--follower`, a local follower is started
//! in its own session (the embedded default). A follower that takes over goes on here as
//! the new primary (`run_after_takeover`).

use std::ffi::OsString;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ftlink::follower::LiveServer;
use ftlink::lock::{Side, StateLock};
use ftlink::log::LogWriter;
use ftlink::primary::{FtSink, PrimaryConfig, Recruit};
use ftlink::Timing;
use recorder::{AdoptedThread, Recorder};

use crate::cmd::record::launch_for;
use crate::{exit, forward};

/// Options of the fault-tolerant runner.
#[derive(clap::Args, Debug, Clone)]
pub struct FtArgs {
    /// The follower's address (a host name or an IP address); without it a local follower
    /// is started.
    #[arg(long, value_name = "HOST:PORT")]
    pub follower: Option<String>,
    /// Trace every syscall of the server with ptrace stops (no in-process fast path).
    #[arg(long)]
    pub no_fast_path: bool,
    #[command(flatten)]
    pub link: LinkArgs,
    /// The server and its arguments.
    #[arg(last = true)]
    pub command: Vec<OsString>,
}

/// Options both sides of the link take (`ftrun --` and `ftrun follow`).
#[derive(clap::Args, Debug, Clone)]
pub struct LinkArgs {
    /// Directory for pids, locks, the logs, the arbiter and status.json (default ./.ftrun).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The arbiter for split-brain decisions: a directory both sides see, or an etcd
    /// cluster's client URL (default file:STATE_DIR/arbiter).
    #[arg(long, value_name = "file:DIR|etcd://HOST:PORT[/PREFIX]")]
    pub arbiter: Option<String>,
    /// Heartbeat interval.
    #[arg(long, default_value_t = 50)]
    pub heartbeat_ms: u64,
    /// Silence after which the peer is declared dead.
    #[arg(long, default_value_t = 500)]
    pub timeout_ms: u64,
    /// When the follower acknowledges events: `received` (in its memory and log file; a
    /// dead primary loses nothing acknowledged) or `durable` (also flushed to its disk, so
    /// acknowledged events survive the follower's host crashing too).
    #[arg(long, value_enum, default_value_t = Ack::Received)]
    pub ack: Ack,
    /// How far the follower's replay may fall behind (the wait of the oldest event it has
    /// and has not replayed) before the primary slows down: an output then waits until the
    /// follower has caught up to half of it, for at most this long. It bounds how long a
    /// takeover must replay before the server goes live.
    #[arg(long, default_value_t = 1000)]
    pub max_lag_ms: u64,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ack {
    Received,
    Durable,
}

impl Ack {
    pub fn mode(self) -> ftlink::AckMode {
        match self {
            Ack::Received => ftlink::AckMode::Received,
            Ack::Durable => ftlink::AckMode::Durable,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Ack::Received => "received",
            Ack::Durable => "durable",
        }
    }
}

impl LinkArgs {
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(".ftrun"))
    }

    pub fn arbiter_spec(&self) -> String {
        self.arbiter.clone().unwrap_or_else(|| {
            format!(
                "file:{}",
                absolute(&self.state_dir().join("arbiter")).display()
            )
        })
    }

    pub fn timing(&self) -> Timing {
        Timing {
            heartbeat: Duration::from_millis(self.heartbeat_ms.max(1)),
            timeout: Duration::from_millis(self.timeout_ms.max(1)),
        }
    }
}

pub fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Starts `ftrun follow` on a local port in its own session, so that it outlives this
/// primary; it is not our child (a second fork in between), so the recorder, which waits
/// for any child, never meets its end. Returns its address and pid.
pub fn start_local_follower(args: &LinkArgs, state: &Path) -> anyhow::Result<(String, i32)> {
    let addr_file = state.join("follower.addr");
    let _ = std::fs::remove_file(&addr_file);
    let exe = std::env::current_exe().context("finding the ftrun executable")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("follow")
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--embedded")
        .arg("--state-dir")
        .arg(state)
        .arg("--arbiter")
        .arg(args.arbiter_spec())
        .arg("--heartbeat-ms")
        .arg(args.heartbeat_ms.to_string())
        .arg("--timeout-ms")
        .arg(args.timeout_ms.to_string())
        .arg("--ack")
        .arg(args.ack.name())
        .arg("--addr-file")
        .arg(&addr_file)
        .stdin(std::process::Stdio::null());
    // The middle process tells the follower's pid on this pipe, then exits.
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two descriptors into the array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("starting the local follower");
    }
    let (pid_r, pid_w) = (fds[0], fds[1]);
    // SAFETY: setsid, fork, write and _exit are async-signal-safe; the closure touches no
    // memory but the pipe's number and a local.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            match libc::fork() {
                -1 => Err(std::io::Error::last_os_error()),
                0 => Ok(()),
                pid => {
                    libc::write(pid_w, &pid as *const i32 as *const libc::c_void, 4);
                    libc::_exit(0)
                }
            }
        });
    }
    let spawned = cmd.spawn();
    let mut pid_bytes = [0u8; 4];
    // SAFETY: closing our write end, reading at most 4 bytes into a local, closing.
    let n = unsafe {
        libc::close(pid_w);
        let n = libc::read(pid_r, pid_bytes.as_mut_ptr() as *mut libc::c_void, 4);
        libc::close(pid_r);
        n
    };
    let mut middle = spawned.context("starting the local follower")?;
    let _ = middle.wait();
    if n != 4 {
        bail!("the local follower could not be started");
    }
    let pid = i32::from_le_bytes(pid_bytes);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if ftlink::status::process_start(pid).is_none() {
            bail!("the local follower ended before it listened (its message is above)");
        }
        if let Ok(text) = std::fs::read_to_string(&addr_file) {
            if let Ok(addr) = text.trim().parse::<SocketAddr>() {
                return Ok((addr.to_string(), pid));
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    bail!("the local follower did not start listening within 10 s");
}

/// Takes the primary's lock on the state directory. With a local follower the directory's
/// follower side must be free too (a follower still running there — another run's —
/// would refuse ours only after the primary had started).
fn lock_state_dir(state: &Path, local_follower: bool) -> anyhow::Result<StateLock> {
    let lock = match ftlink::lock::acquire(state, Side::Primary)? {
        Ok(lock) => lock,
        Err(holder) => bail!("{}", holder.refusal(state)),
    };
    if local_follower {
        if let Some(holder) = ftlink::lock::holder(state, Side::Follower)? {
            bail!("{}", holder.refusal(state));
        }
    }
    Ok(lock)
}

fn primary_config(
    link: &LinkArgs,
    state: &Path,
    recruit: Recruit,
) -> anyhow::Result<PrimaryConfig> {
    Ok(PrimaryConfig {
        timing: link.timing(),
        arbiter: ftlink::arbiter::parse(&link.arbiter_spec())?,
        state_dir: state.to_path_buf(),
        connect_timeout: Duration::from_millis(link.timeout_ms.max(1) * 10)
            .max(Duration::from_secs(3)),
        recruit,
        takeovers: Vec::new(),
        hold_outputs: None,
        max_lag: Duration::from_millis(link.max_lag_ms.max(1)),
    })
}

pub fn run(args: FtArgs) -> anyhow::Result<i32> {
    let launch = match launch_for(&args.command) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let state = absolute(&args.link.state_dir());
    std::fs::create_dir_all(&state).with_context(|| format!("creating {}", state.display()))?;
    // Held until this process ends: a second run on this directory is refused.
    let _lock = lock_state_dir(&state, args.follower.is_none())?;
    std::fs::write(state.join("primary.pid"), std::process::id().to_string())?;
    // A remote follower that is lost is looked for again at its address (a follower
    // restarted there rejoins); a local one is not replaced.
    let recruit = match &args.follower {
        Some(a) => Recruit::Connect {
            addr: a.clone(),
            again: true,
        },
        None => Recruit::Never,
    };
    let cfg = primary_config(&args.link, &state, recruit)?;
    let (follower, local_follower) = match args.follower.clone() {
        Some(a) => (a, None),
        None => {
            let (a, pid) = start_local_follower(&args.link, &state)?;
            (a, Some(pid))
        }
    };
    let log_dir = state.join("primary-log");
    let _ = std::fs::remove_dir_all(&log_dir);
    let header = launch.header();
    let writer = LogWriter::create(&log_dir, &header)
        .with_context(|| format!("creating the primary's log in {}", log_dir.display()))?;
    let mut sink = match FtSink::connect(writer, cfg, &follower) {
        Ok(s) => s,
        Err(e) => {
            if let Some(pid) = local_follower {
                // SAFETY: kill with the pid of the follower we just started.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
            bail!("{e}; the server was not started");
        }
    };
    eprintln!(
        "ftrun: primary for {} with follower {follower}; state in {}",
        launch.exe.display(),
        state.display()
    );
    let spec = launch.spawn_spec();
    let tracee = tracee::spawn_traced(&spec).map_err(|e| anyhow::anyhow!("{e}"))?;
    sink.set_tracee(tracee.pid());
    forward::forward_to(tracee.pid());
    let mut recorder = Recorder::new(tracee, &mut sink, &log_dir);
    if args.no_fast_path {
        recorder = recorder.without_fast_path();
    }
    let result = recorder.run();
    primary_ended(&sink, result)
}

/// How the server's recording ended, said and turned into ftrun's exit.
fn primary_ended(
    sink: &FtSink,
    result: Result<schema::ExitStatus, recorder::RecordError>,
) -> anyhow::Result<i32> {
    if let Some(epoch) = sink.lost_epoch() {
        bail!("this primary lost epoch {epoch} to its follower; the server was stopped");
    }
    if sink.outputs > 0 {
        eprintln!(
            "ftrun: {} of {} outputs waited for the follower's acknowledgement, {:.1} µs each on average (the others had nothing new to wait for)",
            sink.gated_outputs,
            sink.outputs,
            sink.gate_wait.as_secs_f64() * 1e6 / sink.gated_outputs.max(1) as f64
        );
        if sink.throttled > 0 {
            eprintln!(
                "ftrun: {} outputs waited for the follower's replay to catch up (it was more than {} ms behind), {} ms in all",
                sink.throttled,
                sink.max_lag().as_millis(),
                sink.throttle_wait.as_millis()
            );
        }
    }
    let status = result.with_context(|| "recording the server failed")?;
    let ending = if sink.follower_has_end {
        "the follower has the whole log and ends the same way; this primary ends too"
    } else {
        "no follower had the whole log (this primary ran alone); this primary ends too"
    };
    if let Some(msg) = exit::killed_message(status, ending) {
        eprintln!("ftrun: {msg}");
    }
    Ok(exit::exit_like(status))
}

/// How the follower that took over looks for its own follower.
pub struct NextFollower {
    /// The embedded default's follower: it starts a new local follower.
    pub embedded: bool,
    /// Where followers may join (`ftrun follow --join`), for a follower started with
    /// `--listen`.
    pub listen: Option<String>,
    /// The follower's lock on the state directory (released: this process is the
    /// primary now).
    pub follower_lock: StateLock,
}

/// The follower took over: this process keeps the server under ftrun as the new primary.
/// Its log goes on from the one it replayed (a new follower replays the program from its
/// start), recorded with every syscall traced, and a new follower is found.
pub fn run_after_takeover(
    server: Box<LiveServer>,
    link: &LinkArgs,
    next: NextFollower,
) -> anyhow::Result<i32> {
    let state = absolute(&link.state_dir());
    let _primary_lock = take_primary_lock(&state)?;
    std::fs::write(state.join("primary.pid"), std::process::id().to_string())?;
    let pid = server.live.process.1;
    // `status` names this process as the primary from now on, alone for the moment.
    ftlink::status::write(
        &state,
        "primary",
        &ftlink::status::RoleStatus {
            role: "alone".into(),
            epoch: server.epoch,
            pid: std::process::id() as i32,
            server_pid: pid,
            server_start: ftlink::status::process_start(pid),
            last_seq: server.log_events.checked_sub(1),
            acked_seq: None,
            replayed: None,
            timeout: link.timing().timeout,
            peer_silent: None,
            gate_waiting: None,
            lag_ms: None,
        },
    );
    server.hand_over();
    let log_dir = state.join("primary-log");
    let _ = std::fs::remove_dir_all(&log_dir);
    let writer = LogWriter::continuing(
        &log_dir,
        &server.log_dir,
        server.log_bytes,
        server.log_events,
    )
    .with_context(|| format!("creating the new primary's log in {}", log_dir.display()))?;
    copy_files(&server.log_dir.join("files"), &log_dir.join("files"))?;
    replayer::takeover::write_takeovers(&log_dir, &server.takeovers)
        .with_context(|| format!("writing the takeovers of {}", log_dir.display()))?;
    drop(next.follower_lock);
    let recruit = if next.embedded {
        match start_local_follower(link, &state) {
            Ok((addr, _)) => {
                eprintln!("ftrun: a new local follower listens on {addr}");
                Recruit::Connect { addr, again: false }
            }
            Err(e) => {
                eprintln!("ftrun: no new local follower ({e}); this primary runs alone");
                Recruit::Never
            }
        }
    } else if let Some(listen) = &next.listen {
        match TcpListener::bind(listen.as_str()) {
            Ok(l) => {
                let at = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
                let _ = std::fs::write(state.join("primary.addr"), &at);
                // Listening on every address (0.0.0.0, ::): a follower elsewhere names one
                // of this host's.
                let join = match l.local_addr() {
                    Ok(a) if a.ip().is_unspecified() => {
                        format!("HOST:{} (HOST: a name or address of this host)", a.port())
                    }
                    _ => at.clone(),
                };
                eprintln!(
                    "ftrun: a new follower joins this primary with `ftrun follow --join {join}` (with the same --arbiter)"
                );
                Recruit::Accept(l)
            }
            Err(e) => {
                eprintln!(
                    "ftrun: cannot listen on {listen} for a new follower ({e}); this primary runs alone"
                );
                Recruit::Never
            }
        }
    } else {
        eprintln!("ftrun: started with --join and no --listen, this new primary has nowhere for a follower to join; it runs alone");
        Recruit::Never
    };
    let local = matches!(recruit, Recruit::Connect { .. });
    let mut cfg = primary_config(link, &state, recruit)?;
    cfg.takeovers = server.takeovers.clone();
    // The new local follower is on its way: replies wait until it has the whole log (as
    // the first primary's server waits for its follower), unless it takes too long.
    if local {
        cfg.hold_outputs = Some((link.timing().timeout * 20).max(Duration::from_secs(10)));
    }
    let mut sink = FtSink::alone(writer, cfg, server.epoch)?;
    eprintln!(
        "ftrun: primary for {} again, epoch {} (takeover {}); its log goes on from event {}",
        String::from_utf8_lossy(&server.header.exe),
        server.epoch,
        server.takeovers.len(),
        server.log_events
    );
    let threads = server
        .live
        .threads
        .into_iter()
        .map(|t| AdoptedThread {
            tracee: t.tracee,
            tgid: pid,
            deliver: t.deliver,
        })
        .collect();
    sink.set_tracee(pid);
    forward::forward_to(pid);
    let recorder = Recorder::adopt(
        threads,
        &mut sink,
        &log_dir,
        server.log_events,
        server.live.space,
    )
    .context("adopting the live server")?;
    let result = recorder.run();
    primary_ended(&sink, result)
}

/// The primary's lock on the state directory; a paused old primary may hold it still (it
/// exits when it wakes and finds its epoch lost): it is taken once free.
fn take_primary_lock(state: &Path) -> anyhow::Result<Option<StateLock>> {
    match ftlink::lock::acquire(state, Side::Primary)? {
        Ok(lock) => Ok(Some(lock)),
        Err(holder) => {
            eprintln!(
                "ftrun: {} holds the primary's lock on {} still; this process takes it once it is free",
                holder.pid.map_or("another ftrun".into(), |p| format!("ftrun pid {p}")),
                state.display()
            );
            let state = state.to_path_buf();
            std::thread::spawn(move || loop {
                if let Ok(Ok(lock)) = ftlink::lock::acquire(&state, Side::Primary) {
                    // Held for the rest of this process's life.
                    std::mem::forget(lock);
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            });
            Ok(None)
        }
    }
}

/// The mapped-file copies of the replayed log go with the new primary's log.
fn copy_files(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let Ok(entries) = std::fs::read_dir(from) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let target = to.join(&name);
        if std::fs::hard_link(e.path(), &target).is_err() {
            std::fs::copy(e.path(), &target)
                .with_context(|| format!("copying {} to {}", e.path().display(), to.display()))?;
        }
    }
    Ok(())
}

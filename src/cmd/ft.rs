//! `ftrun [--follower HOST:PORT] [--state-dir DIR] [--arbiter file:DIR|etcd://HOST:PORT[/PREFIX]]
//! -- PROG ARGS…`:
//! PROG runs as a fault-tolerant primary; with no `--follower`, a local follower is started
//! in its own session (the embedded default).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ftlink::lock::{Side, StateLock};
use ftlink::primary::{FtSink, PrimaryConfig};
use ftlink::Timing;
use recorder::Recorder;
use schema::TraceWriter;

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

    fn name(self) -> &'static str {
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

/// Starts `ftrun follow` on a local port in its own session, so it outlives this primary.
fn start_local_follower(args: &LinkArgs, state: &Path) -> anyhow::Result<(String, u32)> {
    let addr_file = state.join("follower.addr");
    let _ = std::fs::remove_file(&addr_file);
    let exe = std::env::current_exe().context("finding the ftrun executable")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("follow")
        .arg("--listen")
        .arg("127.0.0.1:0")
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
    // SAFETY: setsid is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("starting the local follower")?;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Ok(Some(status)) = child.try_wait() {
            bail!("the local follower ended before it listened ({status}; its message is above)");
        }
        if let Ok(text) = std::fs::read_to_string(&addr_file) {
            if let Ok(addr) = text.trim().parse::<SocketAddr>() {
                return Ok((addr.to_string(), child.id()));
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    bail!("the local follower did not start listening within 10 s");
}

/// Takes the primary's lock on the state directory. With a local follower the directory's
/// follower side must be free too (a follower still running there — live after a
/// takeover, or another run's — would refuse ours only after the primary had started).
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
    let arbiter = ftlink::arbiter::parse(&args.link.arbiter_spec())?;
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
    let writer = TraceWriter::create(&log_dir, &header)
        .with_context(|| format!("creating the primary's log in {}", log_dir.display()))?;
    let cfg = PrimaryConfig {
        follower: follower.clone(),
        timing: args.link.timing(),
        arbiter,
        state_dir: state.clone(),
        connect_timeout: Duration::from_millis(args.link.timeout_ms.max(1) * 10)
            .max(Duration::from_secs(3)),
    };
    let mut sink = match FtSink::connect(writer, cfg) {
        Ok(s) => s,
        Err(e) => {
            if let Some(pid) = local_follower {
                // SAFETY: kill with the pid of the follower we just started.
                unsafe {
                    libc::kill(pid as i32, libc::SIGKILL);
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
    if let Some(epoch) = sink.lost_epoch() {
        bail!("this primary lost epoch {epoch} to its follower; the server was stopped");
    }
    if sink.gated_outputs > 0 {
        eprintln!(
            "ftrun: {} outputs waited for the follower's acknowledgement, {:.1} µs each on average",
            sink.gated_outputs,
            sink.gate_wait.as_secs_f64() * 1e6 / sink.gated_outputs as f64
        );
    }
    let status = result.with_context(|| "recording the server failed")?;
    if let Some(msg) = exit::killed_message(
        status,
        "the follower has the whole log and ends the same way; this primary ends too",
    ) {
        eprintln!("ftrun: {msg}");
    }
    Ok(exit::exit_like(status))
}

//! `ftrun`: record and replay unmodified Linux x86-64 programs.

mod cmd;
mod exit;
mod forward;
mod trace_dir;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ftrun",
    version,
    about = "Record and replay unmodified Linux x86-64 programs, bit for bit; run servers fault-tolerantly (`ftrun -- SERVER`)",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    ft: cmd::ft::FtArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run a program and record every source of nondeterminism into a trace.
    Record(cmd::record::RecordArgs),
    /// Run a recorded program again, exactly as it ran.
    Replay(cmd::replay::ReplayArgs),
    /// List the events of a trace.
    Dump(cmd::dump::DumpArgs),
    /// Copy every file a trace's replay reads into it: it replays after a rebuild, with the
    /// program deleted, on another machine.
    Pack(cmd::pack::PackArgs),
    /// Tell whether this machine can record, and with which features.
    Check(cmd::check::CheckArgs),
    /// Follow a primary: store its log, replay it live, take over when it dies.
    Follow(cmd::follow::FollowArgs),
    /// Role, epoch, pids, lag and protection of a fault-tolerant run; stale entries marked.
    Status(cmd::status::StatusArgs),
    /// A self-contained takeover demo: a KV server, a primary killed, nothing lost.
    Demo(cmd::demo::DemoArgs),
}

/// Reads the signal state and umask ftrun was handed down before the Rust runtime changes
/// them (it ignores SIGPIPE before `main`): the recorded program must start with that state.
extern "C" fn capture_inherited_state() {
    tracee::InheritedState::capture_at_startup();
}

#[used]
#[link_section = ".init_array"]
static CAPTURE_INHERITED_STATE: extern "C" fn() = capture_inherited_state;

/// The records taken from a ring at each stop and the trace's chunks are buffers of up to a
/// few MB, made and freed all along. By default glibc maps such buffers afresh each time
/// and unmaps them when freed, so every one is paid again in page faults (a tenth of the
/// recorder's time in a syscall-heavy recording): they are kept on the heap instead.
fn keep_large_buffers() {
    // SAFETY: mallopt only changes allocator thresholds; called before any thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
    }
}

fn main() {
    // ftrun waits for its children: an inherited `SIG_IGN` for SIGCHLD would have the kernel
    // reap them (the program still gets it: see `tracee::InheritedState`).
    // SAFETY: setting a default disposition.
    unsafe {
        libc::signal(libc::SIGCHLD, libc::SIG_DFL);
    }
    keep_large_buffers();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Record(args)) => cmd::record::run(args),
        Some(Command::Replay(args)) => cmd::replay::run(args),
        Some(Command::Dump(args)) => cmd::dump::run(args),
        Some(Command::Pack(args)) => cmd::pack::run(args),
        Some(Command::Check(args)) => cmd::check::run(args),
        Some(Command::Follow(args)) => cmd::follow::run(args),
        Some(Command::Status(args)) => cmd::status::run(args),
        Some(Command::Demo(args)) => cmd::demo::run(args),
        None if !cli.ft.command.is_empty() => cmd::ft::run(cli.ft),
        None => {
            eprintln!("ftrun: say what to do: `ftrun -- SERVER` (fault tolerant), `ftrun record -- PROG`, `ftrun replay`, `ftrun dump`, `ftrun pack`, `ftrun check`, `ftrun demo` (see --help)");
            Ok(2)
        }
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("ftrun: {}", one_line(&e));
            std::process::exit(1);
        }
    }
}

/// The error and its causes on one line, each cause once (many errors already quote their
/// source in their own message).
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}

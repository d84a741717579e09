//! `ftrun record [-o DIR] -- PROG ARGS…`

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use anyhow::Context;
use recorder::{Recorder, TraceSink};
use schema::TraceWriter;
use tracee::{resolve_program, SpawnSpec};

use crate::{exit, forward, trace_dir};

#[derive(clap::Args)]
pub struct RecordArgs {
    /// Trace directory to create (default: $FTRUN_DIR or ~/.local/share/ftrun, as PROG-N).
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// Trace every syscall with ptrace stops (no in-process fast path).
    #[arg(long)]
    no_fast_path: bool,
    /// The program and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<OsString>,
}

/// What a recording needs to know about the command before it starts.
pub struct Launch {
    pub exe: PathBuf,
    pub argv: Vec<Vec<u8>>,
    pub env: Vec<Vec<u8>>,
    pub cwd: Vec<u8>,
}

/// Resolves the program like a shell; on failure prints why and gives the shell's exit code.
pub fn launch_for(command: &[OsString]) -> Result<Launch, i32> {
    let prog = &command[0];
    let exe = resolve_program(prog, std::env::var_os("PATH").as_deref()).map_err(|e| {
        eprintln!("ftrun: {e}");
        e.exit_code()
    })?;
    let env = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            kv
        })
        .collect();
    let cwd = std::env::current_dir()
        .map(|d| d.into_os_string().into_vec())
        .unwrap_or_default();
    Ok(Launch {
        exe,
        argv: command.iter().map(|a| a.as_bytes().to_vec()).collect(),
        env,
        cwd,
    })
}

impl Launch {
    /// The header of a trace of this launch.
    pub fn header(&self) -> schema::Header {
        recorder::machine::header_for(
            self.argv.clone(),
            self.env.clone(),
            self.cwd.clone(),
            self.exe.as_os_str().as_bytes().to_vec(),
        )
    }

    /// How to start the program under the recorder.
    pub fn spawn_spec(self) -> SpawnSpec {
        SpawnSpec {
            path: self.exe,
            argv: self.argv,
            env: self.env,
            cwd: None,
            rlimits: Vec::new(),
            trap_rdtsc: true,
            inherited: tracee::InheritedState::at_startup(),
        }
    }
}

pub fn run(args: RecordArgs) -> anyhow::Result<i32> {
    let launch = match launch_for(&args.command) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
    let dir = match &args.output {
        Some(d) => trace_dir::create_named(d)?,
        None => trace_dir::create_default(&launch.exe)?,
    };
    let header = launch.header();
    let writer = TraceWriter::create(&dir, &header)
        .with_context(|| format!("creating the trace in {}", dir.display()))?;
    let spec = launch.spawn_spec();
    let tracee = match tracee::spawn_traced(&spec) {
        Ok(t) => t,
        Err(e) => {
            // Nothing ran: leave no trace that could be mistaken for a recording.
            drop(writer);
            let _ = std::fs::remove_dir_all(&dir);
            eprintln!("ftrun: {e}");
            return Ok(126);
        }
    };
    forward::forward_to(tracee.pid());
    // The program is stopped at its exec: say where the trace goes before it prints anything.
    // The pid file tells `replay` and `dump` that the trace is still growing.
    if let Err(e) = trace_dir::mark_recording(&dir) {
        eprintln!("ftrun: {e:#} (a replay meanwhile will call the trace cut short)");
    }
    trace_dir::mark_latest(&dir);
    eprintln!("ftrun: recording to {}", dir.display());
    let mut sink = TraceSink::new(writer);
    let mut recorder = Recorder::new(tracee, &mut sink, &dir);
    if args.no_fast_path {
        recorder = recorder.without_fast_path();
    }
    if let Some(store) = trace_dir::store_for(&dir) {
        recorder = recorder.with_store(store);
    }
    // What no trace uses any more leaves the store while the program runs (a core the
    // recording leaves idle most of the time), not after it.
    let pruning = std::thread::Builder::new()
        .name("store pruning".into())
        .spawn(trace_dir::prune_store_gently);
    let status = recorder.run();
    if let Ok(pruning) = pruning {
        let _ = pruning.join();
    }
    match status {
        Ok(status) => {
            drop(sink);
            trace_dir::unmark_recording(&dir);
            Ok(exit::exit_like(status))
        }
        Err(e) => {
            // Keep what was recorded replayable up to here.
            let _ = sink.flush();
            drop(sink);
            trace_dir::unmark_recording(&dir);
            Err(anyhow::Error::new(e).context(format!(
                "recording into {} failed (the trace holds the run up to here)",
                dir.display()
            )))
        }
    }
}

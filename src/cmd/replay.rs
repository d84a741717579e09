//! `ftrun replay [DIR]`

use std::path::{Path, PathBuf};

use anyhow::Context;
use std::os::unix::ffi::OsStrExt;

use replayer::takeover::read_takeovers;
use replayer::{EventSource, ReplayEnd, ReplayError, ReplayOptions, Replayer, TakeoverSource};
use schema::{Event, TraceReader};

use crate::{exit, trace_dir};

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// The trace directory (default: the latest recording).
    dir: Option<PathBuf>,
    /// Debug the replay: start gdb (from PATH) connected to it; arguments after `--` go to
    /// gdb (`-- -batch -x script.gdb`).
    #[arg(long, conflicts_with = "gdbserver")]
    gdb: bool,
    /// Debug the replay with a debugger started elsewhere: listen on HOST:PORT and print
    /// the command that connects to it.
    #[arg(long, value_name = "HOST:PORT")]
    gdbserver: Option<String>,
    /// Start the debugger at this event of the dump (`ftrun dump`), not at the start.
    #[arg(short = 'g', long, value_name = "EVENT")]
    goto: Option<u64>,
    /// Arguments for gdb (with --gdb).
    #[arg(last = true, value_name = "GDB-ARGS")]
    gdb_args: Vec<std::ffi::OsString>,
}

/// Why the events ran out before the program ended: a recording still going on, or one cut
/// short.
fn log_ended(dir: &Path, events: u64) -> anyhow::Error {
    match trace_dir::live_recorder(dir) {
        Some(pid) => anyhow::anyhow!(
            "replay of {} stopped after event {events}: the trace is still being recorded by pid {pid}; replay it again once that recording has ended",
            dir.display()
        ),
        None => anyhow::Error::new(ReplayError::TraceEnded { events })
            .context(format!("replay of {} stopped", dir.display())),
    }
}

/// The trace's events, the first read ahead: it is the exec that starts the program.
struct Source {
    first: Option<Event>,
    reader: TraceReader,
}

impl EventSource for Source {
    fn next_event(&mut self) -> Result<Option<Event>, ReplayError> {
        match self.first.take() {
            Some(ev) => Ok(Some(ev)),
            None => Ok(self.reader.next_event()?),
        }
    }

    fn next_events(
        &mut self,
        out: &mut std::collections::VecDeque<Event>,
        max: usize,
    ) -> Result<usize, ReplayError> {
        match self.first.take() {
            Some(ev) if max > 0 => {
                out.push_back(ev);
                Ok(1)
            }
            first => {
                self.first = first;
                Ok(self.reader.next_events(out, max)?)
            }
        }
    }
}

pub fn run(args: ReplayArgs) -> anyhow::Result<i32> {
    if args.gdb || args.gdbserver.is_some() {
        return crate::cmd::debug::run(
            args.dir,
            args.gdbserver,
            args.goto.unwrap_or(0),
            args.gdb_args,
        );
    }
    if args.goto.is_some() || !args.gdb_args.is_empty() {
        anyhow::bail!("--goto and gdb arguments need --gdb or --gdbserver");
    }
    let dir = trace_dir::resolve(args.dir)?;
    let mut reader =
        TraceReader::open(&dir).with_context(|| format!("cannot replay {}", dir.display()))?;
    match trace_dir::live_recorder(&dir) {
        Some(pid) => {
            eprintln!(
                "ftrun: replaying {} (still being recorded by pid {pid}: only the events written so far)",
                dir.display()
            );
            reader
                .stop_at_current_end()
                .with_context(|| format!("cannot replay {}", dir.display()))?;
        }
        None => eprintln!("ftrun: replaying {}", dir.display()),
    }
    let header = reader.header().clone();
    let first = reader
        .next_event()
        .with_context(|| format!("replay of {} failed", dir.display()))?;
    // The program as recorded, or the trace's copy of it if it changed.
    let mut kept = replayer::kept::Kept::new(&dir);
    let path = kept
        .spawn_path(&header, first.as_ref())
        .with_context(|| format!("cannot replay {}", dir.display()))?;
    let tracee = replayer::session::spawn_for_replay_from(&header, path)
        .with_context(|| format!("starting the replay of {}", dir.display()))?;
    kept.spawned(tracee.pid());
    // A fault-tolerant run's log goes on across takeovers (listed beside it).
    let takeovers = read_takeovers(&dir)?;
    let mut source = TakeoverSource::new(Source { first, reader }, takeovers);
    let opts = ReplayOptions {
        trace_dir: dir.clone(),
        echo_output: true,
    };
    let mut replayer = Replayer::new(tracee, &mut source, opts);
    replayer.use_kept(kept);
    replayer.set_start_dir(PathBuf::from(std::ffi::OsStr::from_bytes(&header.cwd)));
    let status = match replayer.run() {
        Ok(ReplayEnd::Exited(status)) => status,
        Ok(ReplayEnd::LogEnded(mut handoff)) => {
            handoff.kill();
            let events = match source.inner().reader.end_state() {
                schema::EndState::Interrupted { events, .. } => events,
                _ => 0,
            };
            return Err(log_ended(&dir, events));
        }
        Err(ReplayError::TraceEnded { events }) => return Err(log_ended(&dir, events)),
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("replay of {} failed", dir.display())))
        }
    };
    // The program ended as recorded; the trace must also end as the recorder left it.
    source
        .inner_mut()
        .reader
        .next_event()
        .with_context(|| format!("{} is damaged after its last event", dir.display()))?;
    if let schema::EndState::Interrupted { events, offset, .. } = source.inner().reader.end_state()
    {
        if let Some(pid) = trace_dir::live_recorder(&dir) {
            anyhow::bail!(
                "{}: the replay matched the recording up to its end, but the trace is still being recorded by pid {pid} (its footer is not written yet)",
                dir.display()
            );
        }
        anyhow::bail!(
            "{}: the trace's footer is missing or damaged at offset {offset} (after event {events}); the replay itself matched the recording",
            dir.display()
        );
    }
    Ok(exit::exit_like(status))
}

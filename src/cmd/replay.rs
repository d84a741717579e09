//! `ftrun replay [DIR]`

use std::path::{Path, PathBuf};

use anyhow::Context;
use std::os::unix::ffi::OsStrExt;

use replayer::takeover::read_takeovers;
use replayer::{ReaderSource, ReplayEnd, ReplayError, ReplayOptions, Replayer, TakeoverSource};
use schema::TraceReader;

use crate::{exit, trace_dir};

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// The trace directory (default: the latest recording).
    dir: Option<PathBuf>,
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

pub fn run(args: ReplayArgs) -> anyhow::Result<i32> {
    let dir = trace_dir::resolve(args.dir)?;
    let reader =
        TraceReader::open(&dir).with_context(|| format!("cannot replay {}", dir.display()))?;
    match trace_dir::live_recorder(&dir) {
        Some(pid) => eprintln!(
            "ftrun: replaying {} (still being recorded by pid {pid}: only the events written so far)",
            dir.display()
        ),
        None => eprintln!("ftrun: replaying {}", dir.display()),
    }
    let header = reader.header().clone();
    let tracee = replayer::session::spawn_for_replay(&header)
        .with_context(|| format!("starting the replay of {}", dir.display()))?;
    // A fault-tolerant run's log goes on across takeovers (listed beside it).
    let takeovers = read_takeovers(&dir)?;
    let mut source = TakeoverSource::new(ReaderSource { reader }, takeovers);
    let opts = ReplayOptions {
        trace_dir: dir.clone(),
        echo_output: true,
    };
    let mut replayer = Replayer::new(tracee, &mut source, opts);
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

//! `ftrun replay [DIR]`

use std::path::PathBuf;

use anyhow::Context;
use std::os::unix::ffi::OsStrExt;

use replayer::{ReaderSource, ReplayEnd, ReplayOptions, Replayer};
use schema::TraceReader;

use crate::{exit, trace_dir};

#[derive(clap::Args)]
pub struct ReplayArgs {
    /// The trace directory (default: the latest recording).
    dir: Option<PathBuf>,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<i32> {
    let dir = trace_dir::resolve(args.dir)?;
    let reader =
        TraceReader::open(&dir).with_context(|| format!("cannot replay {}", dir.display()))?;
    let header = reader.header().clone();
    let tracee = replayer::session::spawn_for_replay(&header)
        .with_context(|| format!("starting the replay of {}", dir.display()))?;
    let mut source = ReaderSource { reader };
    let opts = ReplayOptions {
        trace_dir: dir.clone(),
        echo_output: true,
    };
    let mut replayer = Replayer::new(tracee, &mut source, opts);
    replayer.set_start_dir(PathBuf::from(std::ffi::OsStr::from_bytes(&header.cwd)));
    let status = match replayer
        .run()
        .with_context(|| format!("replay of {} failed", dir.display()))?
    {
        ReplayEnd::Exited(status) => status,
        ReplayEnd::LogEnded(mut handoff) => {
            handoff.kill();
            let events = match source.reader.end_state() {
                schema::EndState::Interrupted { events, .. } => events,
                _ => 0,
            };
            return Err(
                anyhow::Error::new(replayer::ReplayError::TraceEnded { events })
                    .context(format!("replay of {} stopped", dir.display())),
            );
        }
    };
    // The program ended as recorded; the trace must also end as the recorder left it.
    source
        .reader
        .next_event()
        .with_context(|| format!("{} is damaged after its last event", dir.display()))?;
    if let schema::EndState::Interrupted { events, offset, .. } = source.reader.end_state() {
        anyhow::bail!(
            "{}: the trace's footer is missing or damaged at offset {offset} (after event {events}); the replay itself matched the recording",
            dir.display()
        );
    }
    Ok(exit::exit_like(status))
}

//! `ftrun replay [DIR]`

use std::path::PathBuf;

use anyhow::Context;
use replayer::{ReaderSource, ReplayOptions, Replayer};
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
    let status = Replayer::new(tracee, &mut source, opts)
        .run()
        .with_context(|| format!("replay of {} failed", dir.display()))?;
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

//! gdb on the replay. A gdbstub target drives the replay through the replayer's debug hook:
//! breakpoints (int3 written before each resume, taken out at each stop, so memory reads
//! never see them), hardware breakpoints and watchpoints in debug registers 1 to 3 (0 is
//! the replay's), single steps, threads, auxv and the exec file. Going back (reverse
//! continue, reverse step, reverse watchpoints) replays again to an earlier moment, found
//! as `moment` describes, from the latest checkpoint before it (or from the start).

pub mod arch;
mod catch;
mod engine;
mod machine;
pub mod moment;
mod own_packets;
mod target;
mod tls;
mod wire;

use std::cell::Cell;
use std::net::TcpStream;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use gdbstub::stub::GdbStub;
use replayer::{EventSource, ReaderSource, ReplayEnd, ReplayError, ReplayOptions, Replayer};
use schema::{ExitStatus, TraceReader};

pub use engine::Engine;

/// How a debugging session ended.
pub enum SessionEnd {
    /// gdb detached and the replay ran to the program's end.
    Exited(ExitStatus),
    /// gdb killed the program or went away.
    Quit,
}

/// The trace's events, counted as they are read (a checkpoint notes how far the log was
/// read, and a restore reads that far before it goes on).
struct CountingSource {
    inner: ReaderSource,
    pulled: Rc<Cell<u64>>,
}

impl CountingSource {
    fn skip(&mut self, n: u64) -> Result<(), ReplayError> {
        while self.pulled.get() < n {
            if self.next_event()?.is_none() {
                return Err(ReplayError::Setup(
                    "the trace is shorter than where a checkpoint stood".into(),
                ));
            }
        }
        Ok(())
    }
}

impl EventSource for CountingSource {
    fn next_event(&mut self) -> Result<Option<schema::Event>, ReplayError> {
        let ev = self.inner.next_event()?;
        if ev.is_some() {
            self.pulled.set(self.pulled.get() + 1);
        }
        Ok(ev)
    }
}

/// Serves gdb on `stream` with the replay of the trace in `dir`, starting at the first
/// point at or after event `goto` where the program's image is in place.
pub fn serve(dir: &Path, stream: TcpStream, goto: u64) -> Result<SessionEnd, String> {
    let _ = stream.set_nodelay(true);
    let header = TraceReader::open(dir)
        .map_err(|e| format!("cannot replay {}: {e}", dir.display()))?
        .header()
        .clone();
    let mut target = target::GdbTarget::new(header.exe.clone());
    let sm = GdbStub::new(wire::Wire::new(stream))
        .run_state_machine(&mut target)
        .map_err(|e| format!("gdb connection: {e:?}"))?;
    let mut engine = Engine::new(target, sm, goto);
    let mut from_checkpoint = None;
    loop {
        let reader =
            TraceReader::open(dir).map_err(|e| format!("cannot replay {}: {e}", dir.display()))?;
        let mut source = CountingSource {
            inner: ReaderSource { reader },
            pulled: engine.events_pulled(),
        };
        let opts = ReplayOptions {
            trace_dir: dir.to_path_buf(),
            echo_output: engine.echo_now(),
        };
        let restored = match from_checkpoint.take() {
            Some(i) => {
                let (cp, pulled) = engine.checkpoint_mut(i);
                source
                    .skip(pulled)
                    .and_then(|_| Replayer::restored(cp, &mut source, opts))
            }
            None => Err(ReplayError::Abandoned),
        };
        let mut replay = match restored {
            Ok(replay) => replay,
            Err(e) => {
                if !matches!(e, ReplayError::Abandoned) {
                    engine.checkpoints_failed(&e.to_string());
                    engine.restart();
                }
                let reader = TraceReader::open(dir)
                    .map_err(|e| format!("cannot replay {}: {e}", dir.display()))?;
                source.inner = ReaderSource { reader };
                source.pulled.set(0);
                let tracee = replayer::session::spawn_for_replay(&header)
                    .map_err(|e| format!("starting the replay of {}: {e}", dir.display()))?;
                let opts = ReplayOptions {
                    trace_dir: dir.to_path_buf(),
                    echo_output: engine.echo_now(),
                };
                let mut replay = Replayer::new(tracee, &mut source, opts);
                replay.set_start_dir(PathBuf::from(std::ffi::OsStr::from_bytes(&header.cwd)));
                replay
            }
        };
        replay.set_ring_batch(engine::ring_batch());
        replay.set_hook(&mut engine);
        let end = replay.run();
        match end {
            Err(ReplayError::Abandoned) if engine.quit() => return Ok(SessionEnd::Quit),
            Err(ReplayError::Abandoned) => {
                from_checkpoint = engine.restart();
                continue;
            }
            Ok(ReplayEnd::Exited(status)) => {
                if engine.detached() {
                    return Ok(SessionEnd::Exited(status));
                }
                engine.program_gone(status);
                return Ok(SessionEnd::Exited(status));
            }
            Ok(ReplayEnd::LogEnded(mut handoff)) => {
                handoff.kill();
                return Err(format!(
                    "the trace in {} ends with the program still running",
                    dir.display()
                ));
            }
            Err(e) => return Err(format!("replay of {} failed: {e}", dir.display())),
        }
    }
}

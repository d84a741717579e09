//! gdb on the replay. A gdbstub target drives the replay through the replayer's debug hook:
//! breakpoints (int3 written before each resume, taken out at each stop, so memory reads
//! never see them), hardware breakpoints and watchpoints in debug registers 1 to 3 (0 is
//! the replay's), single steps, threads, auxv and the exec file. Going back (reverse
//! continue, reverse step, reverse watchpoints) replays again from the start to an earlier
//! moment, found as `moment` describes.

pub mod arch;
mod engine;
mod machine;
pub mod moment;
mod target;

use std::net::TcpStream;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use gdbstub::stub::GdbStub;
use replayer::{ReaderSource, ReplayEnd, ReplayError, ReplayOptions, Replayer};
use schema::{ExitStatus, TraceReader};

pub use engine::Engine;

/// How a debugging session ended.
pub enum SessionEnd {
    /// gdb detached and the replay ran to the program's end.
    Exited(ExitStatus),
    /// gdb killed the program or went away.
    Quit,
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
    let sm = GdbStub::new(stream)
        .run_state_machine(&mut target)
        .map_err(|e| format!("gdb connection: {e:?}"))?;
    let mut engine = Engine::new(target, sm, goto);
    loop {
        let reader =
            TraceReader::open(dir).map_err(|e| format!("cannot replay {}: {e}", dir.display()))?;
        let tracee = replayer::session::spawn_for_replay(&header)
            .map_err(|e| format!("starting the replay of {}: {e}", dir.display()))?;
        let mut source = ReaderSource { reader };
        let opts = ReplayOptions {
            trace_dir: dir.to_path_buf(),
            echo_output: engine.echo_now(),
        };
        let mut replay = Replayer::new(tracee, &mut source, opts);
        replay.set_start_dir(PathBuf::from(std::ffi::OsStr::from_bytes(&header.cwd)));
        replay.set_hook(&mut engine);
        let end = replay.run();
        match end {
            Err(ReplayError::Abandoned) if engine.quit() => return Ok(SessionEnd::Quit),
            Err(ReplayError::Abandoned) => {
                engine.restart();
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

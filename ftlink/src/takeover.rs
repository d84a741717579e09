//! What a follower that takes over hands on: the live server, still traced, with the log it
//! replayed and the takeovers in it, for this process to go on as the new primary; and, the
//! moment the epoch is won, a lost primary still running on this host stopped.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use replayer::takeover::Takeover;

use crate::follower::Shared;
use crate::status;

/// A server this follower took over, stopped and traced, with what the new primary it
/// becomes needs: the log it replayed (to go on from) and the takeovers in it, this one last.
pub struct LiveServer {
    pub live: replayer::TracedLive,
    /// The epoch won.
    pub epoch: u64,
    pub header: schema::Header,
    /// The log copy replayed: its directory, the bytes of the complete frames replayed and
    /// the events they hold.
    pub log_dir: PathBuf,
    pub log_bytes: u64,
    pub log_events: u64,
    pub takeovers: Vec<Takeover>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) state_dir: PathBuf,
}

impl LiveServer {
    /// This process now runs the server as the primary: it no longer writes the
    /// follower's section of `status.json` (a new follower will), and that section goes.
    pub fn hand_over(&self) {
        self.shared.state.lock().expect("follow state").role = "handed over";
        // A write the reporter had begun ends first; it begins no other.
        let _writing = self.shared.reporting.lock().expect("status reporter");
        status::remove(&self.state_dir, "follower");
    }
}

/// This follower won `epoch`: a primary of an earlier epoch that still runs on this host
/// (the embedded default shares its state directory) — paused, or cut off — has lost. It is
/// stopped now, and its server with it, rather than when it wakes: its server still holds
/// the ports the live server is about to bind. Named by `status.json`, each process only
/// if its start time is the one written there (its pid may be another process's by now).
pub(crate) fn stop_lost_primary(state_dir: &Path, epoch: u64) {
    let Some(doc) = status::read(state_dir) else {
        return;
    };
    let p = &doc["primary"];
    if p["epoch"].as_u64().is_none_or(|e| e >= epoch) {
        return;
    }
    let me = std::process::id() as i32;
    let mut stopped = Vec::new();
    for (pid, start) in [("pid", "pid_start"), ("server_pid", "server_start")] {
        let pid = p[pid].as_i64().unwrap_or(0) as i32;
        let start = p[start].as_u64();
        if pid <= 0 || pid == me || start.is_none() || status::process_start(pid) != start {
            continue;
        }
        // SAFETY: kill of the process status.json names, checked by its start time.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
        stopped.push(pid);
    }
    if !stopped.is_empty() {
        eprintln!(
            "ftrun: the primary of epoch {} still ran on this host (paused, or cut off): stopped it and its server (pids {stopped:?}); epoch {epoch} is this follower's",
            p["epoch"].as_u64().unwrap_or(0)
        );
    }
}

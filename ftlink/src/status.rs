//! `status.json` in the state directory: one section per role, each written by its own
//! process (read, change own section, write a temporary file, rename).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// What one side reports about itself.
#[derive(Debug, Clone)]
pub struct RoleStatus {
    /// `primary`, `follower`, `live`, `alone`, `lost`, `exited`.
    pub role: String,
    pub epoch: u64,
    pub pid: i32,
    /// Events logged (primary) or received (follower).
    pub last_seq: Option<u64>,
    pub acked_seq: Option<u64>,
    pub replayed: Option<u64>,
}

pub fn status_path(state_dir: &Path) -> PathBuf {
    state_dir.join("status.json")
}

/// Writes this side's section (`"primary"` or `"follower"`).
pub fn write(state_dir: &Path, section: &str, s: &RoleStatus) {
    let path = status_path(state_dir);
    let mut doc: Value = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| json!({}));
    let lag = match (s.last_seq, s.acked_seq, s.replayed) {
        (Some(l), Some(a), _) => Some(l.saturating_sub(a)),
        (Some(l), None, Some(r)) => Some((l + 1).saturating_sub(r)),
        _ => None,
    };
    doc[section] = json!({
        "role": s.role, "epoch": s.epoch, "pid": s.pid, "last_seq": s.last_seq,
        "acked_seq": s.acked_seq, "replayed": s.replayed, "lag": lag,
        "updated_ms": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
    });
    let tmp = state_dir.join(format!(".status.{section}.tmp"));
    if std::fs::write(&tmp, serde_json::to_vec_pretty(&doc).unwrap_or_default()).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
}

/// The whole status document, if there is one.
pub fn read(state_dir: &Path) -> Option<Value> {
    std::fs::read(status_path(state_dir))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

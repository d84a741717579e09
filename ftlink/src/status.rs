//! `status.json` in the state directory: one section per role, each written by its own
//! process (read, change own section, write a temporary file, rename); and the reading of
//! it, which tells live sections from stale ones and whether the server is protected.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// A section not rewritten for this many failure-detection timeouts is stale (a writer
/// rewrites its section several times per timeout).
const STALE_AFTER_TIMEOUTS: u64 = 3;

/// What one side reports about itself.
#[derive(Debug, Clone)]
pub struct RoleStatus {
    /// `primary`, `follower`, `live`, `alone`, `lost`, `exited`.
    pub role: String,
    pub epoch: u64,
    /// The ftrun process writing this section.
    pub pid: i32,
    /// The program: traced (primary), replayed (follower) or running natively (live); 0 if
    /// none yet.
    pub server_pid: i32,
    /// `server_pid`'s start time (see [`process_start`]), taken when it was started.
    pub server_start: Option<u64>,
    /// Events logged (primary) or received (follower).
    pub last_seq: Option<u64>,
    pub acked_seq: Option<u64>,
    pub replayed: Option<u64>,
    /// The failure-detection timeout this side uses.
    pub timeout: Duration,
    /// How long ago this side last heard its peer (None: no peer now).
    pub peer_silent: Option<Duration>,
    /// How long an output has been waiting for the follower's acknowledgement (primary).
    pub gate_waiting: Option<Duration>,
    /// How long the oldest event the follower received and has not replayed yet has waited
    /// (the follower's own; the primary's section has what its follower last said).
    pub lag_ms: Option<u64>,
}

pub fn status_path(state_dir: &Path) -> PathBuf {
    state_dir.join("status.json")
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A process's start time in clock ticks after boot (field 22 of `/proc/PID/stat`): with
/// the pid it names one process, even after the pid is reused. None if there is no such
/// process (or it is a zombie, which has ended).
pub fn process_start(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain anything.
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// Held while a side reads, changes and writes `status.json`, so that the two sides sharing
/// a state directory do not drop each other's section. Waited for briefly only: a side that
/// is paused while it holds it must not stop the other (whose monitor writes its section).
fn update_lock(state_dir: &Path) -> Option<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(state_dir.join(".status.lock"))
        .ok()?;
    for _ in 0..20 {
        if f.try_lock().is_ok() {
            return Some(f);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

/// Writes this side's section (`"primary"` or `"follower"`).
pub fn write(state_dir: &Path, section: &str, s: &RoleStatus) {
    let _lock = update_lock(state_dir);
    let path = status_path(state_dir);
    let mut doc: Value = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| json!({}));
    if newer_holder(&doc[section], s) {
        // A later epoch's process plays this role now (this one lost, or was paused).
        return;
    }
    let lag = match (s.last_seq, s.acked_seq, s.replayed) {
        (Some(l), Some(a), _) => Some(l.saturating_sub(a)),
        (Some(l), None, Some(r)) => Some((l + 1).saturating_sub(r)),
        _ => None,
    };
    let now = now_ms();
    let ago = |d: Duration| now.saturating_sub(d.as_millis() as u64);
    doc[section] = json!({
        "role": s.role, "epoch": s.epoch,
        "pid": s.pid, "pid_start": process_start(s.pid),
        "server_pid": s.server_pid, "server_start": s.server_start,
        "last_seq": s.last_seq, "acked_seq": s.acked_seq, "replayed": s.replayed, "lag": lag,
        "lag_ms": s.lag_ms,
        "timeout_ms": s.timeout.as_millis() as u64,
        "peer_heard_ms": s.peer_silent.map(ago),
        "gate_waiting_since_ms": s.gate_waiting.map(ago),
        "updated_ms": now,
    });
    let tmp = state_dir.join(format!(".status.{section}.tmp"));
    if std::fs::write(&tmp, serde_json::to_vec_pretty(&doc).unwrap_or_default()).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
}

/// True when `current` was written by another running process for a later epoch.
fn newer_holder(current: &Value, s: &RoleStatus) -> bool {
    let pid = current["pid"].as_i64().unwrap_or(0) as i32;
    let epoch = current["epoch"].as_u64().unwrap_or(0);
    if pid == s.pid || pid <= 0 || epoch <= s.epoch {
        return false;
    }
    match (process_start(pid), current["pid_start"].as_u64()) {
        (Some(now), Some(then)) => now == then,
        _ => false,
    }
}

/// Removes a section (its process does not play that role any more).
pub fn remove(state_dir: &Path, section: &str) {
    let _lock = update_lock(state_dir);
    let path = status_path(state_dir);
    let Some(mut doc) = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    else {
        return;
    };
    if let Some(map) = doc.as_object_mut() {
        map.remove(section);
    }
    let tmp = state_dir.join(format!(".status.{section}.tmp"));
    if std::fs::write(&tmp, serde_json::to_vec_pretty(&doc).unwrap_or_default()).is_ok() {
        let _ = std::fs::rename(&tmp, &path);
    }
}

/// The whole status document as written, if there is one.
pub fn read(state_dir: &Path) -> Option<Value> {
    std::fs::read(status_path(state_dir))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

/// Why a section no longer describes a running side, if it does not.
fn staleness(s: &Value, now: u64) -> Option<String> {
    let pid = s["pid"].as_i64().unwrap_or(0) as i32;
    let Some(start) = process_start(pid) else {
        return Some(format!("ftrun pid {pid} is not running"));
    };
    if let Some(recorded) = s["pid_start"].as_u64() {
        if recorded != start {
            return Some(format!(
                "pid {pid} is now another process (started at tick {start}, not {recorded})"
            ));
        }
    }
    let timeout = s["timeout_ms"].as_u64().unwrap_or(500).max(1);
    let age = now.saturating_sub(s["updated_ms"].as_u64().unwrap_or(0));
    if age > STALE_AFTER_TIMEOUTS * timeout {
        return Some(format!(
            "not updated for {} ms (more than {STALE_AFTER_TIMEOUTS} timeouts of {timeout} ms; the process is stopped or hung)",
            age
        ));
    }
    None
}

fn server_running(s: &Value) -> bool {
    let pid = s["server_pid"].as_i64().unwrap_or(0) as i32;
    match (process_start(pid), s["server_start"].as_u64()) {
        (Some(now), Some(recorded)) => now == recorded,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// True while the primary runs its server under the Output Rule with a follower it heard
/// within the timeout that acknowledges what it is sent (no output held past the timeout).
fn protected(primary: &Value, now: u64) -> bool {
    let timeout = primary["timeout_ms"].as_u64().unwrap_or(500);
    let heard_recently = primary["peer_heard_ms"]
        .as_u64()
        .is_some_and(|t| now.saturating_sub(t) <= timeout);
    let gate_ok = primary["gate_waiting_since_ms"]
        .as_u64()
        .is_none_or(|t| now.saturating_sub(t) <= timeout);
    primary["stale"].is_null()
        && primary["role"] == "primary"
        && primary["server_running"] == true
        && heard_recently
        && gate_ok
}

/// The status document with what a reader needs judged: `stale` (null or why) and
/// `server_running` in each section, and at the top `protected` and the pid of the server
/// that answers clients now (`server_pid`, null if none).
pub fn assess(mut doc: Value) -> Value {
    let now = now_ms();
    for side in ["primary", "follower"] {
        let Some(s) = doc.get_mut(side).filter(|s| s.is_object()) else {
            continue;
        };
        let stale = staleness(s, now);
        let running = stale.is_none() && server_running(s);
        s["stale"] = json!(stale);
        s["server_running"] = json!(running);
    }
    let primary_protected = doc.get("primary").is_some_and(|p| protected(p, now));
    let serving = |side: &str, roles: &[&str]| {
        let s = doc.get(side)?;
        let role = s["role"].as_str()?;
        (s["server_running"] == true && roles.contains(&role)).then(|| s["server_pid"].clone())
    };
    let server = serving("primary", &["primary", "alone"])
        .or_else(|| serving("follower", &["live"]))
        .unwrap_or(Value::Null);
    doc["protected"] = json!(primary_protected);
    doc["server_pid"] = server;
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_start_time_and_a_dead_one_none() {
        let me = std::process::id() as i32;
        assert!(process_start(me).is_some());
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        assert_eq!(process_start(pid), None);
    }

    #[test]
    fn a_fresh_primary_that_hears_its_follower_is_protected() {
        let me = std::process::id() as i32;
        let now = now_ms();
        let primary = json!({
            "role": "primary", "pid": me, "pid_start": process_start(me),
            "server_pid": me, "server_start": process_start(me), "timeout_ms": 500,
            "peer_heard_ms": now, "gate_waiting_since_ms": null, "updated_ms": now,
        });
        let doc = assess(json!({ "primary": primary.clone() }));
        assert_eq!(doc["protected"], true, "{doc}");
        assert_eq!(doc["server_pid"], me);
        let mut silent = primary.clone();
        silent["peer_heard_ms"] = json!(now - 2000);
        assert_eq!(assess(json!({ "primary": silent }))["protected"], false);
        let mut held = primary.clone();
        held["gate_waiting_since_ms"] = json!(now - 2000);
        assert_eq!(assess(json!({ "primary": held }))["protected"], false);
        let mut alone = primary.clone();
        alone["role"] = json!("alone");
        let doc = assess(json!({ "primary": alone }));
        assert_eq!(doc["protected"], false);
        assert_eq!(doc["server_pid"], me);
        let mut old = primary;
        old["updated_ms"] = json!(now - 10_000);
        let doc = assess(json!({ "primary": old }));
        assert!(doc["primary"]["stale"]
            .as_str()
            .unwrap()
            .contains("not updated"));
        assert_eq!(doc["protected"], false);
        assert_eq!(doc["server_pid"], Value::Null);
    }
}

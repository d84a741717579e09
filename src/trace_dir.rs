//! Where traces live: `$FTRUN_DIR` or `~/.local/share/ftrun`, one `PROG-N` directory per
//! recording and a `latest-trace` link to the newest, and `store/`, the copies of mapped and
//! exec'd files those traces share (see `recorder::store`); and whether a trace is still being
//! recorded (`recorder.pid` in the trace directory while its recorder runs).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// Written into a trace directory when its recording starts, removed when it ends: the
/// recorder's pid and its start time (field 22 of `/proc/PID/stat`), so that a pid reused by
/// another process after a recorder died is not taken for the recorder.
pub const RECORDER_PID_FILE: &str = "recorder.pid";

/// The directory that holds traces by default.
pub fn root() -> PathBuf {
    if let Some(dir) = std::env::var_os("FTRUN_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".local/share/ftrun")
}

/// Creates a fresh `PROG-N` directory under the root.
pub fn create_default(prog: &Path) -> anyhow::Result<PathBuf> {
    let root = root();
    std::fs::create_dir_all(&root)
        .with_context(|| format!("creating the trace directory {}", root.display()))?;
    let name = prog
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "trace".into());
    for n in 0..100_000 {
        let dir = root.join(format!("{name}-{n}"));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    bail!("no free trace directory name under {}", root.display())
}

/// Creates the directory the user named; it must not exist yet.
pub fn create_named(dir: &Path) -> anyhow::Result<PathBuf> {
    if dir.exists() {
        bail!(
            "{} already exists; give a new directory for the trace",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir.to_path_buf())
}

/// The store shared by the traces under the root, for the trace `dir`: traces elsewhere use
/// it too when they are on its filesystem (a hard link cannot cross one); `None` for a trace
/// on another filesystem (it keeps its own copies) or when the store cannot be made.
pub fn store_for(dir: &Path) -> Option<recorder::store::Store> {
    use std::os::unix::fs::MetadataExt;
    let root = root();
    let dir = std::fs::canonicalize(dir).ok()?;
    let nearest = root.ancestors().find(|a| a.exists())?;
    let same_fs = std::fs::metadata(nearest).ok()?.dev() == std::fs::metadata(&dir).ok()?.dev();
    if !same_fs || std::fs::canonicalize(&root).is_ok_and(|r| r == dir) {
        return None;
    }
    let store = root.join(recorder::store::STORE_DIR);
    match recorder::store::Store::open(&store) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!(
                "ftrun: cannot use the store {} ({e}); the trace keeps its own copies",
                store.display()
            );
            None
        }
    }
}

/// [`prune_store`] at a low priority, beside a recording (its thread yields to the tracer's).
pub fn prune_store_gently() {
    // SAFETY: setpriority on the calling thread (tid from gettid) changes nothing but its
    // scheduling priority.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10);
    }
    prune_store();
}

/// Removes what no trace uses any more from the store (during a recording: the traces removed
/// before it take their copies with them).
pub fn prune_store() {
    if let Some(store) = recorder::store::Store::existing(&root().join(recorder::store::STORE_DIR))
    {
        let _ = store.prune();
    }
}

/// Points `latest-trace` in the root at `dir` (only for traces under the root).
pub fn mark_latest(dir: &Path) {
    let root = root();
    if dir.parent() != Some(root.as_path()) {
        return;
    }
    let link = root.join("latest-trace");
    let tmp = root.join(format!(".latest-trace.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    if std::os::unix::fs::symlink(dir.file_name().unwrap_or_default(), &tmp).is_ok()
        && std::fs::rename(&tmp, &link).is_err()
    {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// The trace a command should read: the one named, or the latest.
pub fn resolve(arg: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match arg {
        Some(dir) => Ok(dir),
        None => {
            let link = root().join("latest-trace");
            std::fs::canonicalize(&link).with_context(|| {
                format!(
                    "no trace named and no {} (record one first)",
                    link.display()
                )
            })
        }
    }
}

/// Start time of process `pid` in clock ticks since boot, from `/proc/PID/stat`.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from its end.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Marks `dir` as being recorded by this process (see [`RECORDER_PID_FILE`]).
pub fn mark_recording(dir: &Path) -> anyhow::Result<()> {
    let pid = std::process::id();
    let started = start_time(pid).unwrap_or(0);
    let path = dir.join(RECORDER_PID_FILE);
    std::fs::write(&path, format!("{pid} {started}\n"))
        .with_context(|| format!("writing {}", path.display()))
}

/// Takes the mark of [`mark_recording`] away: the recording is over.
pub fn unmark_recording(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(RECORDER_PID_FILE));
}

/// The pid of the recorder still writing `dir`, if there is one alive. A pid file whose
/// process is gone (or is another process by now) means the recording was cut short.
pub fn live_recorder(dir: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(dir.join(RECORDER_PID_FILE)).ok()?;
    let mut words = text.split_whitespace();
    let pid: u32 = words.next()?.parse().ok()?;
    let started: u64 = words.next()?.parse().ok()?;
    let now = start_time(pid)?;
    (started == 0 || now == started).then_some(pid)
}

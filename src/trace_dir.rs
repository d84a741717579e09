//! Where traces live: `$FTRUN_DIR` or `~/.local/share/ftrun`, one `PROG-N` directory per
//! recording and a `latest-trace` link to the newest.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

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

/// Points `latest-trace` in the root at `dir` (only for traces under the root).
pub fn mark_latest(dir: &Path) {
    let root = root();
    if dir.parent() != Some(root.as_path()) {
        return;
    }
    let link = root.join("latest-trace");
    let tmp = root.join(".latest-trace.tmp");
    let _ = std::fs::remove_file(&tmp);
    if std::os::unix::fs::symlink(dir.file_name().unwrap_or_default(), &tmp).is_ok() {
        let _ = std::fs::rename(&tmp, &link);
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

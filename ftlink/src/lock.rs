//! The state directory's locks: one per side (`primary.lock`, `follower.lock`), each an
//! `flock` held for the life of the process and naming its holder's pid, so that a second
//! run on a directory in use is refused instead of silently taking its protection away.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::LinkError;

/// The two sides that may share one state directory (the embedded default does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Primary,
    Follower,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Primary => "primary",
            Side::Follower => "follower",
        }
    }

    pub fn lock_path(self, state_dir: &Path) -> PathBuf {
        state_dir.join(format!("{}.lock", self.name()))
    }
}

/// A side's lock on a state directory; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

/// Who holds a lock that could not be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub side: Side,
    /// None if the holder had not written its pid yet (it has just started).
    pub pid: Option<i32>,
    pub path: PathBuf,
}

impl Holder {
    /// The refusal a second run prints.
    pub fn refusal(&self, state_dir: &Path) -> String {
        let who = match self.pid {
            Some(pid) => format!("ftrun pid {pid}"),
            None => "another ftrun that is just starting".to_string(),
        };
        format!(
            "the state directory {} is in use: its {} is {who} (it holds {}); stop that run or give this one another --state-dir",
            state_dir.display(),
            self.side.name(),
            self.path.display()
        )
    }
}

fn open(path: &Path) -> Result<File, LinkError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|source| LinkError::Io {
            what: format!("opening {}", path.display()),
            source,
        })
}

fn holder_pid(file: &mut File) -> Option<i32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

/// Takes `side`'s lock on `state_dir` and writes this process's pid into it; if another
/// process holds it, says who.
pub fn acquire(state_dir: &Path, side: Side) -> Result<Result<StateLock, Holder>, LinkError> {
    let path = side.lock_path(state_dir);
    let mut file = open(&path)?;
    match file.try_lock() {
        Ok(()) => {
            let io = |source| LinkError::Io {
                what: format!("writing {}", path.display()),
                source,
            };
            file.set_len(0).map_err(io)?;
            file.rewind().map_err(io)?;
            write!(file, "{}", std::process::id()).map_err(io)?;
            file.flush().map_err(io)?;
            Ok(Ok(StateLock { _file: file }))
        }
        Err(TryLockError::WouldBlock) => {
            // The holder writes its pid right after taking the lock: give it a moment.
            let mut pid = holder_pid(&mut file);
            for _ in 0..20 {
                if pid.is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
                pid = holder_pid(&mut file);
            }
            Ok(Err(Holder { side, pid, path }))
        }
        Err(TryLockError::Error(source)) => Err(LinkError::Io {
            what: format!("locking {}", path.display()),
            source,
        }),
    }
}

/// Who holds `side`'s lock now, if anyone (the lock is not kept).
pub fn holder(state_dir: &Path, side: Side) -> Result<Option<Holder>, LinkError> {
    let path = side.lock_path(state_dir);
    if !path.exists() {
        return Ok(None);
    }
    let mut file = open(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(None),
        Err(TryLockError::WouldBlock) => Ok(Some(Holder {
            side,
            pid: holder_pid(&mut file),
            path,
        })),
        Err(TryLockError::Error(source)) => Err(LinkError::Io {
            what: format!("locking {}", path.display()),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_names_its_holder_and_is_free_again_when_dropped() {
        let dir = std::env::temp_dir().join(format!("ftlink-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let held = acquire(&dir, Side::Primary).unwrap().expect("first lock");
        // flock locks belong to the open file: a second open in this process conflicts too.
        let refused = acquire(&dir, Side::Primary).unwrap().unwrap_err();
        assert_eq!(refused.pid, Some(std::process::id() as i32));
        assert!(refused
            .refusal(&dir)
            .contains(&format!("ftrun pid {}", std::process::id())));
        assert_eq!(holder(&dir, Side::Primary).unwrap(), Some(refused));
        // The other side's lock is independent.
        let other = acquire(&dir, Side::Follower)
            .unwrap()
            .expect("follower lock");
        drop(held);
        assert_eq!(holder(&dir, Side::Primary).unwrap(), None);
        assert!(acquire(&dir, Side::Primary).unwrap().is_ok());
        drop(other);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! The arbiter: an atomic test-and-set per epoch, so that of two sides that lost each
//! other exactly one goes on. The default is exclusive creation of `epoch-N` in a directory
//! both sides can see (shared storage).

use std::io::Write;
use std::path::PathBuf;

use crate::LinkError;

/// Decides who may continue alone in an epoch.
pub trait Arbiter: Send + Sync {
    /// Tries to take `epoch`; true if this caller won it, false if someone else had it.
    fn claim(&self, epoch: u64, who: &str) -> Result<bool, LinkError>;
    /// The highest epoch anyone has claimed (0 if none).
    fn latest(&self) -> Result<u64, LinkError>;
    fn describe(&self) -> String;
}

/// Claims a fresh epoch for a new primary, above every epoch claimed before (an arbiter
/// directory can outlive runs: a stale `epoch-2` must not decide the next run's failover).
pub fn claim_fresh(arbiter: &dyn Arbiter, who: &str) -> Result<u64, LinkError> {
    loop {
        let epoch = arbiter.latest()? + 1;
        if arbiter.claim(epoch, who)? {
            return Ok(epoch);
        }
    }
}

/// `file:DIR` — `epoch-N` created with `O_EXCL`, which is atomic on local and NFSv3+ storage.
pub struct FileArbiter {
    dir: PathBuf,
}

impl FileArbiter {
    pub fn new(dir: PathBuf) -> Self {
        FileArbiter { dir }
    }
}

impl Arbiter for FileArbiter {
    fn claim(&self, epoch: u64, who: &str) -> Result<bool, LinkError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| LinkError::Io {
            what: format!("creating the arbiter directory {}", self.dir.display()),
            source,
        })?;
        let path = self.dir.join(format!("epoch-{epoch}"));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                let _ = writeln!(f, "{who}");
                let _ = f.sync_all();
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(source) => Err(LinkError::Io {
                what: format!("claiming {}", path.display()),
                source,
            }),
        }
    }

    fn latest(&self) -> Result<u64, LinkError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(source) => {
                return Err(LinkError::Io {
                    what: format!("reading the arbiter directory {}", self.dir.display()),
                    source,
                })
            }
        };
        Ok(entries
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_prefix("epoch-")?
                    .parse::<u64>()
                    .ok()
            })
            .max()
            .unwrap_or(0))
    }

    fn describe(&self) -> String {
        format!("file:{}", self.dir.display())
    }
}

/// Parses `--arbiter file:DIR`.
pub fn parse(spec: &str) -> Result<std::sync::Arc<dyn Arbiter>, LinkError> {
    match spec.split_once(':') {
        Some(("file", dir)) if !dir.is_empty() => {
            Ok(std::sync::Arc::new(FileArbiter::new(PathBuf::from(dir))))
        }
        _ => Err(LinkError::Other(format!(
            "unknown arbiter {spec:?}: use file:DIR (a directory both sides can see)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_is_won_once() {
        let dir = std::env::temp_dir().join(format!("ftlink-arbiter-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let a = FileArbiter::new(dir.clone());
        assert!(a.claim(2, "primary").unwrap());
        assert!(!a.claim(2, "follower").unwrap());
        assert!(a.claim(3, "follower").unwrap());
        assert_eq!(a.latest().unwrap(), 3);
        assert_eq!(claim_fresh(&a, "next primary").unwrap(), 4);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

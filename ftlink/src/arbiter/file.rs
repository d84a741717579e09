//! `file:DIR`: an epoch is won by creating `epoch-N` in the directory with `O_EXCL`.

use std::io::Write;
use std::path::PathBuf;

use super::{valid_token_name, Arbiter};
use crate::LinkError;

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

    fn put_token(&self, name: &str, content: &str) -> Result<(), LinkError> {
        if !valid_token_name(name) {
            return Err(LinkError::Other(format!("bad arbiter token name {name:?}")));
        }
        std::fs::create_dir_all(&self.dir).map_err(|source| LinkError::Io {
            what: format!("creating the arbiter directory {}", self.dir.display()),
            source,
        })?;
        let path = self.dir.join(format!("token-{name}"));
        let mut f = std::fs::File::create(&path).map_err(|source| LinkError::Io {
            what: format!("writing {}", path.display()),
            source,
        })?;
        f.write_all(content.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|source| LinkError::Io {
                what: format!("writing {}", path.display()),
                source,
            })
    }

    fn read_token(&self, name: &str) -> Result<Option<String>, LinkError> {
        if !valid_token_name(name) {
            return Ok(None);
        }
        let path = self.dir.join(format!("token-{name}"));
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(LinkError::Io {
                what: format!("reading {}", path.display()),
                source,
            }),
        }
    }

    fn remove_token(&self, name: &str) {
        if valid_token_name(name) {
            let _ = std::fs::remove_file(self.dir.join(format!("token-{name}")));
        }
    }

    fn describe(&self) -> String {
        format!("file:{}", self.dir.display())
    }
}

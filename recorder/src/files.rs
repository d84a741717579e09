//! Files the tracee maps into memory: a copy of the mapped bytes kept in the trace's
//! `files/`, keyed by the file's identity, so replay does not depend on the file still being there.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use schema::{FileIdentity, FileMapping};

/// The `files/` directory of a trace being written.
pub struct FileStore {
    dir: PathBuf,
    stored: HashSet<String>,
}

impl FileStore {
    pub fn new(trace_dir: &Path) -> Self {
        FileStore {
            dir: trace_dir.join("files"),
            stored: HashSet::new(),
        }
    }

    /// Keeps the bytes of `length` at `offset` of the file open as `fd` in process `pid`.
    /// Returns `None` for descriptors that are not regular files (e.g. `/dev/zero`).
    pub fn preserve(
        &mut self,
        pid: i32,
        fd: i32,
        offset: u64,
        length: u64,
    ) -> std::io::Result<Option<FileMapping>> {
        let link = PathBuf::from(format!("/proc/{pid}/fd/{fd}"));
        let meta = std::fs::metadata(&link)?;
        if !meta.is_file() {
            return Ok(None);
        }
        let shown = std::fs::read_link(&link).unwrap_or_else(|_| link.clone());
        let file = FileIdentity::of(&link, shown.as_os_str().as_bytes())?;
        let name = format!(
            "{:x}-{:x}-{:x}-{:x}-{:x}-{:x}",
            file.dev, file.ino, file.mtime_ns, file.size, offset, length
        );
        if !self.stored.contains(&name) {
            self.copy_range(
                &link,
                &name,
                offset,
                length.min(file.size.saturating_sub(offset)),
            )?;
            self.stored.insert(name.clone());
        }
        Ok(Some(FileMapping {
            stored_as: name,
            file,
            offset,
            length,
        }))
    }

    fn copy_range(&self, from: &Path, name: &str, offset: u64, len: u64) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let dest = self.dir.join(name);
        if dest.exists() {
            return Ok(());
        }
        let tmp = self.dir.join(format!("{name}.partial"));
        let mut src = File::open(from)?;
        src.seek(SeekFrom::Start(offset))?;
        let mut out = File::create(&tmp)?;
        std::io::copy(&mut src.take(len), &mut out)?;
        out.flush()?;
        std::fs::rename(&tmp, &dest)
    }
}

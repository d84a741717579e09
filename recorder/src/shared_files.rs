//! Files the program maps `MAP_SHARED` while recording: their copies for replay's mappings,
//! and what reaches them other than through a mapping — the bytes a `write` puts into
//! such a file, the pages an `mremap` adds to a mapping of it — logged for replay to put
//! into its own file behind them.

use schema::{FileIdentity, FileMapping};

use crate::session::Recorder;
use crate::RecordError;

/// Writes whose bytes land in a file at a known offset.
fn writes_file(nr: u64) -> bool {
    use libc::*;
    [
        SYS_write,
        SYS_pwrite64,
        SYS_writev,
        SYS_pwritev,
        SYS_pwritev2,
    ]
    .contains(&(nr as c_long))
}

impl Recorder<'_> {
    /// Keeps the file range an mmap mapped (`None` for anonymous memory and devices).
    pub(crate) fn preserve_mapping(
        &mut self,
        args: &[u64; 6],
        ret: i64,
    ) -> Result<Option<FileMapping>, RecordError> {
        let (flags, fd) = (args[3] as i32, args[4] as i32);
        if ret < 0 || flags & libc::MAP_ANONYMOUS != 0 || fd < 0 {
            return Ok(None);
        }
        // The kernel maps whole pages: the file's bytes up to the end of the last page
        // are readable (and executable) too.
        let length = args[1].div_ceil(4096) * 4096;
        let kept = self
            .files
            .preserve(self.t.tracee.pid(), fd, args[5], length)
            .map_err(|source| RecordError::Io {
                what: format!("keeping a copy of the file mapped from descriptor {fd}"),
                source,
            });
        self.drain_file_warnings();
        kept
    }

    /// A file mapped shared from a descriptor open for writing: writes into it from now
    /// on are logged with their bytes. (A file only ever opened for reading, such as
    /// glibc's gconv cache, is left out: its writes would cost the fast path for nothing.)
    pub(crate) fn note_shared_file(&mut self, args: &[u64; 6], mapping: Option<&FileMapping>) {
        let Some(m) = mapping else {
            return;
        };
        if opened_for_writing(self.t.tracee.pid(), args[4] as i32) {
            self.shared_files.insert((m.file.dev, m.file.ino));
        }
    }

    /// A write of `bytes` that went into a file mapped shared: the bytes (kept in `files/`)
    /// and where they went, so that replay writes them into its file of the same identity.
    pub(crate) fn write_through(
        &mut self,
        nr: u64,
        args: &[u64; 6],
        ret: i64,
        bytes: &[u8],
    ) -> Result<Option<FileMapping>, RecordError> {
        if ret <= 0 || self.shared_files.is_empty() || !writes_file(nr) {
            return Ok(None);
        }
        let pid = self.t.tracee.pid();
        let fd = args[0] as i32;
        let link = format!("/proc/{pid}/fd/{fd}");
        let Ok(meta) = std::fs::metadata(&link) else {
            return Ok(None);
        };
        use std::os::unix::fs::MetadataExt;
        if !self.shared_files.contains(&(meta.dev(), meta.ino())) {
            return Ok(None);
        }
        let offset = match nr as libc::c_long {
            libc::SYS_pwrite64 | libc::SYS_pwritev | libc::SYS_pwritev2 if args[3] as i64 != -1 => {
                args[3]
            }
            // Where the file position was: it is past the bytes now.
            _ => match file_position(pid, fd) {
                Some(pos) => pos.saturating_sub(ret as u64),
                None => return Ok(None),
            },
        };
        let stored_as = self
            .files
            .keep_bytes(bytes)
            .map_err(|source| RecordError::Io {
                what: format!(
                    "keeping the bytes written to the shared-mapped file on descriptor {fd}"
                ),
                source,
            })?;
        let path = std::fs::read_link(&link).unwrap_or_default();
        use std::os::unix::ffi::OsStrExt;
        Ok(Some(FileMapping {
            stored_as,
            file: FileIdentity {
                path: path.as_os_str().as_bytes().to_vec(),
                dev: meta.dev(),
                ino: meta.ino(),
                size: meta.size(),
                mtime_ns: 0,
            },
            offset,
            length: ret as u64,
        }))
    }

    /// An mremap that grew a file mapping shows more of the file: the whole new range is
    /// kept, as an mmap's would be.
    pub(crate) fn mremap_copy(
        &mut self,
        args: &[u64; 6],
        addr: u64,
    ) -> Result<Option<FileMapping>, RecordError> {
        let (old_len, new_len) = (args[1], args[2]);
        if new_len <= old_len {
            return Ok(None);
        }
        let pid = self.t.tracee.pid();
        let Some(offset) = file_offset_at(pid, addr) else {
            return Ok(None);
        };
        let end = addr + new_len.div_ceil(4096) * 4096;
        let link = std::path::PathBuf::from(format!("/proc/{pid}/map_files/{addr:x}-{end:x}"));
        let kept = self
            .files
            .preserve_from(link, offset, end - addr)
            .map_err(|source| RecordError::Io {
                what: format!("keeping a copy of the file remapped at {addr:#x}"),
                source,
            });
        self.drain_file_warnings();
        kept
    }
}

/// Whether descriptor `fd` of `pid` is open for writing (`/proc/PID/fdinfo`).
fn opened_for_writing(pid: i32, fd: i32) -> bool {
    let Ok(info) = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")) else {
        return false;
    };
    info.lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        .is_some_and(|flags| flags & libc::O_ACCMODE as u32 != libc::O_RDONLY as u32)
}

/// The file position of descriptor `fd` of `pid` (`/proc/PID/fdinfo`).
fn file_position(pid: i32, fd: i32) -> Option<u64> {
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("pos:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The file offset of the file mapping that starts at `addr` (`None` for anonymous memory).
fn file_offset_at(pid: i32, addr: u64) -> Option<u64> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    maps.lines().find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let start = u64::from_str_radix(cols.first()?.split_once('-')?.0, 16).ok()?;
        let inode: u64 = cols.get(4)?.parse().ok()?;
        (start == addr && inode != 0).then(|| u64::from_str_radix(cols.get(2)?, 16).ok())?
    })
}

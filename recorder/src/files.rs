//! Files the tracee maps into memory or execs, kept in the trace's `files/` so that replay does
//! not depend on them staying as they were.
//!
//! Every copy is named by the hash of its bytes (`schema::kept`): the mapped range of a file
//! for an mmap, the whole file for what an exec loaded (the executable, its ELF interpreter,
//! the `#!` scripts on the way). With a [`Store`] (traces in `$FTRUN_DIR`) a copy is made once
//! into the store and hard-linked into each trace after that; a file met again with the same
//! identity is linked without being read. Without one (`-o` elsewhere, a fault-tolerant
//! primary's log), mapped ranges are copied into the trace, and the files of an exec are only
//! described (identity and content hash): `ftrun pack` copies them.
//!
//! A copy is taken from the file the tracee has open (`/proc/PID/fd/N`, `/proc/PID/exe`), so a
//! path replaced since does not matter. A file written while it is copied is copied again
//! (three times at most); the copy is named by the bytes actually copied either way, so a
//! name never lies about its content.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use schema::kept::{ContentHasher, FILES_DIR};
use schema::{ExecImage, FileIdentity, FileMapping};

use crate::store::{FileKey, Store};

const AT_EXECFN: u64 = 31;
/// How many `#!` scripts the kernel follows before it gives up (`ELOOP`).
const MAX_SCRIPTS: usize = 5;
/// The bytes of a `#!` line the kernel reads (`BINPRM_BUF_SIZE`).
const SHEBANG_MAX: usize = 256;

/// The `files/` directory of a trace being written.
pub struct FileStore {
    dir: PathBuf,
    store: Option<Store>,
    /// Copy what an exec loads too (a trace in `$FTRUN_DIR`), not only describe it.
    keep_images: bool,
    /// Ranges already in `files/` during this recording.
    copied: HashMap<FileKey, String>,
    /// Ranges whose content is known without a copy in `files/`.
    hashed: HashMap<FileKey, String>,
    copies_made: u64,
    warnings: Vec<String>,
}

impl FileStore {
    pub fn new(trace_dir: &Path) -> Self {
        FileStore {
            dir: trace_dir.join(FILES_DIR),
            store: None,
            keep_images: false,
            copied: HashMap::new(),
            hashed: HashMap::new(),
            copies_made: 0,
            warnings: Vec::new(),
        }
    }

    /// Keeps copies in `store` and hard-links them into the trace.
    pub fn with_store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self.keep_images = true;
        self
    }

    /// The store shared by the traces, when this trace uses one.
    pub fn store(&self) -> Option<&Store> {
        self.store.as_ref()
    }

    /// What went wrong without stopping the recording, since the last call.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Keeps the bytes of `length` at `offset` of the file open as `fd` in process `pid`.
    /// Returns `None` for descriptors that are not regular files (e.g. `/dev/zero`).
    pub fn preserve(
        &mut self,
        pid: i32,
        fd: i32,
        offset: u64,
        length: u64,
    ) -> io::Result<Option<FileMapping>> {
        self.preserve_from(
            PathBuf::from(format!("/proc/{pid}/fd/{fd}")),
            offset,
            length,
        )
    }

    /// Like `preserve`, for the file that `link` (a `/proc` link: a descriptor, a mapped
    /// range's `map_files` entry) leads to.
    pub fn preserve_from(
        &mut self,
        link: PathBuf,
        offset: u64,
        length: u64,
    ) -> io::Result<Option<FileMapping>> {
        let meta = std::fs::metadata(&link)?;
        if !meta.is_file() {
            return Ok(None);
        }
        let shown = std::fs::read_link(&link).unwrap_or_else(|_| link.clone());
        let src = File::open(&link)?;
        let meta = src.metadata()?;
        let file = identity(&meta, shown.as_os_str().as_bytes());
        let name = self.keep_range(&src, &file.path, offset, length, false, true)?;
        Ok(Some(FileMapping {
            stored_as: name,
            file,
            offset,
            length,
        }))
    }

    /// Keeps `bytes` read from the program's memory (a SysV segment as it was attached),
    /// named by their content; there is no file to know them by.
    pub fn keep_bytes(&mut self, bytes: &[u8]) -> io::Result<String> {
        let name = schema::kept::content_name(bytes);
        if !self.dir.join(&name).exists() {
            let tmp = self.fresh_tmp()?;
            std::fs::write(&tmp, bytes)?;
            self.settle(&tmp, &name, false)?;
        }
        Ok(name)
    }

    /// Keeps what the kernel loaded for the image process `pid` has just exec'd (call at the
    /// exec stop): the executable, its interpreter and the scripts that led to it. `None` when
    /// that chain cannot be told (a file replaced since the exec, a `binfmt_misc` handler).
    pub fn keep_image(&mut self, pid: i32) -> io::Result<Option<Box<ExecImage>>> {
        let exe = File::open(format!("/proc/{pid}/exe"))?;
        let exe_meta = exe.metadata()?;
        let Some(mut opened_as) = read_execfn(pid) else {
            return Ok(None);
        };
        let copy = self.keep_images;
        let mut scripts = Vec::new();
        loop {
            let path = in_cwd(pid, &opened_as);
            let Ok(meta) = std::fs::metadata(&path) else {
                return Ok(None);
            };
            if (meta.dev(), meta.ino()) == (exe_meta.dev(), exe_meta.ino()) {
                break;
            }
            if scripts.len() == MAX_SCRIPTS {
                return Ok(None);
            }
            let script = File::open(&path)?;
            let mut head = vec![0u8; SHEBANG_MAX];
            let n = script.read_at(&mut head, 0)?;
            let Some(interp) = shebang(&head[..n]) else {
                return Ok(None);
            };
            scripts.push(self.keep_whole(&script, opened_as, copy)?);
            opened_as = interp;
        }
        let exe = self.keep_whole(&exe, opened_as, copy)?;
        let interp = match interpreter(pid, &exe_meta)? {
            Interp::Static => None,
            Interp::Unknown => return Ok(None),
            Interp::At(file, path) => Some(self.keep_whole(&file, path, copy)?),
        };
        Ok(Some(Box::new(ExecImage {
            exe,
            interp,
            scripts,
        })))
    }

    fn keep_whole(&mut self, src: &File, path: Vec<u8>, copy: bool) -> io::Result<FileMapping> {
        let meta = src.metadata()?;
        let file = identity(&meta, &path);
        let name = self.keep_range(src, &path, 0, meta.size(), true, copy)?;
        Ok(FileMapping {
            stored_as: name,
            offset: 0,
            length: file.size,
            file,
        })
    }

    /// The name of the bytes at `offset` of `src` (at most `length`, to its end), kept in
    /// `files/` if `copy`.
    fn keep_range(
        &mut self,
        src: &File,
        shown: &[u8],
        offset: u64,
        length: u64,
        executable: bool,
        copy: bool,
    ) -> io::Result<String> {
        let meta = src.metadata()?;
        let len = length.min(meta.size().saturating_sub(offset));
        let key = FileKey::of(&meta, offset, len);
        if let Some(name) = self.copied.get(&key) {
            return Ok(name.clone());
        }
        if let (false, Some(name)) = (copy, self.hashed.get(&key)) {
            return Ok(name.clone());
        }
        if let Some(name) = self.store.as_ref().and_then(|s| s.known(&key)) {
            if !copy {
                self.hashed.insert(key, name.clone());
                return Ok(name);
            }
            if self.link_from_store(&name, executable).is_ok() {
                self.copied.insert(key, name.clone());
                return Ok(name);
            }
            // Pruned meanwhile, or another filesystem: copy it.
        }
        let (name, tmp, settled) = self.read_stable(src, shown, offset, length, copy)?;
        let Some(tmp) = tmp else {
            if let Some(key) = settled {
                if let Some(store) = &self.store {
                    store.remember(&key, &name);
                }
                self.hashed.insert(key, name.clone());
            }
            return Ok(name);
        };
        self.settle(&tmp, &name, executable)?;
        if let Some(key) = settled {
            if let Some(store) = &self.store {
                if store.entry(&name).is_file() {
                    store.remember(&key, &name);
                }
            }
            self.copied.insert(key, name.clone());
        }
        Ok(name)
    }

    /// Reads (and copies if `copy`) the range until the file stays the same while it is read.
    /// Returns the content's name, the copy, and the identity that stands for the content
    /// from now on (`None` for a file changed too recently to tell a later change by it).
    fn read_stable(
        &mut self,
        src: &File,
        shown: &[u8],
        offset: u64,
        length: u64,
        copy: bool,
    ) -> io::Result<(String, Option<PathBuf>, Option<FileKey>)> {
        let mut attempt = 1;
        loop {
            let before = src.metadata()?;
            let key = FileKey::of(
                &before,
                offset,
                length.min(before.size().saturating_sub(offset)),
            );
            let started = SystemTime::now();
            let tmp = if copy { Some(self.fresh_tmp()?) } else { None };
            let name = read_range(src, key.offset, key.len, tmp.as_deref())?;
            if key.same_file(&src.metadata()?) {
                return Ok((name, tmp, key.settled_at(started).then_some(key)));
            }
            if attempt == 3 {
                self.warnings.push(format!(
                    "{} changed while it was being copied, three times; replay uses the last copy, which the program may not have seen whole",
                    String::from_utf8_lossy(shown)
                ));
                return Ok((name, tmp, None));
            }
            if let Some(tmp) = tmp {
                let _ = std::fs::remove_file(tmp);
            }
            attempt += 1;
        }
    }

    fn fresh_tmp(&mut self) -> io::Result<PathBuf> {
        std::fs::create_dir_all(&self.dir)?;
        self.copies_made += 1;
        Ok(self.dir.join(format!(
            ".copy-{}-{}.partial",
            std::process::id(),
            self.copies_made
        )))
    }

    /// Puts the finished copy `tmp` in place as `files/NAME`, read-only, and shares it with
    /// the store (the store's bytes when it already had them).
    fn settle(&mut self, tmp: &Path, name: &str, executable: bool) -> io::Result<()> {
        let dest = self.dir.join(name);
        let mode = if executable { 0o555 } else { 0o444 };
        std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(mode))?;
        if dest.exists() {
            std::fs::remove_file(tmp)?;
        } else {
            std::fs::rename(tmp, &dest)?;
        }
        if let Some(store) = &self.store {
            match store.adopt(&dest, name) {
                Ok(true) => {}
                Ok(false) => {
                    // Same content from another file: keep the store's bytes, drop ours.
                    let link = self.dir.join(format!(".{name}.link"));
                    let _ = std::fs::remove_file(&link);
                    if store.link_out(name, &link).is_ok() && std::fs::rename(&link, &dest).is_err()
                    {
                        let _ = std::fs::remove_file(&link);
                    }
                }
                Err(e) => {
                    // On another filesystem (EXDEV) a hard link cannot be: the trace keeps
                    // copies of its own, as a trace elsewhere does.
                    if e.raw_os_error() != Some(libc::EXDEV) {
                        self.warnings.push(format!(
                            "cannot share copies through the store {} ({e}); this trace keeps its own",
                            store.dir().display()
                        ));
                    }
                    self.store = None;
                }
            }
        }
        if executable {
            make_executable(&dest)?;
        }
        Ok(())
    }

    fn link_from_store(&self, name: &str, executable: bool) -> io::Result<()> {
        let store = self.store.as_ref().expect("caller checked");
        let dest = self.dir.join(name);
        if !dest.exists() {
            std::fs::create_dir_all(&self.dir)?;
            match store.link_out(name, &dest) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        if executable {
            make_executable(&dest)?;
        }
        Ok(())
    }
}

fn identity(meta: &std::fs::Metadata, path: &[u8]) -> FileIdentity {
    FileIdentity {
        path: path.to_vec(),
        dev: meta.dev(),
        ino: meta.ino(),
        size: meta.size(),
        mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
    }
}

/// Copies `len` bytes at `offset` of `src` into `to` (if given) and returns their name.
fn read_range(src: &File, offset: u64, len: u64, to: Option<&Path>) -> io::Result<String> {
    let mut out = match to {
        Some(p) => Some(File::create(p)?),
        None => None,
    };
    let mut hasher = ContentHasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    while done < len {
        let want = buf.len().min((len - done) as usize);
        let n = match src.read_at(&mut buf[..want], offset + done) {
            Ok(0) => break, // shrunk meanwhile: the identity check after says so
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        if let Some(out) = out.as_mut() {
            out.write_all(&buf[..n])?;
        }
        done += n as u64;
    }
    if let Some(out) = out.as_mut() {
        out.flush()?;
    }
    Ok(hasher.name())
}

fn make_executable(path: &Path) -> io::Result<()> {
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o111 != 0o111 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o555))?;
    }
    Ok(())
}

/// The path as given to the exec, as the tracee would resolve it (relative to its cwd).
fn in_cwd(pid: i32, path: &[u8]) -> PathBuf {
    let p = Path::new(std::ffi::OsStr::from_bytes(path));
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        PathBuf::from(format!("/proc/{pid}/cwd")).join(p)
    }
}

/// The file name the exec was given (`AT_EXECFN`, on the new image's stack).
fn read_execfn(pid: i32) -> Option<Vec<u8>> {
    let auxv = std::fs::read(format!("/proc/{pid}/auxv")).ok()?;
    let addr = auxv.chunks_exact(16).find_map(|pair| {
        let key = u64::from_ne_bytes(pair[..8].try_into().ok()?);
        (key == AT_EXECFN).then(|| u64::from_ne_bytes(pair[8..].try_into().unwrap_or_default()))
    })?;
    let mem = File::open(format!("/proc/{pid}/mem")).ok()?;
    let mut buf = vec![0u8; 4096];
    let n = mem.read_at(&mut buf, addr).ok()?;
    let end = buf[..n].iter().position(|&b| b == 0)?;
    buf.truncate(end);
    Some(buf)
}

/// The interpreter named in a `#!` line, as the kernel reads it.
pub fn shebang(head: &[u8]) -> Option<Vec<u8>> {
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|&b| b == b'\n').next()?;
    let start = line.iter().position(|&b| b != b' ' && b != b'\t')?;
    let line = &line[start..];
    let end = line
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(line.len());
    (end > 0).then(|| line[..end].to_vec())
}

enum Interp {
    Static,
    /// The interpreter is mapped but could not be opened as the file that is mapped.
    Unknown,
    At(File, Vec<u8>),
}

/// The ELF interpreter the kernel mapped with the new image: at the exec stop, the only
/// file-backed mapping other than the executable's.
fn interpreter(pid: i32, exe: &std::fs::Metadata) -> io::Result<Interp> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    for line in maps.lines() {
        let mut fields = line.splitn(6, ' ');
        let (Some(range), _, _, Some(dev), Some(ino)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            continue;
        };
        let path = fields.next().unwrap_or("").trim_start();
        let Ok(ino) = ino.parse::<u64>() else {
            continue;
        };
        let Some((major, minor)) = dev.split_once(':') else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (
            u32::from_str_radix(major, 16),
            u32::from_str_radix(minor, 16),
        ) else {
            continue;
        };
        let dev = libc::makedev(major, minor);
        if ino == 0 || (dev, ino) == (exe.dev(), exe.ino()) {
            continue;
        }
        let same = |f: &File| {
            f.metadata()
                .map(|m| (m.dev(), m.ino()) == (dev, ino))
                .unwrap_or(false)
        };
        // map_files opens the mapped file itself (it needs privileges); the path is checked.
        for candidate in [format!("/proc/{pid}/map_files/{range}"), path.to_string()] {
            if let Ok(f) = File::open(&candidate) {
                if same(&f) {
                    return Ok(Interp::At(f, path.as_bytes().to_vec()));
                }
            }
        }
        return Ok(Interp::Unknown);
    }
    Ok(Interp::Static)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(label: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ftrun-files-test-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_known_identity_is_linked_from_the_store_without_reading_the_file() {
        let root = scratch("known");
        let store = Store::open(&root.join("store")).unwrap();
        let file = root.join("lib.so");
        std::fs::write(&file, b"what the file holds now").unwrap();
        let src = File::open(&file).unwrap();
        let key = FileKey::of(&src.metadata().unwrap(), 0, 23);
        // The store says this identity had other bytes: only a store that trusts identities
        // without reading the file returns them.
        let other = root.join("other");
        std::fs::write(&other, b"bytes the store has for it").unwrap();
        let name = schema::kept::content_name(b"bytes the store has for it");
        store.adopt(&other, &name).unwrap();
        store.remember(&key, &name);
        let mut files = FileStore::new(&root.join("trace")).with_store(store.clone());
        let kept = files
            .keep_range(&src, b"lib.so", 0, 23, false, true)
            .unwrap();
        assert_eq!(kept, name);
        let a = std::fs::metadata(root.join("trace/files").join(&name)).unwrap();
        let b = std::fs::metadata(store.entry(&name)).unwrap();
        assert_eq!((a.dev(), a.ino()), (b.dev(), b.ino()), "a hard link");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_new_copy_goes_into_the_store_once_and_an_unsettled_file_is_not_remembered() {
        let root = scratch("new");
        let store = Store::open(&root.join("store")).unwrap();
        let file = root.join("data");
        std::fs::write(&file, b"0123456789").unwrap();
        let src = File::open(&file).unwrap();
        let mut a = FileStore::new(&root.join("a")).with_store(store.clone());
        let name = a.keep_range(&src, b"data", 2, 100, false, true).unwrap();
        assert_eq!(
            name,
            schema::kept::content_name(b"23456789"),
            "the range, to the end"
        );
        let key = FileKey::of(&src.metadata().unwrap(), 2, 8);
        assert_eq!(
            store.known(&key),
            None,
            "written just now: not trusted by identity"
        );
        // Another trace, the same content: the store's bytes, not a second copy.
        let mut b = FileStore::new(&root.join("b")).with_store(store.clone());
        assert_eq!(
            b.keep_range(&src, b"data", 2, 100, false, true).unwrap(),
            name
        );
        let ino = |p: PathBuf| std::fs::metadata(p).unwrap().ino();
        assert_eq!(
            ino(root.join("a/files").join(&name)),
            ino(store.entry(&name))
        );
        assert_eq!(
            ino(root.join("b/files").join(&name)),
            ino(store.entry(&name))
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_file_written_while_it_is_copied_gets_the_name_of_the_bytes_copied() {
        let root = scratch("racing");
        let file = root.join("busy");
        std::fs::write(&file, vec![b'a'; 8 << 20]).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (file, stop) = (file.clone(), stop.clone());
            std::thread::spawn(move || {
                let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    f.write_at(&n.to_le_bytes(), (n * 4093) % (8 << 20))
                        .unwrap();
                }
            })
        };
        let src = File::open(&file).unwrap();
        let mut files = FileStore::new(&root.join("trace"));
        for _ in 0..5 {
            let name = files
                .keep_range(&src, b"busy", 0, 8 << 20, false, true)
                .unwrap();
            let copy = std::fs::read(root.join("trace/files").join(&name)).unwrap();
            assert_eq!(schema::kept::content_name(&copy), name);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().unwrap();
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn shebang_lines_as_the_kernel_reads_them() {
        assert_eq!(shebang(b"#!/bin/sh\necho"), Some(b"/bin/sh".to_vec()));
        assert_eq!(
            shebang(b"#! \t/usr/bin/env  bash -e\n"),
            Some(b"/usr/bin/env".to_vec())
        );
        assert_eq!(shebang(b"#!/x"), Some(b"/x".to_vec()));
        assert_eq!(shebang(b"#!   \n"), None);
        assert_eq!(shebang(b"\x7fELF"), None);
    }
}

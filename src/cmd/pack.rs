//! `ftrun pack [DIR]`: makes a trace self-contained. Every file its replay reads — the mapped
//! ranges and, for every exec, the executable, its ELF interpreter and its `#!` scripts — gets
//! a copy of its own in the trace's `files/`: a copy the recording left out (a trace outside
//! `$FTRUN_DIR` only describes its executables) is taken from the store or from the file
//! itself if its content is still the recorded one; a copy shared with the store (a hard link)
//! is replaced by a copy of its own. Every copy is checked against its name, which is the hash
//! of its content. The packed trace replays after the store, the program and its libraries are
//! gone, and on another machine with the same CPU features.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use schema::kept::{check_copy, is_content_name, ContentHasher, CopyProblem, FILES_DIR};
use schema::{EventKind, FileMapping, TraceReader};

use crate::trace_dir;

#[derive(clap::Args)]
pub struct PackArgs {
    /// The trace directory (default: the latest recording).
    dir: Option<PathBuf>,
}

/// One copy the trace needs.
struct Need {
    /// The file it is a copy of, for messages.
    shown: Vec<u8>,
    offset: u64,
    length: u64,
    /// Loaded by an exec (kept whole and executable).
    image: bool,
}

#[derive(Default)]
struct Tally {
    copies: usize,
    bytes: u64,
    unshared: usize,
    added: usize,
    repaired: usize,
    unchecked: usize,
}

pub fn run(args: PackArgs) -> anyhow::Result<i32> {
    let dir = trace_dir::resolve(args.dir)?;
    if let Some(pid) = trace_dir::live_recorder(&dir) {
        bail!(
            "{} is still being recorded by pid {pid}; pack it once that recording has ended",
            dir.display()
        );
    }
    let mut reader =
        TraceReader::open(&dir).with_context(|| format!("cannot pack {}", dir.display()))?;
    let mut needs: BTreeMap<String, Need> = BTreeMap::new();
    let mut without_image: Vec<Vec<u8>> = Vec::new();
    let mut add = |m: &FileMapping, image: bool| {
        let need = needs.entry(m.stored_as.clone()).or_insert(Need {
            shown: m.file.path.clone(),
            offset: m.offset,
            length: m.length,
            image,
        });
        need.image |= image;
    };
    while let Some(ev) = reader
        .next_event()
        .with_context(|| format!("cannot pack {}", dir.display()))?
    {
        match &ev.kind {
            EventKind::Syscall(s) => {
                if let Some(m) = &s.mapping {
                    add(m, false);
                }
            }
            EventKind::Exec(x) => match &x.image {
                Some(image) => {
                    for m in std::iter::once(&image.exe)
                        .chain(&image.interp)
                        .chain(&image.scripts)
                    {
                        add(m, true);
                    }
                }
                None => {
                    if !without_image.contains(&x.exe.path) {
                        without_image.push(x.exe.path.clone());
                    }
                }
            },
            _ => {}
        }
    }
    let files = dir.join(FILES_DIR);
    std::fs::create_dir_all(&files).with_context(|| format!("creating {}", files.display()))?;
    let store =
        recorder::store::Store::existing(&trace_dir::root().join(recorder::store::STORE_DIR));
    let mut tally = Tally::default();
    for (name, need) in &needs {
        pack_one(&files, name, need, store.as_ref(), &mut tally)?;
    }
    remove_leftovers(&files);
    eprintln!(
        "ftrun: packed {}: {} copies ({}) in {}/, {} checked against their checksums; {} added, {} repaired, {} no longer shared with the store",
        dir.display(),
        tally.copies,
        human(tally.bytes),
        FILES_DIR,
        tally.copies - tally.unchecked,
        tally.added,
        tally.repaired,
        tally.unshared,
    );
    if tally.unchecked > 0 {
        eprintln!(
            "ftrun: {} copies were named by an older ftrun and carry no checksum",
            tally.unchecked
        );
    }
    for exe in &without_image {
        eprintln!(
            "ftrun: {} was recorded by an older ftrun that did not keep executables: replay still needs it as it was",
            String::from_utf8_lossy(exe)
        );
    }
    Ok(0)
}

fn pack_one(
    files: &Path,
    name: &str,
    need: &Need,
    store: Option<&recorder::store::Store>,
    tally: &mut Tally,
) -> anyhow::Result<()> {
    let path = files.join(name);
    let shown = String::from_utf8_lossy(&need.shown).into_owned();
    let mode = if need.image { 0o555 } else { 0o444 };
    tally.copies += 1;
    if !is_content_name(name) {
        // An older trace's copy: there, and its own (such traces never linked), unchecked.
        let meta = std::fs::metadata(&path).with_context(|| {
            format!(
                "cannot pack: the trace has no copy of {shown} ({} is missing)",
                path.display()
            )
        })?;
        tally.bytes += meta.len();
        tally.unchecked += 1;
        return Ok(());
    }
    match check_copy(files.parent().unwrap_or(files), name).err() {
        None => {
            let meta = std::fs::metadata(&path)?;
            tally.bytes += meta.len();
            if meta.nlink() > 1 {
                // Shared with the store (and other traces): a copy of its own.
                copy_checked(&path, 0, meta.len(), &path, name, mode).with_context(|| {
                    format!(
                        "cannot pack: copying {} (the copy of {shown})",
                        path.display()
                    )
                })?;
                tally.unshared += 1;
            } else {
                set_mode(&path, mode)?;
            }
            Ok(())
        }
        Some(problem) => {
            // Missing or damaged: the store's entry or the file itself, if it still has the
            // recorded content.
            let mut sources: Vec<(PathBuf, u64, u64)> = Vec::new();
            if let Some(store) = store {
                let entry = store.entry(name);
                if let Ok(m) = std::fs::metadata(&entry) {
                    if !same_inode(&entry, &path) {
                        sources.push((entry, 0, m.len()));
                    }
                }
            }
            let original = PathBuf::from(std::ffi::OsStr::from_bytes(&need.shown));
            if let Ok(m) = std::fs::metadata(&original) {
                if m.is_file() {
                    let len = need.length.min(m.len().saturating_sub(need.offset));
                    sources.push((original.clone(), need.offset, len));
                }
            }
            for (source, offset, len) in &sources {
                if copy_checked(source, *offset, *len, &path, name, mode).is_ok() {
                    if let CopyProblem::Missing = problem {
                        tally.added += 1;
                    } else {
                        eprintln!(
                            "ftrun: the copy of {shown} ({}) {problem}; copied again from {}",
                            path.display(),
                            source.display()
                        );
                        tally.repaired += 1;
                    }
                    tally.bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                    return Ok(());
                }
            }
            let now = match std::fs::metadata(&original) {
                Ok(_) => "has changed since it was recorded (its content is not the recorded one)",
                Err(_) => "is gone",
            };
            match problem {
                CopyProblem::Missing => bail!(
                    "cannot pack: the trace has no copy of {shown} ({} is missing), {shown} {now}, and the store has none",
                    path.display()
                ),
                other => bail!(
                    "cannot pack: the copy of {shown} ({}) {other}; {shown} {now}, and the store has no good copy",
                    path.display()
                ),
            }
        }
    }
}

/// Copies `len` bytes at `offset` of `from` into a fresh file that replaces `to`, if they hash
/// to `name`.
fn copy_checked(
    from: &Path,
    offset: u64,
    len: u64,
    to: &Path,
    name: &str,
    mode: u32,
) -> anyhow::Result<()> {
    let dir = to.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{name}.pack.{}", std::process::id()));
    let src = File::open(from).with_context(|| format!("opening {}", from.display()))?;
    let result = (|| -> anyhow::Result<()> {
        let mut out = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut hasher = ContentHasher::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut done = 0u64;
        while done < len {
            let want = buf.len().min((len - done) as usize);
            let n = src.read_at(&mut buf[..want], offset + done)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            done += n as u64;
        }
        out.sync_all()?;
        if hasher.name() != name {
            bail!(
                "{} does not have the recorded content (it hashes to {}, not {name})",
                from.display(),
                hasher.name()
            );
        }
        set_mode(&tmp, mode)?;
        std::fs::rename(&tmp, to).with_context(|| format!("renaming into {}", to.display()))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

fn same_inode(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

/// Copies a recorder left half-made when it was killed.
fn remove_leftovers(files: &Path) {
    if let Ok(list) = std::fs::read_dir(files) {
        for e in list.flatten() {
            let n = e.file_name();
            let n = n.to_string_lossy();
            if n.starts_with('.') && (n.ends_with(".partial") || n.ends_with(".link")) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

fn human(bytes: u64) -> String {
    const MB: f64 = 1024.0 * 1024.0;
    if bytes as f64 >= MB {
        format!("{:.1} MiB", bytes as f64 / MB)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

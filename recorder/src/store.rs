//! The content-addressed store shared by the traces in `$FTRUN_DIR` (`$FTRUN_DIR/store`).
//!
//! - `store/NAME` holds bytes whose xxh3-128 is NAME (see `schema::kept`). It is written once,
//!   read-only, and never changed: a trace's `files/NAME` is a hard link to it, so the bytes of
//!   a library are on disk once however many traces map it.
//! - `store/ids/KEY` is a symlink to `../NAME`: the range of a file with a given identity
//!   (device, inode, size, mtime, ctime, offset, length) had that content when it was copied.
//!   A recording that meets the same identity again links the copy without reading the file.
//!   An identity is only remembered when the file had not changed for a while before it was
//!   copied (a change in the same timestamp tick would otherwise go unseen, as in git's "racy
//!   clean" files), and any write to a file changes its ctime, which nobody can set back.
//!
//! - `store/facts-KIND/KEY` holds what ftrun worked out from a file range with that identity
//!   (the counter reads of a library's code: `recorder::tsc_free`), under the same rule: only
//!   for files that had settled, so a later recording reads it instead of the file.
//!
//! Removing a trace removes its links; the others keep theirs. A store entry whose link count
//! is 1 is used by no trace any more: [`Store::prune`] (run during every `ftrun record`)
//! removes it and the identities that named it.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use schema::kept::is_content_name;

/// The directory of the store in `$FTRUN_DIR`.
pub const STORE_DIR: &str = "store";
const IDS_DIR: &str = "ids";
const FACTS_PREFIX: &str = "facts-";

/// How long a file must have been left alone before its identity is trusted to stand for its
/// content (timestamps are coarser than the writes they stamp).
const SETTLED: Duration = Duration::from_secs(2);

/// What the store knows a file's range by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileKey {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub offset: u64,
    pub len: u64,
}

impl FileKey {
    pub fn of(m: &std::fs::Metadata, offset: u64, len: u64) -> FileKey {
        FileKey {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            ctime_ns: m.ctime() * 1_000_000_000 + m.ctime_nsec(),
            offset,
            len,
        }
    }

    /// Whether the file is the same file, unchanged, as when `self` was taken.
    pub fn same_file(&self, m: &std::fs::Metadata) -> bool {
        let now = FileKey::of(m, self.offset, self.len);
        now == *self
    }

    /// Whether the file had been left alone for a while at `started`: its identity then
    /// stands for its content.
    pub fn settled_at(&self, started: SystemTime) -> bool {
        let Ok(since_epoch) = started.duration_since(SystemTime::UNIX_EPOCH) else {
            return false;
        };
        let limit = since_epoch.saturating_sub(SETTLED).as_nanos() as i64;
        self.mtime_ns < limit && self.ctime_ns < limit
    }

    fn file_name(&self) -> String {
        format!(
            "{:x}-{:x}-{:x}-{:x}-{:x}-{:x}-{:x}",
            self.dev,
            self.ino,
            self.size,
            self.mtime_ns as u64,
            self.ctime_ns as u64,
            self.offset,
            self.len
        )
    }
}

/// What [`Store::prune`] removed.
#[derive(Debug, Default, Clone, Copy)]
pub struct Pruned {
    pub entries: usize,
    pub bytes: u64,
}

/// A store directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store at `dir`, created if missing.
    pub fn open(dir: &Path) -> io::Result<Store> {
        std::fs::create_dir_all(dir.join(IDS_DIR))?;
        Ok(Store {
            dir: dir.to_path_buf(),
        })
    }

    /// The store at `dir` if it exists (for readers: nothing is created).
    pub fn existing(dir: &Path) -> Option<Store> {
        dir.is_dir().then(|| Store {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of entry `name`.
    pub fn entry(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The content a file's range had when it was copied, if the store still holds it.
    pub fn known(&self, key: &FileKey) -> Option<String> {
        let target = std::fs::read_link(self.dir.join(IDS_DIR).join(key.file_name())).ok()?;
        let name = target.file_name()?.to_str()?.to_string();
        (is_content_name(&name) && self.entry(&name).is_file()).then_some(name)
    }

    /// Remembers that `key` stands for content `name` (best effort: a store that cannot be
    /// written only means the file is read again next time).
    pub fn remember(&self, key: &FileKey, name: &str) {
        let ids = self.dir.join(IDS_DIR);
        let link = ids.join(key.file_name());
        let tmp = ids.join(format!(".{}.{}.tmp", key.file_name(), std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        if std::os::unix::fs::symlink(Path::new("..").join(name), &tmp).is_ok()
            && std::fs::rename(&tmp, &link).is_err()
        {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    /// What was worked out of the kind `kind` from the file range `key`, if remembered.
    pub fn fact(&self, kind: &str, key: &FileKey) -> Option<String> {
        let dir = self.dir.join(format!("{FACTS_PREFIX}{kind}"));
        std::fs::read_to_string(dir.join(key.file_name())).ok()
    }

    /// Remembers `text` as the fact of kind `kind` about the file range `key` (best effort,
    /// written whole or not at all: a reader never sees half of it).
    pub fn remember_fact(&self, kind: &str, key: &FileKey, text: &str) {
        let dir = self.dir.join(format!("{FACTS_PREFIX}{kind}"));
        if std::fs::create_dir_all(&dir).is_err() {
            return;
        }
        let path = dir.join(key.file_name());
        let tmp = dir.join(format!(".{}.{}.tmp", key.file_name(), std::process::id()));
        if std::fs::write(&tmp, text).is_err() || std::fs::rename(&tmp, &path).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    /// Hard-links entry `name` to `dest`. Fails when the entry is gone (pruned meanwhile) or
    /// `dest` is on another filesystem.
    pub fn link_out(&self, name: &str, dest: &Path) -> io::Result<()> {
        std::fs::hard_link(self.entry(name), dest)
    }

    /// Makes the copy at `src` (whose content is `name`) an entry of the store. `Ok(true)`:
    /// it is now the entry; `Ok(false)`: the store already had that content.
    pub fn adopt(&self, src: &Path, name: &str) -> io::Result<bool> {
        match std::fs::hard_link(src, self.entry(name)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes the entries no trace links to any more (link count 1) and the identities that
    /// name removed entries.
    pub fn prune(&self) -> io::Result<Pruned> {
        let mut pruned = Pruned::default();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !is_content_name(name) {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            // A trace that links it between this look and the unlink keeps its own link:
            // only the store's goes.
            if meta.is_file() && meta.nlink() == 1 && std::fs::remove_file(entry.path()).is_ok() {
                pruned.entries += 1;
                pruned.bytes += meta.len();
            }
        }
        if pruned.entries == 0 {
            // No identity can have started dangling (one left by an earlier prune that could
            // not finish is ignored by `known` anyway).
            return Ok(pruned);
        }
        let ids = self.dir.join(IDS_DIR);
        if let Ok(list) = std::fs::read_dir(&ids) {
            for entry in list.flatten() {
                // A dangling identity (its entry pruned) is removed; `known` ignores them anyway.
                if std::fs::metadata(entry.path()).is_err() {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(pruned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "ftrun-store-test-{label}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn an_identity_names_content_until_the_entry_is_pruned() {
        let root = scratch("ids");
        let store = Store::open(&root.join("store")).unwrap();
        let file = root.join("lib.so");
        std::fs::write(&file, b"library bytes").unwrap();
        let key = FileKey::of(&std::fs::metadata(&file).unwrap(), 0, 13);
        let name = schema::kept::content_name(b"library bytes");
        assert_eq!(store.known(&key), None);

        let copy = root.join("copy");
        std::fs::write(&copy, b"library bytes").unwrap();
        assert!(store.adopt(&copy, &name).unwrap());
        assert!(
            !store.adopt(&copy, &name).unwrap(),
            "the same content twice"
        );
        store.remember(&key, &name);
        assert_eq!(store.known(&key).as_deref(), Some(name.as_str()));

        // The trace's link keeps the entry.
        assert_eq!(store.prune().unwrap().entries, 0);
        std::fs::remove_file(&copy).unwrap();
        let pruned = store.prune().unwrap();
        assert_eq!((pruned.entries, pruned.bytes), (1, 13));
        assert_eq!(store.known(&key), None);
        assert_eq!(
            std::fs::read_dir(root.join("store/ids")).unwrap().count(),
            0
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_file_changed_just_now_is_not_settled() {
        let root = scratch("settled");
        let file = root.join("f");
        std::fs::write(&file, b"x").unwrap();
        let key = FileKey::of(&std::fs::metadata(&file).unwrap(), 0, 1);
        assert!(!key.settled_at(SystemTime::now()));
        assert!(key.settled_at(SystemTime::now() + Duration::from_secs(3)));
        let _ = std::fs::remove_dir_all(&root);
    }
}

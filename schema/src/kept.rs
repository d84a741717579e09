//! The copies a trace keeps in `DIR/files/`: the mapped ranges of files and the files an exec
//! loaded. Each is named by the xxh3-128 hash of its bytes, 32 lowercase hex digits, so its
//! name is its checksum: a copy that no longer hashes to its name is damaged. (Traces written
//! before copies were named by content use other names, which carry no checksum.)

use std::io::Read;
use std::path::Path;

use xxhash_rust::xxh3::Xxh3;

/// The directory of a trace that holds its copies.
pub const FILES_DIR: &str = "files";

/// Computes the name of some bytes, fed in pieces.
#[derive(Clone)]
pub struct ContentHasher(Xxh3);

impl Default for ContentHasher {
    fn default() -> Self {
        ContentHasher::new()
    }
}

impl ContentHasher {
    pub fn new() -> Self {
        ContentHasher(Xxh3::new())
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The name of the bytes fed so far.
    pub fn name(&self) -> String {
        format!("{:032x}", self.0.digest128())
    }
}

/// The name of `bytes` in `files/`.
pub fn content_name(bytes: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(bytes))
}

/// Whether `name` is a content name (and so a checksum of the copy it names).
pub fn is_content_name(name: &str) -> bool {
    name.len() == 32 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The name of the bytes read from `r` to its end.
pub fn name_of_reader(mut r: impl Read) -> std::io::Result<String> {
    let mut h = ContentHasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(h.name()),
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The name of the file at `path`'s content.
pub fn name_of_file(path: &Path) -> std::io::Result<String> {
    name_of_reader(std::fs::File::open(path)?)
}

/// What is wrong with a copy in `files/`.
#[derive(Debug)]
pub enum CopyProblem {
    /// It is not there.
    Missing,
    /// Its bytes hash to `found`, not to its name.
    Damaged { found: String },
    /// It could not be read.
    Unreadable(std::io::Error),
}

impl std::fmt::Display for CopyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CopyProblem::Missing => write!(f, "is missing"),
            CopyProblem::Damaged { found } => write!(
                f,
                "is damaged: its content hashes to {found}, not to the checksum it is named by"
            ),
            CopyProblem::Unreadable(e) => write!(f, "cannot be read: {e}"),
        }
    }
}

/// Checks the copy `files/NAME` of trace `dir`. A copy whose name is not a content name
/// (an older trace's) is only checked to be there.
pub fn check_copy(dir: &Path, name: &str) -> Result<(), CopyProblem> {
    let path = dir.join(FILES_DIR).join(name);
    match std::fs::File::open(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(CopyProblem::Missing),
        Err(e) => Err(CopyProblem::Unreadable(e)),
        Ok(_) if !is_content_name(name) => Ok(()),
        Ok(f) => check_bytes_of(f, name),
    }
}

fn check_bytes_of(f: std::fs::File, name: &str) -> Result<(), CopyProblem> {
    let found = name_of_reader(f).map_err(CopyProblem::Unreadable)?;
    if found == name {
        Ok(())
    } else {
        Err(CopyProblem::Damaged { found })
    }
}

/// Checks bytes already read from the copy `name` (nothing to check for an older name).
pub fn check_bytes(bytes: &[u8], name: &str) -> Result<(), CopyProblem> {
    if !is_content_name(name) {
        return Ok(());
    }
    let found = content_name(bytes);
    if found == name {
        Ok(())
    } else {
        Err(CopyProblem::Damaged { found })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checksums() {
        let a = content_name(b"hello");
        assert!(is_content_name(&a));
        let mut h = ContentHasher::new();
        h.update(b"hel");
        h.update(b"lo");
        assert_eq!(h.name(), a);
        assert!(check_bytes(b"hello", &a).is_ok());
        assert!(matches!(
            check_bytes(b"hellO", &a),
            Err(CopyProblem::Damaged { .. })
        ));
        assert!(!is_content_name(
            "fe00-491a-18add5764fa0a800-1605dd0-0-5b9938"
        ));
        assert!(check_bytes(b"anything", "fe00-491a-0-0-0-0").is_ok());
    }
}

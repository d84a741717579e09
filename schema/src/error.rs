//! The errors of reading and writing traces: [`FormatError`] for a byte stream without a
//! name (what `frame.rs` and `stream.rs` report) and [`TraceError`] for a trace file.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// What is wrong with a trace byte stream. Offsets count from the start of the stream (the
/// first byte of the magic).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The stream does not start with the trace magic `FTRUNTRC`.
    NotATrace,
    /// The stream is a trace of another format version.
    Version { found: u32, expected: u32 },
    /// The stream is damaged or inconsistent at `offset` (the start of the frame at fault).
    Corrupt {
        offset: u64,
        /// The seq of the last good event before the damage, if any.
        last_seq: Option<u64>,
        what: String,
    },
}

impl FormatError {
    pub(crate) fn corrupt(offset: u64, what: impl Into<String>) -> Self {
        FormatError::Corrupt {
            offset,
            last_seq: None,
            what: what.into(),
        }
    }

    /// Names the stream: turns this into a [`TraceError`] about `path` (for a stream that is not
    /// a file, e.g. one received from the network, any descriptive name will do).
    pub fn at(self, path: &Path) -> TraceError {
        let path = path.to_path_buf();
        match self {
            FormatError::NotATrace => TraceError::NotATrace { path },
            FormatError::Version { found, expected } => TraceError::Version {
                path,
                found,
                expected,
            },
            FormatError::Corrupt {
                offset,
                last_seq,
                what,
            } => TraceError::Corrupt {
                path,
                offset,
                last_seq,
                what,
            },
        }
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::NotATrace => f.write_str("not an ftrun trace (bad magic)"),
            FormatError::Version { found, expected } => write!(
                f,
                "trace format version {found}, but this ftrun reads version {expected}"
            ),
            FormatError::Corrupt {
                offset,
                last_seq,
                what,
            } => write!(
                f,
                "corrupt at byte {offset}{}: {what}",
                AfterEvent(*last_seq)
            ),
        }
    }
}

impl std::error::Error for FormatError {}

/// Formats " (after event N)" when there was a good event before the damage.
struct AfterEvent(Option<u64>);

impl fmt::Display for AfterEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(seq) => write!(f, " (after event {seq})"),
            None => Ok(()),
        }
    }
}

/// An error reading or writing a trace file; every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{} is not an ftrun trace (it does not start with FTRUNTRC)", path.display())]
    NotATrace { path: PathBuf },

    #[error(
        "trace {} has format version {found}, but this ftrun reads version {expected}",
        path.display()
    )]
    Version {
        path: PathBuf,
        found: u32,
        expected: u32,
    },

    #[error("trace {} is corrupt at byte {offset}{}: {what}", path.display(), AfterEvent(*last_seq))]
    Corrupt {
        path: PathBuf,
        /// Byte offset of the frame at fault (or of the damaged field of the file start).
        offset: u64,
        /// The seq of the last good event before the damage, if any.
        last_seq: Option<u64>,
        what: String,
    },

    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        path: PathBuf,
        /// What was being done: "open", "read", "create", "write", "sync" …
        op: &'static str,
        #[source]
        source: io::Error,
    },

    /// The writer was asked for something it must refuse (an event out of order, an event too
    /// large for a frame, a footer that miscounts …); the trace on disk is still consistent.
    #[error("cannot write trace {}: {what}", path.display())]
    Refused { path: PathBuf, what: String },
}

impl TraceError {
    pub(crate) fn io(path: &Path, op: &'static str, source: io::Error) -> Self {
        TraceError::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }

    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            TraceError::NotATrace { path }
            | TraceError::Version { path, .. }
            | TraceError::Corrupt { path, .. }
            | TraceError::Io { path, .. }
            | TraceError::Refused { path, .. } => path,
        }
    }
}

//! Errors of tracee operations, with ESRCH turned into `TraceeDied` in one place.

use nix::errno::Errno;

#[derive(Debug, thiserror::Error)]
pub enum TraceeError {
    #[error("process {pid} died while being traced")]
    TraceeDied { pid: i32 },
    #[error("{op} on process {pid} failed: {source}")]
    Ptrace {
        op: &'static str,
        pid: i32,
        source: Errno,
    },
    #[error("{op} of {len} bytes at {addr:#x} in process {pid} failed: {source}")]
    Memory {
        op: &'static str,
        pid: i32,
        addr: u64,
        len: usize,
        source: std::io::Error,
    },
    #[error("could not start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
}

impl TraceeError {
    /// Maps a failed ptrace call: a vanished tracee is its own error, not a generic failure.
    pub(crate) fn from_errno(op: &'static str, pid: i32, errno: Errno) -> Self {
        if errno == Errno::ESRCH {
            TraceeError::TraceeDied { pid }
        } else {
            TraceeError::Ptrace {
                op,
                pid,
                source: errno,
            }
        }
    }
}

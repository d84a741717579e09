//! The id maps of a user namespace the replayed program made. At recording the program
//! wrote them itself (`/proc/self/uid_map`, `gid_map`, `setgroups`); at replay those
//! writes are emulated like any file write, so the replayer writes the same bytes into the
//! replayed process's own files from outside. A process in a user namespace may not open
//! the replayer's files, but its parent namespace (the replayer's) may write its maps,
//! with no more privilege than the recording had. Without them the kernel would treat the
//! replayed process differently from the recorded one (capabilities kept across execve,
//! calls it makes again at replay).

use std::path::Path;

use schema::SyscallEvent;
use tracee::Tracee;

use crate::fdtable::{FdKind, FdTable};
use crate::ReplayError;

/// The files of `/proc/PID/` that make a user namespace's id maps.
const ID_MAP_FILES: [&str; 3] = ["uid_map", "gid_map", "setgroups"];

/// Which id map file of the process itself `path` names, if it names one.
fn own_id_map_file(path: &Path) -> Option<&'static str> {
    let rest = path.strip_prefix("/proc").ok()?;
    let mut parts = rest.iter();
    let owner = parts.next()?;
    let file = parts.next()?;
    if parts.next().is_some() || (owner != "self" && owner != "thread-self") {
        return None;
    }
    ID_MAP_FILES.iter().copied().find(|f| file == *f)
}

/// Another process's id map file named by `path` (`/proc/PID/uid_map`), if it names one.
fn other_id_map_file(path: &Path) -> bool {
    let Ok(rest) = path.strip_prefix("/proc") else {
        return false;
    };
    let parts: Vec<_> = rest.iter().collect();
    parts.len() == 2
        && parts[0]
            .to_str()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
        && ID_MAP_FILES.iter().any(|f| parts[1] == *f)
}

/// After the replayed call `s` (emulated): a successful write into the process's own id
/// map files is made again, for real, with the bytes it `sent` (those the in-process
/// runtime kept; read from the buffer when the thread is still at the call's exit).
pub fn replay_write(
    tracee: &mut Tracee,
    fds: &FdTable,
    s: &SyscallEvent,
    sent: Option<&[u8]>,
    seq: u64,
) -> Result<(), ReplayError> {
    let is_write = s.number == libc::SYS_write as u64 || s.number == libc::SYS_pwrite64 as u64;
    if !is_write || s.result <= 0 {
        return Ok(());
    }
    let Some(FdKind::File { path, .. }) = fds.fds.get(&(s.args[0] as i32)).map(|e| &e.kind) else {
        return Ok(());
    };
    let pid = tracee.pid();
    let divergence = |got: String| ReplayError::Divergence {
        seq,
        tid: pid as u32,
        expected: format!("the write into {} to take effect", path.display()),
        got,
    };
    let Some(file) = own_id_map_file(path) else {
        if other_id_map_file(path) {
            return Err(divergence(
                "a write into another process's id maps, which replay does not make again \
                 (its pid differs at replay)"
                    .into(),
            ));
        }
        return Ok(());
    };
    let data = match sent {
        Some(bytes) => bytes.to_vec(),
        None => tracee.read_mem(s.args[1], s.result as usize)?,
    };
    let target = format!("/proc/{pid}/{file}");
    std::fs::write(&target, &data).map_err(|e| divergence(format!("{target}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_own_id_map_files_only() {
        assert_eq!(
            own_id_map_file(Path::new("/proc/self/uid_map")),
            Some("uid_map")
        );
        assert_eq!(
            own_id_map_file(Path::new("/proc/thread-self/setgroups")),
            Some("setgroups")
        );
        assert_eq!(own_id_map_file(Path::new("/proc/self/status")), None);
        assert_eq!(own_id_map_file(Path::new("/proc/12/uid_map")), None);
        assert_eq!(own_id_map_file(Path::new("/tmp/proc/self/uid_map")), None);
        assert!(other_id_map_file(Path::new("/proc/12/gid_map")));
        assert!(!other_id_map_file(Path::new("/proc/self/gid_map")));
        assert!(!other_id_map_file(Path::new("/proc/12/maps")));
    }
}

//! The id maps of a user namespace the replayed program made. At recording the program
//! wrote them itself (`/proc/self/uid_map`, `gid_map`, `setgroups`, or a recorded child's
//! `/proc/PID/…`); at replay those writes are emulated like any file write, so the
//! replayer writes the same bytes into the replayed process's files from outside. A process in a user namespace may not open
//! the replayer's files, but its parent namespace (the replayer's) may write its maps,
//! with no more privilege than the recording had. Without them the kernel would treat the
//! replayed process differently from the recorded one (capabilities kept across execve,
//! calls it makes again at replay).

use std::path::Path;

use schema::SyscallEvent;
use tracee::Tracee;

use crate::fdtable::{FdKind, FdTable};
use crate::session::Replayer;
use crate::ReplayError;

/// The files of `/proc/PID/` that make a user namespace's id maps.
const ID_MAP_FILES: [&str; 3] = ["uid_map", "gid_map", "setgroups"];

/// Whose id map file `path` names (`self`, `thread-self` or a recorded pid) and which.
fn id_map_file(path: &Path) -> Option<(Owner, &'static str)> {
    let rest = path.strip_prefix("/proc").ok()?;
    let mut parts = rest.iter();
    let owner = parts.next()?.to_str()?;
    let file = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let owner = match owner {
        "self" | "thread-self" => Owner::Caller,
        digits => Owner::Recorded(digits.parse().ok()?),
    };
    let file = ID_MAP_FILES.iter().copied().find(|f| file == *f)?;
    Some((owner, file))
}

/// The process whose id maps a path names.
#[derive(Debug, PartialEq, Eq)]
enum Owner {
    /// The writing process itself.
    Caller,
    /// A process by its recorded pid.
    Recorded(u32),
}

/// After the replayed call `s` (emulated): a successful write into the process's own id
/// map files is made again, for real, with the bytes it `sent` (those the in-process
/// runtime kept; read from the buffer when the thread is still at the call's exit).
/// `real_pid` finds the replayed process of a recorded pid (the writer's own included).
fn replay_write(
    tracee: &mut Tracee,
    fds: &FdTable,
    s: &SyscallEvent,
    sent: Option<&[u8]>,
    seq: u64,
    real_pid: impl Fn(u32) -> Option<i32>,
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
    let Some((owner, file)) = id_map_file(path) else {
        return Ok(());
    };
    let target_pid = match owner {
        Owner::Caller => pid,
        Owner::Recorded(recorded) => real_pid(recorded).ok_or_else(|| {
            divergence(format!(
                "process {recorded}, whose id maps were written, is not one replay made"
            ))
        })?,
    };
    let data = match sent {
        Some(bytes) if bytes.len() == s.result as usize => bytes.to_vec(),
        _ => tracee.read_mem(s.args[1], s.result as usize)?,
    };
    let target = format!("/proc/{target_pid}/{file}");
    std::fs::write(&target, &data).map_err(|e| divergence(format!("{target}: {e}")))
}

impl Replayer<'_> {
    /// `replay_write` for the current thread's call `s`, recorded pids found among the
    /// replayed processes.
    pub(crate) fn replay_id_map_write(
        &mut self,
        s: &SyscallEvent,
        sent: Option<&[u8]>,
    ) -> Result<(), ReplayError> {
        let seq = self.replayed.saturating_sub(1);
        let me = (self.t.tgid, self.t.tracee.pid());
        let tasks = &self.tasks;
        let real_pid = |recorded: u32| {
            if recorded == me.0 {
                return Some(me.1);
            }
            tasks.real_pid_of(recorded)
        };
        let fds = self.t.fds.borrow();
        replay_write(&mut self.t.tracee, &fds, s, sent, seq, real_pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_id_map_files_and_whose_they_are() {
        let named = |p: &str| id_map_file(Path::new(p));
        assert_eq!(
            named("/proc/self/uid_map"),
            Some((Owner::Caller, "uid_map"))
        );
        assert_eq!(
            named("/proc/thread-self/setgroups"),
            Some((Owner::Caller, "setgroups"))
        );
        assert_eq!(
            named("/proc/12/gid_map"),
            Some((Owner::Recorded(12), "gid_map"))
        );
        assert_eq!(named("/proc/self/status"), None);
        assert_eq!(named("/proc/12/maps"), None);
        assert_eq!(named("/proc/12/task/12/uid_map"), None);
        assert_eq!(named("/tmp/proc/self/uid_map"), None);
    }
}

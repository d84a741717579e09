//! Waiting for a thread to fall asleep in the kernel (a PI locker, before the token moves on).

use std::time::{Duration, Instant};

/// How long the recorder waits for a PI locker to fall asleep before letting others run.
const ASLEEP_WITHIN: Duration = Duration::from_millis(20);

/// Waits (briefly) until thread `tid` sleeps in the kernel or is stopped again.
pub fn wait_until_asleep(tid: i32) {
    let deadline = Instant::now() + ASLEEP_WITHIN;
    while Instant::now() < deadline {
        match thread_state(tid) {
            Some('S' | 'D' | 't' | 'T' | 'Z' | 'X') | None => return,
            _ => std::thread::sleep(Duration::from_micros(20)),
        }
    }
}

/// Waits (briefly) until thread `tid`, resumed into `exit`, has left its memory behind (a
/// zombie, or gone): the kernel has then cleared its tid word and woken its joiner, so a
/// joiner that runs next sees what replay shows it.
pub fn wait_until_gone(tid: i32) {
    let deadline = Instant::now() + ASLEEP_WITHIN * 5;
    while Instant::now() < deadline {
        match thread_state(tid) {
            Some('Z' | 'X' | 't' | 'T') | None => return,
            _ => std::thread::sleep(Duration::from_micros(20)),
        }
    }
}

/// The state letter of `/proc/TID/stat` (R running, S sleeping, t traced-stopped, ...).
pub(crate) fn thread_state(tid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{tid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

//! Which logged events are outputs a later output need not wait for (group commit).

use schema::{Event, EventKind};

/// A syscall that sends bytes out of the process to a connection (logged once it was let
/// through), or the hand-over at its entry in a process with threads: what a later output
/// need not wait for. A write whose bytes stay (a file, a device) is not one of these: a
/// follower that went live without its result would make it again, and a file written by
/// append would have the bytes twice. Only what reaches a peer that a takeover cuts off —
/// a socket, a pipe, a terminal — may be missing at the follower.
pub(crate) fn is_output(event: &Event) -> bool {
    let (number, tid, args) = match &event.kind {
        EventKind::Syscall(s) => (s.number, event.tid, Some(s.args)),
        EventKind::SyscallEntry { number, .. } => (*number, event.tid, None),
        _ => return false,
    };
    let syscalls::Rule::Output { fd, .. } = syscalls::rule_for(number) else {
        return false;
    };
    let Some(args) = args else {
        return true;
    };
    let target = std::fs::read_link(format!("/proc/{tid}/fd/{}", args[fd])).unwrap_or_default();
    let target = target.to_string_lossy();
    ["socket:", "pipe:", "/dev/pts/", "/dev/tty"]
        .iter()
        .any(|p| target.starts_with(p))
}

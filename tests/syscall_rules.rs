//! Syscalls that small test programs of other record/replay tools make and that used to be
//! refused or to change the program's behaviour under recording: each program behaves as it
//! does without ftrun (the lines it prints say so), ftrun refuses nothing, and the
//! recording replays identically, with and without the in-process fast path.

mod common;

use common::*;

/// Records `prog` both ways; each recording replays identically, printed every one of
/// `expected`, and ftrun refused no syscall.
fn replays_unrefused(prog: &str, expected: &[&str]) {
    let check = || {
        let rec = assert_replays_identically(testprog(prog), NO_ARGS);
        rec.assert_stdout_contains(expected);
        let refused: Vec<String> = ftrun_lines(&rec.output.stderr)
            .into_iter()
            .filter(|l| l.contains("refused"))
            .collect();
        assert!(refused.is_empty(), "{prog}: ftrun refused {refused:?}");
    };
    check();
    without_fast_path(check);
}

#[test]
fn sendmmsg_and_recvmmsg_carry_every_datagram() {
    replays_unrefused(
        "mmsg_datagrams",
        &[
            "sendmmsg: 2, lengths 14 23",
            "recvmmsg: 2",
            "message 0 (14 bytes): first datagram",
            "message 1 (23 bytes): second, longer datagram",
        ],
    );
}

#[test]
fn setting_a_clock_is_answered_by_the_kernel() {
    replays_unrefused(
        "clock_settime_monotonic",
        &[
            "clock_settime(CLOCK_MONOTONIC): -1 (Invalid argument)",
            "settimeofday(NULL, NULL): 0 (Success)",
        ],
    );
}

#[test]
fn capget_writes_its_preferred_version_into_the_header() {
    replays_unrefused(
        "capget_version_probe",
        &["probe: 0, preferred version 0x20080522", "capget: 0"],
    );
}

/// ftrun's own seccomp filter stays invisible: the mode read under recording is the one
/// the program reads without ftrun.
#[test]
fn seccomp_mode_is_the_one_without_ftrun() {
    let native = std::process::Command::new(testprog("seccomp_mode_query"))
        .output()
        .expect("running seccomp_mode_query");
    let native = text(&native.stdout);
    let mode = native
        .lines()
        .find_map(|l| l.split_once("seccomp mode: ").map(|(_, m)| m.to_string()))
        .unwrap_or_else(|| panic!("no mode in {native:?}"));
    replays_unrefused("seccomp_mode_query", &[&format!("seccomp mode: {mode}")]);
}

/// Numbers no kernel has are ENOSYS natively: said to the program without a warning.
#[test]
fn numbers_no_kernel_has_are_enosys_without_a_warning() {
    replays_unrefused(
        "invalid_syscall_numbers",
        &[
            "syscall(-10): -1 (Function not implemented)",
            "syscall(5000): -1 (Function not implemented)",
            "syscall(99999): -1 (Function not implemented)",
        ],
    );
}

/// A program's `kill(0, SIGABRT)` also reaches ftrun, which shares its process group: ftrun
/// survives it, the program dies by SIGABRT as it would natively, and the trace is whole.
#[test]
fn abort_sent_to_the_whole_group_kills_only_the_program() {
    let check = || {
        let rec = assert_replays_identically(testprog("abort_whole_group"), NO_ARGS);
        rec.assert_exit(Exit::Signal(libc::SIGABRT))
            .assert_stdout_contains(&["aborting the group"]);
    };
    check();
    without_fast_path(check);
}

/// POSIX message queues: every call's answer (messages by priority, attributes, a timeout,
/// EAGAIN) replays, and the recorded program behaves as it does natively.
#[test]
fn posix_message_queues_replay_their_messages() {
    replays_unrefused(
        "posix_mq_roundtrip",
        &[
            "attributes: maxmsg 4 msgsize 64 curmsgs 2",
            "received 5 bytes \"high\" priority 7",
            "received 4 bytes \"low\" priority 1",
            "timed receive on the empty queue: -1 (Connection timed out)",
            "non-blocking receive: -1 (Resource temporarily unavailable)",
            "unlink: 0",
        ],
    );
}

/// ftrun makes rdtsc fault for its own sake; the mode the program reads is the one it has
/// without ftrun.
#[test]
fn tsc_mode_is_the_one_without_ftrun() {
    replays_unrefused(
        "prctl_tsc_mode",
        &[
            "PR_GET_TSC: 0, tsc mode: 1",
            "PR_SET_TSC(PR_TSC_ENABLE): 0",
            "rdtsc is nonzero: 1",
        ],
    );
}

/// A seccomp filter of the program's own that fails calls with an errno: it runs while
/// recording and again at replay, and the calls it fails fail the same way.
#[test]
fn the_programs_own_errno_seccomp_filter_replays() {
    replays_unrefused(
        "seccomp_own_filter",
        &[
            "seccomp: 0 (ok)",
            "seccomp mode now: 2",
            "getppid after: -1 (Operation not permitted)",
            "uname after: -1 (Operation not supported)",
            "pipe after: 0, write 1",
        ],
    );
}

/// A filter that traps or kills is refused with its reason (replay skips the calls it would
/// act on), and the refusal replays.
#[test]
fn a_trapping_seccomp_filter_is_refused_with_its_reason() {
    let check = || {
        let rec = assert_replays_identically(testprog("seccomp_trap_in_child"), NO_ARGS);
        rec.assert_stdout_contains(&["PR_SET_SECCOMP: -1 (Function not implemented)"]);
        assert!(
            ftrun_lines(&rec.output.stderr)
                .iter()
                .any(|l| l.contains("refused syscall prctl (157): seccomp filters that trap")),
            "the refusal should say why:\n{}",
            describe(&rec.output)
        );
    };
    check();
    without_fast_path(check);
}

//! Replay makes the memory and signal calls the runtime ran in-process itself, under the
//! recording's seccomp filter, without ptrace stops: the counts `FTRUN_REPLAY_STATS=1`
//! prints show it; a call made again that returns another result is a divergence.

mod common;

use std::ffi::OsStr;

use common::*;
use schema::EventKind;

/// The counts of the stats line a replay printed (`key=value` pairs).
fn stats_of(stderr: &[u8]) -> std::collections::HashMap<String, u64> {
    let text = text(stderr);
    let line = text
        .lines()
        .find(|l| l.starts_with("ftrun: replay stats:"))
        .unwrap_or_else(|| panic!("no stats line in:\n{text}"));
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.parse().expect("a count")))
        .collect()
}

fn replay_with_stats(dir: &std::path::Path) -> std::process::Output {
    spawn_ftrun_with(
        None,
        &[("FTRUN_REPLAY_STATS", OsStr::new("1"))],
        [OsStr::new("replay"), dir.as_os_str()],
    )
    .wait()
}

#[test]
fn memory_and_signal_calls_are_made_again_in_process_at_replay_without_stops() {
    let rounds = 500u64;
    let rec = assert_replays_identically(testprog("signal_and_memory_rounds"), ["500"]);
    rec.assert_stdout_contains(&["usr1 25 usr2 25 faults 10 same handler 499 masked 25500"]);
    let out = replay_with_stats(&rec.dir);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(out.stdout, rec.output.stdout, "the replay printed the same");
    let stats = stats_of(&out.stderr);
    // Per round: a sigaction, two sigprocmasks, mmap, mprotect, munmap; the first call at
    // each site is traced.
    let made_again = stats["made_again"];
    assert!(
        made_again >= 6 * rounds - 50,
        "only {made_again} calls were made again in-process: {stats:?}"
    );
    // Traced at replay they cost two stops each; in-process none. What stops remain are the
    // rounds' signals, the unblocking masks, and startup.
    assert!(
        stats["stops"] * 4 < made_again,
        "{} stops for {made_again} calls made again: {stats:?}",
        stats["stops"]
    );
    assert!(
        stats["calls_loaded"] >= stats["in_process"] && stats["ring_loads"] * 4 < made_again,
        "ring loads should carry many calls each: {stats:?}"
    );
}

#[test]
fn without_the_fast_path_the_same_program_replays_with_its_calls_traced() {
    let rec = without_fast_path(|| {
        assert_replays_identically(testprog("signal_and_memory_rounds"), ["100"])
    });
    rec.assert_stdout_contains(&["usr1 5 usr2 5 faults 2 same handler 99"]);
    let stats = stats_of(&replay_with_stats(&rec.dir).stderr);
    assert_eq!(stats["in_process"], 0, "{stats:?}");
    assert!(stats["syscall_entry"] >= 6 * 100, "{stats:?}");
}

#[test]
fn a_call_made_again_that_returns_another_result_is_a_divergence() {
    let rec = record_fresh(testprog("signal_and_memory_rounds"), ["100"]);
    rec.assert_exit(Exit::Code(0));
    let tampered = rec.tmp.join("tampered");
    // The 50th mprotect made in-process is said to have failed part-way (ENOMEM), which
    // replay makes again; the kernel says 0 this time.
    let seq = edit_trace(&rec.dir, &tampered, |events| {
        let ev = events
            .iter_mut()
            .filter(|e| {
                matches!(&e.kind, EventKind::Syscall(s)
                    if s.number == libc::SYS_mprotect as u64
                        && s.mode == schema::SyscallMode::Buffered)
            })
            .nth(50)
            .expect("the program's mprotects ran in-process");
        if let EventKind::Syscall(s) = &mut ev.kind {
            s.result = -(libc::ENOMEM as i64);
        }
        ev.seq
    });
    let out = replay_with_stats(&tampered);
    assert_no_panic(&out, "replay of a tampered trace");
    assert!(!out.status.success(), "it replayed:\n{}", describe(&out));
    let msg = text(&out.stderr);
    assert!(
        msg.contains(&format!("divergence at event {seq}"))
            && msg.contains("mprotect to return -12")
            && msg.contains("got 0x0 (made again in-process at replay)"),
        "{msg}"
    );
    rec.assert_replays(1);
}

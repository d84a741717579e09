//! A thread that computes without syscalls while another of its process wants to run is
//! preempted within a slice or two, at a pass through an instruction that replay's
//! in-process filter finds: the other thread runs meanwhile, as it would natively, and the
//! replay reaches every switch without a ptrace stop per pass.

mod common;

use std::ffi::OsStr;

use common::*;

/// Preemptions of computing threads in a dump, and how many of them name memory words
/// the filter compares.
fn forced_switches(dump: &str) -> (usize, usize) {
    let switches: Vec<&str> = dump
        .lines()
        .filter(|l| l.contains("preempted computing"))
        .collect();
    let with_words = switches
        .iter()
        .filter(|l| !l.contains(", 0 watched words"))
        .count();
    (switches.len(), with_words)
}

#[test]
fn a_computing_thread_is_preempted_for_a_ticking_one_and_replay_finds_each_switch() {
    // About 0.2 s of computing (natively), which writes a global at every pass, beside a
    // thread that wakes every 2 ms. Preempted only after 0.6 s, as before, the computing
    // thread would keep the ticker from running at all.
    let rec = record_fresh(testprog("compute_beside_ticker"), ["150000000"]);
    rec.assert_exit(Exit::Code(0));
    rec.assert_stdout_contains(&["the ticker woke meanwhile"]);
    let dump = text(&dump(&rec.dir, false).stdout);
    let (switches, with_words) = forced_switches(&dump);
    assert!(
        switches >= 3 && with_words >= 3,
        "the computing thread should be preempted at exact states with watched words, \
         several times ({switches} switches, {with_words} with words):\n{dump}"
    );
    // Stopping at every pass (a hardware breakpoint) would take millions of passes per
    // switch; the in-process filter traps once per switch.
    for i in 1..=2 {
        let out = spawn_ftrun_with(
            None,
            &[("FTRUN_LANDMARK_PASSES", OsStr::new("2000"))],
            [OsStr::new("replay"), rec.dir.as_os_str()],
        )
        .wait();
        assert_same_run(
            &rec.output,
            &out,
            &format!("replay {i} of the computing thread"),
        );
    }
}

#[test]
fn a_loop_of_short_instructions_in_registers_is_preempted_at_its_head() {
    // No instruction of the loop can carry a filter alone: the filter replaces the first
    // two at the loop's head, which the whole function's branches never land between.
    let rec = record_fresh(
        testprog("compute_in_registers_beside_ticker"),
        ["150000000"],
    );
    rec.assert_exit(Exit::Code(0));
    rec.assert_stdout_contains(&["the ticker woke meanwhile"]);
    let dump = text(&dump(&rec.dir, false).stdout);
    let runs = dump
        .lines()
        .filter(|l| {
            l.contains("preempted computing") && l.contains("a filter over the loop's first")
        })
        .count();
    assert!(
        runs >= 3,
        "the computing thread should be preempted at its loop's head several times ({runs}):\n{dump}"
    );
    let out = spawn_ftrun_with(
        None,
        &[("FTRUN_LANDMARK_PASSES", OsStr::new("2000"))],
        [OsStr::new("replay"), rec.dir.as_os_str()],
    )
    .wait();
    assert_same_run(&rec.output, &out, "replay of the loop in registers");
}

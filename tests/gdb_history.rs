//! gdb on the replay: a reverse-continue over stretches already run forward with the same
//! breakpoints and watchpoints inserted goes straight to the last hit the forward runs met
//! (the hit history), and scans where the history knows nothing. `gdb_history` calls
//! early() once and hit() every 1000 rounds, both on the code page of its loop, so the
//! code pages followed cannot tell the stretches apart.

mod common;
mod gdb_support;

use std::ffi::OsStr;

use common::*;
use gdb_support::*;

const ONE: &str = "1";

/// The environments every script runs under: the transcripts must agree.
fn envs() -> Vec<(&'static str, Vec<(&'static str, &'static OsStr)>)> {
    let one = OsStr::new(ONE);
    vec![
        (
            "with the history, debug output on",
            vec![("FTRUN_DEBUG_GDB", one)],
        ),
        ("without the history", vec![("FTRUN_GDB_NO_HISTORY", one)]),
        (
            "with the history, without checkpoints",
            vec![("FTRUN_GDB_NO_CHECKPOINTS", one)],
        ),
    ]
}

/// The transcript of `script` (the same under every environment) and ftrun's debug output.
fn session(tmp: &TempDir, dir: &std::path::Path, script: &str) -> (String, String) {
    let envs = envs();
    let borrowed: Vec<(&str, &[(&str, &OsStr)])> =
        envs.iter().map(|(l, e)| (*l, e.as_slice())).collect();
    let (t, mut errs) = same_everywhere(tmp, dir, script, &borrowed);
    (t, errs.swap_remove(0))
}

/// What the hit history said at each reverse-continue, in order (from the debug output).
fn lookups(debug: &str) -> Vec<&str> {
    debug
        .lines()
        .filter_map(|l| l.strip_prefix("ftrun: [gdb] reverse-continue, from the hit history: "))
        .collect()
}

/// How often the debug output says a reverse-continue went straight to a hit it knew.
fn from_history(debug: &str) -> usize {
    lookups(debug)
        .iter()
        .filter(|l| l.starts_with("Hit("))
        .count()
}

#[test]
fn a_hit_at_the_start_on_the_loops_page_is_reached_from_the_history() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-history-early");
    let (dir, printed) = recorded_printing(&tmp, "gdb_history", "total ");
    let v = printed_number(&printed, "early ");
    let script = "break early\ncontinue\ncontinue\nreverse-continue\nprint v\nprint total\n\
                  next\nprint seen\n";
    let (t, debug) = session(&tmp, &dir, script);
    assert_has(
        &t,
        &[
            &format!("Breakpoint 1, early (v={v})"),
            "received signal SIGKILL",
            &format!("Breakpoint 1, early (v={v})"),
            &format!("$1 = {v}"),
            "$2 = 0",
            &format!("$3 = {v}"),
        ],
    );
    assert_eq!(from_history(&debug), 1, "{debug}");
}

#[test]
fn a_breakpoint_inserted_only_at_the_end_is_found_by_the_scan() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-history-none");
    let (dir, printed) = recorded_printing(&tmp, "gdb_history", "total ");
    let v = printed_number(&printed, "early ");
    let total = printed_number(&printed, "total ");
    let script = "continue\nprint total\nbreak early\nreverse-continue\nprint v\nprint total\n";
    let (t, debug) = session(&tmp, &dir, script);
    assert_has(
        &t,
        &[
            "received signal SIGKILL",
            &format!("$1 = {total}"),
            &format!("Breakpoint 1, early (v={v})"),
            &format!("$2 = {v}"),
            "$3 = 0",
        ],
    );
    // The run to the end had no breakpoint inserted: the history does not cover it.
    assert!(
        debug.contains("ftrun: [gdb] reverse-continue, from the hit history: Unknown(End)"),
        "{debug}"
    );
    assert_eq!(from_history(&debug), 0, "{debug}");
}

#[test]
fn each_reverse_continue_lands_on_the_hit_before_the_last_one() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-history-hits");
    let (dir, printed) = recorded_printing(&tmp, "gdb_history", "total ");
    let seen_at = |round: i64| printed_number(&printed, &format!("hit {round}: "));
    // hit(round) sets seen to total + round: total at its breakpoint is seen - round.
    let total_at = |round: i64| seen_at(round) - round;
    // Four hits forward and on to the end; back over three of them, forward to the next
    // again; a watchpoint forward over hit(2999)'s write, back before it (a watched
    // access the history knows), then back before hit(1999)'s (one it does not).
    let script = "break hit\ncontinue\ncontinue\ncontinue\ncontinue\ncontinue\n\
                  reverse-continue\nprint round\nprint total\n\
                  reverse-continue\nprint round\nprint total\n\
                  reverse-continue\nprint round\nprint total\n\
                  continue\nprint round\nprint total\n\
                  delete\nwatch seen\ncontinue\nreverse-continue\nprint seen\n\
                  reverse-continue\nprint seen\n";
    let (t, debug) = session(&tmp, &dir, script);
    assert_has(
        &t,
        &[
            "Breakpoint 1, hit (round=3999)",
            "received signal SIGKILL",
            "Breakpoint 1, hit (round=3999)",
            "$1 = 3999",
            &format!("$2 = {}", total_at(3999)),
            "Breakpoint 1, hit (round=2999)",
            "$3 = 2999",
            &format!("$4 = {}", total_at(2999)),
            "Breakpoint 1, hit (round=1999)",
            "$5 = 1999",
            &format!("$6 = {}", total_at(1999)),
            "Breakpoint 1, hit (round=2999)",
            "$7 = 2999",
            &format!("$8 = {}", total_at(2999)),
            &format!("Old value = {}", seen_at(1999)),
            &format!("New value = {}", seen_at(2999)),
            &format!("Old value = {}", seen_at(2999)),
            &format!("New value = {}", seen_at(1999)),
            &format!("$9 = {}", seen_at(1999)),
            &format!("Old value = {}", seen_at(1999)),
            &format!("New value = {}", seen_at(999)),
            &format!("$10 = {}", seen_at(999)),
        ],
    );
    // Three breakpoint hits and the watched write were known.
    assert_eq!(from_history(&debug), 4, "{debug}");
}

#[test]
fn a_hit_where_the_history_begins_is_kept_by_the_scan_before_it() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-history-edge");
    let (dir, printed) = recorded_printing(&tmp, "gdb_history", "total ");
    let v = printed_number(&printed, "early ");
    let total_at = |round: i64| printed_number(&printed, &format!("hit {round}: ")) - round;
    // early is inserted at hit(999): the history covers both breakpoints from there to
    // hit(1999) only. Going back from hit(1999), the scan of the stretch before hit(999)
    // must keep the hit right where it ends (else it would land on early()); from
    // hit(999), nothing covers both, and the scan finds early().
    let script = "break hit\ncontinue\nbreak early\ncontinue\nreverse-continue\nprint round\n\
                  print total\nreverse-continue\nprint v\n";
    let (t, debug) = session(&tmp, &dir, script);
    assert_has(
        &t,
        &[
            "Breakpoint 1, hit (round=999)",
            "Breakpoint 1, hit (round=1999)",
            "Breakpoint 1, hit (round=999)",
            "$1 = 999",
            &format!("$2 = {}", total_at(999)),
            &format!("Breakpoint 2, early (v={v})"),
            &format!("$3 = {v}"),
        ],
    );
    // From hit(1999) the history knows the way back to hit(999), not the hit there.
    let said = lookups(&debug);
    assert!(said[0].starts_with("Unknown(At"), "{debug}");
}

#[test]
fn a_breakpoint_taken_out_and_inserted_again_is_not_known_where_it_was_out() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-history-again");
    let (dir, printed) = recorded_printing(&tmp, "gdb_history", "total ");
    let total_at = |round: i64| printed_number(&printed, &format!("hit {round}: ")) - round;
    // Two hits forward, then on to the end with the breakpoint deleted and back with it
    // inserted again: the hits at 2999 and 3999 were met by no run, so the history, which
    // knows hit(1999), must not answer.
    let script = "break hit\ncontinue\ncontinue\ndelete\ncontinue\nbreak hit\n\
                  reverse-continue\nprint round\nprint total\nreverse-continue\nprint round\n\
                  reverse-continue\nprint round\n";
    let (t, debug) = session(&tmp, &dir, script);
    assert_has(
        &t,
        &[
            "Breakpoint 1, hit (round=999)",
            "Breakpoint 1, hit (round=1999)",
            "received signal SIGKILL",
            "Breakpoint 2, hit (round=3999)",
            "$1 = 3999",
            &format!("$2 = {}", total_at(3999)),
            "Breakpoint 2, hit (round=2999)",
            "$3 = 2999",
            "Breakpoint 2, hit (round=1999)",
            "$4 = 1999",
        ],
    );
    // The run to the end, with the breakpoint out, covers nothing: the first answer is a
    // scan's (later ones may come from what that scan replayed).
    assert_eq!(lookups(&debug)[0], "Unknown(End)", "{debug}");
}

#[test]
fn the_history_names_the_thread_of_each_hit() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-history-threads");
    let dir = recorded(&tmp, "gdb_threads", "results 100 200");
    // Each worker hits work() once, worker 0 first; back from the end, each reverse-continue
    // stops in the thread that made the hit (`id` is read from the frame of the thread gdb
    // is told of: another thread's would show another value, or none).
    let script = "break work\ncontinue\ncontinue\ncontinue\nreverse-continue\nprint id\n\
                  reverse-continue\nprint id\n";
    let (t, debug) = session(&tmp, &dir, script);
    assert_has(
        &t,
        &[
            "Breakpoint 1, work (id=0)",
            "Breakpoint 1, work (id=1)",
            "received signal SIGKILL",
            "Breakpoint 1, work (id=1)",
            "$1 = 1",
            "Breakpoint 1, work (id=0)",
            "$2 = 0",
        ],
    );
    assert_eq!(from_history(&debug), 2, "{debug}");
}

#[test]
fn what_a_scan_replayed_answers_the_next_reverse_continue() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-history-scan");
    let (dir, printed) = recorded_printing(&tmp, "gdb_history", "total ");
    let total_at = |round: i64| printed_number(&printed, &format!("hit {round}: ")) - round;
    let script = "continue\nbreak hit\nreverse-continue\nprint total\nreverse-continue\n\
                  print total\nreverse-continue\nprint total\nreverse-continue\nprint total\n";
    let (t, _) = session(&tmp, &dir, script);
    assert_has(
        &t,
        &[
            "received signal SIGKILL",
            "Breakpoint 1, hit (round=3999)",
            &format!("$1 = {}", total_at(3999)),
            "Breakpoint 1, hit (round=2999)",
            &format!("$2 = {}", total_at(2999)),
            "Breakpoint 1, hit (round=1999)",
            &format!("$3 = {}", total_at(1999)),
            "Breakpoint 1, hit (round=999)",
            &format!("$4 = {}", total_at(999)),
        ],
    );
    // Without checkpoints the first scan replays everything from the start, noting every
    // hit: the three reverse-continues after it need no scan.
    let one = OsStr::new(ONE);
    let env = [("FTRUN_GDB_NO_CHECKPOINTS", one), ("FTRUN_DEBUG_GDB", one)];
    let quiet = format!("set print inferior-events off\n{script}");
    let (again, debug) = gdb_session_with(&tmp, &dir, &quiet, &env, &[]);
    assert_eq!(again, t);
    let said = lookups(&debug);
    assert_eq!(said.len(), 4, "{debug}");
    assert_eq!(said[0], "Unknown(End)", "{debug}");
    assert_eq!(from_history(&debug), 3, "{debug}");
}

//! gdb on the replay: the real gdb in batch mode over recorded test programs, forward and
//! backward; every value gdb shows is checked against what the recorded run printed.

mod common;
mod gdb_support;

use std::ffi::OsStr;

use common::*;
use gdb_support::*;

#[test]
fn breakpoints_print_finish_and_watch_forward_on_a_pie_program() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-forward");
    let dir = recorded(&tmp, "gdb_loop", "i=3 counter=14");
    let t = gdb_session(
        &tmp,
        &dir,
        "break square\ncontinue\nprint x\nignore 1 2\ncontinue\nprint x\nfinish\n\
         delete\nwatch counter\ncontinue\ncontinue\nprint counter\n",
    );
    assert_has(
        &t,
        &[
            "Breakpoint 1, square (x=0)",
            "$1 = 0",
            "Breakpoint 1, square (x=3)",
            "$2 = 3",
            "Value returned is $3 = 9",
            "Old value = 5",
            "New value = 14",
            "Old value = 14",
            "New value = 30",
            "$4 = 30",
        ],
    );
}

#[test]
fn reverse_continue_step_next_finish_and_watch() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-reverse");
    let dir = recorded(&tmp, "gdb_loop", "i=2 counter=5");
    let script = "break square\ncontinue\ncontinue\ncontinue\nprint x\n\
                  reverse-continue\nprint x\ncontinue\nnext\nnext\nprint y\n\
                  reverse-next\nprint y\nreverse-step\nreverse-finish\nprint i\n\
                  delete\nwatch counter\ncontinue\nreverse-continue\nprint counter\n\
                  reverse-continue\nprint counter\ndelete\nreverse-continue\n";
    let t = gdb_session(&tmp, &dir, script);
    assert_has(
        &t,
        &[
            "square (x=2)",
            "$1 = 2",
            "Breakpoint 1, square (x=1)",
            "$2 = 1",
            "square (x=2)",
            "$3 = 4",
            "$4 = 4",
            "in main ()",
            "$5 = 2",
            // Forward from i=2's call: counter 1 -> 5; back over that write, then the one
            // before it.
            "Old value = 1",
            "New value = 5",
            "Old value = 5",
            "New value = 1",
            "$6 = 1",
            "Old value = 1",
            "New value = 0",
            "$7 = 0",
            "No more reverse-execution history.",
        ],
    );
    // The same script gives the same transcript.
    let again = gdb_session(&tmp, &dir, script);
    assert_eq!(t, again, "a second run of the same script differs");
}

#[test]
fn a_non_pie_program_and_reverse_step_into_the_caller() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-nopie");
    let dir = recorded(&tmp, "gdb_nopie_sum", "total=23");
    let t = gdb_session(
        &tmp,
        &dir,
        "break add\nignore 1 3\ncontinue\nprint v\nprint acc\nfinish\nreverse-step\nprint r\n\
         delete 1\nreverse-finish\nprint i\nbreak main\nreverse-continue\n",
    );
    // values = {3, 1, 4, 1, 5, 9}: the fourth call adds 1 to 8.
    assert_has(
        &t,
        &[
            "add (acc=8, v=1)",
            "$1 = 1",
            "$2 = 8",
            "Value returned is $3 = 9",
            // Back into the call just left, at its last line, then out to the caller.
            "add (acc=8, v=1)",
            "$4 = 9",
            "in main ()",
            "$5 = 3",
            "Breakpoint 2, main ()",
        ],
    );
}

#[test]
fn threads_are_listed_and_each_hits_its_breakpoint() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-threads");
    let dir = recorded(&tmp, "gdb_threads", "results 100 200");
    let t = gdb_session(
        &tmp,
        &dir,
        "break work\ncontinue\ninfo threads\nprint id\nnext\nnext\nprint v\ncontinue\nprint id\n\
         finish\nprint results[1]\nreverse-continue\nprint id\n",
    );
    assert_has(
        &t,
        &[
            "hit Breakpoint 1, work (id=0)",
            "* 2    Thread",
            "$1 = 0",
            "$2 = 100",
            "hit Breakpoint 1, work (id=1)",
            "$3 = 1",
            "$4 = 200",
            // Back from the second worker's call: its own breakpoint hit is the last one.
            "Breakpoint 1, work (id=1)",
            "$5 = 1",
        ],
    );
    assert!(
        t.contains("  1    Thread"),
        "the main thread is listed:\n{t}"
    );
}

#[test]
fn a_crash_stops_at_the_faulting_instruction_and_the_end_is_a_stop() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-crash");
    let dir = recorded(&tmp, "gdb_crash", "before=42");
    let t = gdb_session(
        &tmp,
        &dir,
        "continue\nprint v\nprint before\ncontinue\nbreak crash\nreverse-continue\nprint v\n",
    );
    assert_has(
        &t,
        &[
            "Program received signal SIGSEGV",
            "crash (v=42)",
            "*target = v;",
            "$1 = 42",
            "$2 = 42",
            "Program received signal SIGKILL",
            "Breakpoint 1, crash (v=42)",
            "$3 = 42",
        ],
    );
}

#[test]
fn a_forked_child_is_debugged_too() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-fork");
    let dir = recorded(&tmp, "gdb_fork", "child 21");
    let t = gdb_session(&tmp, &dir, "break child_work\ncontinue\nprint v\nfinish\n");
    assert_has(
        &t,
        &["child_work (v=7)", "$1 = 7", "Value returned is $2 = 21"],
    );
}

#[test]
fn goto_starts_the_session_at_an_event_and_writes_are_refused() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-goto");
    let dir = recorded(&tmp, "gdb_loop", "done 30");
    let file = tmp.join("script.gdb");
    std::fs::write(&file, "print counter\nset var counter = 7\n").unwrap();
    let events = text(&dump(&dir, false).stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    let goto = (events - 2).to_string();
    let out = ftrun([
        OsStr::new("replay"),
        OsStr::new("--gdb"),
        OsStr::new("--goto"),
        OsStr::new(&goto),
        dir.as_os_str(),
        OsStr::new("--"),
        OsStr::new("-batch"),
        OsStr::new("-nx"),
        OsStr::new("-x"),
        file.as_os_str(),
    ]);
    let t = text(&out.stdout);
    // Near the end every iteration has run.
    assert!(t.contains("$1 = 30"), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("Cannot access memory"),
        "gdb should say the write failed\n{}",
        describe(&out)
    );
    assert!(
        text(&out.stderr).contains("refused: a replay cannot change the past"),
        "{}",
        describe(&out)
    );
}

#[test]
fn going_back_from_checkpoints_shows_what_replaying_from_the_start_shows() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-checkpoints");
    let prog = "gdb_yield_loop";
    let dir = tmp.join(prog);
    let out = record(&dir, testprog(prog), NO_ARGS);
    assert!(out.status.success(), "{}", describe(&out));
    let printed = text(&out.stdout);
    let at_100 = printed_number(&printed, "at 100: ");
    let at_250 = printed_number(&printed, "at 250: ");
    // Back from round 250 to the mark of round 100, a reverse watchpoint from there to
    // right before step(100)'s write, forward over it again, then steps back.
    let script = "break mark if i == 250\ncontinue\nprint total\ndelete\nbreak mark\n\
                  reverse-continue\nprint i\nprint total\ndelete\nwatch total\n\
                  reverse-continue\ncontinue\ndelete\nreverse-next\nreverse-step\nprint total\n\
                  reverse-finish\nprint i\n";
    let debug = OsStr::new("1");
    let (none, _) = gdb_session_with(
        &tmp,
        &dir,
        script,
        &[("FTRUN_GDB_NO_CHECKPOINTS", debug)],
        &[],
    );
    let (dense, dense_err) = gdb_session_with(
        &tmp,
        &dir,
        script,
        &[
            ("FTRUN_GDB_CHECKPOINT_MS", OsStr::new("0")),
            ("FTRUN_DEBUG_GDB", debug),
        ],
        &[],
    );
    let (default, _) = gdb_session_with(&tmp, &dir, script, &[], &[]);
    let (v100, v250) = (at_100.to_string(), at_250.to_string());
    let before_100 = (at_100 - 100 * 100).to_string();
    assert_has(
        &none,
        &[
            "mark (i=250)",
            &format!("$1 = {v250}"),
            "mark (i=100)",
            "$2 = 100",
            &format!("$3 = {v100}"),
            // Going back over step(100)'s write, then forward over it again.
            &format!("Old value = {v100}"),
            &format!("New value = {before_100}"),
            "in step (i=100)",
            &format!("Old value = {before_100}"),
            &format!("New value = {v100}"),
            &format!("$4 = {before_100}"),
            "in main ()",
            "$5 = 100",
        ],
    );
    // Going back from checkpoints (one at every quiet stop, or the default spacing) shows
    // exactly what replaying from the start shows.
    assert_eq!(dense, none, "with a checkpoint at every stop");
    assert_eq!(default, none, "with checkpoints at the default spacing");
    assert!(
        dense_err.contains("going on from the checkpoint at stop"),
        "the dense run should have gone back from checkpoints:\n{dense_err}"
    );
}

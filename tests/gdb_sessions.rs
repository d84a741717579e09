//! gdb on the replay, more sessions: a threaded program that crashes, going back the same
//! way whatever the checkpoints; a loop that lives on in-process calls, whose stretch gets
//! checkpoints of its own; where a session begins.

mod common;
mod gdb_support;

use std::ffi::OsStr;

use common::*;
use gdb_support::*;

/// The same script under each environment gives the same transcript: the transcript, and
/// ftrun's stderr under each environment.
fn same_everywhere(
    tmp: &TempDir,
    dir: &std::path::Path,
    script: &str,
    envs: &[(&str, &[(&str, &OsStr)])],
) -> (String, Vec<String>) {
    // gdb's "[Inferior 1 (process 1) detached]" at its exit races with the output the
    // program goes on with (two processes writing to one pipe, in pieces): it is left out.
    let script = format!("set print inferior-events off\n{script}");
    let mut first: Option<String> = None;
    let mut errs = Vec::new();
    for (label, env) in envs {
        let (t, err) = gdb_session_with(tmp, dir, &script, env, &[]);
        match &first {
            None => first = Some(t),
            Some(f) => assert_eq!(&t, f, "the transcript {label} differs"),
        }
        errs.push(err);
    }
    (first.expect("an environment"), errs)
}

#[test]
fn a_threaded_program_that_crashes_goes_back_the_same_way_every_time() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-threads-crash");
    let (dir, printed) = recorded_printing(&tmp, "gdb_threads_crash", "sums ");
    let s0 = printed_number(&printed, "sums ");
    let s1 = printed_number(&printed, &format!("sums {s0} "));
    // Worker 1 adds 2*i in round i (1 to 20): its last two adds are 40 and 38.
    let (before_last, before_that) = (s1 - 40, s1 - 40 - 38);
    let script = "continue\nprint v\nprint sums\nprint rounds\nwatch sums[1]\n\
                  reverse-continue\nprint id\nprint v\nreverse-continue\nprint v\ninfo threads\n\
                  delete\nbreak add_round\nreverse-continue\nreverse-step\nreverse-next\n\
                  reverse-finish\nfinish\ndelete\ncontinue\ncontinue\n";
    let one = OsStr::new("1");
    let (t, errs) = same_everywhere(
        &tmp,
        &dir,
        script,
        &[
            ("by default", &[]),
            ("of a second run", &[]),
            ("without checkpoints", &[("FTRUN_GDB_NO_CHECKPOINTS", one)]),
            (
                "with a checkpoint at every quiet stop",
                &[
                    ("FTRUN_GDB_CHECKPOINT_MS", OsStr::new("0")),
                    ("FTRUN_GDB_RING_BATCH", one),
                    ("FTRUN_DEBUG_GDB", one),
                ],
            ),
            (
                "reaching steps by single steps",
                &[("FTRUN_GDB_SINGLE_STEPS", one)],
            ),
        ],
    );
    let (total, sums) = ((s0 + s1).to_string(), format!("{{{s0}, {s1}}}"));
    assert_has(
        &t,
        &[
            "received signal SIGSEGV",
            &format!("crash (v={total})"),
            &format!("$1 = {total}"),
            &format!("$2 = {sums}"),
            "$3 = 40",
            // Back over worker 1's last two writes.
            &format!("Old value = {s1}"),
            &format!("New value = {before_last}"),
            "$4 = 1",
            "$5 = 40",
            &format!("Old value = {before_last}"),
            &format!("New value = {before_that}"),
            "$6 = 38",
            // Back to the breakpoint at the entry of that call, a step back into its
            // caller, a line back there, and back out, which meets the call before.
            "Breakpoint 2, add_round (id=1, v=38)",
            "worker (arg=0x1)",
            "Breakpoint 2, add_round (id=1, v=36)",
            "worker (arg=0x1)",
            "received signal SIGSEGV",
            "received signal SIGKILL",
        ],
    );
    // Checkpoints copy every thread: the ways back into the stretch with threads go on
    // from checkpoints taken while the workers lived, and none of them fails.
    assert!(
        restored_with_threads(&errs[3]) > 0,
        "no way back went on from a checkpoint with several threads:\n{}",
        errs[3]
    );
    assert!(
        !errs[3].contains("going back without checkpoints"),
        "{}",
        errs[3]
    );
    assert!(!errs[0].contains("several processes"), "{}", errs[0]);
}

/// How many times the debug output says a way back went on from a checkpoint that was
/// taken while the program had several threads.
fn restored_with_threads(debug: &str) -> usize {
    let mut threads_at = std::collections::HashMap::new();
    for line in debug.lines() {
        let Some(rest) = line.strip_prefix("ftrun: [gdb] checkpoint at stop ") else {
            continue;
        };
        let mut words = rest.split([' ', '(']);
        let stop = words.next().unwrap_or_default().to_string();
        let count: usize = words.find_map(|w| w.parse().ok()).unwrap_or(0);
        threads_at.insert(stop, count);
    }
    debug
        .lines()
        .filter_map(|l| l.strip_prefix("ftrun: [gdb] going on from the checkpoint at stop "))
        .filter(|stop| threads_at.get(stop.trim()).is_some_and(|&n| n > 1))
        .count()
}

#[test]
fn a_loop_of_in_process_calls_has_checkpoints_inside_it_that_change_nothing_gdb_shows() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-inprocess-loop");
    let (dir, printed) = recorded_printing(&tmp, "gdb_inprocess_loop", "total ");
    let (at_1000, at_1990) = (
        printed_number(&printed, "at 1000: "),
        printed_number(&printed, "at 1990: "),
    );
    let before_1000 = at_1000 - 1000;
    // Back from round 1990 to round 1000, a reverse watchpoint to right before tick(1000)'s
    // write, forward over it again, then a line back and a step back out to the caller.
    let script = "break mark if i == 1990\ncontinue\nprint total\ndelete\nbreak mark\n\
                  reverse-continue\nprint i\nprint total\ndelete\nwatch total\n\
                  reverse-continue\ncontinue\ndelete\nreverse-next\nreverse-step\nprint total\nprint i\n";
    let one = OsStr::new("1");
    let (t, errs) = same_everywhere(
        &tmp,
        &dir,
        script,
        &[
            ("without checkpoints", &[("FTRUN_GDB_NO_CHECKPOINTS", one)]),
            ("by default", &[]),
            (
                "reaching steps by single steps",
                &[("FTRUN_GDB_SINGLE_STEPS", one)],
            ),
            (
                "with the ring loaded as without a debugger",
                &[
                    ("FTRUN_GDB_RING_BATCH", OsStr::new("4096")),
                    ("FTRUN_GDB_CHECKPOINT_MS", OsStr::new("0")),
                    ("FTRUN_DEBUG_GDB", one),
                ],
            ),
            (
                "with a checkpoint at every quiet stop",
                &[
                    ("FTRUN_GDB_CHECKPOINT_MS", OsStr::new("0")),
                    ("FTRUN_DEBUG_GDB", one),
                ],
            ),
        ],
    );
    assert_has(
        &t,
        &[
            "mark (i=1990)",
            &format!("$1 = {at_1990}"),
            "mark (i=1000)",
            "$2 = 1000",
            &format!("$3 = {at_1000}"),
            &format!("Old value = {at_1000}"),
            &format!("New value = {before_1000}"),
            "tick (i=1000",
            &format!("Old value = {before_1000}"),
            &format!("New value = {at_1000}"),
            "main () at",
            &format!("$4 = {before_1000}"),
            "$5 = 1000",
        ],
    );
    // The loop's 2000 calls run in-process; the replay under gdb loads the ring with a few
    // at a time, so the loop has stops, and checkpoints, all along: a checkpoint at every
    // quiet stop makes at least one per 64 calls more than with whole rings.
    let taken = |err: &str| err.matches("ftrun: [gdb] checkpoint at stop").count();
    let (whole, batched) = (taken(&errs[3]), taken(&errs[4]));
    assert!(
        batched >= whole + 2000 / 64,
        "{batched} checkpoints with rings of a few calls, {whole} with whole rings:\n{}",
        errs[4]
    );
    assert!(
        errs[4].contains("going on from the checkpoint at stop"),
        "going back should start from checkpoints:\n{}",
        errs[4]
    );
}

#[test]
fn a_session_begins_in_the_program_and_going_back_there_is_the_end_of_history() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-begin");
    let (dir, _) = recorded_printing(&tmp, "gdb_inprocess_loop", "total ");
    let script = "reverse-stepi\nbt 1\nstepi\nreverse-stepi\nreverse-stepi\n";
    // At the program's first instruction.
    let t = gdb_session(&tmp, &dir, script);
    assert_has(
        &t,
        &[
            "in _start ()",
            "No more reverse-execution history.",
            "#0  0x",
            "No more reverse-execution history.",
        ],
    );
    // At an event inside the loop of in-process calls: the replay stands in ftrun's code for
    // the call there (a rewritten syscall site's stub), and the session begins where the
    // call returns to the program.
    let dump = text(&dump(&dir, false).stdout);
    let goto = dump
        .lines()
        .filter(|l| l.contains("clock_gettime") && l.contains("[in-process]"))
        .nth(500)
        .and_then(|l| l.split_whitespace().next())
        .expect("in-process calls in the dump")
        .to_string();
    let (t, err) = gdb_session_with(
        &tmp,
        &dir,
        script,
        &[],
        &[OsStr::new("--goto"), OsStr::new(&goto)],
    );
    assert!(!t.contains("Error in sourced command file"), "{t}\n{err}");
    assert!(
        !t.contains("?? ()"),
        "a stop in code gdb does not know:\n{t}"
    );
    assert_has(
        &t,
        &[
            "clock_gettime",
            "No more reverse-execution history.",
            "#0  ",
            "clock_gettime",
            "No more reverse-execution history.",
        ],
    );
}

#[test]
fn the_end_comes_after_the_code_the_program_runs_past_its_last_call() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-last-words");
    let (dir, printed) = recorded_printing(&tmp, "gdb_inprocess_loop", "total ");
    let total = printed_number(&printed, "total ");
    // last_words runs in an exit handler after the last write: the end of the trace is
    // past it, at the program's exit_group.
    let t = gdb_session(
        &tmp,
        &dir,
        "break last_words\ncontinue\nprint total\nfinish\nprint finished\ncontinue\n\
         reverse-continue\nprint finished\n",
    );
    assert_has(
        &t,
        &[
            "Breakpoint 1, last_words",
            &format!("$1 = {total}"),
            &format!("$2 = {}", total + 1),
            "received signal SIGKILL",
            "exit",
            "Breakpoint 1, last_words",
            "$3 = 0",
        ],
    );
}

#[test]
fn a_step_back_of_a_thread_that_waits_for_its_turn_goes_to_its_own_last_instruction() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-step-back-other-thread");
    let (dir, _) = recorded_printing(&tmp, "gdb_threads_crash", "sums ");
    // Stopped in worker 1, gdb steps the main thread back (scheduler locking: gdb names the
    // thread to step).
    let t = gdb_session(
        &tmp,
        &dir,
        "break add_round if id == 1\ncontinue\ncontinue\nset scheduler-locking on\nthread 1\n\
         x/i $pc\nreverse-stepi\nx/i $pc\n",
    );
    let pcs: Vec<&str> = t
        .lines()
        .filter_map(|l| l.strip_prefix("=> "))
        .map(|l| l.split(':').next().unwrap_or(l))
        .collect();
    assert_eq!(pcs.len(), 2, "two instructions shown:\n{t}");
    assert_ne!(pcs[0], pcs[1], "the main thread did not go back:\n{t}");
}

#[test]
fn reverse_continue_passes_over_stretches_that_never_ran_the_breakpoints_page() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-pages");
    let (dir, printed) = recorded_printing(&tmp, "gdb_pages", "total ");
    // rare() sets seen = total + round: at its breakpoint, total is seen - round.
    let total_at = |round: i64| printed_number(&printed, &format!("rare {round}: ")) - round;
    // rare(), alone on its code page, runs in rounds 0, 1500 and 3000 of 4000, the last two
    // in a thread; in round 3000 the thread mprotects that page first (the stretch around
    // it must be scanned: it makes no fault). The stretches with a thread have
    // checkpoints inside them too. done() shares a page with the thread's code: its
    // breakpoint goes before going back.
    let script =
        "break done\ncontinue\ndelete\nbreak rare\nreverse-continue\nprint round\nprint total\n\
                  reverse-continue\nprint round\nprint total\nreverse-continue\nprint round\n\
                  print total\nreverse-continue\ncontinue\nprint round\n";
    let one = OsStr::new("1");
    let every_stop = OsStr::new("0");
    let (t, _) = same_everywhere(
        &tmp,
        &dir,
        script,
        &[
            (
                "with a checkpoint at every quiet stop",
                &[("FTRUN_GDB_CHECKPOINT_MS", every_stop)],
            ),
            (
                "scanning every stretch",
                &[
                    ("FTRUN_GDB_CHECKPOINT_MS", every_stop),
                    ("FTRUN_GDB_NO_PAGES", one),
                ],
            ),
            ("by default", &[]),
            ("without checkpoints", &[("FTRUN_GDB_NO_CHECKPOINTS", one)]),
        ],
    );
    assert_has(
        &t,
        &[
            "Breakpoint 1, done ()",
            "rare (round=3000)",
            "$1 = 3000",
            &format!("$2 = {}", total_at(3000)),
            "rare (round=1500)",
            "$3 = 1500",
            &format!("$4 = {}", total_at(1500)),
            "Breakpoint 2, rare (round=0)",
            "$5 = 0",
            &format!("$6 = {}", total_at(0)),
            "No more reverse-execution history.",
            "Breakpoint 2, rare (round=0)",
            "$7 = 0",
        ],
    );
}

#[test]
fn going_back_sees_a_shared_mapping_as_it_was_at_the_checkpoint() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-shared");
    let (dir, printed) = recorded_printing(&tmp, "gdb_shared", "slot 10 ");
    let at_10 = printed_number(&printed, "slot 10 ");
    let at_50 = printed_number(&printed, "slot 50 ");
    // At round 50 slot 50 is written; back at round 10 it is not yet.
    let script = "break mark if i == 50\ncontinue\nprint slots[50]\ndelete\n\
                  break mark if i == 10\nreverse-continue\nprint slots[10]\nprint slots[50]\n";
    let one = OsStr::new("1");
    let (t, _) = same_everywhere(
        &tmp,
        &dir,
        script,
        &[
            ("without checkpoints", &[("FTRUN_GDB_NO_CHECKPOINTS", one)]),
            (
                "with a checkpoint at every quiet stop",
                &[("FTRUN_GDB_CHECKPOINT_MS", OsStr::new("0"))],
            ),
        ],
    );
    assert_has(
        &t,
        &[
            &format!("$1 = {at_50}"),
            "i=10",
            &format!("$2 = {at_10}"),
            "$3 = 0",
        ],
    );
}

//! Signals sent to the ftrun process while it records: the tracee must see them, as it would
//! without ftrun, and ftrun must end the way the tracee did. The recording then replays.

mod common;

use common::*;
use std::thread;
use std::time::Duration;

/// Records `loop_print ARGS`, sends `sig` to ftrun (not to the tracee) once the program is
/// printing and 300 ms more have passed, checks how everything ended, and replays.
fn signal_ftrun(sig: i32, args: &[&str], expected: Exit) -> Recording {
    let tmp = TempDir::new("signal-ftrun");
    let trace = tmp.join("trace");
    let prog = testprog("loop_print");
    let mut running = spawn_record(&trace, &prog, args);

    while !text(&running.stdout_so_far()).contains("line 0 ") {
        if running.has_exited() {
            let out = running.wait();
            panic!("ftrun ended before the program printed\n{}", describe(&out));
        }
        assert!(
            !running.time_left().is_zero(),
            "loop_print printed nothing within {} s\n--- stderr so far\n{}",
            TIMEOUT.as_secs(),
            text(&running.stderr_so_far())
        );
        thread::sleep(Duration::from_millis(10));
    }
    thread::sleep(Duration::from_millis(300));
    running.signal(sig);
    let output = running.wait();

    let rec = Recording::from_parts(
        tmp,
        trace,
        output,
        format!("record of loop_print {}", args.join(" ")),
    );
    rec.assert_exit(expected)
        .assert_stdout_contains(&["line 0 at "]);
    assert!(
        !rec.stdout().contains("finished without a signal"),
        "the program never saw the signal\n{}",
        describe(&rec.output)
    );
    rec.assert_replays(REPLAYS);
    rec
}

#[test]
fn sigint_kills_tracee_and_ftrun_dies_the_same_way() {
    signal_ftrun(libc::SIGINT, &[], Exit::Signal(libc::SIGINT));
}

#[test]
fn sigint_handled_by_tracee() {
    let rec = signal_ftrun(libc::SIGINT, &["handle"], Exit::Code(5));
    rec.assert_stdout_contains(&[&format!("caught signal {}", libc::SIGINT)]);
}

#[test]
fn sigterm_kills_tracee_and_ftrun_dies_the_same_way() {
    signal_ftrun(libc::SIGTERM, &[], Exit::Signal(libc::SIGTERM));
}

#[test]
fn sigterm_handled_by_tracee() {
    let rec = signal_ftrun(libc::SIGTERM, &["handle"], Exit::Code(5));
    rec.assert_stdout_contains(&[&format!("caught signal {}", libc::SIGTERM)]);
}

//! Sleeps, waits and polls interrupted by SIGCHLD from children exiting at staggered times:
//! without a handler the kernel goes on with `restart_syscall` (again and again, as each
//! child exits), with one the call ends with EINTR. Recorded, the program behaves as it does
//! natively, and every replay is identical.

mod common;

use common::*;

const CALLS: [&str; 3] = ["clock_nanosleep", "nanosleep", "poll"];
const MODES: [&str; 3] = ["none", "restart", "norestart"];

/// Runs `prog args` natively, then records it `recordings` times: each recording prints what
/// the native run printed (the programs print only what does not depend on timing) and
/// replays identically.
fn behaves_as_natively(prog: &str, args: &[&str], recordings: usize) {
    let native = std::process::Command::new(prog)
        .args(args)
        .output()
        .expect("run the program natively");
    assert!(
        native.status.success(),
        "native run of {prog} {args:?} failed"
    );
    for _ in 0..recordings {
        let rec = record_fresh(prog, args);
        rec.assert_exit(Exit::Code(0));
        assert_eq!(
            rec.stdout(),
            text(&native.stdout),
            "{}: the recording changed what the program observed\n{}",
            rec.what,
            describe(&rec.output)
        );
        assert!(
            !text(&rec.output.stderr).contains("refused"),
            "{}: ftrun refused a call\n{}",
            rec.what,
            describe(&rec.output)
        );
        rec.assert_replays(REPLAYS);
    }
}

fn sleep_children(call: &str, mode: &str, recordings: usize) {
    let prog = testprog("sleep_children");
    behaves_as_natively(prog.to_str().unwrap(), &[call, mode], recordings);
}

#[test]
fn sleep_without_handler_restarts_however_often_it_is_interrupted() {
    for call in CALLS {
        sleep_children(call, "none", 2);
    }
}

#[test]
fn sleep_with_handler_ends_with_eintr() {
    for call in CALLS {
        for mode in &MODES[1..] {
            sleep_children(call, mode, 1);
        }
    }
}

#[test]
fn sleeps_without_fast_path() {
    without_fast_path(|| {
        for mode in MODES {
            sleep_children("clock_nanosleep", mode, 1);
        }
        sleep_children("poll", "none", 1);
    });
}

#[test]
fn condvar_timed_wait_times_out() {
    let prog = testprog("cond_timedwait_children");
    behaves_as_natively(prog.to_str().unwrap(), &[], 3);
    without_fast_path(|| behaves_as_natively(prog.to_str().unwrap(), &[], 1));
}

#[test]
fn python_multiprocessing_children() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testprogs/multiprocessing_children.py");
    let script = script.to_str().unwrap();
    if std::process::Command::new("python3")
        .arg("-c")
        .arg("import multiprocessing")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        eprintln!("SKIPPED: no python3 with multiprocessing");
        return;
    }
    behaves_as_natively("python3", &[script], 3);
}

//! The signal state and umask a parent hands down (ignored signals, the mask, the umask) are
//! part of the recording: the program is recorded with exactly what ftrun inherited (not
//! ftrun's own state), and replays with the recorded state whatever its replaying shell has.

mod common;

use std::ffi::OsString;

use common::*;

/// `with_signals SETUP… --`: a wrapper that sets up signals and umask and execs the rest.
fn wrapper(setup: &[&str]) -> Vec<OsString> {
    let mut w: Vec<OsString> = vec![testprog("with_signals").into()];
    w.extend(setup.iter().map(OsString::from));
    w.push("--".into());
    w
}

/// What the program prints natively under `setup`, without its pid line.
fn native_under(setup: &[&str], args: &[&str]) -> (String, Exit) {
    let out = std::process::Command::new(testprog("with_signals"))
        .args(setup)
        .arg("--")
        .arg(testprog("inherited_state"))
        .args(args)
        .output()
        .expect("run inherited_state natively");
    (without_pid(&text(&out.stdout)), exit_of(&out.status))
}

fn without_pid(s: &str) -> String {
    s.lines()
        .filter(|l| !l.starts_with("pid "))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Records `inherited_state ARGS` under `setup`; the recording must print what a native run
/// under `setup` prints.
fn record_under(
    setup: &[&str],
    args: &[&str],
) -> (TempDir, std::path::PathBuf, std::process::Output) {
    let tmp = TempDir::new("inherited_state");
    let dir = tmp.join("trace");
    let mut ftrun_args: Vec<OsString> = vec!["record".into(), "-o".into(), dir.clone().into()];
    if !fast_path_on() {
        ftrun_args.push("--no-fast-path".into());
    }
    ftrun_args.push("--".into());
    ftrun_args.push(testprog("inherited_state").into());
    ftrun_args.extend(args.iter().map(OsString::from));
    let rec = ftrun_via(&wrapper(setup), &ftrun_args);
    assert_no_panic(&rec, "record");
    let (native, native_exit) = native_under(setup, args);
    assert_eq!(
        without_pid(&text(&rec.stdout)),
        native,
        "recorded under {setup:?}: the program saw another state than natively\n{}",
        describe(&rec)
    );
    assert_eq!(exit_of(&rec.status), native_exit, "{}", describe(&rec));
    (tmp, dir, rec)
}

fn fast_path_on() -> bool {
    FAST_PATH_OFF.with(|f| !f.get())
}

thread_local! {
    static FAST_PATH_OFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Replays under each of `setups` (a shell whose signals differ from the recording's): the
/// same output and end every time.
fn replays_under(dir: &std::path::Path, rec: &std::process::Output, setups: &[&[&str]]) {
    for setup in setups {
        let out = ftrun_via(&wrapper(setup), [OsString::from("replay"), dir.into()]);
        assert_same_run(rec, &out, &format!("replay under {setup:?}"));
    }
}

const DIFFERENT_SHELLS: &[&[&str]] = &[
    &[],
    &["default", "2", "default", "1"],
    &[
        "ignore", "2", "ignore", "1", "ignore", "15", "block", "10", "umask", "077",
    ],
];

#[test]
fn ignored_and_blocked_signals_and_umask_are_recorded() {
    let setup = ["ignore", "2", "ignore", "13", "block", "10", "umask", "027"];
    let (_tmp, dir, rec) = record_under(&setup, &[]);
    let out = text(&rec.stdout);
    assert!(out.contains("ignored: 2 13\n"), "{}", describe(&rec));
    assert!(out.contains("blocked: 10\n"), "{}", describe(&rec));
    assert!(out.contains("umask: 027\n"), "{}", describe(&rec));
    replays_under(&dir, &rec, DIFFERENT_SHELLS);
}

#[test]
fn program_that_survives_ignored_signals_replays_in_a_default_shell() {
    let (_tmp, dir, rec) = record_under(&["ignore", "2", "ignore", "1"], &["raise"]);
    assert!(text(&rec.stdout).contains("survived"), "{}", describe(&rec));
    replays_under(&dir, &rec, DIFFERENT_SHELLS);
}

#[test]
fn program_killed_by_default_signal_replays_in_a_shell_that_ignores_it() {
    let (_tmp, dir, rec) = record_under(&["default", "2", "default", "1"], &["raise"]);
    assert_eq!(
        exit_of(&rec.status),
        Exit::Signal(libc::SIGINT),
        "{}",
        describe(&rec)
    );
    replays_under(&dir, &rec, DIFFERENT_SHELLS);
}

#[test]
fn blocked_signal_stays_pending_as_natively() {
    // Blocked, SIGINT and SIGHUP stay pending: the program survives its raise.
    let (_tmp, dir, rec) = record_under(&["block", "2", "block", "1"], &["raise"]);
    assert!(
        text(&rec.stdout).contains("blocked: 1 2\n"),
        "{}",
        describe(&rec)
    );
    replays_under(&dir, &rec, DIFFERENT_SHELLS);
}

#[test]
fn shell_trap_and_nohup() {
    let prog = testprog("inherited_state");
    let script = format!("trap '' INT HUP; exec {} raise", prog.display());
    let rec = record_fresh("sh", ["-c", script.as_str(), "sh"]);
    rec.assert_stdout_contains(&["survived"]);
    rec.assert_replays(1);
    replays_under(&rec.dir, &rec.output, DIFFERENT_SHELLS);
    if find_in_path("nohup").is_some() {
        let rec = record_fresh("nohup", [prog.as_os_str()]);
        rec.assert_stdout_contains(&["ignored: 1\n"]);
        replays_under(&rec.dir, &rec.output, DIFFERENT_SHELLS);
    }
}

#[test]
fn inherited_state_without_fast_path() {
    FAST_PATH_OFF.with(|f| f.set(true));
    let (_tmp, dir, rec) =
        record_under(&["ignore", "2", "block", "10", "umask", "007"], &["raise"]);
    replays_under(&dir, &rec, DIFFERENT_SHELLS);
}

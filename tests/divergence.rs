//! Replay checks itself: a trace that disagrees with what the program does is reported as a
//! divergence naming the event; unsupported syscalls get ENOSYS and a warning; traces go to
//! `$FTRUN_DIR` by default with a `latest-trace` link.

mod common;

use common::*;
use schema::EventKind;

/// Copies a trace, changing the arguments of the last `write` the program made.
fn tamper(from: &std::path::Path, to: &std::path::Path) -> u64 {
    edit_trace(from, to, |events| {
        let target = events
            .iter()
            .rposition(
                |e| matches!(&e.kind, EventKind::Syscall(s) if s.number == libc::SYS_write as u64),
            )
            .expect("the program writes");
        if let EventKind::Syscall(s) = &mut events[target].kind {
            s.args[2] += 1; // the recorded length no longer matches what the program passes
        }
        events[target].seq
    })
}

#[test]
fn a_trace_that_disagrees_with_the_program_is_a_divergence_naming_the_event() {
    let rec = record_fresh(testprog("pids"), NO_ARGS);
    rec.assert_exit(Exit::Code(0));
    let tampered = rec.tmp.join("tampered");
    let seq = tamper(&rec.dir, &tampered);
    let out = replay(&tampered);
    assert_no_panic(&out, "replay of a tampered trace");
    assert!(
        !out.status.success(),
        "a tampered trace replayed successfully:\n{}",
        describe(&out)
    );
    let msg = text(&out.stderr);
    assert!(
        msg.contains(&format!("divergence at event {seq}"))
            && msg.contains("expected")
            && msg.contains("write"),
        "{msg}"
    );
    // The untouched trace still replays.
    rec.assert_replays(1);
}

#[test]
fn unsupported_syscalls_get_enosys_and_a_warning_naming_them() {
    let rec = record_fresh(testprog("unsupported_syscall"), NO_ARGS);
    rec.assert_exit(Exit::Code(0)).assert_stdout_contains(&[
        "kcmp: -1 Function not implemented",
        "futex_waitv: -1 Function not implemented",
        "still running",
    ]);
    let warnings = ftrun_lines(&rec.output.stderr);
    assert!(
        warnings.iter().any(|l| l.contains("refused syscall kcmp")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|l| l.contains("refused syscall futex_waitv") || l.contains("(449)")),
        "{warnings:?}"
    );
    rec.assert_replays(2);
}

#[test]
fn traces_go_to_ftrun_dir_with_a_latest_link() {
    let tmp = TempDir::new("default-dir");
    let run = |args: &[&str]| {
        std::process::Command::new(ftrun_bin())
            .args(args)
            .env("FTRUN_DIR", tmp.path())
            .output()
            .unwrap()
    };
    let first = run(&["record", "--", "echo", "one"]);
    assert!(first.status.success(), "{}", describe(&first));
    let second = run(&["record", "--", "echo", "two"]);
    assert!(second.status.success(), "{}", describe(&second));
    assert!(tmp.join("echo-0/events").is_file() && tmp.join("echo-1/events").is_file());
    assert_eq!(
        std::fs::read_link(tmp.join("latest-trace")).unwrap(),
        std::path::PathBuf::from("echo-1")
    );
    let replayed = run(&["replay"]);
    assert!(replayed.status.success(), "{}", describe(&replayed));
    assert_eq!(text(&replayed.stdout), "two\n");
    let named = run(&["replay", tmp.join("echo-0").to_str().unwrap()]);
    assert_eq!(text(&named.stdout), "one\n");
}

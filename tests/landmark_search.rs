//! A replay that cannot find the recorded state of a landmark ends: with a divergence naming
//! the thread, the address and the passes made, as soon as the thread's state repeats
//! without being the recorded one, or at the bound on passes (`FTRUN_LANDMARK_PASSES`). Its
//! progress is one line rewritten in place.

mod common;

use std::ffi::OsStr;
use std::path::Path;

use common::*;
use schema::{EventKind, SignalPlacement};

/// Copies a trace with the memory hash of its first landmark changed, so that replay can
/// never find the state; returns that landmark's rip.
fn tamper_first_landmark(from: &Path, to: &Path) -> u64 {
    edit_trace(from, to, |events| {
        for ev in events.iter_mut() {
            let lm = match &mut ev.kind {
                EventKind::Signal(s) => match &mut s.placement {
                    SignalPlacement::AtLandmark(lm) => lm,
                    _ => continue,
                },
                EventKind::Sched(lm) => lm,
                EventKind::SchedAtState(f) => &mut f.landmark,
                _ => continue,
            };
            lm.mem_hash ^= 1;
            return lm.rip;
        }
        panic!("the recording has a landmark")
    })
}

/// Replays the tampered copy of a recording of `prog` and returns ftrun's stderr.
fn replay_tampered(prog: &str, passes: &str) -> (String, u64) {
    let rec = record_fresh(testprog(prog), NO_ARGS);
    rec.assert_exit(Exit::Code(0));
    let tampered = rec.tmp.join("tampered");
    let rip = tamper_first_landmark(&rec.dir, &tampered);
    let out = spawn_ftrun_with(
        None,
        &[("FTRUN_LANDMARK_PASSES", OsStr::new(passes))],
        [OsStr::new("replay"), tampered.as_os_str()],
    )
    .wait();
    assert_clean_failure(&out, "replay of a tampered landmark");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("divergence at event"),
        "no divergence\n{}",
        describe(&out)
    );
    // Progress, if shown, is one line rewritten with \r, not a line per update.
    let progress_lines = stderr.lines().filter(|l| l.contains("looking for")).count();
    assert!(
        progress_lines <= 1,
        "progress took {progress_lines} lines\n{stderr}"
    );
    (stderr, rip)
}

fn divergence_line(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|l| l.contains("divergence at event"))
        .unwrap()
}

#[test]
fn a_spin_whose_state_repeats_ends_at_once() {
    // The signal landed in `while (!flag) ;`: the state repeats at every pass.
    let (stderr, rip) = replay_tampered("sig_alarm_spin", "1000000");
    let line = divergence_line(&stderr);
    assert!(line.contains("(thread "), "{line}");
    assert!(line.contains(&format!("{rip:#x}")), "{line}");
    assert!(line.contains("same state as the pass before"), "{line}");
}

#[test]
fn a_loop_whose_state_never_recurs_ends_at_the_bound() {
    // The signal landed in a counting loop, which without it counts on forever.
    for fast in [true, false] {
        let run = || replay_tampered("sig_async_count", "3000");
        let (stderr, rip) = if fast { run() } else { without_fast_path(run) };
        let line = divergence_line(&stderr);
        assert!(line.contains("(thread "), "{line}");
        assert!(line.contains(&format!("{rip:#x}")), "{line}");
        assert!(line.contains("after 3000 passes"), "{line}");
        assert!(line.contains("FTRUN_LANDMARK_PASSES"), "{line}");
    }
}

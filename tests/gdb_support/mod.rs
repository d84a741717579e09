//! Helpers for the gdb tests: recording a test program, running the real gdb in batch mode
//! on its replay, and checking a transcript.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::common::*;

/// Records `prog` (its output must contain `printed`), returns the recording.
pub fn recorded(tmp: &TempDir, prog: &str, printed: &str) -> PathBuf {
    recorded_printing(tmp, prog, printed).0
}

/// Records `prog` (its output must contain `printed`): the recording and what it printed.
pub fn recorded_printing(tmp: &TempDir, prog: &str, printed: &str) -> (PathBuf, String) {
    let dir = tmp.join(prog);
    let out = record(&dir, testprog(prog), NO_ARGS);
    // The crash programs end by their fault, as recorded.
    assert!(
        out.status.success() || prog.contains("crash"),
        "record {prog}\n{}",
        describe(&out)
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(printed),
        "the recording of {prog} should print {printed:?}\n{}",
        describe(&out)
    );
    (dir, stdout)
}

/// gdb's batch-mode arguments after `ftrun replay --gdb [EXTRA…] DIR --`.
fn gdb_args<'a>(dir: &'a Path, file: &'a Path, extra: &'a [&'a OsStr]) -> Vec<&'a OsStr> {
    let mut args = vec![OsStr::new("replay"), OsStr::new("--gdb")];
    args.extend_from_slice(extra);
    args.extend([
        dir.as_os_str(),
        OsStr::new("--"),
        OsStr::new("-batch"),
        OsStr::new("-nx"),
        OsStr::new("-x"),
        file.as_os_str(),
    ]);
    args
}

/// Runs gdb in batch mode with `script` on the replay of `dir`; gdb's transcript.
pub fn gdb_session(tmp: &TempDir, dir: &Path, script: &str) -> String {
    let (transcript, stderr) = gdb_session_with(tmp, dir, script, &[], &[]);
    assert!(
        !transcript.contains("Error in sourced command file"),
        "gdb failed on the script:\n{script}\n{transcript}\n{stderr}"
    );
    transcript
}

/// One gdb session with `env` added to ftrun's environment and `extra` arguments after
/// `--gdb`: gdb's transcript and ftrun's stderr.
pub fn gdb_session_with(
    tmp: &TempDir,
    dir: &Path,
    script: &str,
    env: &[(&str, &OsStr)],
    extra: &[&OsStr],
) -> (String, String) {
    let file = tmp.join("script.gdb");
    std::fs::write(&file, script).unwrap();
    let out = spawn_ftrun_with(None, env, gdb_args(dir, &file, extra)).wait();
    (text(&out.stdout), text(&out.stderr))
}

pub fn have_gdb() -> bool {
    if find_in_path("gdb").is_none() {
        eprintln!("gdb is not installed: skipped");
        return false;
    }
    true
}

/// Every string of `wanted` is in `transcript`, in this order.
pub fn assert_has(transcript: &str, wanted: &[&str]) {
    let mut from = 0;
    for w in wanted {
        match transcript[from..].find(w) {
            Some(at) => from += at + w.len(),
            None => panic!("{w:?} missing (in this order) from the gdb transcript:\n{transcript}"),
        }
    }
}

/// The number after `label` in the recording's output (e.g. `at 100: ` → the total there).
pub fn printed_number(out: &str, label: &str) -> i64 {
    let at = out
        .find(label)
        .unwrap_or_else(|| panic!("{label:?} not in {out:?}"))
        + label.len();
    let digits: String = out[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().unwrap()
}

/// The same script under each environment gives the same transcript: the transcript, and
/// ftrun's stderr under each environment.
pub fn same_everywhere(
    tmp: &TempDir,
    dir: &Path,
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

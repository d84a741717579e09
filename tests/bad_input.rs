//! ftrun given things that do not work: programs that cannot be run, damaged traces, directories
//! that are not traces. It must fail with a clear `ftrun: ` message and the right exit code, and
//! never panic. Also `ftrun dump` of a good trace, in text and JSON.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

/// Asserts `dir` is not a trace claiming to be complete: it does not exist, or replaying it fails
/// cleanly.
fn assert_no_complete_trace(dir: &Path, context: &str) {
    if dir.exists() {
        let out = replay(dir);
        assert_clean_failure(
            &out,
            &format!(
                "{context}: replay of the trace directory a failed start left behind ({})",
                dir.display()
            ),
        );
    }
}

/// Asserts some `ftrun: ` line of `out` mentions `needle`.
fn assert_message_mentions(out: &Output, needle: &str, context: &str) {
    assert!(
        ftrun_lines(&out.stderr).iter().any(|l| l.contains(needle)),
        "{context}: no {FTRUN_PREFIX:?} line mentions {needle:?}\n{}",
        describe(out)
    );
}

#[test]
fn missing_program_exits_127() {
    let tmp = TempDir::new("missing-program");
    let dir = tmp.join("trace");
    let prog = tmp.join("no-such-program");
    let out = record(&dir, &prog, ["arg"]);
    assert_no_panic(&out, "record of a missing program");
    assert_eq!(
        exit_of(&out.status),
        Exit::Code(127),
        "record of a missing program\n{}",
        describe(&out)
    );
    assert_message_mentions(&out, "no-such-program", "record of a missing program");
    assert_no_complete_trace(&dir, "record of a missing program");
}

#[test]
fn missing_program_in_path_exits_127() {
    let tmp = TempDir::new("missing-program-path");
    let dir = tmp.join("trace");
    let out = record(&dir, "ftrun-test-no-such-program-anywhere", ["arg"]);
    assert_no_panic(&out, "record of a program not in PATH");
    assert_eq!(
        exit_of(&out.status),
        Exit::Code(127),
        "record of a program not in PATH\n{}",
        describe(&out)
    );
    assert_message_mentions(
        &out,
        "ftrun-test-no-such-program-anywhere",
        "record of a program not in PATH",
    );
    assert_no_complete_trace(&dir, "record of a program not in PATH");
}

#[test]
fn non_executable_file_exits_126() {
    let tmp = TempDir::new("not-executable");
    let prog = tmp.join("script.sh");
    fs::write(&prog, "#!/bin/sh\necho should not run\n").unwrap();
    fs::set_permissions(&prog, fs::Permissions::from_mode(0o644)).unwrap();
    let dir = tmp.join("trace");
    let out = record(&dir, &prog, NO_ARGS);
    assert_no_panic(&out, "record of a non-executable file");
    assert_eq!(
        exit_of(&out.status),
        Exit::Code(126),
        "record of a non-executable file\n{}",
        describe(&out)
    );
    assert!(!text(&out.stdout).contains("should not run"));
    assert_message_mentions(&out, "script.sh", "record of a non-executable file");
    assert_no_complete_trace(&dir, "record of a non-executable file");
}

#[test]
fn directory_as_program_exits_126() {
    let tmp = TempDir::new("dir-as-program");
    let prog = tmp.join("a-directory");
    fs::create_dir(&prog).unwrap();
    let dir = tmp.join("trace");
    let out = record(&dir, &prog, NO_ARGS);
    assert_no_panic(&out, "record of a directory");
    assert_eq!(
        exit_of(&out.status),
        Exit::Code(126),
        "record of a directory\n{}",
        describe(&out)
    );
    assert!(!ftrun_lines(&out.stderr).is_empty(), "{}", describe(&out));
    assert_no_complete_trace(&dir, "record of a directory");
}

#[test]
fn record_into_existing_directory_fails_without_running() {
    let tmp = TempDir::new("existing-dir");
    let dir = tmp.join("trace");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("keep.txt"), "precious").unwrap();
    let marker = tmp.join("marker");
    let touch = find_in_path("touch").expect("touch is installed");
    let out = record(&dir, &touch, [&marker]);
    assert_clean_failure(&out, "record into an existing directory");
    assert!(
        !marker.exists(),
        "record into an existing directory ran the program anyway"
    );
    let left: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec!["keep.txt"], "the existing directory was changed");
    assert_eq!(
        fs::read_to_string(dir.join("keep.txt")).unwrap(),
        "precious"
    );
}

/// A good recording of a small program, for the damage tests.
fn good_recording() -> Recording {
    let rec = record_fresh(testprog("getrandom"), NO_ARGS);
    rec.assert_exit(Exit::Code(0));
    rec
}

/// Asserts `out` is a clean replay failure whose message names the trace (its path, or the
/// damaged file's name) and the place (an offset or an event).
fn assert_damage_reported(out: &Output, trace: &Path, damaged: &Path, context: &str) {
    assert_clean_failure(out, context);
    let mut names = vec![trace.display().to_string()];
    if let Ok(real) = trace.canonicalize() {
        names.push(real.display().to_string());
    }
    if let Some(n) = trace.file_name() {
        names.push(n.to_string_lossy().into_owned());
    }
    if let Some(n) = damaged.file_name() {
        names.push(n.to_string_lossy().into_owned());
    }
    let lines = ftrun_lines(&out.stderr);
    assert!(
        lines
            .iter()
            .any(|l| names.iter().any(|n| l.contains(n.as_str()))),
        "{context}: the error message does not name the trace (any of {names:?})\n{}",
        describe(out)
    );
    assert!(
        lines.iter().any(|l| {
            let l = l.to_lowercase();
            l.contains("offset") || l.contains("event")
        }),
        "{context}: the error message names neither an offset nor an event\n{}",
        describe(out)
    );
}

#[test]
fn corrupt_events_file_is_reported() {
    let rec = good_recording();
    let events = events_file(&rec.dir);
    let rel = events.strip_prefix(&rec.dir).unwrap().to_owned();
    let len = fs::metadata(&events).unwrap().len() as usize;
    assert!(len > 0, "events file {} is empty", events.display());
    eprintln!("events file: {} ({len} bytes)", events.display());

    let mut offsets = vec![0, len / 4, len / 2, 3 * len / 4, len.saturating_sub(1)];
    offsets.dedup();
    for (i, &off) in offsets.iter().enumerate() {
        let copy = rec.tmp.join(format!("corrupt-{i}"));
        copy_dir(&rec.dir, &copy);
        let file = copy.join(&rel);
        let mut bytes = fs::read(&file).unwrap();
        let end = (off + 4).min(len);
        for b in &mut bytes[off..end] {
            *b ^= 0xff;
        }
        fs::write(&file, &bytes).unwrap();
        let context = format!("replay with bytes {off}..{end} of {len} flipped");
        let out = replay(&copy);
        assert_damage_reported(&out, &copy, &file, &context);

        let out = dump(&copy, false);
        assert_no_panic(&out, &format!("dump with bytes {off}..{end} flipped"));
    }
}

#[test]
fn truncated_events_file_is_reported() {
    let rec = good_recording();
    let events = events_file(&rec.dir);
    let rel = events.strip_prefix(&rec.dir).unwrap().to_owned();
    let len = fs::metadata(&events).unwrap().len();
    for (name, keep) in [
        ("half", len / 2),
        ("all-but-last-byte", len.saturating_sub(1)),
        ("empty", 0),
    ] {
        let copy = rec.tmp.join(format!("truncated-{name}"));
        copy_dir(&rec.dir, &copy);
        let file = copy.join(&rel);
        let f = fs::OpenOptions::new().write(true).open(&file).unwrap();
        f.set_len(keep).unwrap();
        drop(f);
        let context = format!("replay with the events file cut to {keep} of {len} bytes");
        let out = replay(&copy);
        assert_damage_reported(&out, &copy, &file, &context);

        let out = dump(&copy, false);
        assert_no_panic(
            &out,
            &format!("dump with the events file cut to {keep} bytes"),
        );
    }
}

#[test]
fn missing_events_file_is_reported() {
    let rec = good_recording();
    let events = events_file(&rec.dir);
    let rel = events.strip_prefix(&rec.dir).unwrap().to_owned();
    let copy = rec.tmp.join("no-events");
    copy_dir(&rec.dir, &copy);
    fs::remove_file(copy.join(&rel)).unwrap();
    let out = replay(&copy);
    assert_clean_failure(&out, "replay without the events file");
}

#[test]
fn not_a_trace_is_reported() {
    let tmp = TempDir::new("not-a-trace");

    let empty = tmp.join("empty-dir");
    fs::create_dir(&empty).unwrap();
    let junk = tmp.join("junk-dir");
    fs::create_dir(&junk).unwrap();
    fs::write(junk.join("events"), b"this is not a trace\n").unwrap();
    fs::write(junk.join("header"), [0u8; 64]).unwrap();
    let file = tmp.join("a-file");
    fs::write(&file, b"not a directory").unwrap();
    let missing = tmp.join("does-not-exist");

    for (what, path) in [
        ("an empty directory", &empty),
        ("a directory of junk", &junk),
        ("a regular file", &file),
        ("a missing path", &missing),
    ] {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let out = replay(path);
        let context = format!("replay of {what}");
        assert_clean_failure(&out, &context);
        assert_message_mentions(&out, &name, &context);
        assert!(
            out.stdout.is_empty(),
            "{context}: printed on stdout\n{}",
            describe(&out)
        );

        let out = dump(path, false);
        let context = format!("dump of {what}");
        assert_clean_failure(&out, &context);
        assert_message_mentions(&out, &name, &context);
    }
}

#[test]
fn dump_lists_events() {
    let rec = good_recording();
    let out = dump(&rec.dir, false);
    assert_no_panic(&out, "dump");
    assert!(out.status.success(), "dump failed\n{}", describe(&out));
    let lines = text(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    assert!(
        lines >= 5,
        "dump listed only {lines} lines for a program that makes dozens of syscalls\n{}",
        describe(&out)
    );
    // The same trace dumps the same way every time.
    let again = dump(&rec.dir, false);
    assert_eq!(out.stdout, again.stdout, "two dumps of one trace differ");
}

#[test]
fn dump_json_lines_parse() {
    let rec = good_recording();
    let out = dump(&rec.dir, true);
    assert_no_panic(&out, "dump --json");
    assert!(
        out.status.success(),
        "dump --json failed\n{}",
        describe(&out)
    );
    let stdout = text(&out.stdout);
    let mut objects = 0;
    for (i, line) in stdout.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| {
            panic!(
                "dump --json line {} is not JSON ({e}): {line}\n{}",
                i + 1,
                describe(&out)
            )
        });
        assert!(
            value.is_object(),
            "dump --json line {} is not a JSON object: {line}",
            i + 1
        );
        objects += 1;
    }
    assert!(
        objects >= 5,
        "dump --json gave only {objects} objects\n{}",
        describe(&out)
    );
}

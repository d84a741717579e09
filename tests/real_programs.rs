//! Real programs from the system, recorded once and replayed three times. A program that is not
//! installed is skipped with a note.

mod common;

use common::*;
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The program's path, or None (with a note) when it is not installed.
fn installed(name: &str) -> Option<PathBuf> {
    let found = find_in_path(name);
    if found.is_none() {
        eprintln!("note: skipping: {name} is not installed");
    }
    found
}

/// The real python3 executable: `python3` in PATH may be a wrapper script (pyenv's shims).
fn python3() -> Option<PathBuf> {
    let found = installed("python3")?;
    let out = Command::new(&found)
        .args([
            "-c",
            "import os, sys; print(os.path.realpath(sys.executable))",
        ])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let real = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if out.status.success() && !real.is_empty() {
        Some(PathBuf::from(real))
    } else {
        eprintln!("note: skipping: {} does not run", found.display());
        None
    }
}

#[test]
fn python_random_time_urandom_uuid() {
    let Some(py) = python3() else { return };
    let script = "import random, time, os, uuid\n\
                  print(random.random())\n\
                  print(time.time())\n\
                  print(os.urandom(8).hex())\n\
                  print(uuid.uuid4())\n\
                  print(hash('str hash is randomized per process'))\n";
    let rec = record_fresh(&py, ["-c", script]);
    rec.assert_exit(Exit::Code(0));
    let lines: Vec<String> = rec.stdout().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 5, "{}", describe(&rec.output));
    assert!(
        lines[0].parse::<f64>().is_ok() && lines[1].parse::<f64>().is_ok(),
        "{}",
        describe(&rec.output)
    );
    assert_eq!(lines[2].len(), 16, "{}", describe(&rec.output));
    assert_eq!(lines[3].len(), 36, "{}", describe(&rec.output));
    rec.assert_replays(REPLAYS);
}

#[test]
fn date_nanoseconds() {
    let Some(date) = installed("date") else {
        return;
    };
    let rec = record_fresh(&date, ["+%s%N"]);
    rec.assert_exit(Exit::Code(0));
    let printed = rec.stdout();
    assert!(
        printed.trim().len() >= 19 && printed.trim().bytes().all(|b| b.is_ascii_digit()),
        "{}",
        describe(&rec.output)
    );
    rec.assert_replays(REPLAYS);

    let again = record_fresh(&date, ["+%s%N"]);
    assert_recordings_differ(&rec, &again);
}

#[test]
fn sqlite_random_datetime() {
    let Some(sqlite) = installed("sqlite3") else {
        return;
    };
    let rec = record_fresh(&sqlite, [":memory:", "select random(), datetime()"]);
    rec.assert_exit(Exit::Code(0));
    assert!(rec.stdout().contains('|'), "{}", describe(&rec.output));
    rec.assert_replays(REPLAYS);
}

#[test]
fn ls_proc_self() {
    let Some(ls) = installed("ls") else { return };
    let rec = record_fresh(&ls, ["-l", "/proc/self/"]);
    rec.assert_exit(Exit::Code(0))
        .assert_stdout_contains(&["exe -> ", "cwd -> ", "status"]);
    rec.assert_replays(REPLAYS);
}

#[test]
fn cat_deleted_file() {
    let Some(cat) = installed("cat") else { return };
    let input = TempDir::new("cat-input");
    let file = input.join("input.txt");
    let contents: String = (0..200)
        .map(|i| format!("line {i} of the file that is gone at replay\n"))
        .collect();
    fs::write(&file, &contents).unwrap();

    let rec = record_fresh(&cat, [&file]);
    rec.assert_exit(Exit::Code(0));
    assert_eq!(rec.stdout(), contents, "cat printed something else");
    fs::remove_file(&file).unwrap();
    rec.assert_replays(REPLAYS);
}

#[test]
fn cat_into_a_regular_file_replays_the_same_bytes() {
    // With stdout a regular file, cat copies with copy_file_range inside the kernel; the
    // recorder makes it fall back to read/write so that replay can reproduce the bytes.
    let tmp = TempDir::new("cat-to-file");
    let input = tmp.join("input.txt");
    let content: String = (0..5000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&input, &content).unwrap();
    let trace = tmp.join("trace");
    let (rec_out, rep_out) = (tmp.join("rec.out"), tmp.join("rep.out"));
    let status = std::process::Command::new(ftrun_bin())
        .arg("record")
        .arg("-o")
        .arg(&trace)
        .arg("--")
        .arg("cat")
        .arg(&input)
        .stdout(std::fs::File::create(&rec_out).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_file(&input).unwrap();
    let status = std::process::Command::new(ftrun_bin())
        .arg("replay")
        .arg(&trace)
        .stdout(std::fs::File::create(&rep_out).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read_to_string(&rec_out).unwrap(), content);
    assert_eq!(
        std::fs::read_to_string(&rep_out).unwrap(),
        content,
        "replay wrote different bytes"
    );
}

/// Runs ftrun with stdout a pipe that is closed after the first line.
fn first_line_then_close(args: &[&std::ffi::OsStr]) -> (String, std::process::ExitStatus) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(ftrun_bin())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (line, child.wait().unwrap())
}

#[test]
fn a_closed_pipe_kills_the_program_with_sigpipe_as_natively() {
    // ftrun itself ignores SIGPIPE (the Rust runtime does); the program must not inherit that.
    use std::os::unix::process::ExitStatusExt;
    let tmp = TempDir::new("sigpipe");
    let trace = tmp.join("trace");
    let (line, status) = first_line_then_close(&[
        "record".as_ref(),
        "-o".as_ref(),
        trace.as_os_str(),
        "--".as_ref(),
        "yes".as_ref(),
    ]);
    assert_eq!(line, "y\n");
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "record: {status:?}");
    let (line, status) = first_line_then_close(&["replay".as_ref(), trace.as_os_str()]);
    assert_eq!(line, "y\n");
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "replay: {status:?}");
}

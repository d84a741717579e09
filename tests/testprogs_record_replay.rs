//! Each program in `testprogs/` recorded once and replayed three times: every replay must print
//! exactly what the recording printed and end the same way. Where it is cheap, a second recording
//! shows the program's output really varies from run to run.

mod common;

use common::*;
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::thread;
use std::time::{Duration, Instant};

/// Records `name` (no arguments), checks it exited 0 and printed `expect`, replays it.
fn check(name: &str, expect: &[&str]) -> Recording {
    let rec = record_fresh(testprog(name), NO_ARGS);
    rec.assert_exit(Exit::Code(0))
        .assert_stdout_contains(expect);
    rec.assert_replays(REPLAYS);
    rec
}

/// A second recording of `name`, which must print something different from `first`.
fn check_varies(name: &str, first: &Recording) {
    let second = record_fresh(testprog(name), NO_ARGS);
    second.assert_exit(Exit::Code(0));
    assert_recordings_differ(first, &second);
}

#[test]
fn testprogs_run_natively() {
    // Not a test of ftrun: tells a broken test program apart from a broken recorder.
    for name in [
        "rdtsc",
        "vdso_time",
        "getrandom",
        "urandom",
        "at_random",
        "pids",
        "socket_read",
        "sig_self",
        "sig_segv",
        "poll_pipe",
        "stat_dirs",
        "static_hello",
        "exec",
    ] {
        let out = std::process::Command::new(testprog(name))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success() && !out.stdout.is_empty(),
            "{name} failed natively:\n{}",
            describe(&out)
        );
    }
}

#[test]
fn rdtsc() {
    let rec = check("rdtsc", &["rdtsc[7]=", "rdtsc monotonic=1", "pair[3]="]);
    check_varies("rdtsc", &rec);
}

#[test]
fn vdso_time() {
    let rec = check(
        "vdso_time",
        &[
            "CLOCK_REALTIME: r=0",
            "CLOCK_MONOTONIC: r=0",
            "CLOCK_BOOTTIME: r=0",
            "gettimeofday: r=0",
            "round 2",
        ],
    );
    check_varies("vdso_time", &rec);
}

#[test]
fn getrandom() {
    let rec = check(
        "getrandom",
        &[
            "getrandom 16: r=16",
            "syscall getrandom 64: r=64",
            "u32[3]: r=4",
        ],
    );
    check_varies("getrandom", &rec);
}

#[test]
fn urandom() {
    let rec = check(
        "urandom",
        &[
            "open /dev/urandom: ok",
            "read /dev/urandom: r=32",
            "fread /dev/urandom: r=16",
        ],
    );
    check_varies("urandom", &rec);
}

#[test]
fn at_random() {
    let rec = check("at_random", &["AT_RANDOM: ", "AT_SECURE: 0"]);
    check_varies("at_random", &rec);
}

#[test]
fn pids() {
    let rec = check(
        "pids",
        &["getpid=", "getppid=", "getsid(0)=", "pid==tid: 1"],
    );
    // Two processes have different pids.
    check_varies("pids", &rec);
}

#[test]
fn file_read_changed_then_deleted_input() {
    let input = TempDir::new("file_read-input");
    let data = input.join("data");
    fs::create_dir_all(&data).unwrap();
    let file = data.join("input.txt");
    fs::write(&file, "recorded content: 1234\nsecond line\n").unwrap();
    fs::write(data.join("sibling-a"), "a").unwrap();
    fs::write(data.join("sibling-b"), "b").unwrap();

    let rec = record_fresh(testprog("file_read"), [&file]);
    rec.assert_exit(Exit::Code(0)).assert_stdout_contains(&[
        "size=35 ",
        "recorded content: 1234\nsecond line\n",
        "read 35 bytes",
        "directory has 5 entries",
        "  sibling-a\n",
    ]);

    // Same path, other contents, size and mtime; the directory changes too.
    thread::sleep(Duration::from_millis(20));
    fs::write(
        &file,
        "changed after the recording, and longer than before\n",
    )
    .unwrap();
    fs::remove_file(data.join("sibling-a")).unwrap();
    fs::write(data.join("new-file"), "new").unwrap();
    rec.assert_replays(1);

    // Gone altogether.
    fs::remove_dir_all(&data).unwrap();
    rec.assert_replays(REPLAYS);
}

#[test]
fn socket_read() {
    check(
        "socket_read",
        &[
            "listening on port ",
            "server received: hello at ",
            "client received: reply from server",
            "client recv after close: 0",
            "socketpair read back 4: back",
        ],
    );
}

#[test]
fn mmap_file_changed_then_deleted_input() {
    let input = TempDir::new("mmap_file-input");
    let file = input.join("mapped.txt");
    let original = "mapped contents, recorded version 1";
    fs::write(&file, original).unwrap();

    let rec = record_fresh(testprog("mmap_file"), [&file]);
    rec.assert_exit(Exit::Code(0)).assert_stdout_contains(&[
        &format!("MAP_PRIVATE: {original}\n"),
        &format!("MAP_SHARED: {original}\n"),
        "same contents: 1",
        "MAP_PRIVATE writable after write: #apped contents",
    ]);

    // Overwrite in place: same inode, same size, other bytes.
    {
        let mut f = fs::OpenOptions::new().write(true).open(&file).unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        f.write_all(original.to_uppercase().as_bytes()).unwrap();
        f.sync_all().unwrap();
    }
    assert_eq!(fs::metadata(&file).unwrap().len() as usize, original.len());
    rec.assert_replays(1);

    fs::remove_file(&file).unwrap();
    rec.assert_replays(REPLAYS);
}

#[test]
fn sig_self() {
    check(
        "sig_self",
        &[
            "after kill: counter=3",
            "pending while blocked: 1, counter=3",
            "counter=4",
            "order=1H2H3H45H6",
        ],
    );
}

#[test]
fn sig_segv() {
    check(
        "sig_segv",
        &[
            "round 2: caught signal 11",
            "read-only page: caught signal 11 code 2 addr_matches=1",
            "division 1: caught signal 8",
            "segv_count=4 fpe_count=2",
        ],
    );
}

#[test]
fn sig_alarm_pause() {
    check(
        "sig_alarm_pause",
        &[
            "arming alarm\n",
            "handler: SIGALRM",
            "pause returned -1 errno=EINTR fired=1",
        ],
    );
}

#[test]
fn sig_alarm_spin() {
    check(
        "sig_alarm_spin",
        &["spinning until SIGALRM\n", "flag seen: 1"],
    );
}

#[test]
fn sig_async_count() {
    // Signals landing in a counting loop that never makes a syscall. Placing them so that
    // replay finds them quickly needs ticks-based placement (a PMU); without it the
    // recorder falls back to an exact landmark that replay can only find by stopping at
    // every pass through the loop (millions here). This checks the fallback: the recording
    // must not hang, must run the program correctly, and must say why replay will be slow.
    let rec = record_fresh(testprog("sig_async_count"), NO_ARGS);
    // A signal may also land between the loop's end and the timer's stop: "hits 10" or more.
    rec.assert_exit(Exit::Code(0))
        .assert_stdout_contains(&["signal 9 at count ", "final count "]);
    let warned = ftrun_lines(&rec.output.stderr)
        .iter()
        .any(|l| l.contains("computed in a loop") && l.contains("hardware tick counter"));
    assert!(
        warned,
        "no warning about the loop landmark:\n{}",
        describe(&rec.output)
    );
    let dump = dump(&rec.dir, false);
    assert!(
        text(&dump.stdout).contains("at landmark"),
        "the held signals were not placed at a landmark:\n{}",
        text(&dump.stdout)
    );
}

#[test]
fn sig_itimer() {
    let rec = check(
        "sig_itimer",
        &["signal 19 after ", "signals=20 getppid_calls="],
    );
    check_varies("sig_itimer", &rec);
}

#[test]
fn sig_external() {
    let tmp = TempDir::new("sig_external");
    let pidfile = tmp.join("pid");
    let trace = tmp.join("trace");
    let prog = testprog("sig_external");
    let mut running = spawn_record(&trace, &prog, [&pidfile]);

    let started = Instant::now();
    let pid: i32 = loop {
        if let Ok(s) = fs::read_to_string(&pidfile) {
            if let Ok(pid) = s.trim().parse() {
                break pid;
            }
        }
        if running.has_exited() {
            let out = running.wait();
            panic!(
                "recording of sig_external ended before writing its pid file\n{}",
                describe(&out)
            );
        }
        assert!(
            started.elapsed() < TIMEOUT,
            "sig_external wrote no pid file within {} s",
            TIMEOUT.as_secs()
        );
        thread::sleep(Duration::from_millis(10));
    };
    // Let it reach its sleep loop; the signal may land anywhere in it.
    thread::sleep(Duration::from_millis(100));
    let r = unsafe { libc::kill(pid, libc::SIGUSR1) };
    assert_eq!(
        r,
        0,
        "kill({pid}, SIGUSR1): {}",
        std::io::Error::last_os_error()
    );
    let output = running.wait();

    let rec = Recording::from_parts(
        tmp,
        trace,
        output,
        format!("record of {} {}", prog.display(), pidfile.display()),
    );
    rec.assert_exit(Exit::Code(0))
        .assert_stdout_contains(&["pid file written", "got SIGUSR1 (si_code=0) after "]);

    // The replay must not write the pid file again: it does not touch the outside world.
    fs::remove_file(&pidfile).unwrap();
    rec.assert_replays(REPLAYS);
    assert!(
        !pidfile.exists() && !pidfile.with_extension("tmp").exists(),
        "replaying sig_external wrote its pid file: replay touched the outside world"
    );
}

#[test]
fn sig_term_default() {
    let rec = record_fresh(testprog("sig_term_default"), NO_ARGS);
    rec.assert_exit(Exit::Signal(libc::SIGTERM))
        .assert_stdout_contains(&["about to die by SIGTERM"]);
    assert!(!rec.stdout().contains("still alive"));
    rec.assert_replays(REPLAYS);
}

#[test]
fn exit_code() {
    let rec = record_fresh(testprog("exit_code"), NO_ARGS);
    rec.assert_exit(Exit::Code(42))
        .assert_stdout_contains(&["exiting with 42"]);
    assert!(
        rec.program_stderr().contains("a line on stderr"),
        "the program's stderr was not passed through while recording\n{}",
        describe(&rec.output)
    );
    rec.assert_replays(REPLAYS);
}

#[test]
fn exec() {
    let rec = check(
        "exec",
        &["stage1: pid=", "stage2: pid=", "stage3 from /bin/echo\n"],
    );
    // exec keeps the pid.
    let out = rec.stdout();
    let pid_of = |stage: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(stage))
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
    };
    assert_eq!(pid_of("stage1: "), pid_of("stage2: "), "{out}");
    check_varies("exec", &rec);
}

#[test]
fn static_hello() {
    let rec = check(
        "static_hello",
        &[
            "hello from a static binary",
            "getrandom r=8 value=",
            "rdtsc=",
        ],
    );
    check_varies("static_hello", &rec);
}

#[test]
fn nanosleep() {
    check(
        "nanosleep",
        &[
            "nanosleep r=0",
            "clock_nanosleep rel r=0",
            "clock_nanosleep abs r=0",
            "clock_nanosleep realtime r=0",
        ],
    );
}

#[test]
fn poll_pipe() {
    check(
        "poll_pipe",
        &[
            "poll after write: r=1 revents=0x1",
            "read: n=4 data=ping",
            "select after write: r=1 isset=1",
            "read: n=5 data=pong!",
            "read at eof: n=0",
        ],
    );
}

#[test]
fn stat_dirs_with_cwd_removed() {
    let prog = testprog("stat_dirs");
    let rec = record_fresh(&prog, NO_ARGS);
    let cwd = rec.tmp.join("cwd");
    let real_cwd = cwd.canonicalize().unwrap();
    let real_prog = prog.canonicalize().unwrap();
    rec.assert_exit(Exit::Code(0)).assert_stdout_contains(&[
        "stat /: dev=",
        "statx /etc/passwd: mask=",
        "stat /nonexistent/path: error",
        &format!("getcwd: {}\n", real_cwd.display()),
        &format!(
            "readlink /proc/self/exe: n={} {}\n",
            real_prog.as_os_str().len(),
            real_prog.display()
        ),
        "uname: sysname=Linux",
    ]);
    // The directory it ran in (and stat'ed as ".") is gone when replaying.
    fs::remove_dir_all(&cwd).unwrap();
    rec.assert_replays(REPLAYS);
}

#[test]
fn real_time_signals_queued_and_sent_by_glibc_to_every_thread() {
    // Stops and deaths by signals 34 and up used to end the recording in waitpid.
    check("sig_realtime", &["got 3: 10 20 30", "setuid 0"]);
}

//! `ftrun dump` reads like strace (decoded flags, errno names, strings the trace knows, signals
//! by name) with no Rust debug formatting, in text and JSON; `record` and `replay` say which
//! trace they use, `latest-trace` names a recording as soon as it starts, and a trace still
//! being recorded is called that, not cut short.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// The text of `ftrun dump` of a recording, checked to have succeeded.
fn dump_text(rec: &Recording) -> String {
    let out = dump(&rec.dir, false);
    assert!(out.status.success(), "dump failed\n{}", describe(&out));
    text(&out.stdout)
}

/// `line` without its quoted strings (the program's own bytes may hold anything).
fn outside_quotes(line: &str) -> String {
    let mut out = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in line.chars() {
        match (quoted, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (_, false, '"') => quoted = !quoted,
            (false, _, c) => out.push(c),
            _ => {}
        }
    }
    out
}

/// Fails on anything that looks like Rust's `Debug` output: `Some(`, `Exited(`, `Killed {`,
/// `{ field: …}` struct syntax, or a CamelCase enum name like `BeforeSyscall`.
fn assert_no_debug_formatting(what: &str, line: &str) {
    let bare = outside_quotes(line);
    for needle in [
        "Some(",
        "None",
        "Exited(",
        "Killed {",
        "Interrupted",
        "{ ",
        ": {",
        "Emulated",
        "Executed",
        "Refused",
    ] {
        assert!(
            !bare.contains(needle),
            "{what}: {needle:?} (Rust debug formatting) in: {line}"
        );
    }
    for word in bare.split(|c: char| !c.is_ascii_alphanumeric() && c != '_') {
        let camel = word.len() > 2
            && word.starts_with(|c: char| c.is_ascii_uppercase())
            && word.chars().any(|c| c.is_ascii_lowercase())
            && word.chars().skip(1).any(|c| c.is_ascii_uppercase());
        assert!(!camel, "{what}: CamelCase name {word:?} in: {line}");
    }
}

/// The event lines of a text dump (not the `#` header and end lines).
fn event_lines(dump: &str) -> Vec<&str> {
    dump.lines().filter(|l| !l.starts_with('#')).collect()
}

fn assert_has_line(dump: &str, what: &str, pred: impl Fn(&str) -> bool, wanted: &str) {
    assert!(
        dump.lines().any(pred),
        "{what}: no dump line with {wanted}\n{dump}"
    );
}

fn assert_reads_like_strace(what: &str, dump: &str) {
    assert!(
        dump.starts_with("# trace "),
        "{what}: no header line\n{dump}"
    );
    for line in event_lines(dump) {
        assert_no_debug_formatting(what, line);
    }
    assert_has_line(
        dump,
        what,
        |l| {
            l.contains("mmap(NULL, ")
                && l.contains("PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x")
        },
        "an anonymous mmap with named flags",
    );
    assert_has_line(
        dump,
        what,
        |l| l.contains("exec ") && l.contains(" (stack 0x"),
        "the exec",
    );
    assert!(
        dump.lines().any(|l| l.ends_with(" exited 0")) && dump.contains("# end: "),
        "{what}: no `exited 0` and end line\n{dump}"
    );
}

#[test]
fn dump_of_cat_shows_the_open_read_and_written_bytes() {
    let hostname = Path::new("/etc/hostname");
    let contents = fs::read(hostname).expect("this test reads /etc/hostname");
    let rec = record_fresh("cat", ["/etc/hostname"]);
    rec.assert_exit(Exit::Code(0));
    let dump = dump_text(&rec);
    assert_reads_like_strace("dump of cat", &dump);
    // The path is one of the program's arguments, which the trace knows.
    assert_has_line(
        &dump,
        "dump of cat",
        |l| l.contains("openat(AT_FDCWD, \"/etc/hostname\", O_RDONLY") && l.ends_with(") = 3"),
        "openat(AT_FDCWD, \"/etc/hostname\", O_RDONLY…) = 3",
    );
    // Libraries are opened close-on-exec; their mapping names the descriptor's file.
    assert_has_line(
        &dump,
        "dump of cat",
        |l| l.contains("openat(AT_FDCWD, ") && l.contains(", O_RDONLY|O_CLOEXEC) = 3"),
        "an openat with O_RDONLY|O_CLOEXEC",
    );
    assert_has_line(
        &dump,
        "dump of cat",
        |l| l.contains("mmap(") && l.contains("PROT_READ|PROT_EXEC") && l.contains("libc.so"),
        "libc's code mapped with its path",
    );
    // The bytes read are in the trace: shown quoted, like strace.
    let first_line = String::from_utf8_lossy(&contents);
    let first_line = first_line.lines().next().unwrap_or("");
    let read = format!("read(3, \"{first_line}");
    assert_has_line(
        &dump,
        "dump of cat",
        |l| l.contains(&read) && l.ends_with(&format!(" = {}", contents.len())),
        &read,
    );
    assert_has_line(
        &dump,
        "dump of cat",
        |l| l.contains("newfstatat(3, \"\", {st_mode=S_IFREG|"),
        "a decoded struct stat",
    );
}

#[test]
fn dump_of_ls_shows_the_directory_entries() {
    let tmp = TempDir::new("ls-dir");
    let listed = tmp.join("listed");
    fs::create_dir_all(&listed).unwrap();
    fs::write(listed.join("alpha"), b"a").unwrap();
    fs::create_dir(listed.join("beta")).unwrap();
    let rec = record_fresh("ls", [listed.as_os_str()]);
    rec.assert_exit(Exit::Code(0))
        .assert_stdout_contains(&["alpha", "beta"]);
    let dump = dump_text(&rec);
    assert_reads_like_strace("dump of ls", &dump);
    // ls looks at its argument's path (which the trace knows), then opens a copy of it.
    let statx = format!("statx(AT_FDCWD, \"{}\", ", listed.display());
    assert_has_line(
        &dump,
        "dump of ls",
        |l| l.contains(&statx) && l.contains("{stx_mode=S_IFDIR|0"),
        &statx,
    );
    assert_has_line(
        &dump,
        "dump of ls",
        |l| l.contains("O_RDONLY|O_NONBLOCK|O_DIRECTORY|O_CLOEXEC) = 3"),
        "the directory opened with O_RDONLY|O_NONBLOCK|O_DIRECTORY|O_CLOEXEC",
    );
    assert_has_line(
        &dump,
        "dump of ls",
        |l| {
            l.contains("getdents64(3, [")
                && l.contains("{d_type=DT_REG, d_name=\"alpha\"}")
                && l.contains("{d_type=DT_DIR, d_name=\"beta\"}")
        },
        "getdents64 with the entries alpha and beta",
    );
}

#[test]
fn dump_names_the_errno_of_failed_opens() {
    let rec = record_fresh(testprog("open_missing"), ["/no/such/ftrun-file"]);
    rec.assert_exit(Exit::Code(0))
        .assert_stdout_contains(&["open /no/such/ftrun-file: -1 No such file or directory"]);
    let dump = dump_text(&rec);
    for line in event_lines(&dump) {
        assert_no_debug_formatting("dump of open_missing", line);
    }
    assert_has_line(
        &dump,
        "dump of open_missing",
        |l| {
            l.ends_with(
                "openat(AT_FDCWD, \"/no/such/ftrun-file\", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)",
            )
        },
        "the failed open of argv[1] with ENOENT",
    );
    assert_has_line(
        &dump,
        "dump of open_missing",
        |l| l.contains(", O_WRONLY) = -1 EISDIR (Is a directory)"),
        "the open of / for writing with EISDIR",
    );
}

#[test]
fn dump_names_signals_their_codes_and_where_they_landed() {
    let rec = record_fresh(testprog("sig_segv"), NO_ARGS);
    let dump = dump_text(&rec);
    for line in event_lines(&dump) {
        assert_no_debug_formatting("dump of sig_segv", line);
    }
    assert_has_line(
        &dump,
        "dump of sig_segv",
        |l| l.contains("signal SIGSEGV {si_code=SEGV_MAPERR, si_addr=0x0} synchronous"),
        "the NULL write's SIGSEGV with its fault address",
    );
    assert_has_line(
        &dump,
        "dump of sig_segv",
        |l| l.contains("signal SIGFPE {si_code=FPE_INTDIV, si_addr=0x") && l.contains(", rip 0x"),
        "the division's SIGFPE with its instruction pointer",
    );

    let rec = record_fresh(testprog("sig_self"), NO_ARGS);
    let dump = dump_text(&rec);
    for line in event_lines(&dump) {
        assert_no_debug_formatting("dump of sig_self", line);
    }
    assert_has_line(
        &dump,
        "dump of sig_self",
        |l| {
            l.contains("signal SIGUSR1 {si_code=SI_TKILL, si_pid=")
                && l.contains("} at syscall exit, rip 0x")
        },
        "raise()'s SIGUSR1, placed at the syscall exit with its rip",
    );
}

#[test]
fn dump_json_has_a_header_first_and_the_text_dump_event_names() {
    let rec = record_fresh(testprog("sig_self"), NO_ARGS);
    let out = dump(&rec.dir, true);
    assert!(
        out.status.success(),
        "dump --json failed\n{}",
        describe(&out)
    );
    let records: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let header = &records[0];
    assert_eq!(header["event"], "header", "first record: {header}");
    assert!(
        header["argv"][0]
            .as_str()
            .is_some_and(|a| a.ends_with("sig_self")),
        "{header}"
    );
    assert_eq!(header["tick_source"], "none", "{header}");
    let end = records.last().unwrap();
    assert_eq!(end["event"], "end", "last record: {end}");
    assert_eq!(end["state"], "finished", "{end}");
    assert_eq!(end["exit"]["status"], "exited 0", "{end}");

    // Every event's name is the first word of its text line (syscalls: the strace line).
    let text_dump = dump_text(&rec);
    let text_lines: Vec<&str> = event_lines(&text_dump);
    let events = &records[1..records.len() - 1];
    assert_eq!(
        events.len(),
        text_lines.len(),
        "JSON and text list different events"
    );
    let known = [
        "syscall",
        "exec",
        "rdtsc",
        "rdtscp",
        "signal",
        "exited",
        "killed",
        "enter",
        "preempted",
        "runtime",
        "rewrite",
    ];
    for (ev, line) in events.iter().zip(&text_lines) {
        let name = ev["event"]
            .as_str()
            .unwrap_or_else(|| panic!("no event name: {ev}"));
        assert!(known.contains(&name), "unknown event name {name:?}: {ev}");
        let what = line
            .split_whitespace()
            .skip(2)
            .collect::<Vec<_>>()
            .join(" ");
        if name == "syscall" {
            assert_eq!(ev["text"].as_str(), Some(what.as_str()), "{ev}");
            assert!(what.starts_with(ev["name"].as_str().unwrap()), "{ev}");
        } else {
            assert!(what.starts_with(name), "text {what:?} for JSON event {ev}");
        }
        assert_eq!(
            ev["seq"].as_u64().map(|s| s.to_string()).as_deref(),
            line.split_whitespace().next()
        );
        let mut strings = Vec::new();
        json_strings(ev, &mut strings);
        for s in strings {
            assert_no_debug_formatting("dump --json", &s);
        }
    }
    let signal = events
        .iter()
        .find(|e| e["event"] == "signal")
        .expect("sig_self's trace has signal events");
    assert_eq!(signal["signal"], "SIGUSR1", "{signal}");
    assert_eq!(signal["placement"], "at syscall exit", "{signal}");
    assert!(signal["rip"].is_u64(), "{signal}");
    let failed = events
        .iter()
        .find(|e| e["event"] == "syscall" && e["errno"].is_string());
    if let Some(f) = failed {
        assert!(
            f["decoded_result"].as_str().unwrap().starts_with("-1 E"),
            "{f}"
        );
    }
}

/// Every key and string value in `v`.
fn json_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| json_strings(x, out)),
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                out.push(k.clone());
                json_strings(x, out);
            }
        }
        _ => {}
    }
}

fn ftrun_dir_env(dir: &Path) -> [(&'static str, &OsStr); 1] {
    [("FTRUN_DIR", dir.as_os_str())]
}

#[test]
fn record_and_replay_say_which_trace() {
    let tmp = TempDir::new("which-trace");
    let root = tmp.join("traces");
    let env = ftrun_dir_env(&root);
    let rec = spawn_ftrun_with(None, &env, ["record", "--", "echo", "hi"]).wait();
    assert!(rec.status.success(), "{}", describe(&rec));
    let trace = root.join("echo-0");
    let said = format!("ftrun: recording to {}", trace.display());
    assert!(
        ftrun_lines(&rec.stderr).contains(&said),
        "record did not say {said:?}\n{}",
        describe(&rec)
    );
    assert!(
        !trace.join("recorder.pid").exists(),
        "the finished recording left its recorder.pid behind"
    );
    let rep = spawn_ftrun_with(None, &env, ["replay"]).wait();
    assert!(rep.status.success(), "{}", describe(&rep));
    assert_eq!(text(&rep.stdout), "hi\n");
    let canonical = fs::canonicalize(&trace).unwrap();
    let said = format!("ftrun: replaying {}", canonical.display());
    assert!(
        ftrun_lines(&rep.stderr).contains(&said),
        "replay did not say {said:?}\n{}",
        describe(&rep)
    );

    let named = tmp.join("named");
    let rec = record(&named, "echo", ["named"]);
    let said = format!("ftrun: recording to {}", named.display());
    assert!(
        ftrun_lines(&rec.stderr).contains(&said),
        "{}",
        describe(&rec)
    );
}

#[test]
fn a_trace_still_being_recorded_says_so() {
    let tmp = TempDir::new("in-progress");
    let root = tmp.join("traces");
    let env = ftrun_dir_env(&root);
    let mut recording = spawn_ftrun_with(None, &env, ["record", "--", "sleep", "4"]);
    let link = root.join("latest-trace");
    let started = Instant::now();
    while fs::read_link(&link).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "no {} 3 s into the recording",
            link.display()
        );
        thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !recording.has_exited(),
        "the recording of sleep 4 ended before latest-trace was checked"
    );
    assert_eq!(fs::read_link(&link).unwrap(), Path::new("sleep-0"));
    let still = format!("still being recorded by pid {}", recording.pid());

    let rep = spawn_ftrun_with(None, &env, ["replay"]).wait();
    assert_clean_failure(&rep, "replay of a trace being recorded");
    let lines = ftrun_lines(&rep.stderr);
    assert!(
        lines.iter().any(|l| l.contains(&still)),
        "replay did not say {still:?}\n{}",
        describe(&rep)
    );
    assert!(
        !lines.iter().any(|l| l.contains("cut short")),
        "replay called a live recording cut short\n{}",
        describe(&rep)
    );

    let trace = root.join("sleep-0");
    let out = dump(&trace, false);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains(&format!("# end: {still}")),
        "{}",
        describe(&out)
    );
    assert!(
        !text(&out.stderr).contains("cut short"),
        "{}",
        describe(&out)
    );
    assert!(
        !recording.has_exited(),
        "the recording ended while its replay ran: the test proves nothing (machine too slow?)"
    );

    let done = recording.wait();
    assert!(done.status.success(), "{}", describe(&done));
    assert!(!trace.join("recorder.pid").exists());
    let rep = spawn_ftrun_with(None, &env, ["replay"]).wait();
    assert!(
        rep.status.success(),
        "replay once recorded\n{}",
        describe(&rep)
    );
}

#[test]
fn a_recorder_that_died_leaves_a_trace_cut_short() {
    let rec = record_fresh("echo", ["hi"]);
    let copy = rec.tmp.join("died");
    copy_dir(&rec.dir, &copy);
    let events = events_file(&copy);
    let len = fs::metadata(&events).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&events)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    // The pid file of a recorder that is gone: a process that has exited.
    let gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    let _ = { gone }.wait();
    fs::write(copy.join("recorder.pid"), format!("{pid} 1\n")).unwrap();
    let rep = replay(&copy);
    assert_clean_failure(&rep, "replay of a trace whose recorder died");
    assert!(
        !text(&rep.stderr).contains("still being recorded"),
        "{}",
        describe(&rep)
    );
    let out = dump(&copy, false);
    assert!(
        text(&out.stdout).contains("# end: cut short"),
        "{}",
        describe(&out)
    );
    assert!(
        text(&out.stderr).contains("cut short"),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_dump_of_a_trace_growing_faster_than_it_reads_ends_at_what_was_written() {
    // A million in-process calls a second are logged faster than dump prints them: a dump
    // that read on as the trace grew would never reach its end.
    let tmp = TempDir::new("growing");
    let dir = tmp.join("trace");
    let mut recording = spawn_record(&dir, testprog("fast_calls"), ["100000000"]);
    let started = Instant::now();
    while fs::metadata(dir.join("events")).map_or(0, |m| m.len()) < 256 << 10 {
        assert!(
            started.elapsed() < Duration::from_secs(60) && !recording.has_exited(),
            "the trace did not grow"
        );
        thread::sleep(Duration::from_millis(20));
    }
    let out = dump(&dir, false);
    assert!(
        !recording.has_exited(),
        "the recording ended during the dump: the test proves nothing"
    );
    recording.signal(libc::SIGKILL);
    let _ = recording.wait();
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = text(&out.stdout);
    let end = stdout
        .lines()
        .find_map(|l| l.strip_prefix("# end: still being recorded by pid "))
        .unwrap_or_else(|| panic!("no end line\n{}", describe(&out)));
    let dumped = stdout.lines().filter(|l| !l.starts_with('#')).count();
    assert!(
        end.ends_with(&format!(", {dumped} events so far")),
        "{end}: {dumped} events dumped"
    );
}

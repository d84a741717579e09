//! rdtsc untrapped where nothing reads it unrecorded: a process whose code is accounted
//! for stops trapping (its time calls run the vDSO in-process), the counter reads in its
//! own code still reach the log (made to trap one by one), and code made at run time puts
//! every thread back to trapping. Each recording replays identically. Without the fast
//! path, or with `FTRUN_TSC_TRAP=1`, every thread traps all along.

mod common;

use std::ffi::{OsStr, OsString};

use common::*;

/// Records `tsc_untrapped ARGS` (ftrun record's `flags` added) with `FTRUN_DEBUG_TSC=1`
/// (and `extra_env`), checks the recording replays identically; returns it and ftrun's
/// `[tsc]` lines.
fn record_tsc(
    flags: &[&str],
    args: &[&str],
    extra_env: &[(&str, &OsStr)],
) -> (Recording, Vec<String>) {
    record_tsc_of(
        testprog("tsc_untrapped").as_os_str(),
        flags,
        args,
        extra_env,
    )
}

/// `record_tsc` for any program.
fn record_tsc_of(
    prog: &OsStr,
    flags: &[&str],
    args: &[&str],
    extra_env: &[(&str, &OsStr)],
) -> (Recording, Vec<String>) {
    let tmp = TempDir::new("tsc-untrapped");
    let dir = tmp.join("trace");
    let mut argv: Vec<OsString> = vec!["record".into(), "-o".into(), dir.clone().into()];
    argv.extend(flags.iter().map(OsString::from));
    argv.push("--".into());
    argv.push(prog.into());
    argv.extend(args.iter().map(OsString::from));
    let mut env = vec![("FTRUN_DEBUG_TSC", OsStr::new("1"))];
    env.extend_from_slice(extra_env);
    let output = spawn_ftrun_with(None, &env, &argv).wait();
    let tsc_lines = ftrun_lines(&output.stderr)
        .into_iter()
        .filter(|l| l.contains("[tsc]"))
        .collect();
    let rec = Recording::from_parts(tmp, dir, output, format!("record of {prog:?} {args:?}"));
    rec.assert_exit(Exit::Code(0));
    rec.assert_replays(2);
    (rec, tsc_lines)
}

/// The recorded rdtsc events: value and address.
fn rdtsc_events(rec: &Recording) -> Vec<(String, String)> {
    let out = dump(&rec.dir, false);
    assert!(out.status.success(), "{}", describe(&out));
    text(&out.stdout)
        .lines()
        .filter_map(|l| l.split(" rdtsc = ").nth(1))
        .filter_map(|rest| rest.split_once(", rip "))
        .map(|(v, rip)| (v.trim().to_owned(), rip.trim().to_owned()))
        .collect()
}

fn rdtsc_values(rec: &Recording) -> Vec<String> {
    rdtsc_events(rec).into_iter().map(|(v, _)| v).collect()
}

/// What the program printed after `label` on its lines.
fn printed(rec: &Recording, label: &str) -> Vec<String> {
    rec.stdout()
        .lines()
        .filter_map(|l| l.strip_prefix(label).map(|v| v.trim().to_owned()))
        .collect()
}

#[test]
fn a_process_with_accounted_code_reads_the_counter_untrapped_and_its_reads_are_logged() {
    let (rec, lines) = record_tsc(&[], &[], &[]);
    if lines.is_empty() {
        // A clock source the vDSO cannot read without a syscall: the fallback (trapping
        // all along) is what this machine has; the replay above checked it.
        eprintln!("this machine's clock source keeps rdtsc trapping; checked the fallback");
        return;
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("reads the counter untrapped")),
        "{lines:?}"
    );
    // Both reads in the program's own code are logged, with the values it printed.
    let values = rdtsc_values(&rec);
    for v in printed(&rec, "tsc") {
        assert!(
            values.contains(&v),
            "the printed counter {v} is not in the log: {values:?}"
        );
    }
}

#[test]
fn code_made_at_run_time_puts_every_thread_back_to_trapping() {
    let (rec, lines) = record_tsc(&[], &["jit"], &[]);
    let events = rdtsc_events(&rec);
    let mut rips = Vec::new();
    for label in ["main jit", "thread jit"] {
        let v = printed(&rec, label);
        assert_eq!(v.len(), 1, "{}", rec.stdout());
        let event = events.iter().find(|(value, _)| *value == v[0]);
        let Some((_, rip)) = event else {
            panic!("{label}: the counter read in code made at run time ({}) is not in the log: {events:?}", v[0]);
        };
        rips.push(rip.clone());
    }
    assert_eq!(
        rips[0], rips[1],
        "both threads read it in the same made code"
    );
    if lines.iter().any(|l| l.contains("untrapped")) {
        let again = lines
            .iter()
            .filter(|l| l.contains("traps rdtsc again"))
            .count();
        assert!(again >= 2, "both threads must trap again: {lines:?}");
    }
}

fn assert_traps_all_along(flags: &[&str], env: &[(&str, &OsStr)]) {
    let (rec, lines) = record_tsc(flags, &["jit"], env);
    assert!(lines.is_empty(), "{lines:?}");
    let values = rdtsc_values(&rec);
    for v in printed(&rec, "tsc") {
        assert!(values.contains(&v), "{v} not in {values:?}");
    }
}

#[test]
fn ftrun_tsc_trap_keeps_every_thread_trapping() {
    assert_traps_all_along(&[], &[("FTRUN_TSC_TRAP", OsStr::new("1"))]);
}

#[test]
fn without_the_fast_path_every_thread_traps() {
    assert_traps_all_along(&["--no-fast-path"], &[]);
}

#[test]
fn threads_preempted_in_time_calls_replay() {
    // Python threads read the clock in loops, taking the interpreter's lock in turns: a
    // thread is often preempted while the runtime is inside the vDSO for one of its time
    // calls. A point in the vDSO is inside the runtime (replay hands the call's result
    // back without running it): no preemption or signal landmark may be placed there.
    let script = r#"
import threading, time
def work(k):
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.3:
        n += int(time.time() * 1000) % 7
    res[k] = n
res = {}
ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print(sorted(res), time.monotonic_ns())
"#;
    for _ in 0..3 {
        let (rec, lines) = record_tsc_of(OsStr::new("python3"), &[], &["-c", script], &[]);
        rec.assert_stdout_contains(&["[0, 1, 2, 3] "]);
        if lines.is_empty() {
            eprintln!("this machine's clock source keeps rdtsc trapping; checked the fallback");
            return;
        }
    }
}

#[test]
fn a_library_loaded_again_at_the_same_place_has_its_counter_reads_logged() {
    let lib = testprog("lib_counter_read.so");
    let (rec, lines) = record_tsc_of(
        testprog("tsc_library_reloaded").as_os_str(),
        &[],
        &[lib.to_str().expect("a UTF-8 path")],
        &[],
    );
    let reads: Vec<(String, String)> = printed(&rec, "at")
        .iter()
        .filter_map(|l| l.split_once(" read "))
        .map(|(at, v)| (at.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(reads.len(), 3, "{}", rec.stdout());
    assert!(
        reads.iter().all(|(at, _)| *at == reads[0].0),
        "the library should come back at the same address: {reads:?}"
    );
    if !lines
        .iter()
        .any(|l| l.contains("reads the counter untrapped"))
    {
        eprintln!("this machine's clock source keeps rdtsc trapping; checked the fallback");
        return;
    }
    // Each mapping of the library has its counter read made to trap, not only the first.
    let values = rdtsc_values(&rec);
    for (_, v) in &reads {
        assert!(
            values.contains(v),
            "the value {v} read in the reloaded library is not in the log: {values:?}"
        );
    }
}

#[test]
fn the_look_at_a_file_is_kept_in_the_store_and_a_damaged_one_is_taken_again() {
    let root = TempDir::new("tsc-facts-root");
    let env = [("FTRUN_DIR", root.path().as_os_str())];
    let prog = testprog("tsc_untrapped");
    let name = prog.file_name().unwrap().to_str().unwrap().to_owned();
    // The store believes a file's identity only once it has been left alone a moment.
    let built = std::fs::metadata(&prog).unwrap().modified().unwrap();
    let settled = built + std::time::Duration::from_secs(3);
    if let Ok(wait) = settled.duration_since(std::time::SystemTime::now()) {
        std::thread::sleep(wait);
    }
    let (first, lines) = record_tsc(&[], &[], &env);
    if lines.is_empty() {
        eprintln!("this machine's clock source keeps rdtsc trapping; checked the fallback");
        return;
    }
    assert!(
        !lines.iter().any(|l| l.contains("the look is the store's")),
        "a new store knows nothing yet: {lines:?}"
    );
    // The program's own code has its two counter reads: its fact lists them.
    let facts = root.join("store/facts-tsc-v1");
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&prog).unwrap());
    let of_prog: Vec<_> = std::fs::read_dir(&facts)
        .unwrap_or_else(|e| panic!("{}: {e}", facts.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.split('-').nth(1) == Some(format!("{ino:x}").as_str())
        })
        .collect();
    let with_reads: Vec<_> = of_prog
        .iter()
        .filter(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .matches(" rdtsc")
                .count()
                >= 2
        })
        .collect();
    assert_eq!(with_reads.len(), 1, "the program's code range: {of_prog:?}");
    let fact = with_reads[0].clone();
    let kept = std::fs::read_to_string(&fact).unwrap();

    // Taken from the store the next time, and the reads are still logged.
    let (second, lines) = record_tsc(&[], &[], &env);
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&name) && l.contains("the look is the store's")),
        "{lines:?}"
    );
    for rec in [&first, &second] {
        let values = rdtsc_values(rec);
        for v in printed(rec, "tsc") {
            assert!(values.contains(&v), "{v} not in {values:?}");
        }
    }

    // A fact that does not read as one is not believed: the file is looked at again.
    std::fs::write(&fact, "sites\n10 rdtsx\n").unwrap();
    let (third, lines) = record_tsc(&[], &[], &env);
    assert!(
        !lines
            .iter()
            .any(|l| l.contains(&name) && l.contains("the look is the store's")),
        "{lines:?}"
    );
    let values = rdtsc_values(&third);
    for v in printed(&third, "tsc") {
        assert!(values.contains(&v), "{v} not in {values:?}");
    }
    assert_eq!(std::fs::read_to_string(&fact).unwrap(), kept);
}

//! Threads: one runs at a time while recording, every hand-over is logged, and replay runs
//! them in the same order — races, spins, signals to threads and every way a thread ends.

mod common;

use common::*;

/// The number of distinct threads that have events in the trace, and the dump's text.
fn threads_in(rec: &Recording) -> (usize, String) {
    let out = dump(&rec.dir, false);
    assert!(out.status.success(), "dump failed\n{}", describe(&out));
    let text = text(&out.stdout);
    let mut tids: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    tids.sort_unstable();
    tids.dedup();
    (tids.len(), text)
}

#[test]
fn racy_counter_replays_its_lost_updates_and_finishing_order() {
    // Traced, every getppid hands the token over: the interleaving changes at each one.
    without_fast_path(racy_counter_under_ptrace);
}

fn racy_counter_under_ptrace() {
    let rec = assert_replays_identically(testprog("threads_race"), NO_ARGS);
    rec.assert_stdout_contains(&["counter ", " of 400000", "finished:"]);
    let (threads, dump) = threads_in(&rec);
    assert_eq!(
        threads, 5,
        "main and four workers should have events:\n{dump}"
    );
    assert!(
        dump.contains(" enter getppid"),
        "a worker's syscall between read and write should hand the token over:\n{dump}"
    );
    // The lost updates depend on which thread runs when: some later recording differs
    // (the token goes first come, first served, so on an idle machine runs can agree).
    let differs = (0..8).any(|_| {
        record_fresh(testprog("threads_race"), NO_ARGS)
            .output
            .stdout
            != rec.output.stdout
    });
    assert!(
        differs,
        "nine recordings lost exactly the same updates; the interleaving is not being \
         recorded:\n{}",
        rec.stdout()
    );
}

#[test]
fn racy_counter_with_in_process_syscalls_replays_the_same_counts() {
    // In-process getppid calls do not hand the token over; threads switch where they are
    // preempted, and the replay follows the same order.
    let rec = assert_replays_identically(testprog("threads_race"), NO_ARGS);
    rec.assert_stdout_contains(&["counter ", " of 400000", "finished:"]);
    let (_, dump) = threads_in(&rec);
    assert!(
        dump.contains("getppid() = ") && dump.contains("[in-process]"),
        "the workers' getppid calls should run in-process:\n{dump}"
    );
}

#[test]
fn with_the_fast_path_a_traced_query_keeps_the_token_and_a_sleep_hands_it_over() {
    // The new thread's set_robust_list goes to the tracer (its site is not rewritten yet)
    // but never waits: its thread keeps the token through it, as through the same kind of
    // call made in-process, instead of waiting for the computing thread's whole slice.
    let rec = assert_replays_identically(testprog("compute_beside_ticker"), ["100000000"]);
    rec.assert_stdout_contains(&["the ticker woke meanwhile"]);
    let (threads, dump) = threads_in(&rec);
    assert_eq!(
        threads, 2,
        "main and the ticker should have events:\n{dump}"
    );
    let robust = dump
        .lines()
        .filter(|l| l.contains("set_robust_list(") && l.contains("[executed]"))
        .count();
    assert!(
        robust >= 2,
        "both threads' set_robust_list should be traced calls:\n{dump}"
    );
    assert!(
        !dump.contains(" enter set_robust_list"),
        "a call that returns at once should not hand the token over:\n{dump}"
    );
    assert!(
        dump.contains(" enter clock_nanosleep"),
        "the ticker's sleep should still hand the token over:\n{dump}"
    );
}

#[test]
fn a_thread_spinning_on_a_flag_is_preempted_for_the_thread_that_sets_it() {
    let rec = assert_replays_identically(testprog("threads_spin"), NO_ARGS);
    rec.assert_stdout_contains(&[
        "bare spin saw the flag",
        "pause spin saw the flag",
        "yield spin saw the flag",
        "done",
    ]);
    let (_, dump) = threads_in(&rec);
    assert!(
        dump.contains("preempted in a spin"),
        "the bare spin can only end by preemption, which must be logged:\n{dump}"
    );
}

#[test]
fn signals_to_threads_and_every_way_a_thread_ends() {
    let rec = assert_replays_identically(testprog("threads_signals"), NO_ARGS);
    rec.assert_exit(Exit::Code(3));
    rec.assert_stdout_contains(&[
        "receiver got SIGUSR1 1 time(s)",
        "reader read 5 bytes: hello",
        "main leaves with pthread_exit",
        "last thread still running after main's pthread_exit",
    ]);
}

#[test]
fn python_threads_appending_under_a_lock() {
    let script = r#"
import threading, time, random
out = []
lock = threading.Lock()
def work(name):
    for i in range(300):
        with lock:
            out.append(name)
        if i % 60 == 0:
            time.sleep(0.001)
threads = [threading.Thread(target=work, args=(c,)) for c in "abcd"]
for t in threads: t.start()
for t in threads: t.join()
s = "".join(out)
print(len(s), s)
print("switches", sum(1 for x, y in zip(s, s[1:]) if x != y), random.random())
"#;
    let rec = assert_replays_identically("python3", ["-c", script]);
    rec.assert_stdout_contains(&["1200 ", "switches "]);
    let (threads, dump) = threads_in(&rec);
    assert!(threads >= 5, "four python threads and main:\n{dump}");
}

#[test]
fn python_threads_each_running_a_subprocess() {
    // vfork from threads, SIGCHLD arriving while threads wait, and a futex wait restarted
    // after a signal (restart_syscall).
    let script = r#"
import threading, subprocess, random
res = []
def run(i):
    out = subprocess.run(["sh", "-c", f"echo child {i} $RANDOM"], capture_output=True, text=True).stdout
    res.append(out.split()[1])
ts = [threading.Thread(target=run, args=(i,)) for i in range(4)]
for t in ts: t.start()
for t in ts: t.join()
print(sorted(res), "".join(res), random.random())
"#;
    let rec = assert_replays_identically("python3", ["-c", script]);
    rec.assert_stdout_contains(&["['0', '1', '2', '3']"]);
    // A vfork child runs in its parent's memory (the in-process runtime's stack included)
    // while the parent's other threads run on: it takes turns with them, so its calls
    // hand the turn over like a thread's.
    let dump = text(&dump(&rec.dir, false).stdout);
    let children: Vec<String> = dump
        .lines()
        .filter_map(|l| l.split("vfork() = ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next().map(str::to_owned))
        .collect();
    assert!(!children.is_empty(), "subprocess should vfork");
    for child in &children {
        assert!(
            dump.lines().any(|l| {
                let mut words = l.split_whitespace();
                words.nth(1) == Some(child.as_str()) && words.next() == Some("enter")
            }),
            "vfork child {child} should take turns with its parent's threads"
        );
    }
}

#[test]
fn priority_inheritance_mutex_and_condvar_broadcast() {
    let rec = assert_replays_identically(testprog("threads_pi_mutex"), NO_ARGS);
    rec.assert_stdout_contains(&["shared 2000 order "]);
    let (_, dump) = threads_in(&rec);
    assert!(
        dump.contains("futex(")
            && (dump.contains(", FUTEX_LOCK_PI_PRIVATE,")
                || dump.contains(", FUTEX_UNLOCK_PI_PRIVATE,")),
        "the PI mutex should have been contended (FUTEX_LOCK_PI/UNLOCK_PI):\n{dump}"
    );
}

#[test]
fn exec_from_a_thread_ends_the_others_the_main_one_too() {
    let rec = assert_replays_identically(testprog("threads_exec"), NO_ARGS);
    rec.assert_stdout_contains(&["exec from a thread"]);
    let out = rec.stdout();
    assert!(
        !out.contains("failed") && !out.contains("exec from main"),
        "the thread's exec should have succeeded and ended the main thread:\n{}",
        describe(&rec.output)
    );
}

#[test]
fn a_cut_short_trace_of_threads_replays_up_to_the_cut_and_says_so() {
    let rec = record_fresh(testprog("threads_race"), NO_ARGS);
    let events = events_file(&rec.dir);
    let rel = events.strip_prefix(&rec.dir).unwrap().to_owned();
    let len = std::fs::metadata(&events).unwrap().len();
    for keep in [len / 4, len / 2, 3 * len / 4] {
        let copy = rec.tmp.join(format!("cut-{keep}"));
        copy_dir(&rec.dir, &copy);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(copy.join(&rel))
            .unwrap();
        f.set_len(keep).unwrap();
        drop(f);
        // Every thread is stopped somewhere when the log ends: all must be ended cleanly.
        let out = replay(&copy);
        let context = format!("replay of a threaded trace cut to {keep} of {len} bytes");
        assert_clean_failure(&out, &context);
        assert!(
            ftrun_lines(&out.stderr).iter().any(|l| l.contains("event")),
            "{context}: the message should say where the trace ends\n{}",
            describe(&out)
        );
    }
}

#[test]
fn a_damaged_trace_of_threads_fails_cleanly_without_hanging() {
    let rec = record_fresh(testprog("threads_race"), NO_ARGS);
    let events = events_file(&rec.dir);
    let rel = events.strip_prefix(&rec.dir).unwrap().to_owned();
    let len = std::fs::metadata(&events).unwrap().len() as usize;
    for at in [len / 3, len / 2, 2 * len / 3] {
        let copy = rec.tmp.join(format!("flipped-{at}"));
        copy_dir(&rec.dir, &copy);
        let file = copy.join(&rel);
        let mut bytes = std::fs::read(&file).unwrap();
        for b in &mut bytes[at..(at + 8).min(len)] {
            *b ^= 0xff;
        }
        std::fs::write(&file, &bytes).unwrap();
        // The replay stops with threads stopped all over: every one must be ended.
        let out = replay(&copy);
        assert_clean_failure(&out, &format!("replay of a threaded trace damaged at {at}"));
    }
}

#[test]
fn a_spin_that_counts_is_preempted_at_an_exact_state_and_replayed_quickly() {
    let rec = assert_replays_identically(testprog("threads_counting_spin"), NO_ARGS);
    rec.assert_stdout_contains(&["saw the flag after some spins"]);
    let (_, dump) = threads_in(&rec);
    assert!(
        dump.contains("preempted computing"),
        "the counting spin can only end by a forced preemption, which must be logged:\n{dump}"
    );
}

#[test]
fn threads_that_map_memory_at_once_keep_their_turn_through_each_mapping_call() {
    // Replay runs mmap, munmap and mprotect again in the log's order; had two run in the
    // kernel at once, the kernel could have placed them in the other order.
    let rec = assert_replays_identically(testprog("threads_mmap_race"), NO_ARGS);
    rec.assert_stdout_contains(&["threads 10, offsets "]);
    let out = dump(&rec.dir, false);
    let text = text(&out.stdout);
    for call in ["mmap", "munmap", "mprotect"] {
        assert!(
            text.lines().any(|l| l.contains(&format!(" {call}("))),
            "the program should have called {call}"
        );
        assert!(
            !text.lines().any(|l| l.contains(&format!(" enter {call},"))),
            "{call} should not hand the token over (no `enter {call}` in the log)"
        );
    }
}

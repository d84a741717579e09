//! Processes that share memory, and the memory-mapping cases around it: semaphores and
//! futexes in shared memory across processes, python's multiprocessing, two mappings of
//! one file, mremap of shared memory, PROT_NONE file regions, code in writable memory —
//! each recorded with and without the in-process fast path and replayed identically.

mod common;

use common::*;

/// Records `prog` with and without the fast path; each recording replays identically.
fn replays_both_ways(prog: &str, args: &[&str]) -> Recording {
    let rec = assert_replays_identically(testprog(prog), args);
    without_fast_path(|| assert_replays_identically(testprog(prog), args));
    rec
}

#[test]
fn semaphore_in_shared_memory_between_children() {
    let rec = replays_both_ways("shared_semaphore_children", &[]);
    rec.assert_stdout_contains(&["count 6000, finished in order"]);
    // The children's order and the random number differ between recordings.
    let second = record_fresh(testprog("shared_semaphore_children"), NO_ARGS);
    assert_recordings_differ(&rec, &second);
}

#[test]
fn two_mappings_of_one_file_and_a_child_writing_through_it() {
    let rec = replays_both_ways("shared_file_mappings", &[]);
    let out = text(&rec.output.stdout);
    let first = out.lines().next().unwrap_or_default();
    let words: Vec<&str> = first
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .collect();
    assert!(
        words.len() == 3 && words[0] == words[1] && words[1] == words[2],
        "the mappings disagree: {first}"
    );
}

#[test]
fn mremap_of_shared_memory() {
    replays_both_ways("mremap_shared", &[]).assert_stdout_contains(&["moved: 42"]);
}

#[test]
fn prot_none_file_region_made_readable() {
    replays_both_ways("prot_none_file", &["/etc/passwd"]).assert_stdout_contains(&["root"]);
}

#[test]
fn code_written_into_writable_memory() {
    replays_both_ways("code_in_writable_memory", &[]).assert_stdout_contains(&["getpid "]);
}

#[test]
fn forks_while_earlier_children_exit() {
    replays_both_ways("fork_while_children_exit", &[])
        .assert_stdout_contains(&["reaped 30, codes sum to 85"]);
}

#[test]
fn exit_group_while_another_thread_makes_syscalls() {
    for _ in 0..3 {
        replays_both_ways("exit_while_thread_runs", &[]);
    }
}

#[test]
fn python_multiprocessing_pool_value_lock_and_queue() {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testprogs/multiprocessing_pool.py");
    if find_in_path("python3").is_none() {
        eprintln!("SKIPPED: no python3");
        return;
    }
    let script = script.to_str().unwrap();
    // Several recordings: the interleavings of the workers differ from one to the next.
    for _ in 0..2 {
        let rec = assert_replays_identically("python3", [script]);
        rec.assert_stdout_contains(&["20540 True", "300 "]);
    }
    without_fast_path(|| assert_replays_identically("python3", [script]));
}

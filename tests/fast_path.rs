//! The in-process fast path: rewritten syscall sites in dynamic and static programs, calls
//! run inside the process and logged from its ring, the same replay with and without it,
//! and a recording cut short while calls ran in-process.

mod common;

use std::time::Duration;

use common::*;

/// Lines of the text dump, without the header comments.
fn dump_lines(rec: &Recording) -> Vec<String> {
    dump_lines_of(&rec.dir)
}

fn dump_lines_of(dir: &std::path::Path) -> Vec<String> {
    let out = dump(dir, false);
    assert!(out.status.success(), "dump failed\n{}", describe(&out));
    text(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

fn count(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

fn assert_runs_in_process(prog: &str) {
    let rec = assert_replays_identically(testprog(prog), ["2000"]);
    rec.assert_stdout_contains(&["rounds 2000 ppid 2000 monotonic 2000", "fifo 2000"]);
    let lines = dump_lines(&rec);
    assert_eq!(count(&lines, "runtime mapped"), 1, "one exec, one runtime");
    assert!(
        count(&lines, "rewrite syscall site") >= 4,
        "getppid, clock_gettime, write, read and fstat sites should be rewritten"
    );
    // 5 calls per round; the first call at each site is traced, the rest run in-process.
    let in_process = count(&lines, "[in-process]");
    assert!(
        in_process >= 5 * 2000 - 50,
        "only {in_process} calls ran in-process"
    );
    for call in [
        "getppid()",
        "clock_gettime(CLOCK_MONOTONIC",
        "write(",
        "read(",
        "fstatat(",
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(call) && l.contains("[in-process]")),
            "{call} should run in-process"
        );
    }
}

#[test]
fn a_dynamic_program_runs_its_calls_in_process_and_replays_them() {
    assert_runs_in_process("fast_calls");
}

#[test]
fn a_static_program_gets_the_runtime_without_the_dynamic_loader() {
    assert_runs_in_process("static_fast_calls");
}

#[test]
fn without_the_fast_path_every_call_is_traced_and_the_run_is_the_same() {
    let fast = record_fresh(testprog("fast_calls"), ["500"]);
    let slow = without_fast_path(|| assert_replays_identically(testprog("fast_calls"), ["500"]));
    let lines = dump_lines(&slow);
    assert_eq!(count(&lines, "[in-process]"), 0);
    assert_eq!(count(&lines, "runtime mapped"), 0);
    assert_eq!(count(&lines, "rewrite syscall site"), 0);
    let line = |r: &Recording| r.stdout().split(" bytes ").next().unwrap_or("").to_owned();
    assert_eq!(line(&fast), line(&slow), "the program saw the same things");
}

#[test]
fn a_recording_killed_while_calls_run_in_process_replays_up_to_the_cut() {
    let tmp = TempDir::new("fast-cut");
    let dir = tmp.join("trace");
    let rec = spawn_record(&dir, testprog("fast_calls"), ["100000000"]);
    // Killed once in-process calls have reached the trace (on a loaded machine the
    // program may take seconds to get there).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        let written = std::fs::metadata(dir.join("events")).map_or(0, |m| m.len());
        if written > 64 << 10 {
            break;
        }
    }
    rec.signal(libc::SIGKILL);
    let _ = rec.wait();
    let lines = dump_lines_of(&dir);
    assert!(
        count(&lines, "[in-process]") > 100,
        "the calls logged before the kill are in the trace"
    );
    let out = replay(&dir);
    drop(tmp);
    assert_no_panic(&out, "replay of a recording killed mid-run");
    assert!(
        ftrun_lines(&out.stderr)
            .iter()
            .any(|l| l.contains("cut short") || l.contains("interrupted")),
        "the replay should say the recording was cut short\n{}",
        describe(&out)
    );
}

#[test]
fn calls_made_in_process_reach_the_trace_while_the_program_runs_on() {
    // Three in-process calls every 5 ms, and no stop until the marker appears: the ring
    // would hold them for many seconds; taken while the program runs, they are in the
    // trace on disk (as a follower would have them) long before.
    let tmp = TempDir::new("fast-streaming");
    let dir = tmp.join("trace");
    let marker = tmp.join("marker");
    let rec = spawn_record(&dir, testprog("calls_until_marker"), [marker.as_os_str()]);
    let start = std::time::Instant::now();
    let mut seen = 0;
    while start.elapsed() < Duration::from_secs(10) && seen < 300 {
        std::thread::sleep(Duration::from_millis(100));
        let out = dump(&dir, false);
        seen = text(&out.stdout)
            .lines()
            .filter(|l| l.contains("getppid()") && l.contains("[in-process]"))
            .count();
    }
    std::fs::write(&marker, "").unwrap();
    let out = rec.wait();
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        seen >= 300,
        "only {seen} in-process calls were in the trace while the program ran"
    );
    let replayed = replay(&dir);
    assert!(
        text(&replayed.stdout).contains("saw the marker after some rounds"),
        "{}",
        describe(&replayed)
    );
}

#[test]
fn memory_calls_run_in_process_and_replay_makes_them_itself() {
    // Each round makes a page PROT_NONE in-process and touches it: the fault comes again at
    // replay only if replay made that mprotect for real.
    let rec = assert_replays_identically(testprog("memory_calls"), NO_ARGS);
    rec.assert_stdout_contains(&["faults 200"]);
    let lines = dump_lines(&rec);
    for call in ["mmap(", "mprotect(", "munmap(", "madvise(", "brk("] {
        assert!(
            count_in_process(&lines, call) >= 150,
            "{call} should run in-process ({} times did)",
            count_in_process(&lines, call)
        );
    }
    assert!(
        count(&lines, "signal SIGSEGV") >= 200,
        "each round's fault is in the trace"
    );
}

#[test]
fn vectored_and_message_io_run_in_process_and_replay() {
    let rec = assert_replays_identically(testprog("vector_io"), NO_ARGS);
    rec.assert_stdout_contains(&[
        "line r075-abcdefgh",
        "bad writev -1 errno 14, bad readv -1 errno 14",
    ]);
    let lines = dump_lines(&rec);
    for call in ["writev(", "readv(", "sendmsg(", "recvmsg("] {
        assert!(
            count_in_process(&lines, call) >= 95,
            "{call} should run in-process ({} times did)",
            count_in_process(&lines, call)
        );
    }
}

fn count_in_process(lines: &[String], call: &str) -> usize {
    lines
        .iter()
        .filter(|l| l.contains(call) && l.contains("[in-process]"))
        .count()
}

#[test]
fn a_thread_blocked_in_read_does_not_hold_up_the_writer() {
    let rec = assert_replays_identically(testprog("threads_pipe_block"), NO_ARGS);
    rec.assert_stdout_contains(&["message 0 at ", "message 7 at "]);
    let lines = dump_lines(&rec);
    assert!(
        count(&lines, "clock_gettime(CLOCK_MONOTONIC") > 8 * 1900
            && count(&lines, "[in-process]") > 8 * 1900,
        "the writer's clock reads should run in-process"
    );
    // The reader's read blocks: it goes to the tracer, which lets the writer run.
    assert!(
        lines.iter().any(|l| l.contains(" enter read")),
        "the blocking read should hand the token over"
    );
}

#[test]
fn a_jit_compiled_program_records_and_replays() {
    // V8 compiles the loop to machine code in writable memory; only file-backed code is
    // rewritten, and the JIT's own code keeps working.
    let Some(node) = find_in_path("node") else {
        panic!("node is not installed (.ci/run installs the nodejs package)");
    };
    let script = "let s = 0; for (let i = 0; i < 3e6; i++) s += i % 7; \
                  console.log(s, Date.now() % 100000, Math.random())";
    let rec = assert_replays_identically(node, ["-e", script]);
    rec.assert_stdout_contains(&["8999994 "]);
    let lines = dump_lines(&rec);
    assert!(
        count(&lines, "[in-process]") > 0,
        "node's calls should run in-process"
    );
    assert!(count(&lines, "rewrite syscall site") > 0);
}

#[test]
fn forked_children_run_their_calls_in_process_with_rings_of_their_own() {
    let rec = assert_replays_identically(testprog("fork_fast_calls"), NO_ARGS);
    rec.assert_stdout_contains(&[
        "child 0 saw its parent 5000 times",
        "child 2 ",
        "parent done",
    ]);
    let lines = dump_lines(&rec);
    // One runtime for the exec, one ring for each child.
    assert_eq!(
        count(&lines, "runtime mapped"),
        4,
        "a ring for every forked child"
    );
    let child_calls = lines
        .iter()
        .filter(|l| l.contains("getppid()") && l.contains("[in-process]"))
        .count();
    assert!(
        child_calls >= 3 * 4990,
        "only {child_calls} of the children's getppid calls ran in-process"
    );
}

#[test]
fn output_written_in_process_is_echoed_even_after_the_program_closed_its_stdout() {
    // md5sum writes each line with its own write and closes stdout before it exits: the
    // bytes of the last write reach the tracer only after the descriptor is gone.
    let rec = assert_replays_identically("md5sum", ["/etc/hostname", "/etc/passwd", "/etc/group"]);
    rec.assert_stdout_contains(&["  /etc/hostname\n", "  /etc/passwd\n", "  /etc/group\n"]);
    let lines = dump_lines(&rec);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("write(1,") && l.contains("[in-process]")),
        "md5sum's lines should be written in-process"
    );
}

#[test]
fn a_process_with_one_thread_blocks_in_process_and_signals_still_interrupt_its_calls() {
    let rec = assert_blocking_calls_replay(NO_ARGS);
    let lines = dump_lines(&rec);
    for call in ["clock_nanosleep(", "poll("] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(call) && l.contains("[in-process]")),
            "{call} should run in-process, although it waits"
        );
    }
}

#[test]
fn a_process_with_threads_blocks_in_process_only_without_a_timeout() {
    // A second thread waits on a condition variable all along: the reads, which have no
    // timeout, still block in-process; sleeps and polls with a timeout are traced.
    // Its forked children have one thread each, so only the parent's calls are checked.
    let rec = assert_blocking_calls_replay(["threaded"]);
    rec.assert_stdout_contains(&["joined"]);
    let stdout = text(&rec.output.stdout);
    let parent = stdout
        .lines()
        .find_map(|l| l.strip_prefix("pid "))
        .expect("the program prints its pid");
    let lines = dump_lines(&rec);
    let parents_calls: Vec<&String> = lines
        .iter()
        .filter(|l| l.split_whitespace().nth(1) == Some(parent))
        .collect();
    assert!(
        parents_calls.len() > 20,
        "the parent's events are in the dump"
    );
    for call in ["clock_nanosleep(", "poll("] {
        assert!(
            parents_calls
                .iter()
                .any(|l| l.contains(call) && !l.contains("[in-process]")),
            "the parent's {call} should be in the trace"
        );
        assert!(
            !parents_calls
                .iter()
                .any(|l| l.contains(call) && l.contains("[in-process]")),
            "{call} has a timeout: with threads it should be traced"
        );
    }
}

/// Records and replays `blocking_in_process ARGS`; checks what it saw and that the reads
/// that waited for the child ran in-process.
fn assert_blocking_calls_replay<const N: usize>(args: [&str; N]) -> Recording {
    let rec = assert_replays_identically(testprog("blocking_in_process"), args);
    rec.assert_stdout_contains(&[
        "read 6 \"ping 1\"",
        "read 6 \"ping 2\"",
        // Without SA_RESTART the handler runs and read fails, as natively.
        "without SA_RESTART: read -1 (Interrupted system call), handler ran 1",
        "with SA_RESTART: read 4, handler ran 2",
        "nanosleep 0",
        "poll 0",
    ]);
    let lines = dump_lines(&rec);
    // The child writes only once the parent is asleep in read: these reads blocked, and
    // ran in-process all the same.
    for ping in ["\"ping 1\"", "\"ping 2\""] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains("read(3, ") && l.contains(ping) && l.contains("[in-process]")),
            "the blocking read of {ping} should run in-process"
        );
    }
    // The signals that cut a read short arrived at a call made from its traced site again.
    assert!(
        count(&lines, "ERESTARTSYS") >= 2 && count(&lines, "signal SIGALRM") >= 2,
        "each SIGALRM should interrupt a read as a traced call"
    );
    rec
}

#[test]
fn a_servers_connection_set_up_runs_in_process_and_replays() {
    let rec = assert_replays_identically(testprog("socket_setup_calls"), ["40"]);
    rec.assert_stdout_contains(&[
        "nodelay 1 (4 bytes)",
        "bad buffer -1 errno 14, bad length -1 errno 14",
        "rounds 40",
    ]);
    let lines = dump_lines(&rec);
    for call in [
        "accept4(",
        "getpeername(",
        "getsockname(",
        "getsockopt(",
        "setsockopt(",
        "epoll_ctl(",
    ] {
        let in_process = lines
            .iter()
            .filter(|l| l.contains(call) && l.contains("[in-process]"))
            .count();
        assert!(
            in_process >= 35,
            "{call}: only {in_process} of the calls ran in-process"
        );
    }
    // A length the kernel cannot read goes to the tracer, as its EFAULT does.
    assert!(
        lines.iter().any(|l| l.contains("getpeername(")
            && l.contains("EFAULT")
            && !l.contains("[in-process]")),
        "the unreadable length should take the traced path"
    );
}

//! Programs that start other processes: fork, vfork/posix_spawn, exec in children, wait,
//! pipes between the processes — one trace, replayed with the same tree and output.

mod common;

use common::*;

fn real_python() -> Option<String> {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn fork_pipe_wait_and_sigchld() {
    let rec = assert_replays_identically(testprog("fork_pipe"), NO_ARGS);
    rec.assert_stdout_contains(&["child exited 7", "random "]);
    let second = record_fresh(testprog("fork_pipe"), NO_ARGS);
    assert_recordings_differ(&rec, &second);
}

#[test]
fn shell_pipeline() {
    let rec = assert_replays_identically(
        "sh",
        ["-c", "seq 100000 | sort -rn | uniq -c | head -3; date +%N"],
    );
    rec.assert_stdout_contains(&["1 100000", "1 99999"]);
}

#[test]
fn shell_command_substitution_and_subshells() {
    assert_replays_identically(
        "bash",
        [
            "-c",
            "x=$(date +%N); (echo sub $x; ls /proc/self/fd | wc -l); echo $((RANDOM % 1000))",
        ],
    );
}

#[test]
fn python_through_its_launcher_and_subprocess() {
    // `python3` may be a shell script that execs the interpreter (pyenv): a process tree.
    assert_replays_identically("python3", ["-c", "import random; print(random.random())"]);
    let Some(py) = real_python() else {
        eprintln!("SKIPPED: no python3");
        return;
    };
    let rec = assert_replays_identically(
        py,
        ["-c", "import subprocess, os; r = subprocess.run(['date', '+%s%N'], capture_output=True); print(os.getpid(), r.stdout, r.returncode)"],
    );
    rec.assert_stdout_contains(&[" 0"]);
}

#[test]
fn make_with_two_jobs() {
    let tmp = TempDir::new("make-j2");
    std::fs::write(
        tmp.join("Makefile"),
        "all: a.txt b.txt c.txt\n\t@cat a.txt b.txt c.txt | sort\na.txt:\n\t@echo a $$(date +%N) > a.txt\nb.txt:\n\t@echo b $$(date +%N) > b.txt\nc.txt: a.txt\n\t@echo c > c.txt\n",
    )
    .unwrap();
    let dir = tmp.path().to_str().unwrap().to_string();
    let rec = record_fresh("make", ["-s", "-C", dir.as_str(), "-j2"]);
    rec.assert_exit(Exit::Code(0))
        .assert_stdout_contains(&["a ", "b ", "c"]);
    // Replay needs none of what make produced, and produces none of it.
    for f in ["a.txt", "b.txt", "c.txt"] {
        std::fs::remove_file(tmp.join(f)).unwrap();
    }
    rec.assert_replays(2);
    assert!(
        !tmp.join("a.txt").exists(),
        "replay touched the file system"
    );
}

#[test]
fn shared_anonymous_memory_stays_shared_between_parent_and_child() {
    let rec = assert_replays_identically(testprog("fork_shared_memory"), NO_ARGS);
    rec.assert_stdout_contains(&["parent sees 42 and "]);
}

/// clone(CLONE_VFORK) without CLONE_VM holds the parent as vfork does, but the child has its
/// own memory: replay gives it its own copy too (it execs, and its writes stay its own).
#[test]
fn clone_vfork_without_shared_memory() {
    let rec = assert_replays_identically(testprog("clone_vfork_own_memory"), NO_ARGS);
    rec.assert_stdout_contains(&[
        "first child exited 5, global still 1",
        "second child (exec of /bin/true) exited 0",
    ]);
    without_fast_path(|| {
        assert_replays_identically(testprog("clone_vfork_own_memory"), NO_ARGS)
            .assert_stdout_contains(&["global still 1"]);
    });
}

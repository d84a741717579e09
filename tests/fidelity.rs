//! Replay fidelity for what small test programs of other record/replay tools exercise:
//! SysV IPC, group stops, robust mutexes whose owner died, writes into files mapped
//! shared, madvise/mprotect over holes, and asynchronous signals while computing. Each
//! program is recorded with and without the in-process fast path, must behave under
//! recording as it does natively (the lines it prints say so), and replay identically.

mod common;

use common::*;

/// Records `prog` with and without the fast path; each recording replays identically and
/// printed every one of `expected`.
fn replays_both_ways(prog: &str, expected: &[&str]) {
    assert_replays_identically(testprog(prog), NO_ARGS).assert_stdout_contains(expected);
    without_fast_path(|| {
        assert_replays_identically(testprog(prog), NO_ARGS).assert_stdout_contains(expected);
    });
}

#[test]
fn sysv_semaphores_between_processes() {
    replays_both_ways(
        "sysv_semaphore",
        &[
            "holds the semaphore, counter 3",
            "semtimedop for 2: -1 (EAGAIN)",
            "values 1 5, 2 semaphores",
        ],
    );
}

#[test]
fn sysv_shared_memory_attached_twice_and_in_a_child() {
    replays_both_ways(
        "sysv_shared_memory",
        &[
            "second attachment reads: written through the first attachment",
            "child's own attachment reads: written through the first attachment",
            "after the child: the child was here",
            "segment of 12188 bytes, 2 attachments",
            "shmdt after a partial munmap: 0",
            "attached again: written through the first attachment / the child was here",
        ],
    );
}

#[test]
fn sysv_message_queue_with_a_waiting_child() {
    replays_both_ways(
        "sysv_message_queue",
        &[
            "child got type 1 (11 bytes): first type",
            "child got type 2 (12 bytes): second type",
            "queue holds 0 messages",
            "child's last msgrcv: -1 (EIDRM)",
        ],
    );
}

#[test]
fn a_stopped_child_stays_stopped_until_sigcont() {
    replays_both_ways(
        "stop_and_continue",
        &[
            "WNOHANG after a while: 0",
            "stopped: 1 by 19",
            "child continues after SIGCONT",
            "then exited with 7",
            "second child stopped: 1",
            "killed while stopped: 9",
        ],
    );
}

#[test]
fn robust_mutex_whose_owner_died() {
    replays_both_ways(
        "robust_owner_died",
        &[
            "after the thread ended: EOWNERDEAD",
            "after the child was killed: EOWNERDEAD",
        ],
    );
}

#[test]
fn writes_into_a_file_mapped_shared_and_a_grown_mapping() {
    replays_both_ways(
        "shared_file_writes",
        &[
            "mapping after pwrite: pwrite at 10",
            "mapping after write: write at 40",
            "second page after the file grew: gg",
            "grown mapping shows the file: yes",
        ],
    );
}

#[test]
fn madvise_and_mprotect_over_a_hole() {
    replays_both_ways(
        "madvise_over_hole",
        &[
            "madvise: -1 (ENOMEM), first byte now 0",
            "mprotect: -1 (ENOMEM)",
        ],
    );
}

/// Without a tick counter, a signal delivered inside a loop that keeps changing its state
/// would have replay stop at every pass through the loop (minutes for these loops, past
/// the tests' timeout); held for the next syscall, or ignored, it replays at once.
#[test]
fn signals_while_counting_replay_without_a_search() {
    replays_both_ways(
        "signal_while_counting",
        &[
            "three alarms, counter",
            "child exited 3 while the parent counted",
        ],
    );
}

/// A daemon the program leaves behind would keep the recording going for ever: it is ended
/// when the program ends, and replay ends it at the same point.
#[test]
fn a_daemon_left_behind_ends_with_the_program() {
    let rec = assert_replays_identically(testprog("daemon_left_behind"), NO_ARGS);
    rec.assert_exit(Exit::Code(0))
        .assert_stdout_contains(&["the daemon said d"]);
    assert!(
        ftrun_lines(&rec.output.stderr)
            .iter()
            .any(|l| l.contains("daemon processes it left")),
        "ftrun should say it ended the daemon:\n{}",
        describe(&rec.output)
    );
}

/// A child killed while its main thread runs calls in-process and its second thread has
/// just started: the kernel may report the second thread's end first, the recorder must
/// then log what the main thread ran before the process's end, must not stop on a thread
/// that vanished while its stop was handled, and must not hang collecting the threads.
/// Thirty children per run, a few runs each way: the ends come in either order.
#[test]
fn children_killed_while_their_second_thread_starts() {
    let expected = [
        "child 0: read 1 'r', killed by 9",
        "child 29: read 1 'r', killed by 9",
        "done",
    ];
    for _ in 0..3 {
        replays_both_ways("killed_while_thread_starts", &expected);
    }
}

/// process_vm_readv (of itself and of a child) and process_vm_writev into itself record
/// and replay: the bytes they moved come back from the trace. A write into another
/// recorded process is refused with its reason.
#[test]
fn process_vm_readv_and_writev() {
    let expected = [
        "readv of myself: 24: 'read fro' + 'm my own memory'",
        "writev into myself: 20: 'written in two parts....",
        "readv of the child: 64: 'child ",
        " was here'",
        "writev into the child: -1 (ENOSYS)",
    ];
    replays_both_ways("process_vm_calls", &expected);
    let rec = assert_replays_identically(testprog("process_vm_calls"), NO_ARGS);
    assert!(
        ftrun_lines(&rec.output.stderr).iter().any(|l| l.contains(
            "refused syscall process_vm_writev (311): process_vm_writev into another recorded process"
        )),
        "the refusal should say why:\n{}",
        describe(&rec.output)
    );
}

/// unshare of the namespaces the recording follows runs while recording and again at
/// replay; a new pid namespace is refused with its reason.
#[test]
fn unshare_of_followed_namespaces_replays_and_a_pid_namespace_is_refused() {
    let expected = [
        "unshare(CLONE_FILES): 0",
        "unshare(CLONE_FS): 0",
        "umask after: 027",
        "unshare(CLONE_SYSVSEM): 0",
        "unshare(CLONE_NEWNS): 0",
        "unshare(CLONE_NEWUTS): 0",
        "nodename now: the new one",
        "unshare(CLONE_NEWIPC): 0",
        "unshare(CLONE_NEWNET): 0",
        "connect in the new network namespace: -1 Network is unreachable",
        "unshare(CLONE_NEWCGROUP): 0",
        "unshare(CLONE_NEWPID): -1 Function not implemented",
    ];
    replays_both_ways("unshare_namespaces", &expected);
    let rec = assert_replays_identically(testprog("unshare_namespaces"), NO_ARGS);
    assert!(
        ftrun_lines(&rec.output.stderr)
            .iter()
            .any(|l| l.contains("refused syscall unshare (272): a new pid namespace")),
        "the refusal should say why:\n{}",
        describe(&rec.output)
    );
    let out = dump(&rec.dir, false);
    let executed = text(&out.stdout)
        .lines()
        .filter(|l| l.contains(" unshare(") && l.ends_with("= 0 [executed]"))
        .count();
    assert_eq!(
        executed,
        8,
        "replay should make each followed unshare itself:\n{}",
        text(&out.stdout)
    );
}

/// clone into a new pid namespace is refused when recorded, with its reason, instead of
/// recording pids that replay would hand back differently.
#[test]
fn clone_into_a_new_pid_namespace_is_refused_with_its_reason() {
    replays_both_ways(
        "clone_new_pid_namespace",
        &["clone(CLONE_NEWPID): -1 Function not implemented"],
    );
    let rec = assert_replays_identically(testprog("clone_new_pid_namespace"), NO_ARGS);
    assert!(
        ftrun_lines(&rec.output.stderr)
            .iter()
            .any(|l| l.contains("refused syscall clone (56): a new pid namespace")),
        "the refusal should say why:\n{}",
        describe(&rec.output)
    );
}

/// A new user namespace: unshare runs while recording and again at replay, the id maps the
/// program wrote are written again at replay (without them the execve inside would drop
/// the namespace's capabilities and the mount namespace made after it would fail).
#[test]
fn unshare_of_a_user_namespace_replays_with_its_id_maps() {
    let expected = [
        "unshare(CLONE_NEWUSER): 0",
        "unmapped: uid 65534 gid 65534",
        "write /proc/self/setgroups: 0",
        "write /proc/self/uid_map: 0",
        "write /proc/self/gid_map: 0",
        "mapped: uid 0 gid 0 euid 0",
        "/proc/self/uid_map:          0          0          1",
        "/proc/self/setgroups: deny",
        "unshare(CLONE_NEWNS) inside: 0",
        "after execve: uid 0 gid 0",
        "unshare(CLONE_NEWNS) after execve: 0",
    ];
    replays_both_ways("unshare_user_namespace", &expected);
}

/// A child cloned into a new user namespace, its id maps written by its parent through
/// `/proc/PID/`: replay writes them into the replayed child's files.
#[test]
fn clone_of_a_user_namespace_replays_the_maps_its_parent_wrote() {
    let expected = [
        "parent writes setgroups: 0",
        "parent writes uid_map: 0",
        "parent writes gid_map: 0",
        "child mapped: uid 0 gid 0",
        "child after execve: uid 0, unshare(CLONE_NEWNS): 0",
        "child exit 0",
    ];
    replays_both_ways("clone_user_namespace_maps", &expected);
}

/// An exec from a thread other than the main one, in a child and then in the program
/// itself, twice in a row: the thread takes the leader's id, the other threads end, and
/// replay follows it through each stage to the exit code of the last.
#[test]
fn exec_from_a_thread_other_than_the_main_one() {
    let expected = [
        "execs stage second",
        "child ended: exit 7",
        "stage second: pid ",
        "execs stage third",
        "stage third: pid ",
    ];
    for _ in 0..2 {
        assert_replays_identically(testprog("exec_from_thread"), NO_ARGS)
            .assert_exit(Exit::Code(7))
            .assert_stdout_contains(&expected);
        without_fast_path(|| {
            assert_replays_identically(testprog("exec_from_thread"), NO_ARGS)
                .assert_exit(Exit::Code(7))
                .assert_stdout_contains(&expected);
        });
    }
}

/// A child that aborts while its new thread is still starting: the kernel may report the
/// new thread's end first, and the process's end must then still be logged as the
/// aborting thread's, or replay runs the new thread on into a syscall it never made.
#[test]
fn children_that_abort_while_their_thread_starts() {
    let expected = ["child 0: killed by 6", "child 29: killed by 6", "done"];
    replays_both_ways("abort_while_thread_starts", &expected);
}

/// Whether the recording's stderr has a refusal by ftrun.
fn refused_something(rec: &Recording) -> bool {
    ftrun_lines(&rec.output.stderr)
        .iter()
        .any(|l| l.contains("refused syscall"))
}

/// A child signalled, waited for by poll and reaped through a pidfd: the calls are
/// recorded (they used to be refused, and the child then waited in pause for ever).
#[test]
fn a_child_signalled_and_reaped_through_a_pidfd() {
    let expected = [
        "pidfd_open: a descriptor",
        "poll while the child lives: 0",
        "pidfd_send_signal: 0",
        "poll once it ended: 1, revents 0x1",
        "waitid(P_PIDFD): 0, killed 1 by signal 15, pid matches 1",
    ];
    replays_both_ways("pidfd_signal_child", &expected);
    let rec = assert_replays_identically(testprog("pidfd_signal_child"), NO_ARGS);
    assert!(!refused_something(&rec), "{}", describe(&rec.output));
}

/// vmsplice of user pages into a pipe, of a pipe's bytes into memory, and into stdout
/// when it is a pipe (the line must be echoed at replay too).
#[test]
fn vmsplice_into_and_out_of_pipes() {
    let expected = [
        "vmsplice into the pipe: 24, read 24: pages handed to the pipe",
        "vmsplice out of the pipe: 20: 'bytes' ' the pipe holds'",
        "this line went to stdout by vmsplice",
    ];
    replays_both_ways("vmsplice_pipe", &expected);
    let rec = assert_replays_identically(testprog("vmsplice_pipe"), NO_ARGS);
    assert!(!refused_something(&rec), "{}", describe(&rec.output));
}

/// sigaltstack asked inside a handler running on the alternate stack says SS_ONSTACK, as
/// natively (made in-process, the call saw the runtime's stack and said it was not).
#[test]
fn sigaltstack_in_a_handler_on_the_alternate_stack() {
    replays_both_ways(
        "altstack_query_in_handler",
        &[
            "handler on the alternate stack: 1",
            "main on it afterwards: 0",
        ],
    );
}

/// sigsuspend ended by a child's kill, twenty times: the recorder often meets the
/// sigsuspend's exit before the kill that ended it, so the signal is logged after the
/// child's event; replay must still send it to the parent waiting in sigsuspend (it waited
/// there for ever).
#[test]
fn sigsuspend_ended_by_a_child_logged_after_it() {
    replays_both_ways(
        "sigsuspend_woken_by_child",
        &["woken 20 times, sigsuspend returned"],
    );
}

/// pselect, ppoll and epoll_pwait with a mask that lets in SIGCHLD, blocked outside them
/// (as make does), ended by a child's exit: replay delivers the signal under the call's
/// mask (sent at the skipped call's exit, it stayed blocked and the program went on
/// without its handler), and the mask is the old one again after the handler.
#[test]
fn waits_with_their_own_mask_ended_by_a_child() {
    replays_both_ways(
        "wait_with_own_mask",
        &[
            "pselect: -1 Interrupted system call, ended 1",
            "ppoll: -1 Interrupted system call, ended 2",
            "epoll_pwait: -1 Interrupted system call, ended 3",
            "epoll_pwait: -1 Interrupted system call, ended 9",
            "SIGCHLD blocked again: 1",
        ],
    );
}

/// Three interval timers firing into a loop without syscalls: the program behaves under
/// recording as natively, time after time (a hit of the recorder's loop breakpoint reported
/// as `TRAP_BRKPT` was delivered to the program, which died of SIGTRAP). Replaying a signal
/// that lands deep in a counting loop needs more passes than replay makes without a tick
/// counter: not checked.
#[test]
fn interval_timers_into_a_computing_loop_under_recording() {
    for _ in 0..6 {
        let rec = record_fresh(testprog("itimers_while_computing"), NO_ARGS);
        rec.assert_exit(Exit::Code(0))
            .assert_stdout_contains(&["each timer fired at least 3 times"]);
    }
}

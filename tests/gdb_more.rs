//! gdb on the replay, beyond gdbstub's own packets: thread-local storage (`print errno`),
//! the siginfo of a stop (`$_siginfo`) and catching syscalls. Every value is checked against
//! what the recorded run printed.

mod common;
mod gdb_support;

use common::*;
use gdb_support::*;

/// `(int) errno` is what gdb can print with or without libc's debugging symbols (without
/// them it does not know errno's type).
const ERRNO_SCRIPT: &str = "break seen\ncontinue\nprint (int) errno\ncontinue\n\
                            print (int) errno\ninfo threads\ncontinue\nprint (int) errno\nkill\n";

fn errno_of_each_thread(prog: &str) {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new(prog);
    let (dir, out) = recorded_printing(&tmp, prog, "errno=9");
    // What the recording printed: ENOENT in the main thread, EBADF in the other.
    assert_eq!(out, "errno=2\nerrno=9\nerrno=2\n");
    let t = gdb_session(&tmp, &dir, ERRNO_SCRIPT);
    assert_has(
        &t,
        &[
            "seen (value=2)",
            "$1 = 2",
            "hit Breakpoint 1, seen (value=9)",
            "$2 = 9",
            "* 2    Thread",
            "hit Breakpoint 1, seen (value=2)",
            "$3 = 2",
            // `kill` ends the session without an error.
            "[Inferior 1 (process 1) killed]",
        ],
    );
    let (again, stderr) = gdb_session_with(&tmp, &dir, ERRNO_SCRIPT, &[], &[]);
    assert!(!stderr.contains("Remote connection closed"), "{stderr}");
    assert_eq!(t, again, "a second run of the same script differs");
}

#[test]
fn errno_of_each_thread_in_a_dynamically_linked_program() {
    errno_of_each_thread("gdb_errno");
}

#[test]
fn errno_of_each_thread_in_a_static_program() {
    errno_of_each_thread("static_gdb_errno");
}

#[test]
fn errno_after_going_back() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-errno-back");
    let dir = recorded(&tmp, "gdb_errno", "errno=9");
    // The second thread's hit, then back to the main thread's first one.
    let t = gdb_session(
        &tmp,
        &dir,
        "break seen\ncontinue\ncontinue\nprint (int) errno\nreverse-continue\n\
         print (int) errno\nprint value\n",
    );
    assert_has(&t, &["$1 = 9", "seen (value=2)", "$2 = 2", "$3 = 2"]);
}

const SIGINFO_SCRIPT: &str = "continue\nprint $_siginfo.si_signo\nprint $_siginfo.si_code\n\
                              print $_siginfo._sifields._sigfault.si_addr\n\
                              reverse-stepi\nprint $_siginfo.si_signo\nstepi\n\
                              print $_siginfo._sifields._sigfault.si_addr\n";

#[test]
fn siginfo_of_a_crash() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-siginfo");
    let (dir, out) = recorded_printing(&tmp, "gdb_crash_at", "fault at ");
    let addr = out.trim().trim_start_matches("fault at ").to_string();
    assert_eq!(addr, "0x5a5a0000");
    let t = gdb_session(&tmp, &dir, SIGINFO_SCRIPT);
    let fault = format!("(void *) {addr}");
    assert_has(
        &t,
        &[
            "Program received signal SIGSEGV",
            "$1 = 11",
            // SEGV_MAPERR: nothing is mapped there.
            "$2 = 1",
            &format!("$3 = {fault}"),
            // One instruction back the thread stands there after a step (SIGTRAP), and
            // forward again the same fault.
            "$4 = 5",
            "Program received signal SIGSEGV",
            &format!("$5 = {fault}"),
        ],
    );
    let again = gdb_session(&tmp, &dir, SIGINFO_SCRIPT);
    assert_eq!(t, again, "a second run of the same script differs");
}

/// Both writes' entries and returns forward, then back over them, then a second catchpoint.
const CATCH_WRITE_SCRIPT: &str = "catch syscall write\n\
    continue\nprint $rdi\nprint $rdx\ncontinue\nprint $rax\n\
    continue\nprint $rdx\ncontinue\nprint $rax\n\
    reverse-continue\nprint $rdx\nreverse-continue\nprint $rax\n\
    reverse-continue\nprint $rdx\nreverse-continue\n\
    catch syscall getpid\ncontinue\ncontinue\ncontinue\ncontinue\nkill\n";

fn catch_write(dir: &std::path::Path, tmp: &TempDir) {
    let t = gdb_session(tmp, dir, CATCH_WRITE_SCRIPT);
    let entry = "Catchpoint 1 (call to syscall write)";
    let ret = "Catchpoint 1 (returned from syscall write)";
    assert_has(
        &t,
        &[
            // write(1, "one\n", 4) and write(1, "second\n", 7), as recorded.
            entry,
            "$1 = 1",
            "$2 = 4",
            ret,
            "$3 = 4",
            entry,
            "$4 = 7",
            ret,
            "$5 = 7",
            // Back: the second entry, the first return, the first entry, the start.
            entry,
            "$6 = 7",
            ret,
            "$7 = 4",
            entry,
            "$8 = 4",
            "No more reverse-execution history.",
            // Forward again with getpid caught too: the first write, getpid between.
            entry,
            ret,
            "Catchpoint 2 (call to syscall getpid)",
            "Catchpoint 2 (returned from syscall getpid)",
        ],
    );
    // Calls handed back in-process stop where a traced one does, in the libc function.
    assert!(!t.contains("?? ()"), "a stop in ftrun's stub:\n{t}");
    let again = gdb_session(tmp, dir, CATCH_WRITE_SCRIPT);
    assert_eq!(t, again, "a second run of the same script differs");
}

#[test]
fn catch_syscall_forward_and_back_with_calls_in_process() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-catch");
    let (dir, out) = recorded_printing(&tmp, "gdb_two_writes", "second");
    assert_eq!(out, "one\nsecond\n");
    catch_write(&dir, &tmp);
}

#[test]
fn catch_syscall_forward_and_back_with_every_call_traced() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-catch-traced");
    let dir = tmp.join("traced");
    let out = ftrun([
        std::ffi::OsStr::new("record"),
        std::ffi::OsStr::new("--no-fast-path"),
        std::ffi::OsStr::new("-o"),
        dir.as_os_str(),
        std::ffi::OsStr::new("--"),
        testprog("gdb_two_writes").as_os_str(),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(text(&out.stdout), "one\nsecond\n");
    catch_write(&dir, &tmp);
}

/// The 101st catch is the 51st call's entry (i = 50): none is missed or shown twice,
/// in-process or at the end of a batch of them (made traced from its stub).
const CATCH_LOOP_SCRIPT: &str = "catch syscall clock_gettime\nignore 1 100\ncontinue\n\
    print $rdi\ndelete 1\nbreak tick\ncontinue\nprint i\n\
    catch syscall clock_gettime\nreverse-continue\nprint $rax\nreverse-continue\n\
    print $rdi\ndelete\nbreak tick\nreverse-continue\nprint i\nkill\n";

#[test]
fn catch_syscall_counts_every_call_of_a_loop() {
    if !have_gdb() {
        return;
    }
    let tmp = TempDir::new("gdb-catch-loop");
    let dir = recorded(&tmp, "gdb_inprocess_loop", "total ");
    let t = gdb_session(&tmp, &dir, CATCH_LOOP_SCRIPT);
    assert_has(
        &t,
        &[
            "Catchpoint 1 (call to syscall clock_gettime)",
            // CLOCK_MONOTONIC
            "$1 = 1",
            "tick (i=50,",
            "$2 = 50",
            // Back from tick(50): its call's return, then its entry, then tick(49).
            "Catchpoint 3 (returned from syscall clock_gettime)",
            "$3 = 0",
            "Catchpoint 3 (call to syscall clock_gettime)",
            "$4 = 1",
            "tick (i=49,",
            "$5 = 49",
        ],
    );
    let (without, _) = gdb_session_with(
        &tmp,
        &dir,
        CATCH_LOOP_SCRIPT,
        &[("FTRUN_GDB_NO_CHECKPOINTS", std::ffi::OsStr::new("1"))],
        &[],
    );
    assert_eq!(
        t, without,
        "going back from checkpoints differs from the start"
    );
}

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
        ],
    );
    let again = gdb_session(&tmp, &dir, ERRNO_SCRIPT);
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

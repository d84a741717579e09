//! The Output Rule for outputs made in-process: the runtime holds a reply until the
//! follower has acknowledged the input it answers, and lets replies that follow no new
//! input through together.

mod common;
mod ft_support;

use std::process::Command;
use std::time::Duration;

use common::*;
use ft_support::*;

/// The events of the primary's log, as `ftrun dump` prints them.
fn primary_log(state: &std::path::Path) -> String {
    let out = Command::new(ftrun_bin())
        .arg("dump")
        .arg(state.join("primary-log"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    text(&out.stdout)
}

fn signal(pid: i32, signo: i32) {
    // SAFETY: kill with a pid the test started and a constant signal.
    unsafe {
        libc::kill(pid, signo);
    }
}

/// Stops `pid` and returns once every thread of it is stopped (a stop signal takes
/// effect as each thread next runs: until then the follower could still acknowledge).
fn stop(pid: i32) {
    signal(pid, libc::SIGSTOP);
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        let stopped = std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|tasks| {
                tasks.flatten().all(|t| {
                    std::fs::read_to_string(t.path().join("stat"))
                        .ok()
                        .and_then(|s| s.rsplit(") ").next().map(|r| r.starts_with('T')))
                        .unwrap_or(true)
                })
            })
            .unwrap_or(true);
        if stopped {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("process {pid} did not stop");
}

/// The KV server under `ftrun --`, a client that made a few requests (so that the
/// server's read and write sites are rewritten), and its follower stopped. A long timeout:
/// the stopped follower must not count as gone.
fn warm_server_with_stopped_follower(label: &str) -> (FtServer, Kv, i32) {
    let ft = FtServer::start(label, &["--timeout-ms", "6000"]);
    let mut kv = ft.client();
    for i in 0..5 {
        assert!(kv.set(&format!("warm{i}"), "1"), "{}", ft.log_text());
    }
    let follower = ft
        .follower_pid()
        .unwrap_or_else(|| panic!("no follower\n{}", ft.log_text()));
    stop(follower);
    (ft, kv, follower)
}

#[test]
fn a_reply_made_in_process_waits_until_the_follower_has_the_request() {
    let (ft, mut kv, follower) = warm_server_with_stopped_follower("ft-gate-reply");
    // The follower acknowledges nothing now: the request is logged, its reply must wait.
    kv.set_read_timeout(Duration::from_millis(600));
    kv.send("SET held 1").unwrap();
    let early = kv.reply();
    signal(follower, libc::SIGCONT);
    kv.set_read_timeout(Duration::from_secs(20));
    let reply = match early {
        Some(r) => panic!(
            "the reply {r:?} came while the follower could not acknowledge its request\n{}",
            ft.log_text()
        ),
        None => kv.reply(),
    };
    assert_eq!(reply.as_deref(), Some("OK"), "{}", ft.log_text());
    assert_eq!(kv.get("held").as_deref(), Some("VALUE 1"));
    // The replies were written by the runtime, not at ptrace stops.
    let log = primary_log(&ft.state);
    let in_process_writes = log
        .lines()
        .filter(|l| l.contains(" write(") && l.contains("[in-process]"))
        .count();
    assert!(
        in_process_writes >= 5,
        "{in_process_writes} replies were written in-process\n{log}"
    );
}

#[test]
fn replies_to_requests_read_together_wait_for_one_acknowledgement() {
    let (ft, mut kv, follower) = warm_server_with_stopped_follower("ft-gate-group");
    // Twenty requests in one write: the server reads them in one call and answers each.
    let batch: String = (0..20).map(|i| format!("SET k{i} {i}\n")).collect();
    kv.send(batch.trim_end()).unwrap();
    kv.set_read_timeout(Duration::from_millis(600));
    let early = kv.reply();
    signal(follower, libc::SIGCONT);
    assert!(
        early.is_none(),
        "a reply came before its request was acknowledged"
    );
    kv.set_read_timeout(Duration::from_secs(20));
    for i in 0..20 {
        assert_eq!(
            kv.reply().as_deref(),
            Some("OK"),
            "reply {i}\n{}",
            ft.log_text()
        );
    }
    for i in 0..20 {
        assert_eq!(kv.get(&format!("k{i}")), Some(format!("VALUE {i}")));
    }
}

#[test]
fn a_signal_that_comes_while_a_reply_waits_at_the_gate_is_delivered_and_replayed() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let tmp = TempDir::new("ft-gate-signal");
    let state = tmp.join("state");
    let mut ft = Command::new(ftrun_bin())
        .args(["--timeout-ms", "6000", "--state-dir"])
        .arg(&state)
        .arg("--")
        .arg(testprog("gate_signals"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = ft.stdin.take().unwrap();
    let output = ft.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let wait = Duration::from_secs(20);
    for i in 0..5 {
        input.write_all(format!("warm {i}\n").as_bytes()).unwrap();
        assert_eq!(
            rx.recv_timeout(wait).ok(),
            Some(format!("reply {} to warm {i}", i + 1))
        );
    }
    let follower = read_pid(&state.join("follower.pid")).expect("no follower");
    stop(follower);
    input.write_all(b"held\n").unwrap();
    // Signals come every 2 ms while the reply waits for an acknowledgement.
    let early = rx.recv_timeout(Duration::from_millis(500)).ok();
    signal(follower, libc::SIGCONT);
    assert_eq!(
        early, None,
        "a reply came before its request was acknowledged"
    );
    assert_eq!(
        rx.recv_timeout(wait).ok().as_deref(),
        Some("reply 6 to held")
    );
    drop(input);
    assert_eq!(
        rx.recv_timeout(wait).ok().as_deref(),
        Some("6 lines, timer ticked")
    );
    let out = ft.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let log = text(&out.stderr);
    assert!(!log.contains("diverge"), "{log}");
    // The follower replayed the whole run, signals included, to the program's end.
    let start = std::time::Instant::now();
    let role = loop {
        let doc: Option<serde_json::Value> = std::fs::read(state.join("status.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let role = doc.and_then(|d| d["follower"]["role"].as_str().map(String::from));
        if role.as_deref() == Some("exited") || start.elapsed() > Duration::from_secs(10) {
            break role;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(role.as_deref(), Some("exited"), "{log}");
    let signals = primary_log(&state)
        .lines()
        .filter(|l| l.contains("SIGALRM"))
        .count();
    assert!(signals > 0, "no SIGALRM in the log");
}

#[test]
fn after_a_takeover_the_new_primary_runs_the_servers_calls_in_process() {
    let ft = FtServer::start("ft-gate-takeover", &[]);
    let mut kv = ft.client();
    assert!(kv.set("before", "1"), "{}", ft.log_text());
    kill9_and_wait(ft.primary_pid());
    let mut kv = ft.client();
    for i in 0..30 {
        assert!(kv.set(&format!("after{i}"), "1"), "{}", ft.log_text());
    }
    assert_eq!(kv.get("before").as_deref(), Some("VALUE 1"));
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ft.state.join("status.json")).unwrap()).unwrap();
    let server = doc["primary"]["server_pid"].as_i64().unwrap_or(0);
    assert!(server > 0, "no live server in the status\n{doc}");
    // The live server's replies, in whichever log the new primary writes.
    let tid = format!(" {server} write(");
    let in_process = ["primary-log", "follower-log"]
        .iter()
        .filter(|d| ft.state.join(d).exists())
        .map(|d| {
            let out = Command::new(ftrun_bin())
                .arg("dump")
                .arg(ft.state.join(d))
                .output()
                .unwrap();
            text(&out.stdout)
                .lines()
                .filter(|l| l.contains(&tid) && l.contains("[in-process]"))
                .count()
        })
        .max()
        .unwrap_or(0);
    assert!(
        in_process >= 25,
        "only {in_process} replies of the new primary's server ran in-process\n{}",
        ft.log_text()
    );
}

//! Fault tolerance as an operator meets it: a state directory in use is locked, `status`
//! tells stale entries from live ones and whether the server is protected, host names work
//! in addresses, and a server killed from outside ends both sides plainly.

mod common;
mod ft_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use ft_support::*;

fn ftrun_output(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(ftrun_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn a_second_run_on_a_state_dir_in_use_is_refused_and_the_first_stays_protected() {
    let ft = FtServer::start("ft-lock", &[]);
    let mut kv = ft.client();
    assert!(kv.set("a", "1"));
    let follower = ft.follower_pid().expect("follower.pid");

    let other_port = free_port().to_string();
    let second = ftrun_output(&[
        "--state-dir".as_ref(),
        ft.state.as_os_str(),
        "--".as_ref(),
        testprog("kv_server").as_os_str(),
        other_port.as_ref(),
    ]);
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "a second primary ran: {err}");
    assert!(
        err.contains("is in use") && err.contains(&format!("ftrun pid {}", ft.primary_pid())),
        "the refusal does not name the primary: {err}"
    );
    let second_follower = ftrun_output(&[
        "follow".as_ref(),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--state-dir".as_ref(),
        ft.state.as_os_str(),
    ]);
    let err = String::from_utf8_lossy(&second_follower.stderr);
    assert!(
        !second_follower.status.success(),
        "a second follower ran: {err}"
    );
    assert!(
        err.contains("is in use") && err.contains(&format!("ftrun pid {follower}")),
        "the refusal does not name the follower: {err}"
    );

    // The first run is untouched: its follower still acknowledges (no decision was taken
    // alone, even after a timeout's worth of waiting), and still takes over with everything.
    assert!(kv.set("b", "2"));
    std::thread::sleep(Duration::from_millis(1000));
    assert!(kv.set("c", "3"));
    let log = ft.log_text();
    assert!(!log.contains("goes on alone"), "{log}");
    assert_eq!(ft.follower_pid(), Some(follower));
    kill9(ft.primary_pid());
    let mut kv = Kv::connect(ft.port, Duration::from_secs(20))
        .unwrap_or_else(|| panic!("no takeover\n{}", ft.log_text()));
    for (k, v) in [("a", "1"), ("b", "2"), ("c", "3")] {
        assert_eq!(kv.get(k), Some(format!("VALUE {v}")), "{}", ft.log_text());
    }
    assert!(
        ft.log_text().contains("live as epoch 2"),
        "{}",
        ft.log_text()
    );

    // The follower now runs the server as the new primary and holds the directory: a new
    // run is refused, naming it.
    assert_eq!(ft.current_primary(), Some(follower));
    let third = ftrun_output(&[
        "--state-dir".as_ref(),
        ft.state.as_os_str(),
        "--".as_ref(),
        testprog("kv_server").as_os_str(),
        other_port.as_ref(),
    ]);
    let err = String::from_utf8_lossy(&third.stderr);
    assert!(!third.status.success(), "{err}");
    assert!(
        err.contains("its primary is") && err.contains(&format!("ftrun pid {follower}")),
        "{err}"
    );
}

/// Field 22 of `/proc/PID/stat`: when the process started, in ticks after boot.
fn start_time(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    rest.split_whitespace().nth(19).unwrap().parse().unwrap()
}

fn parent_of(pid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("PPid:"))?;
    line[5..].trim().parse().ok()
}

fn comm_of(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn status_json(state: Option<&std::path::Path>, cwd: &std::path::Path) -> serde_json::Value {
    let mut cmd = Command::new(ftrun_bin());
    cmd.arg("status").arg("--json").current_dir(cwd);
    if let Some(dir) = state {
        cmd.arg("--state-dir").arg(dir);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[test]
fn status_tells_dead_reused_and_silent_entries_from_live_ones() {
    let tmp = TempDir::new("ft-status-stale");
    let mut dead = Command::new("true").spawn().unwrap();
    let dead_pid = dead.id() as i32;
    dead.wait().unwrap();
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let live = sleeper.id() as i32;
    let section = |pid: i32, start: u64, updated: u64| {
        serde_json::json!({
            "role": "primary", "epoch": 3, "pid": pid, "pid_start": start,
            "server_pid": live, "server_start": start_time(live), "timeout_ms": 500,
            "peer_heard_ms": updated, "gate_waiting_since_ms": null, "updated_ms": updated,
        })
    };
    let write = |doc: serde_json::Value| {
        std::fs::create_dir_all(tmp.join(".ftrun")).unwrap();
        std::fs::write(tmp.join(".ftrun/status.json"), doc.to_string()).unwrap();
    };
    let now = now_ms();
    let stale = |doc: &serde_json::Value, side: &str| doc[side]["stale"].as_str().map(String::from);

    // Found in ./.ftrun without --state-dir. A live, fresh primary hearing its follower:
    // not stale, protected; a follower whose pid has ended: stale.
    let mut follower = section(dead_pid, 1, now);
    follower["role"] = "follower".into();
    write(
        serde_json::json!({ "primary": section(live, start_time(live), now), "follower": follower }),
    );
    let doc = status_json(None, tmp.path());
    assert_eq!(stale(&doc, "primary"), None, "{doc}");
    assert_eq!(doc["protected"], true, "{doc}");
    assert_eq!(doc["server_pid"], live, "{doc}");
    assert!(
        stale(&doc, "follower").is_some_and(|w| w.contains("not running")),
        "{doc}"
    );

    // The pid is alive but belongs to a process started at another time: reused.
    write(serde_json::json!({ "primary": section(live, start_time(live) + 1, now) }));
    let doc = status_json(None, tmp.path());
    assert!(
        stale(&doc, "primary").is_some_and(|w| w.contains("another process")),
        "{doc}"
    );
    assert_eq!(doc["protected"], false, "{doc}");
    assert_eq!(doc["server_pid"], serde_json::Value::Null, "{doc}");

    // The right process, but its section was last written long ago: stopped or hung.
    write(serde_json::json!({ "primary": section(live, start_time(live), now - 60_000) }));
    let doc = status_json(None, tmp.path());
    assert!(
        stale(&doc, "primary").is_some_and(|w| w.contains("not updated")),
        "{doc}"
    );
    assert_eq!(doc["protected"], false, "{doc}");
    let text = Command::new(ftrun_bin())
        .arg("status")
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("stale: not updated") && text.contains("protected: no"),
        "{text}"
    );
    // A remote follower's own directory: whether its primary's outputs are acknowledged is
    // known only there.
    let mut follower = section(live, start_time(live), now_ms());
    follower["role"] = "follower".into();
    write(serde_json::json!({ "follower": follower }));
    let text = Command::new(ftrun_bin())
        .arg("status")
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("protected: not known here"), "{text}");
    let _ = sleeper.kill();
    let _ = sleeper.wait();
}

#[test]
fn status_shows_the_servers_and_whether_the_server_is_protected() {
    let ft = FtServer::start("ft-status-live", &[]);
    let mut kv = ft.client();
    assert!(kv.set("a", "1"));
    let doc = status_json(Some(&ft.state), ft.tmp.path());
    let (primary, follower) = (&doc["primary"], &doc["follower"]);
    assert_eq!(doc["protected"], true, "{doc}");
    assert_eq!(primary["epoch"], 1, "{doc}");
    assert_eq!(follower["epoch"], 1, "{doc}");
    assert_eq!(primary["pid"], ft.primary_pid(), "{doc}");
    // The server's pid, not ftrun's: the traced kv_server, the primary's child; and the
    // follower's replayed copy, its child.
    let server = primary["server_pid"].as_i64().unwrap() as i32;
    assert_eq!(doc["server_pid"], server, "{doc}");
    assert_eq!(comm_of(server), "kv_server", "{doc}");
    assert_eq!(parent_of(server), Some(ft.primary_pid()), "{doc}");
    let follower_pid = ft.follower_pid().unwrap();
    let replayed = follower["server_pid"].as_i64().unwrap() as i32;
    assert_eq!(comm_of(replayed), "kv_server", "{doc}");
    assert_eq!(parent_of(replayed), Some(follower_pid), "{doc}");

    // Without its follower the primary goes on alone: running, but not protected.
    kill9(follower_pid);
    assert!(kv.set("b", "2"), "{}", ft.log_text());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let doc = loop {
        let doc = status_json(Some(&ft.state), ft.tmp.path());
        if doc["primary"]["role"] == "alone" || std::time::Instant::now() > deadline {
            break doc;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(doc["primary"]["role"], "alone", "{doc}");
    assert_eq!(doc["protected"], false, "{doc}");
    assert_eq!(doc["primary"]["epoch"], 2, "{doc}");
    assert_eq!(doc["server_pid"], server, "{doc}");
    assert!(
        doc["follower"]["stale"]
            .as_str()
            .is_some_and(|w| w.contains("not running")),
        "{doc}"
    );
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        let state = s[s.rfind(')').unwrap() + 1..].split_whitespace().next();
        !matches!(state, Some("Z" | "X"))
    })
}

fn wait_gone(pid: i32, within: Duration) -> bool {
    let deadline = std::time::Instant::now() + within;
    while alive(pid) {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

#[test]
fn host_names_work_in_the_follower_and_listen_addresses() {
    let tmp = TempDir::new("ft-hostnames");
    let (fport, sport) = (free_port(), free_port());
    let arbiter = format!("file:{}", tmp.join("arbiter").display());
    let follower = Command::new(ftrun_bin())
        .args(["follow", "--listen", &format!("localhost:{fport}")])
        .arg("--state-dir")
        .arg(tmp.join("f"))
        .args(["--arbiter", &arbiter])
        .stdin(Stdio::null())
        .stderr(std::fs::File::create(tmp.join("follower.log")).unwrap())
        .spawn()
        .unwrap();
    let primary = Command::new(ftrun_bin())
        .args(["--follower", &format!("localhost:{fport}")])
        .arg("--state-dir")
        .arg(tmp.join("p"))
        .args(["--arbiter", &arbiter, "--"])
        .arg(testprog("kv_server"))
        .arg(sport.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(tmp.join("primary.log")).unwrap())
        .spawn()
        .unwrap();
    let mut children = vec![follower, primary];
    let logs = || {
        format!(
            "{}\n{}",
            std::fs::read_to_string(tmp.join("follower.log")).unwrap_or_default(),
            std::fs::read_to_string(tmp.join("primary.log")).unwrap_or_default()
        )
    };
    let kv = Kv::connect(sport, Duration::from_secs(20));
    let served = kv.is_some_and(|mut kv| kv.set("k", "v"));
    let text = logs();
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    for p in pids_matching(&format!("kv_server {sport}")) {
        kill9(p);
    }
    assert!(served, "no server with localhost addresses\n{text}");
    assert!(text.contains("following the primary"), "{text}");
}

#[test]
fn follow_help_lists_only_what_follow_uses() {
    let out = ftrun_output(&["follow".as_ref(), "--help".as_ref()]);
    let help = String::from_utf8_lossy(&out.stdout);
    for used in [
        "--listen",
        "--state-dir",
        "--arbiter",
        "--heartbeat-ms",
        "--timeout-ms",
        "--addr-file",
    ] {
        assert!(help.contains(used), "{used} missing from\n{help}");
    }
    assert!(!help.contains("--follower"), "{help}");
    assert!(!help.contains("COMMAND"), "{help}");
    let out = ftrun_output(&[
        "follow".as_ref(),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--follower".as_ref(),
        "127.0.0.1:1".as_ref(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an option follow ignores was taken"
    );
}

#[test]
fn a_server_killed_from_outside_ends_both_sides_plainly() {
    use std::os::unix::process::ExitStatusExt;
    let mut ft = FtServer::start("ft-server-killed", &[]);
    let mut kv = ft.client();
    assert!(kv.set("a", "1"));
    let doc = status_json(Some(&ft.state), ft.tmp.path());
    let server = doc["primary"]["server_pid"].as_i64().unwrap() as i32;
    let replayed = doc["follower"]["server_pid"].as_i64().unwrap() as i32;
    assert_eq!(parent_of(server), Some(ft.primary_pid()), "{doc}");
    let follower = ft.follower_pid().unwrap();
    kill9(server);
    // The primary ends the way its program did, after the follower has the end.
    let status = ft.primary.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{}", ft.log_text());
    assert!(
        wait_gone(follower, Duration::from_secs(20)),
        "the follower did not end\n{}",
        ft.log_text()
    );
    assert!(!alive(replayed), "the replayed copy outlived the follower");
    let log = ft.log_text();
    assert!(
        log.contains("the program was killed by signal 9 (SIGKILL) from outside")
            && log.contains("this primary ends too")
            && log.contains("this follower ends too"),
        "{log}"
    );
    assert!(
        !log.contains("divergence") && !log.contains("failed") && !log.contains("takeover"),
        "{log}"
    );
    assert!(Kv::connect(ft.port, Duration::from_millis(300)).is_none());
}

#[test]
fn a_server_killed_from_outside_while_its_primary_runs_alone_says_no_follower_had_it() {
    use std::os::unix::process::ExitStatusExt;
    let mut ft = FtServer::start("ft-server-killed-alone", &[]);
    let mut kv = ft.client();
    assert!(kv.set("a", "1"));
    kill9(ft.follower_pid().expect("follower.pid"));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let doc = loop {
        let doc = status_json(Some(&ft.state), ft.tmp.path());
        if doc["primary"]["role"] == "alone" || std::time::Instant::now() > deadline {
            break doc;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(doc["primary"]["role"], "alone", "{doc}\n{}", ft.log_text());
    kill9(doc["primary"]["server_pid"].as_i64().unwrap() as i32);
    let status = ft.primary.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{}", ft.log_text());
    let log = ft.log_text();
    assert!(
        log.contains("the program was killed by signal 9 (SIGKILL) from outside")
            && log.contains("no follower had the whole log"),
        "{log}"
    );
    assert!(!log.contains("the follower has the whole log"), "{log}");
}

#[test]
fn status_to_a_reader_that_has_gone_is_no_error() {
    // `ftrun status --json | grep -q …`: grep leaves at its first match.
    let tmp = TempDir::new("ft-status-pipe");
    let me = std::process::id() as i32;
    let section = serde_json::json!({
        "role": "primary", "epoch": 1, "pid": me, "pid_start": start_time(me),
        "server_pid": me, "server_start": start_time(me), "timeout_ms": 500,
        "peer_heard_ms": now_ms(), "gate_waiting_since_ms": null, "updated_ms": now_ms(),
    });
    std::fs::create_dir_all(tmp.join(".ftrun")).unwrap();
    std::fs::write(
        tmp.join(".ftrun/status.json"),
        serde_json::json!({ "primary": section }).to_string(),
    )
    .unwrap();
    for json in [true, false] {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two descriptors into the array we pass.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: the read end is ours and used nowhere else: every write to the pipe
        // fails with EPIPE from now on.
        unsafe { libc::close(fds[0]) };
        use std::os::fd::FromRawFd;
        // SAFETY: the write end is ours; the Stdio takes it over.
        let closed = unsafe { Stdio::from_raw_fd(fds[1]) };
        let mut cmd = Command::new(ftrun_bin());
        cmd.arg("status").current_dir(tmp.path());
        if json {
            cmd.arg("--json");
        }
        let out = cmd.stdout(closed).stderr(Stdio::piped()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "json {json}: {:?} {err}", out.status);
        assert!(err.is_empty(), "json {json}: {err}");
    }
}

/// The child's exit within `limit`; else it is killed and None.
fn ended_within(
    child: &mut std::process::Child,
    limit: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn primary_and_follower_with_different_arbiters_both_refuse_and_with_one_they_work() {
    let tmp = TempDir::new("ft-arbiters");
    let follow = |port: u16, extra: &[String], log: &str| {
        Command::new(ftrun_bin())
            .args(["follow", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--state-dir")
            .arg(tmp.join("f"))
            .args(extra)
            .stdin(Stdio::null())
            .stderr(std::fs::File::create(tmp.join(log)).unwrap())
            .spawn()
            .unwrap()
    };
    let primary = |fport: u16, sport: u16, extra: &[String], log: &str| {
        Command::new(ftrun_bin())
            .args(["--follower", &format!("127.0.0.1:{fport}")])
            .arg("--state-dir")
            .arg(tmp.join("p"))
            .args(extra)
            .arg("--")
            .arg(testprog("kv_server"))
            .arg(sport.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(tmp.join(log)).unwrap())
            .spawn()
            .unwrap()
    };
    let read = |log: &str| std::fs::read_to_string(tmp.join(log)).unwrap_or_default();

    // Each with its default arbiter (STATE_DIR/arbiter): two arbiters, both refuse.
    let (fport, sport) = (free_port(), free_port());
    let mut f = follow(fport, &[], "f1.log");
    std::thread::sleep(Duration::from_millis(300));
    let mut p = primary(fport, sport, &[], "p1.log");
    // Both must refuse by themselves: one that runs on (a check gone) fails the test
    // instead of hanging it.
    let (p_status, f_status) = (
        ended_within(&mut p, Duration::from_secs(20)),
        ended_within(&mut f, Duration::from_secs(20)),
    );
    let (Some(p), Some(f_status)) = (p_status, f_status) else {
        for pid in pids_matching(&format!("kv_server {sport}")) {
            kill9(pid);
        }
        panic!(
            "with two arbiters a side went on\n{}\n{}",
            read("p1.log"),
            read("f1.log")
        );
    };
    let (plog, flog) = (read("p1.log"), read("f1.log"));
    assert!(!p.success(), "{plog}");
    assert!(!f_status.success(), "{flog}");
    let (parb, farb) = (
        format!("file:{}", tmp.join("p/arbiter").display()),
        format!("file:{}", tmp.join("f/arbiter").display()),
    );
    for log in [&plog, &flog] {
        assert!(
            log.contains("do not use the same arbiter")
                && log.contains(&format!("the primary's is {parb}"))
                && log.contains(&format!("the follower's is {farb}")),
            "{log}"
        );
    }
    assert!(plog.contains("not started"), "{plog}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", sport)).is_err());

    // One arbiter given to both: the run works and fails over as usual.
    let shared = vec![
        "--arbiter".to_string(),
        format!("file:{}", tmp.join("shared").display()),
    ];
    let (fport, sport) = (free_port(), free_port());
    let f = follow(fport, &shared, "f2.log");
    std::thread::sleep(Duration::from_millis(300));
    let p = primary(fport, sport, &shared, "p2.log");
    let mut kv = Kv::connect(sport, Duration::from_secs(20))
        .unwrap_or_else(|| panic!("no server\n{}\n{}", read("p2.log"), read("f2.log")));
    assert!(kv.set("k", "v"));
    let mut children = [p, f];
    let _ = children[0].kill();
    let _ = children[0].wait();
    let served = Kv::connect(sport, Duration::from_secs(20)).and_then(|mut kv| kv.get("k"));
    let (plog, flog) = (read("p2.log"), read("f2.log"));
    let _ = children[1].kill();
    let _ = children[1].wait();
    for pid in pids_matching(&format!("kv_server {sport}")) {
        kill9(pid);
    }
    assert_eq!(served.as_deref(), Some("VALUE v"), "{plog}\n{flog}");
    assert!(flog.contains("live as epoch 2"), "{flog}");
    assert!(tmp.join("shared/epoch-2").exists());
    // The token was only for the greeting.
    let left: Vec<_> = std::fs::read_dir(tmp.join("shared"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("token-"))
        .collect();
    assert!(left.is_empty(), "tokens left behind: {left:?}");
}

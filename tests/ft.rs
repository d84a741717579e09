//! Fault tolerance end to end: a KV server under `ftrun --` with its local follower; the
//! primary killed at random moments, the follower killed, bad peers, start orders.

mod common;
mod ft_support;

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ft_support::*;

/// A small deterministic generator for the kill moments (a failing round can be rerun).
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn durable_acknowledgements_are_on_the_followers_disk_and_a_takeover_keeps_them() {
    let ft = FtServer::start("ft-ack-durable", &["--ack", "durable"]);
    let mut kv = ft.client();
    let keys: Vec<String> = (0..40).map(|i| format!("durable{i}")).collect();
    for k in &keys {
        assert!(kv.set(k, k), "SET {k} failed\n{}", ft.log_text());
    }
    // The follower was started with the same mode (it is the one that acknowledges).
    let cmdline = ft_follower_cmdline(&ft.state);
    assert!(
        cmdline.contains("--ack\0durable"),
        "the local follower should acknowledge durably: {cmdline:?}"
    );
    kill9(ft.primary_pid());
    let mut kv = Kv::connect(ft.port, Duration::from_secs(20))
        .unwrap_or_else(|| panic!("no server after the primary died\n{}", ft.log_text()));
    for k in &keys {
        assert_eq!(kv.get(k).as_deref(), Some(format!("VALUE {k}").as_str()));
    }
}

/// The command line of the local follower, from its pid file.
fn ft_follower_cmdline(state: &std::path::Path) -> String {
    let pid = read_pid(&state.join("follower.pid")).expect("follower.pid");
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default())
        .into_owned()
}

#[test]
fn primary_killed_at_random_moments_loses_no_acknowledged_write() {
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..20 {
        let ft = FtServer::start(&format!("ft-kill-{round}"), &[]);
        let mut kv = ft.client();
        let kill_after = Duration::from_millis(50 + xorshift(&mut rng) % 700);
        let started = Instant::now();
        let mut acked = Vec::new();
        let mut i = 0;
        while started.elapsed() < kill_after {
            let (k, v) = (
                format!("r{round}k{i}"),
                format!("v{i}-{}", xorshift(&mut rng) % 1000),
            );
            assert!(
                kv.set(&k, &v),
                "round {round}: SET {k} failed before any kill\n{}",
                ft.log_text()
            );
            acked.push((k, v));
            i += 1;
        }
        // One more write in flight while the primary dies: it may or may not be acknowledged.
        kill9(ft.primary_pid());
        let late = kv.set(&format!("r{round}late"), "x");
        let mut kv = Kv::connect(ft.port, Duration::from_secs(20)).unwrap_or_else(|| {
            panic!(
                "round {round}: no server after the primary died\n{}",
                ft.log_text()
            )
        });
        for (k, v) in &acked {
            assert_eq!(
                kv.get(k).as_deref(),
                Some(format!("VALUE {v}").as_str()),
                "round {round}: acknowledged write {k} lost after takeover ({} writes, kill after {:?})\n{}",
                acked.len(),
                kill_after,
                ft.log_text()
            );
        }
        if late {
            assert_eq!(
                kv.get(&format!("r{round}late")).as_deref(),
                Some("VALUE x"),
                "round {round}: the late write was acknowledged but lost"
            );
        }
        let log = ft.log_text();
        assert!(
            log.contains("takeover in") && log.contains("live as epoch 2"),
            "round {round}: no takeover line\n{log}"
        );
        assert!(
            ft.state.join("arbiter/epoch-2").exists(),
            "round {round}: the follower went live without winning epoch 2"
        );
        eprintln!(
            "round {round}: {} acknowledged writes, kill after {kill_after:?}: all there",
            acked.len()
        );
    }
}

#[test]
fn follower_killed_primary_wins_the_epoch_and_goes_on() {
    let ft = FtServer::start("ft-follower-killed", &[]);
    let mut kv = ft.client();
    assert!(kv.set("before", "1"));
    let follower = ft.follower_pid().expect("follower.pid");
    kill9(follower);
    // Outputs wait until the primary has decided: then it answers again, alone.
    assert!(
        kv.set("after", "2"),
        "the primary did not go on without its follower\n{}",
        ft.log_text()
    );
    assert_eq!(kv.get("before").as_deref(), Some("VALUE 1"));
    assert_eq!(kv.get("after").as_deref(), Some("VALUE 2"));
    let log = ft.log_text();
    assert!(
        log.contains("won epoch 2") && log.contains("goes on alone"),
        "{log}"
    );
    let winner = std::fs::read_to_string(ft.state.join("arbiter/epoch-2")).unwrap();
    assert!(winner.contains("primary"), "epoch 2 belongs to {winner}");
}

fn spawn_follower(tmp: &TempDir, port: u16, log: &str) -> std::process::Child {
    Command::new(ftrun_bin())
        .args([
            "follow",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--state-dir",
        ])
        .arg(tmp.join("follower-state"))
        .arg("--arbiter")
        .arg(format!("file:{}", tmp.join("arbiter").display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(tmp.join(log)).unwrap())
        .spawn()
        .unwrap()
}

fn spawn_primary(
    tmp: &TempDir,
    follower_port: u16,
    server_port: u16,
    log: &str,
) -> std::process::Child {
    Command::new(ftrun_bin())
        .args([
            "--follower",
            &format!("127.0.0.1:{follower_port}"),
            "--state-dir",
        ])
        .arg(tmp.join("primary-state"))
        .arg("--arbiter")
        .arg(format!("file:{}", tmp.join("arbiter").display()))
        .arg("--")
        .arg(testprog("kv_server"))
        .arg(server_port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(tmp.join(log)).unwrap())
        .spawn()
        .unwrap()
}

struct Cleanup(Vec<std::process::Child>, u16);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Every process of this test names its port: servers, primaries, live followers' servers.
        for p in pids_matching(&format!(" {} ", self.1)) {
            kill9(p);
        }
    }
}

#[test]
fn garbage_and_wrong_version_peers_are_refused_and_the_follower_keeps_working() {
    let tmp = TempDir::new("ft-garbage");
    let (fport, sport) = (free_port(), free_port());
    let follower = spawn_follower(&tmp, fport, "follower.log");
    let mut guard = Cleanup(vec![follower], sport);
    std::thread::sleep(Duration::from_millis(300));
    let mut g = std::net::TcpStream::connect(("127.0.0.1", fport)).unwrap();
    g.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    drop(g);
    let mut v = std::net::TcpStream::connect(("127.0.0.1", fport)).unwrap();
    let mut hello = b"FTLK\x01\0\0\0\x14\0\0\0".to_vec();
    hello.extend_from_slice(&99u32.to_le_bytes()); // protocol version 99
    hello.extend_from_slice(&[0u8; 16]);
    v.write_all(&hello).unwrap();
    drop(v);
    std::thread::sleep(Duration::from_millis(300));
    guard
        .0
        .push(spawn_primary(&tmp, fport, sport, "primary.log"));
    let mut kv =
        Kv::connect(sport, Duration::from_secs(20)).expect("the real primary was not served");
    assert!(kv.set("k", "v"));
    let flog = std::fs::read_to_string(tmp.join("follower.log")).unwrap();
    assert!(
        flog.contains("does not speak the ftrun link protocol"),
        "{flog}"
    );
    assert!(flog.contains("version 99"), "{flog}");
    assert!(flog.contains("following the primary"), "{flog}");
}

#[test]
fn a_primary_whose_follower_speaks_garbage_does_not_start_the_server() {
    let tmp = TempDir::new("ft-garbage-follower");
    let fake = TcpListener::bind("127.0.0.1:0").unwrap();
    let fport = fake.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in fake.incoming().flatten() {
            let _ = s.write_all(b"220 smtp.example.com ESMTP ready\r\n");
        }
    });
    let sport = free_port();
    let out = spawn_primary(&tmp, fport, sport, "primary.log")
        .wait_with_output()
        .unwrap();
    let log = std::fs::read_to_string(tmp.join("primary.log")).unwrap();
    assert!(!out.status.success());
    assert!(
        log.contains("does not speak the ftrun link protocol") && log.contains("not started"),
        "{log}"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", sport)).is_err(),
        "the server was started anyway"
    );
}

#[test]
fn a_primary_whose_follower_closes_at_its_greeting_says_the_versions_may_differ() {
    // What a follower of another link protocol version does: it reads the hello and closes.
    let tmp = TempDir::new("ft-closing-follower");
    let fake = TcpListener::bind("127.0.0.1:0").unwrap();
    let fport = fake.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in fake.incoming().flatten() {
            let mut head = [0u8; 12];
            if std::io::Read::read_exact(&mut s, &mut head).is_ok() {
                let len = u32::from_le_bytes(head[8..12].try_into().unwrap()) as usize;
                let _ = std::io::Read::read_exact(&mut s, &mut vec![0u8; len]);
            }
        }
    });
    let sport = free_port();
    let out = spawn_primary(&tmp, fport, sport, "primary.log")
        .wait_with_output()
        .unwrap();
    let log = std::fs::read_to_string(tmp.join("primary.log")).unwrap();
    assert!(!out.status.success());
    let version = format!("link protocol version {}", ftlink::PROTOCOL_VERSION);
    assert!(
        log.contains("closed the connection instead of answering")
            && log.contains(&version)
            && log.contains("not started"),
        "{log}"
    );
}

#[test]
fn follower_started_after_the_primary() {
    let tmp = TempDir::new("ft-late-follower");
    let (fport, sport) = (free_port(), free_port());
    let primary = spawn_primary(&tmp, fport, sport, "primary.log");
    let mut guard = Cleanup(vec![primary], sport);
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", sport)).is_err(),
        "the server ran before its follower existed"
    );
    guard.0.push(spawn_follower(&tmp, fport, "follower.log"));
    let mut kv =
        Kv::connect(sport, Duration::from_secs(20)).expect("no server once the follower came");
    assert!(kv.set("k", "v"));
    assert_eq!(kv.get("k").as_deref(), Some("VALUE v"));
}

#[test]
fn follower_started_before_the_primary() {
    let tmp = TempDir::new("ft-early-follower");
    let (fport, sport) = (free_port(), free_port());
    let follower = spawn_follower(&tmp, fport, "follower.log");
    let mut guard = Cleanup(vec![follower], sport);
    std::thread::sleep(Duration::from_millis(300));
    guard
        .0
        .push(spawn_primary(&tmp, fport, sport, "primary.log"));
    let mut kv = Kv::connect(sport, Duration::from_secs(20)).expect("no server");
    assert!(kv.set("k", "v"));
    // Kill the primary: the separately started follower takes over.
    let primary_pid = guard.0[1].id() as i32;
    kill9(primary_pid);
    let mut kv = Kv::connect(sport, Duration::from_secs(20)).expect("no takeover");
    assert_eq!(kv.get("k").as_deref(), Some("VALUE v"));
}

#[test]
fn unreachable_follower_is_a_clear_error_and_the_server_is_not_started() {
    let tmp = TempDir::new("ft-unreachable");
    let sport = free_port();
    let dead = free_port(); // nothing listens there
    let out = spawn_primary(&tmp, dead, sport, "primary.log")
        .wait_with_output()
        .unwrap();
    let log = std::fs::read_to_string(tmp.join("primary.log")).unwrap();
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains("cannot reach the follower") && log.contains("not started"),
        "{log}"
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", sport)).is_err());
}

/// Reads a primary's hello and makes the reply a follower sharing `arbiter` gives (epoch 1,
/// the token read back).
fn fake_follower_hello(s: &mut std::net::TcpStream, arbiter: &std::path::Path) -> Vec<u8> {
    use std::io::Read;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    let mut p = vec![0u8; u32::from_le_bytes(head[8..12].try_into().unwrap()) as usize];
    s.read_exact(&mut p).unwrap();
    let mut at = 20;
    let mut take = || {
        let n = u32::from_le_bytes(p[at..at + 4].try_into().unwrap()) as usize;
        let text = String::from_utf8(p[at + 4..at + 4 + n].to_vec()).unwrap();
        at += 4 + n;
        text
    };
    let (_their_arbiter, token) = (take(), take());
    let proof = std::fs::read_to_string(arbiter.join(format!("token-{token}"))).unwrap();
    let mut payload = ftlink::PROTOCOL_VERSION.to_le_bytes().to_vec();
    payload.extend_from_slice(&1u64.to_le_bytes());
    payload.extend_from_slice(&0u64.to_le_bytes());
    for text in ["fake follower", &token, &proof] {
        payload.extend_from_slice(&(text.len() as u32).to_le_bytes());
        payload.extend_from_slice(text.as_bytes());
    }
    let mut hello = b"FTLK\x01\0\0\0".to_vec();
    hello.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    hello.extend_from_slice(&payload);
    hello
}

#[test]
fn a_follower_that_heartbeats_but_never_acknowledges_counts_as_gone() {
    // A one-way partition seen from the primary: heartbeats arrive, acknowledgements do not.
    // The held output must not wait forever: after the timeout the primary asks the arbiter.
    let tmp = TempDir::new("ft-no-acks");
    let fake = TcpListener::bind("127.0.0.1:0").unwrap();
    let fport = fake.local_addr().unwrap().port();
    let arbiter = tmp.join("arbiter");
    std::thread::spawn(move || {
        if let Some(Ok(mut s)) = fake.incoming().next() {
            let hello = fake_follower_hello(&mut s, &arbiter);
            let _ = s.write_all(&hello);
            let mut sink = s.try_clone().unwrap();
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut sink, &mut std::io::sink());
            });
            while s.write_all(b"FTLK\x04\0\0\0\0\0\0\0").is_ok() {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    });
    let sport = free_port();
    let primary = spawn_primary(&tmp, fport, sport, "primary.log");
    let _guard = Cleanup(vec![primary], sport);
    let mut kv =
        Kv::connect(sport, Duration::from_secs(20)).expect("the primary never went on alone");
    assert!(kv.set("k", "v"));
    let log = std::fs::read_to_string(tmp.join("primary.log")).unwrap();
    assert!(
        log.contains("no acknowledgement within the timeout") && log.contains("goes on alone"),
        "{log}"
    );
    assert!(tmp.join("arbiter/epoch-2").exists());
}

#[test]
fn a_reused_state_directory_still_fails_over() {
    // The arbiter directory outlives a run; the next run must claim epochs above the old ones.
    let tmp = TempDir::new("ft-reuse");
    let state = tmp.join("state");
    for run in 0..2 {
        let port = free_port();
        let log = tmp.join(format!("run{run}.log"));
        let mut primary = Command::new(ftrun_bin())
            .arg("--state-dir")
            .arg(&state)
            .arg("--")
            .arg(testprog("kv_server"))
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let _guard = Cleanup(Vec::new(), port);
        let mut kv = Kv::connect(port, Duration::from_secs(20)).unwrap_or_else(|| {
            panic!(
                "run {run}: the server never answered\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        assert!(kv.set("k", &format!("run{run}")));
        let _ = primary.kill();
        let _ = primary.wait();
        let mut kv = Kv::connect(port, Duration::from_secs(20)).unwrap_or_else(|| {
            panic!(
                "run {run}: no takeover\n{}",
                std::fs::read_to_string(&log).unwrap()
            )
        });
        assert_eq!(kv.get("k"), Some(format!("VALUE run{run}")));
        let text = std::fs::read_to_string(&log).unwrap();
        let epoch = 2 * run + 2;
        assert!(
            text.contains(&format!("live as epoch {epoch}")),
            "run {run}:\n{text}"
        );
        // The follower that took over is this run's primary now, with a new follower of its
        // own; the next run takes their locks: both must be gone first (killed together, so
        // that neither takes over from the other).
        // Every ftrun of this state directory (a follower being started may not have
        // written its pid file yet).
        let mut pids: Vec<i32> = ["primary.pid", "follower.pid"]
            .iter()
            .filter_map(|f| read_pid(&state.join(f)))
            .collect();
        pids.extend(pids_matching(&state.to_string_lossy()));
        pids.retain(|&p| p != std::process::id() as i32);
        for &pid in &pids {
            kill9(pid);
        }
        for pid in pids {
            kill9_and_wait(pid);
        }
    }
}

#[test]
fn an_epoll_server_with_a_log_file_goes_live_with_its_file_and_its_epoll_set() {
    let Ok(out) = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
    else {
        eprintln!("SKIPPED: no python3");
        return;
    };
    let python = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let tmp = TempDir::new("ft-epoll-log");
    let port = free_port();
    let logfile = tmp.join("writes.log");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testprogs/epoll_log_server.py");
    let mut primary = Command::new(ftrun_bin())
        .arg("--state-dir")
        .arg(tmp.join("state"))
        .arg("--")
        .arg(&python)
        .arg(&script)
        .arg(port.to_string())
        .arg(&logfile)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(tmp.join("ftrun.log")).unwrap())
        .spawn()
        .unwrap();
    let _guard = Cleanup(Vec::new(), port);
    let ftlog = || std::fs::read_to_string(tmp.join("ftrun.log")).unwrap_or_default();
    let mut kv = Kv::connect(port, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("no server\n{}", ftlog()));
    for i in 0..20 {
        assert!(kv.set(&format!("k{i}"), &format!("v{i}")));
    }
    let _ = primary.kill();
    let _ = primary.wait();
    let mut kv = Kv::connect(port, Duration::from_secs(20))
        .unwrap_or_else(|| panic!("no takeover\n{}", ftlog()));
    for i in 0..20 {
        assert_eq!(
            kv.get(&format!("k{i}")),
            Some(format!("VALUE v{i}")),
            "{}",
            ftlog()
        );
    }
    assert!(kv.set("after", "takeover"), "{}", ftlog());
    // The live server appends to the same log file at its end: 20 writes, then one more.
    let text = std::fs::read_to_string(&logfile).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 21, "{text}");
    assert_eq!(lines[20], "SET after takeover");
    assert!(
        ftlog().contains("1 files, 1 listening sockets"),
        "{}",
        ftlog()
    );
    if let Some(pid) = read_pid(&tmp.join("state/follower.pid")) {
        kill9(pid);
    }
}

#[test]
fn outputs_with_no_new_input_between_them_wait_for_one_acknowledgement() {
    let tmp = TempDir::new("ft-burst");
    let out = Command::new(ftrun_bin())
        .arg("--state-dir")
        .arg(tmp.join("state"))
        .arg("--")
        .arg(testprog("burst_writes"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 25, "{stdout}");
    assert!(stdout.contains("burst 19\n") && stdout.contains("after 4\n"));
    // "ftrun: K of N outputs waited …": the burst's writes follow no new input, so at most
    // the first of them and the first after getppid wait for the follower (none, if its
    // acknowledgements came first).
    let report = ftrun_lines(&out.stderr)
        .into_iter()
        .find(|l| l.contains("outputs waited"))
        .unwrap_or_else(|| panic!("no gate report\n{}", describe(&out)));
    let numbers: Vec<u64> = report
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let (waited, outputs) = (numbers[0], numbers[1]);
    assert_eq!(outputs, 25, "{report}");
    assert!(waited <= 4, "{report}");
}

#[test]
fn the_follower_acknowledges_calls_made_in_process_while_the_program_runs_on() {
    // The program makes in-process calls (three every 5 ms) with no ptrace stop until the
    // marker appears; its ring would hold them for many seconds. Streamed, they reach the
    // follower and are acknowledged while it runs.
    let tmp = TempDir::new("ft-streaming");
    let state = tmp.join("state");
    let marker = tmp.join("marker");
    let mut ft = spawn_ftrun([
        "--state-dir".as_ref(),
        state.as_os_str(),
        "--".as_ref(),
        testprog("calls_until_marker").as_os_str(),
        marker.as_os_str(),
    ]);
    let start = Instant::now();
    let mut acked = 0;
    while start.elapsed() < Duration::from_secs(10) && !ft.has_exited() {
        let doc: Option<serde_json::Value> = std::fs::read(state.join("status.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        acked = doc
            .and_then(|d| d["primary"]["acked_seq"].as_u64())
            .unwrap_or(0);
        if acked >= 600 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::write(&marker, "").unwrap();
    let out = ft.wait();
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains("saw the marker after some rounds"),
        "{}",
        describe(&out)
    );
    assert!(
        acked >= 600,
        "only {acked} events were acknowledged while the program ran\n{}",
        describe(&out)
    );
}

/// A v1 freezer cgroup holding `pid`'s threads, thawed and removed on drop; None where the
/// machine has no freezer hierarchy.
struct Frozen(std::path::PathBuf);

impl Frozen {
    fn freeze(pid: i32, label: &str) -> Option<Frozen> {
        let dir = std::path::Path::new("/sys/fs/cgroup/freezer")
            .join(format!("ftrun-test-{label}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let frozen = Frozen(dir);
        std::fs::write(frozen.0.join("cgroup.procs"), pid.to_string()).ok()?;
        std::fs::write(frozen.0.join("freezer.state"), "FROZEN").ok()?;
        Some(frozen)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = std::fs::write(self.0.join("freezer.state"), "THAWED");
        // Back to the root group, then the group can go.
        if let Ok(procs) = std::fs::read_to_string(self.0.join("cgroup.procs")) {
            for p in procs.lines() {
                let _ = std::fs::write("/sys/fs/cgroup/freezer/cgroup.procs", p);
            }
        }
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn a_follower_whose_replay_falls_behind_slows_the_primary_down() {
    let tmp = TempDir::new("ft-throttle");
    let state = tmp.join("state");
    let ft = spawn_ftrun([
        "--state-dir".as_ref(),
        state.as_os_str(),
        "--max-lag-ms".as_ref(),
        "300".as_ref(),
        "--".as_ref(),
        testprog("tick_lines").as_os_str(),
        "120".as_ref(),
    ]);
    // The follower's replayed process, once it runs.
    let start = Instant::now();
    let replayed_pid = loop {
        let doc: Option<serde_json::Value> = std::fs::read(state.join("status.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let pid = doc
            .and_then(|d| d["follower"]["server_pid"].as_i64())
            .unwrap_or(0);
        if pid > 0 || start.elapsed() > Duration::from_secs(10) {
            break pid as i32;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(replayed_pid > 0, "the follower never showed its replay");
    // Its replay stops (the follower itself still receives and acknowledges) for 1.5 s:
    // the follower falls behind, and the primary's outputs wait for it.
    let frozen = Frozen::freeze(replayed_pid, "throttle");
    std::thread::sleep(Duration::from_millis(1500));
    let was_frozen = frozen.is_some();
    drop(frozen);
    let out = ft.wait();
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 120, "{stdout}");
    assert!(stdout.ends_with("line 119\n"), "{stdout}");
    let throttled = ftrun_lines(&out.stderr)
        .into_iter()
        .any(|l| l.contains("waited for the follower's replay to catch up"));
    if was_frozen {
        assert!(
            throttled,
            "no output waited for a follower 1.5 s behind\n{}",
            describe(&out)
        );
    } else {
        // Without a freezer cgroup nothing slows the follower: nothing waits for it.
        eprintln!("no freezer cgroup here: checking that a follower that keeps up slows nothing");
        assert!(!throttled, "{}", describe(&out));
    }
}

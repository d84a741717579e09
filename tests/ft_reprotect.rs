//! Re-protection: the follower that takes over keeps the server under ftrun as the new
//! primary, and a new follower catches up from the whole log (replaying the program from its
//! start) and protects it again — takeover after takeover, locally (a new local follower
//! each time) and across hosts (`ftrun follow --join`, or a follower restarted at its
//! address). A follower that never had the whole log cannot take over.

mod common;
mod ft_support;

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ft_support::*;

fn status_json(state: &std::path::Path) -> serde_json::Value {
    let out = Command::new(ftrun_bin())
        .arg("status")
        .arg("--json")
        .arg("--state-dir")
        .arg(state)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// Waits (up to 30 s) until `status` says the server is protected; returns the last status.
fn wait_protected(state: &std::path::Path) -> serde_json::Value {
    wait_status(state, |doc| doc["protected"] == true)
}

/// Waits (up to 30 s) until `status` says what `done` wants; returns the last status.
fn wait_status(
    state: &std::path::Path,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let doc = status_json(state);
        if done(&doc) || Instant::now() > deadline {
            return doc;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// True once `pid` has ended (gone, or a zombie nobody reaps).
fn gone(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
        let state = s[s.rfind(')').unwrap() + 1..].split_whitespace().next();
        matches!(state, Some("Z" | "X"))
    })
}

fn wait_gone(pid: i32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while !gone(pid) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

fn parent_of(pid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("PPid:"))?;
    line[5..].trim().parse().ok()
}

#[test]
fn three_takeovers_in_a_row_lose_no_acknowledged_write_and_each_ends_protected_again() {
    // Each generation's primary is lost in turn; after each takeover the old primary and its
    // server are gone, every acknowledged write is there, and `status` names the follower
    // that took over as the primary, protected again by a new follower.
    let ft = FtServer::start("ft-reprotect-3", &[]);
    let mut kv = ft.client();
    let mut acked: Vec<(String, String)> = Vec::new();
    for generation in 1..=4u64 {
        for i in 0..20 {
            let (k, v) = (format!("g{generation}k{i}"), format!("v{generation}-{i}"));
            assert!(
                kv.set(&k, &v),
                "generation {generation}: SET {k} failed\n{}",
                ft.log_text()
            );
            acked.push((k, v));
        }
        // Protected: the primary named by primary.pid runs the server, a follower of this
        // epoch has the whole log and acknowledges (and replays it: its copy is running).
        let doc = wait_status(&ft.state, |doc| {
            doc["protected"] == true
                && doc["follower"]["stale"].is_null()
                && doc["follower"]["server_pid"].as_i64().unwrap_or(0) > 0
        });
        assert_eq!(
            doc["protected"],
            true,
            "generation {generation}: not protected again\n{doc}\n{}",
            ft.log_text()
        );
        let primary = ft.current_primary().expect("primary.pid");
        let follower = ft.follower_pid().expect("follower.pid");
        assert_ne!(primary, follower, "{doc}");
        assert_eq!(doc["primary"]["pid"], primary, "{doc}");
        assert_eq!(doc["primary"]["role"], "primary", "{doc}");
        assert_eq!(doc["primary"]["epoch"], generation, "{doc}");
        assert_eq!(doc["follower"]["pid"], follower, "{doc}");
        assert_eq!(doc["follower"]["role"], "follower", "{doc}");
        assert!(doc["follower"]["stale"].is_null(), "{doc}");
        let server = doc["primary"]["server_pid"].as_i64().unwrap() as i32;
        assert_eq!(doc["server_pid"], server, "{doc}");
        assert_eq!(parent_of(server), Some(primary), "{doc}");
        if generation == 1 {
            assert_eq!(primary, ft.primary_pid());
        }
        if generation == 4 {
            break;
        }
        // This generation's primary dies — or, the second time, only stops (a SIGSTOP, a VM
        // pause): the follower that takes over on this host must stop it and its server for
        // good. Either way the follower takes over with every acknowledged write.
        if generation == 2 {
            // SAFETY: a plain kill of a process this test started.
            unsafe {
                libc::kill(primary, libc::SIGSTOP);
            }
        } else {
            kill9(primary);
        }
        let mut next = Kv::connect(ft.port, Duration::from_secs(30)).unwrap_or_else(|| {
            panic!(
                "generation {generation}: no server after the primary died\n{}",
                ft.log_text()
            )
        });
        assert!(
            wait_gone(primary, Duration::from_secs(5)),
            "generation {generation}: the killed primary {primary} still runs"
        );
        assert!(
            wait_gone(server, Duration::from_secs(5)),
            "generation {generation}: the killed primary's server {server} still runs\n{}",
            ft.log_text()
        );
        for (k, v) in &acked {
            assert_eq!(
                next.get(k).as_deref(),
                Some(format!("VALUE {v}").as_str()),
                "generation {generation}: acknowledged {k} lost after takeover {generation}\n{}",
                ft.log_text()
            );
        }
        assert_eq!(
            ft.current_primary(),
            Some(follower),
            "the follower that took over should be the primary now"
        );
        kv = next;
    }
    let log = ft.log_text();
    assert!(
        log.contains("the primary of epoch 2 still ran on this host"),
        "the paused primary was not stopped by the takeover\n{log}"
    );
    for epoch in 2..=4 {
        assert!(
            log.contains(&format!("live as epoch {epoch}"))
                && log.contains(&format!("protected again in epoch {epoch}")),
            "epoch {epoch}: no takeover or no re-protection\n{log}"
        );
    }
    // The log of the last primary holds the whole history and its three takeovers.
    let takeovers =
        std::fs::read_to_string(ft.state.join("primary-log/takeovers")).unwrap_or_default();
    assert_eq!(takeovers.lines().count(), 3, "{takeovers}");
}

/// A small deterministic generator for the kill moments (a failing run can be rerun).
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn primaries_killed_one_after_another_at_random_moments_lose_no_acknowledged_write() {
    // No waiting for `status` between kills: a reply the new primary gives right after its
    // takeover already waits until its new follower has the whole log.
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let ft = FtServer::start("ft-reprotect-chain", &[]);
    let mut kv = ft.client();
    let mut acked: Vec<(String, String)> = Vec::new();
    // Every new follower replays the whole history, the part recorded after a takeover
    // with a ptrace stop per call: short windows keep a loaded machine from starving the
    // links' threads into false failovers.
    for kill in 1..=5 {
        let kill_after = Duration::from_millis(20 + xorshift(&mut rng) % 300);
        let started = Instant::now();
        let mut i = 0;
        while started.elapsed() < kill_after {
            let (k, v) = (
                format!("c{kill}k{i}"),
                format!("{}", xorshift(&mut rng) % 1000),
            );
            assert!(
                kv.set(&k, &v),
                "kill {kill}: SET {k} failed\n{}",
                ft.log_text()
            );
            acked.push((k, v));
            i += 1;
        }
        let primary = ft.current_primary().expect("primary.pid");
        kill9(primary);
        let late = kv.set(&format!("late{kill}"), "x");
        kv = Kv::connect(ft.port, Duration::from_secs(30)).unwrap_or_else(|| {
            panic!(
                "kill {kill}: no server after the primary died\n{}",
                ft.log_text()
            )
        });
        for (k, v) in &acked {
            assert_eq!(
                kv.get(k).as_deref(),
                Some(format!("VALUE {v}").as_str()),
                "kill {kill} (after {kill_after:?}): acknowledged {k} lost\n{}",
                ft.log_text()
            );
        }
        if late {
            assert_eq!(kv.get(&format!("late{kill}")).as_deref(), Some("VALUE x"));
        }
        assert!(wait_gone(primary, Duration::from_secs(5)));
    }
    assert!(
        ft.log_text().contains("live as epoch 6"),
        "{}",
        ft.log_text()
    );
}

#[test]
fn the_log_of_a_primary_after_takeovers_replays_from_the_programs_start() {
    let ft = FtServer::start("ft-reprotect-replay", &[]);
    let mut kv = ft.client();
    for generation in 0..3 {
        for i in 0..5 {
            assert!(
                kv.set(&format!("g{generation}k{i}"), "v"),
                "{}",
                ft.log_text()
            );
        }
        assert_eq!(
            wait_protected(&ft.state)["protected"],
            true,
            "{}",
            ft.log_text()
        );
        if generation < 2 {
            kill9(ft.current_primary().unwrap());
            kv = Kv::connect(ft.port, Duration::from_secs(30))
                .unwrap_or_else(|| panic!("no takeover\n{}", ft.log_text()));
        }
    }
    // The server ends (SIGTERM to the primary is passed to it): the log gets its end.
    let (primary, follower) = (ft.current_primary().unwrap(), ft.follower_pid().unwrap());
    // SAFETY: a plain kill of a process this test started.
    unsafe {
        libc::kill(primary, libc::SIGTERM);
    }
    assert!(
        wait_gone(primary, Duration::from_secs(20)),
        "{}",
        ft.log_text()
    );
    assert!(
        wait_gone(follower, Duration::from_secs(20)),
        "{}",
        ft.log_text()
    );
    let out = Command::new(ftrun_bin())
        .arg("replay")
        .arg(ft.state.join("primary-log"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGTERM), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("listening on {}\n", ft.port),
        "{err}"
    );
    assert!(!err.contains("divergence"), "{err}");
}

/// `ftrun follow` for the remote tests (own state dir, the shared arbiter).
fn follower(tmp: &TempDir, name: &str, args: &[String]) -> Child {
    Command::new(ftrun_bin())
        .arg("follow")
        .args(args)
        .arg("--state-dir")
        .arg(tmp.join(name))
        .arg("--arbiter")
        .arg(format!("file:{}", tmp.join("arbiter").display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(tmp.join(format!("{name}.log"))).unwrap())
        .spawn()
        .unwrap()
}

fn logs(tmp: &TempDir, names: &[&str]) -> String {
    names
        .iter()
        .map(|n| {
            format!(
                "== {n}\n{}",
                std::fs::read_to_string(tmp.join(format!("{n}.log"))).unwrap_or_default()
            )
        })
        .collect()
}

struct Killer(Vec<Child>, u16);

impl Drop for Killer {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
        }
        for c in &mut self.0 {
            let _ = c.wait();
        }
        for p in pids_matching(&format!("kv_server {}", self.1)) {
            kill9(p);
        }
    }
}

#[test]
fn followers_started_anywhere_join_the_primary_that_took_over() {
    let tmp = TempDir::new("ft-reprotect-join");
    let (fport, sport, jport) = (free_port(), free_port(), free_port());
    let mut procs = Killer(Vec::new(), sport);
    procs.0.push(follower(
        &tmp,
        "f",
        &["--listen".into(), format!("127.0.0.1:{fport}")],
    ));
    std::thread::sleep(Duration::from_millis(300));
    let primary = Command::new(ftrun_bin())
        .args(["--follower", &format!("127.0.0.1:{fport}")])
        .arg("--state-dir")
        .arg(tmp.join("p"))
        .arg("--arbiter")
        .arg(format!("file:{}", tmp.join("arbiter").display()))
        .arg("--")
        .arg(testprog("kv_server"))
        .arg(sport.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(tmp.join("p.log")).unwrap())
        .spawn()
        .unwrap();
    procs.0.push(primary);
    let all = ["p", "f", "j"];
    let mut kv = Kv::connect(sport, Duration::from_secs(20))
        .unwrap_or_else(|| panic!("no server\n{}", logs(&tmp, &all)));
    let mut acked = Vec::new();
    for i in 0..10 {
        assert!(kv.set(&format!("a{i}"), "1"));
        acked.push(format!("a{i}"));
    }
    let _ = procs.0[1].kill();
    let _ = procs.0[1].wait();
    let mut kv = Kv::connect(sport, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("no takeover\n{}", logs(&tmp, &all)));
    // The follower runs the server as the primary, alone: not protected.
    let fpid = procs.0[0].id() as i32;
    let deadline = Instant::now() + Duration::from_secs(10);
    let doc = loop {
        let doc = status_json(&tmp.join("f"));
        if doc["primary"]["pid"] == fpid || Instant::now() > deadline {
            break doc;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(doc["primary"]["role"], "alone", "{doc}");
    assert_eq!(doc["protected"], false, "{doc}");
    assert_eq!(read_pid(&tmp.join("f/primary.pid")), Some(fpid));
    // A follower joins it where it listened as a follower, and protects it again.
    procs.0.push(follower(
        &tmp,
        "j",
        &[
            "--join".into(),
            format!("127.0.0.1:{fport}"),
            "--listen".into(),
            format!("127.0.0.1:{jport}"),
        ],
    ));
    let doc = wait_protected(&tmp.join("f"));
    assert_eq!(doc["protected"], true, "{doc}\n{}", logs(&tmp, &all));
    assert_eq!(doc["primary"]["epoch"], 2, "{doc}");
    for i in 0..10 {
        assert!(kv.set(&format!("b{i}"), "2"), "{}", logs(&tmp, &all));
        acked.push(format!("b{i}"));
    }
    // A second follower is turned away while the first one protects the primary.
    let refused = Command::new(ftrun_bin())
        .args(["follow", "--join", &format!("127.0.0.1:{fport}")])
        .arg("--state-dir")
        .arg(tmp.join("k"))
        .arg("--arbiter")
        .arg(format!("file:{}", tmp.join("arbiter").display()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && err.contains("turned this follower away"),
        "{err}"
    );
    // The primary that took over dies in turn: the follower that joined takes over.
    let server = doc["primary"]["server_pid"].as_i64().unwrap() as i32;
    let _ = procs.0[0].kill();
    let _ = procs.0[0].wait();
    let mut kv = Kv::connect(sport, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("no second takeover\n{}", logs(&tmp, &all)));
    assert!(
        wait_gone(server, Duration::from_secs(5)),
        "{server} still runs"
    );
    for k in &acked {
        assert!(
            kv.get(k).is_some_and(|v| v.starts_with("VALUE")),
            "{k} lost\n{}",
            logs(&tmp, &all)
        );
    }
    let jlog = logs(&tmp, &["j"]);
    assert!(
        jlog.contains("joined the primary") && jlog.contains("live as epoch 3"),
        "{jlog}"
    );
}

/// A primary (`p`, on a KV server) with a follower (`f`, listening) on a shared file
/// arbiter; one write, then the follower killed and one more write, which the primary,
/// alone now, serves. Returns the processes, the client and the follower's `--listen`.
fn primary_left_alone(tmp: &TempDir) -> (Killer, Kv, Vec<String>) {
    let (fport, sport) = (free_port(), free_port());
    let listen = vec!["--listen".to_string(), format!("127.0.0.1:{fport}")];
    let mut procs = Killer(vec![follower(tmp, "f", &listen)], sport);
    std::thread::sleep(Duration::from_millis(300));
    procs.0.push(
        Command::new(ftrun_bin())
            .args(["--follower", &format!("127.0.0.1:{fport}")])
            .arg("--state-dir")
            .arg(tmp.join("p"))
            .arg("--arbiter")
            .arg(format!("file:{}", tmp.join("arbiter").display()))
            .arg("--")
            .arg(testprog("kv_server"))
            .arg(sport.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(tmp.join("p.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let all = ["p", "f"];
    let mut kv = Kv::connect(sport, Duration::from_secs(20))
        .unwrap_or_else(|| panic!("no server\n{}", logs(tmp, &all)));
    assert!(kv.set("before", "1"));
    let _ = procs.0[0].kill();
    let _ = procs.0[0].wait();
    assert!(kv.set("alone", "2"), "{}", logs(tmp, &all));
    (procs, kv, listen)
}

#[test]
fn a_follower_restarted_at_its_address_rejoins_its_primary() {
    let tmp = TempDir::new("ft-reprotect-restart");
    let all = ["p", "f", "f2"];
    let (mut procs, mut kv, listen) = primary_left_alone(&tmp);
    // Restarted where it was: the primary finds it there and sends it the whole log.
    procs.0.push(follower(&tmp, "f2", &listen));
    let doc = wait_protected(&tmp.join("p"));
    assert_eq!(doc["protected"], true, "{doc}\n{}", logs(&tmp, &all));
    assert_eq!(doc["primary"]["epoch"], 2, "{doc}");
    assert!(kv.set("after", "3"));
    let _ = procs.0[1].kill();
    let _ = procs.0[1].wait();
    let mut kv = Kv::connect(procs.1, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("no takeover\n{}", logs(&tmp, &all)));
    for (k, v) in [("before", "1"), ("alone", "2"), ("after", "3")] {
        assert_eq!(
            kv.get(k),
            Some(format!("VALUE {v}")),
            "{}",
            logs(&tmp, &all)
        );
    }
    assert!(
        logs(&tmp, &["p"]).contains("protected again in epoch 2"),
        "{}",
        logs(&tmp, &all)
    );
}

/// The file start and header frame of a trace file, then its first chunk frame.
fn prelude_and_first_chunk(events: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let frame_len =
        |at: usize| 16 + u32::from_le_bytes(events[at + 4..at + 8].try_into().unwrap()) as usize;
    let header_end = 16 + frame_len(16);
    let chunk_end = header_end + frame_len(header_end);
    (
        events[..header_end].to_vec(),
        events[header_end..chunk_end].to_vec(),
    )
}

fn message(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut m = b"FTLK".to_vec();
    m.extend_from_slice(&[kind, 0, 0, 0]);
    m.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    m.extend_from_slice(payload);
    m
}

#[test]
fn a_follower_that_never_had_the_whole_log_does_not_take_over() {
    // A primary that greets, sends the first events of a log and dies before it has sent
    // the rest (a follower joining a log under way): the follower must not go live with
    // part of the history.
    let tmp = TempDir::new("ft-reprotect-unsynced");
    let rec = Command::new(ftrun_bin())
        .args(["record", "--no-fast-path", "-o"])
        .arg(tmp.join("trace"))
        .arg("--")
        .arg(testprog("fast_calls"))
        .arg("3000")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        rec.status.success(),
        "{}",
        String::from_utf8_lossy(&rec.stderr)
    );
    let events = std::fs::read(tmp.join("trace/events")).unwrap();
    let (prelude, chunk) = prelude_and_first_chunk(&events);
    let fport = free_port();
    let mut f = Killer(
        vec![follower(
            &tmp,
            "f",
            &["--listen".into(), format!("127.0.0.1:{fport}")],
        )],
        0,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut s = loop {
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", fport)) {
            break s;
        }
        assert!(Instant::now() < deadline, "the follower never listened");
        std::thread::sleep(Duration::from_millis(20));
    };
    let token = "00112233445566778899aabbccddeeff";
    std::fs::create_dir_all(tmp.join("arbiter")).unwrap();
    std::fs::write(tmp.join(format!("arbiter/token-{token}")), "fake proof").unwrap();
    let mut hello = ftlink::PROTOCOL_VERSION.to_le_bytes().to_vec();
    hello.extend_from_slice(&1u64.to_le_bytes()); // epoch
    hello.extend_from_slice(&0u64.to_le_bytes());
    for text in ["fake primary", token, ""] {
        hello.extend_from_slice(&(text.len() as u32).to_le_bytes());
        hello.extend_from_slice(text.as_bytes());
    }
    hello.extend_from_slice(&prelude);
    s.write_all(&message(1, &hello)).unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    let mut reply = vec![0u8; u32::from_le_bytes(head[8..12].try_into().unwrap()) as usize];
    s.read_exact(&mut reply).unwrap();
    s.write_all(&message(6, b"")).unwrap(); // no takeovers
    for file in std::fs::read_dir(tmp.join("trace/files"))
        .unwrap()
        .flatten()
    {
        let name = file.file_name().into_string().unwrap();
        let mut payload = (name.len() as u32).to_le_bytes().to_vec();
        payload.extend_from_slice(name.as_bytes());
        payload.extend_from_slice(&std::fs::read(file.path()).unwrap());
        s.write_all(&message(5, &payload)).unwrap();
    }
    s.write_all(&message(2, &chunk)).unwrap(); // part of the log; never `Synced`
                                               // Then silence, the connection open.
    let status = f.0[0].wait().unwrap();
    drop(s);
    let log = logs(&tmp, &["f"]);
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("before it had sent this follower the whole log"),
        "{log}"
    );
    assert!(!log.contains("live as epoch"), "{log}");
    assert!(
        !tmp.join("arbiter/epoch-2").exists(),
        "the follower claimed an epoch without the whole log"
    );
}

#[test]
fn a_primary_alone_whose_epoch_was_overtaken_is_fenced_off_when_a_follower_comes() {
    // Epochs are fencing tokens: a primary that went on alone in epoch 2 while the shared
    // arbiter came to hold a later epoch (another side took over meanwhile) must not be
    // protected again as if it were current — the follower it finds answers with the later
    // epoch, and the primary stops its server.
    let tmp = TempDir::new("ft-reprotect-fenced");
    let all = ["p", "f", "f2"];
    let (mut procs, _kv, listen) = primary_left_alone(&tmp);
    let doc = wait_status(&tmp.join("p"), |doc| doc["primary"]["role"] == "alone");
    assert_eq!(doc["primary"]["role"], "alone", "{doc}");
    assert_eq!(doc["primary"]["epoch"], 2, "{doc}");
    let server = doc["primary"]["server_pid"].as_i64().unwrap() as i32;
    // Someone else wins epoch 3 at the shared arbiter.
    std::fs::write(tmp.join("arbiter/epoch-3"), "another side").unwrap();
    procs.0.push(follower(&tmp, "f2", &listen));
    let deadline = Instant::now() + Duration::from_secs(20);
    let ended = loop {
        if let Some(status) = procs.0[1].try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = logs(&tmp, &all);
    let status = ended.unwrap_or_else(|| panic!("the overtaken primary goes on\n{text}"));
    assert!(!status.success(), "{text}");
    assert!(
        logs(&tmp, &["p"]).contains("epoch 3 was claimed")
            && !logs(&tmp, &["p"]).contains("protected again"),
        "{text}"
    );
    assert!(
        wait_gone(server, Duration::from_secs(5)),
        "the overtaken primary's server {server} still runs\n{text}"
    );
    assert!(!logs(&tmp, &["f2"]).contains("live as epoch"), "{text}");
}

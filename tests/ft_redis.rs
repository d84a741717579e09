//! Fault tolerance for a real multi-threaded server: redis-server under `ftrun --` with its
//! local follower; the primary dies and every acknowledged SET is there after takeover.

mod common;
mod ft_support;
mod redis_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ft_support::*;
use redis_support::*;

struct RedisFt {
    tmp: TempDir,
    port: u16,
    primary: std::process::Child,
}

impl RedisFt {
    fn start() -> RedisFt {
        let (server, _, _) = redis_tools();
        let tmp = TempDir::new("ft-redis");
        let port = free_port();
        let primary = Command::new(ftrun_bin())
            .arg("--state-dir")
            .arg(tmp.join("state"))
            .arg("--")
            .arg(server)
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(tmp.join("server.out")).unwrap())
            .stderr(std::fs::File::create(tmp.join("ftrun.log")).unwrap())
            .spawn()
            .unwrap();
        RedisFt { tmp, port, primary }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.tmp.join("ftrun.log")).unwrap_or_default()
    }
}

impl Drop for RedisFt {
    fn drop(&mut self) {
        let _ = self.primary.kill();
        let _ = self.primary.wait();
        // After a takeover the follower that took over is the primary: both go at once.
        for name in ["state/primary.pid", "state/follower.pid"] {
            if let Some(p) = read_pid(&self.tmp.join(name)) {
                kill9(p);
            }
        }
        for p in pids_matching(&format!("*:{}", self.port)) {
            kill9(p);
        }
        for p in pids_matching(&format!("--port {}", self.port)) {
            kill9(p);
        }
    }
}

#[test]
fn redis_primary_killed_keeps_every_acknowledged_set() {
    let ft = RedisFt::start();
    let mut r = Redis::connect(ft.port, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("redis under ftrun never answered\n{}", ft.log()));
    let started = Instant::now();
    let mut acked = Vec::new();
    while started.elapsed() < Duration::from_millis(700) {
        let (k, v) = (
            format!("key{}", acked.len()),
            format!("value{}", acked.len()),
        );
        assert!(
            r.set(&k, &v),
            "SET {k} failed before the kill\n{}",
            ft.log()
        );
        acked.push((k, v));
    }
    kill9(ft.primary.id() as i32);
    let late = r.set("late", "x");
    let mut r = Redis::connect(ft.port, Duration::from_secs(20))
        .unwrap_or_else(|| panic!("no redis after the primary died\n{}", ft.log()));
    for (k, v) in &acked {
        assert_eq!(
            r.command(&["GET", k]).as_deref(),
            Some(v.as_str()),
            "acknowledged SET {k} lost after takeover ({} acknowledged)\n{}",
            acked.len(),
            ft.log()
        );
    }
    if late {
        assert_eq!(r.command(&["GET", "late"]).as_deref(), Some("x"));
    }
    // The server that took over is live: it takes new writes.
    assert!(r.set("after", "takeover"));
    assert_eq!(r.command(&["GET", "after"]).as_deref(), Some("takeover"));
    let log = ft.log();
    assert!(
        log.contains("takeover in") && log.contains("live as epoch 2"),
        "no takeover line\n{log}"
    );
    eprintln!(
        "{} acknowledged SETs, all there after takeover",
        acked.len()
    );
}

#[test]
fn redis_three_takeovers_in_a_row_keep_every_acknowledged_set() {
    // Each follower that takes over stays redis's primary, with a new follower that replays
    // redis (and its threads) from its start, across every takeover before.
    let ft = RedisFt::start();
    let state = ft.tmp.join("state");
    let mut r = Redis::connect(ft.port, Duration::from_secs(30))
        .unwrap_or_else(|| panic!("redis under ftrun never answered\n{}", ft.log()));
    let mut acked = Vec::new();
    for generation in 1..=3 {
        for i in 0..20 {
            let (k, v) = (format!("g{generation}k{i}"), format!("v{i}"));
            assert!(r.set(&k, &v), "SET {k} failed\n{}", ft.log());
            acked.push((k, v));
        }
        let primary = read_pid(&state.join("primary.pid")).expect("primary.pid");
        kill9(primary);
        r = Redis::connect(ft.port, Duration::from_secs(30))
            .unwrap_or_else(|| panic!("no redis after takeover {generation}\n{}", ft.log()));
        for (k, v) in &acked {
            assert_eq!(
                r.command(&["GET", k]).as_deref(),
                Some(v.as_str()),
                "acknowledged SET {k} lost after takeover {generation}\n{}",
                ft.log()
            );
        }
        assert!(
            ft.log()
                .contains(&format!("live as epoch {}", generation + 1)),
            "{}",
            ft.log()
        );
    }
    assert!(r.set("after", "three"), "{}", ft.log());
    let log = ft.log();
    assert!(log.contains("protected again in epoch 4"), "{log}");
}

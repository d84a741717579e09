//! redis-server, a real multi-threaded server: recorded while redis-benchmark and
//! redis-cli drive it, then replayed to the same end.

mod common;
mod redis_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use redis_support::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn redis_driven_by_benchmark_and_cli_replays_to_the_same_end() {
    let (server, cli, bench) = redis_tools();
    let tmp = TempDir::new("redis-record");
    let dir = tmp.join("trace");
    let port = free_port().to_string();
    let running = spawn_record(
        &dir,
        &server,
        ["--port", &port, "--save", "", "--appendonly", "no"],
    );
    let mut r = Redis::connect(port.parse().unwrap(), Duration::from_secs(30))
        .unwrap_or_else(|| panic!("redis under ftrun record never answered"));
    for (args, expect) in [
        (vec!["SET", "greeting", "hello"], "+OK"),
        (vec!["RPUSH", "list", "a", "b", "c"], ":3"),
        (vec!["INCRBY", "counter", "41"], ":41"),
    ] {
        assert_eq!(r.command(&args).as_deref(), Some(expect), "{args:?}");
    }
    let out = Command::new(&bench)
        .args([
            "-p",
            &port,
            "-n",
            "2000",
            "-c",
            "8",
            "-t",
            "set,get,incr,lpush",
            "-q",
        ])
        .args(["-P", "4"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "redis-benchmark failed\n{}",
        describe(&out)
    );
    assert!(
        text(&out.stdout).contains("requests per second"),
        "{}",
        describe(&out)
    );
    let cli_out = Command::new(&cli)
        .args(["-p", &port, "MGET", "greeting", "counter"])
        .output()
        .unwrap();
    assert_eq!(
        text(&cli_out.stdout),
        "hello\n41\n",
        "{}",
        describe(&cli_out)
    );
    let dbsize = r.command(&["DBSIZE"]).unwrap();
    assert!(dbsize.starts_with(':'), "DBSIZE answered {dbsize}");
    // SHUTDOWN ends the server (the connection closes without a reply).
    let _ = r.command(&["SHUTDOWN", "NOSAVE"]);
    let output = running.wait();
    assert_eq!(
        exit_of(&output.status),
        Exit::Code(0),
        "{}",
        describe(&output)
    );
    let rec = Recording::from_parts(tmp, dir, output, "redis-server".into());
    // Every reply redis sent is checked against the recording while replaying: reaching
    // the same end means the same state, reply for reply.
    rec.assert_replays(2);
    let dump = text(&dump(&rec.dir, false).stdout);
    let threads = dump
        .lines()
        .filter(|l| l.contains(" enter "))
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect::<std::collections::HashSet<_>>();
    assert!(
        threads.len() >= 2,
        "redis runs background and I/O threads; the trace shows hand-overs between {} of them",
        threads.len()
    );
}

//! Two network namespaces joined by a veth pair, for the tests that put the primary and the
//! follower (and the arbiter) on different hosts; processes and clients inside them.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::Kv;

/// True if this test can make namespaces (root, iproute2); says SKIPPED otherwise.
pub fn can_make_namespaces() -> bool {
    // SAFETY: geteuid has no preconditions.
    let ok = unsafe { libc::geteuid() } == 0 && Command::new("ip").arg("-V").output().is_ok();
    if !ok {
        eprintln!("SKIPPED: network namespaces need root and iproute2 (.ci/run installs iproute2)");
    }
    ok
}

pub fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Two namespaces joined by a veth pair; removed on drop.
pub struct Net {
    pub a: String,
    pub b: String,
    pub addr_a: String,
    pub addr_b: String,
}

impl Net {
    pub fn new() -> Option<Net> {
        let id = std::process::id();
        let (a, b) = (format!("ftA{id}"), format!("ftB{id}"));
        let (va, vb) = (format!("fva{id}"), format!("fvb{id}"));
        let net = format!("10.{}.{}", 100 + (id % 100), (id / 100) % 250);
        let ok = ip(&["netns", "add", &a])
            && ip(&["netns", "add", &b])
            && ip(&["link", "add", &va, "type", "veth", "peer", "name", &vb])
            && ip(&["link", "set", &va, "netns", &a])
            && ip(&["link", "set", &vb, "netns", &b])
            && ip(&["-n", &a, "addr", "add", &format!("{net}.1/24"), "dev", &va])
            && ip(&["-n", &b, "addr", "add", &format!("{net}.2/24"), "dev", &vb])
            && ip(&["-n", &a, "link", "set", &va, "up"])
            && ip(&["-n", &b, "link", "set", &vb, "up"])
            && ip(&["-n", &a, "link", "set", "lo", "up"])
            && ip(&["-n", &b, "link", "set", "lo", "up"]);
        let net = Net {
            a,
            b,
            addr_a: format!("{net}.1"),
            addr_b: format!("{net}.2"),
        };
        ok.then_some(net)
    }

    pub fn cut(&self) {
        let id = std::process::id();
        assert!(
            ip(&["-n", &self.a, "link", "set", &format!("fva{id}"), "down"]),
            "could not cut the link"
        );
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        ip(&["netns", "del", &self.a]);
        ip(&["netns", "del", &self.b]);
    }
}

pub fn in_ns(ns: &str, args: &[&str], log: &std::path::Path) -> Child {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// A follower in namespace B (state in `dir/follower-state`, log `dir/follower.log`) and a
/// primary running the KV server in namespace A (`dir/primary-state`, `dir/primary.log`),
/// linked across the veth pair, both with `--arbiter ARBITER` and `extra` options. Returns
/// the follower, the primary and the server's port.
pub fn start_kv_pair(
    net: &Net,
    dir: &std::path::Path,
    arbiter: &str,
    extra: &[&str],
) -> (Child, Child, u16) {
    let (fport, sport) = (super::free_port(), super::free_port());
    let ftrun = crate::common::ftrun_bin().to_str().unwrap().to_string();
    let (fstate, pstate) = (dir.join("follower-state"), dir.join("primary-state"));
    let listen = format!("0.0.0.0:{fport}");
    let mut args = vec![
        ftrun.as_str(),
        "follow",
        "--listen",
        &listen,
        "--state-dir",
        fstate.to_str().unwrap(),
        "--arbiter",
        arbiter,
    ];
    args.extend_from_slice(extra);
    let follower = in_ns(&net.b, &args, &dir.join("follower.log"));
    std::thread::sleep(Duration::from_millis(300));
    let server = crate::common::testprog("kv_server");
    let (to, port) = (format!("{}:{fport}", net.addr_b), sport.to_string());
    let mut args = vec![
        ftrun.as_str(),
        "--follower",
        &to,
        "--state-dir",
        pstate.to_str().unwrap(),
        "--arbiter",
        arbiter,
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", server.to_str().unwrap(), &port]);
    let primary = in_ns(&net.a, &args, &dir.join("primary.log"));
    (follower, primary, sport)
}

/// SETs k0..k19 to v0..v19 through the server in namespace `ns`; true if all were OK.
pub fn set_twenty_in_ns(ns: &str, port: u16) -> bool {
    let sets: Vec<String> = (0..20).map(|i| format!("SET k{i} v{i}")).collect();
    kv_in_ns(ns, port, &sets).iter().all(|r| r == "OK")
}

/// Runs a KV request inside a namespace (the server listens on that namespace's loopback).
pub fn kv_in_ns(ns: &str, port: u16, lines: &[String]) -> Vec<String> {
    let script = format!(
        "import socket,sys\ns=socket.create_connection(('127.0.0.1',{port}),timeout=10)\nf=s.makefile('rw')\nfor l in sys.stdin.read().splitlines():\n    f.write(l+'\\n'); f.flush(); print(f.readline().strip())\n"
    );
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "python3", "-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.join("\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

pub fn wait_for_server(ns: &str, port: u16) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if kv_in_ns(ns, port, &["PING".into()]) == ["PONG"] {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A `kv_server` client whose socket lives in namespace `ns` (a thread enters the namespace
/// and connects; the socket stays in it).
pub fn kv_client_in_ns(ns: &str, port: u16, within: Duration) -> Option<Kv> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::open(&path).ok()?;
        // SAFETY: setns with a namespace descriptor we hold open; it changes only this
        // thread's network namespace, and the thread ends here.
        if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return None;
        }
        Kv::connect(port, within)
    })
    .join()
    .ok()
    .flatten()
}

//! A throwaway etcd for the arbiter tests: free ports, a data directory in the test's
//! temporary directory, optionally inside a network namespace; killed on drop.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

pub struct Etcd {
    child: Child,
    /// `HOST:PORT` of its client URL.
    pub endpoint: String,
    ns: Option<String>,
}

/// True if etcd and etcdctl are installed; says SKIPPED otherwise.
pub fn etcd_installed() -> bool {
    let ok = [("etcd", "--version"), ("etcdctl", "version")]
        .iter()
        .all(|(b, arg)| {
            Command::new(b)
                .arg(arg)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
    if !ok {
        eprintln!("SKIPPED: etcd is not installed (.ci/run installs etcd-server and etcd-client)");
    }
    ok
}

impl Etcd {
    /// Starts etcd listening on `host` (inside namespace `ns` if given) and waits until it
    /// answers.
    pub fn start(dir: &Path, ns: Option<&str>, host: &str) -> Etcd {
        let (client, peer) = (free_port(), free_port());
        let client_url = format!("http://{host}:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let mut cmd = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "etcd"]);
                c
            }
            None => Command::new("etcd"),
        };
        // A one-member cluster: its own peer URL is the whole initial cluster.
        cmd.arg("--data-dir")
            .arg(dir.join("etcd-data"))
            .args(["--listen-client-urls", &client_url])
            .args(["--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url])
            .args(["--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("default={peer_url}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("etcd.log")).unwrap());
        let etcd = Etcd {
            child: cmd.spawn().expect("starting etcd"),
            endpoint: format!("{host}:{client}"),
            ns: ns.map(String::from),
        };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if etcd.ctl(&["endpoint", "health"]).status.success() {
                return etcd;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "etcd did not come up\n{}",
            std::fs::read_to_string(dir.join("etcd.log")).unwrap_or_default()
        );
    }

    /// `etcdctl --endpoints … ARGS` (in the namespace etcd runs in).
    pub fn ctl(&self, args: &[&str]) -> Output {
        let mut cmd = match &self.ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "etcdctl"]);
                c
            }
            None => Command::new("etcdctl"),
        };
        cmd.env("ETCDCTL_API", "3")
            .args(["--endpoints", &format!("http://{}", self.endpoint)])
            .args(["--dial-timeout", "2s"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("running etcdctl")
    }

    /// The keys under `prefix` (etcdctl get --prefix --keys-only).
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let out = self.ctl(&["get", "--prefix", "--keys-only", prefix]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    }

    /// The value of `key`, if it exists.
    pub fn value(&self, key: &str) -> Option<String> {
        let out = self.ctl(&["get", "--print-value-only", key]);
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (!text.is_empty()).then_some(text)
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

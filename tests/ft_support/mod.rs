//! Helpers for the fault-tolerance tests: a KV server under `ftrun --`, a client, and
//! cleanup of every process a test started (primary, follower, live server).
#![allow(dead_code)]

pub mod etcd;
pub mod netns;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{ftrun_bin, testprog, TempDir};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A line-protocol client of `kv_server`.
pub struct Kv {
    stream: BufReader<TcpStream>,
}

impl Kv {
    /// Connects, retrying until `within` has passed.
    pub fn connect(port: u16, within: Duration) -> Option<Kv> {
        let start = Instant::now();
        loop {
            if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let mut kv = Kv {
                    stream: BufReader::new(s),
                };
                if kv.request("PING").as_deref() == Some("PONG") {
                    return Some(kv);
                }
            }
            if start.elapsed() > within {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends one line and returns the reply line (None if the connection failed).
    pub fn request(&mut self, line: &str) -> Option<String> {
        self.send(line)?;
        self.reply()
    }

    /// Sends one line without waiting for its reply.
    pub fn send(&mut self, line: &str) -> Option<()> {
        self.stream
            .get_mut()
            .write_all(format!("{line}\n").as_bytes())
            .ok()
    }

    pub fn set_read_timeout(&self, t: Duration) {
        let _ = self.stream.get_ref().set_read_timeout(Some(t));
    }

    /// The next reply line (None if the connection closed or failed, or the read timed out).
    pub fn reply(&mut self) -> Option<String> {
        let mut reply = String::new();
        match self.stream.read_line(&mut reply) {
            Ok(n) if n > 0 => Some(reply.trim_end().to_string()),
            _ => None,
        }
    }

    /// True once the server acknowledged the write.
    pub fn set(&mut self, k: &str, v: &str) -> bool {
        self.request(&format!("SET {k} {v}")).as_deref() == Some("OK")
    }

    pub fn get(&mut self, k: &str) -> Option<String> {
        self.request(&format!("GET {k}"))
    }
}

/// Processes whose command line mentions `needle` (to find the live server).
pub fn pids_matching(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                out.push(pid);
            }
        }
    }
    out
}

pub fn kill9(pid: i32) {
    // SAFETY: plain kill of a pid this test started.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
}

/// Kills `pid` and waits (up to 10 s) until it is gone or a zombie: its locks and ports are
/// free afterwards.
pub fn kill9_and_wait(pid: i32) {
    kill9(pid);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit(')').next().map(|r| r.trim_start().chars().next()))
            .flatten();
        if matches!(state, None | Some('Z') | Some('X')) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `ftrun [extra] --state-dir S -- kv_server PORT`, its output in files, everything it
/// started killed on drop.
pub struct FtServer {
    pub tmp: TempDir,
    pub state: PathBuf,
    pub port: u16,
    pub primary: Child,
    pub log: PathBuf,
}

impl FtServer {
    pub fn start(label: &str, extra: &[&str]) -> FtServer {
        let tmp = TempDir::new(label);
        let state = tmp.join("state");
        let port = free_port();
        let log = tmp.join("ftrun.log");
        let primary = Command::new(ftrun_bin())
            .args(extra)
            .arg("--state-dir")
            .arg(&state)
            .arg("--")
            .arg(testprog("kv_server"))
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(tmp.join("server.out")).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        FtServer {
            tmp,
            state,
            port,
            primary,
            log,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn primary_pid(&self) -> i32 {
        self.primary.id() as i32
    }

    pub fn follower_pid(&self) -> Option<i32> {
        read_pid(&self.state.join("follower.pid"))
    }

    /// Waits for the server to answer, failing the test with the log if it does not.
    pub fn client(&self) -> Kv {
        Kv::connect(self.port, Duration::from_secs(20)).unwrap_or_else(|| {
            panic!(
                "the server on port {} never answered\n{}",
                self.port,
                self.log_text()
            )
        })
    }
}

impl FtServer {
    /// The ftrun process that runs the server now (after a takeover, the follower that
    /// took over).
    pub fn current_primary(&self) -> Option<i32> {
        read_pid(&self.state.join("primary.pid"))
    }
}

impl Drop for FtServer {
    fn drop(&mut self) {
        let _ = self.primary.kill();
        let _ = self.primary.wait();
        // Both at once: neither lives to take over from the other.
        for p in [self.current_primary(), self.follower_pid()]
            .into_iter()
            .flatten()
        {
            kill9(p);
        }
        for p in pids_matching(&format!("kv_server {}", self.port)) {
            kill9(p);
        }
    }
}

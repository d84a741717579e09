//! Helpers for the redis tests: the installed redis binaries and a minimal RESP client.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::common::find_in_path;

/// `redis-server`, `redis-cli` and `redis-benchmark`; `.ci/run` installs them (Debian
/// packages `redis-server` and `redis-tools`), so a missing one fails the test.
pub fn redis_tools() -> (PathBuf, PathBuf, PathBuf) {
    let find = |name: &str| {
        find_in_path(name).unwrap_or_else(|| {
            panic!("{name} is not installed: apt-get install redis-server redis-tools")
        })
    };
    (
        find("redis-server"),
        find("redis-cli"),
        find("redis-benchmark"),
    )
}

/// One connection speaking RESP.
pub struct Redis {
    reader: BufReader<TcpStream>,
    stream: TcpStream,
}

impl Redis {
    /// Connects and waits for PING to be answered, for up to `within`.
    pub fn connect(port: u16, within: Duration) -> Option<Redis> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .ok()?;
                let mut r = Redis {
                    reader: BufReader::new(stream.try_clone().ok()?),
                    stream,
                };
                if r.command(&["PING"]).as_deref() == Some("+PONG") {
                    return Some(r);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Sends a command; returns the reply's first line, with a bulk string's body instead
    /// (`None` if the connection failed).
    pub fn command(&mut self, args: &[&str]) -> Option<String> {
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req += &format!("${}\r\n{a}\r\n", a.len());
        }
        self.stream.write_all(req.as_bytes()).ok()?;
        let mut line = String::new();
        if self.reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end().to_string();
        if let Some(len) = line.strip_prefix('$') {
            let len: i64 = len.parse().ok()?;
            if len < 0 {
                return Some("(nil)".into());
            }
            let mut body = vec![0u8; len as usize + 2];
            self.reader.read_exact(&mut body).ok()?;
            body.truncate(len as usize);
            return String::from_utf8(body).ok();
        }
        Some(line)
    }

    pub fn set(&mut self, k: &str, v: &str) -> bool {
        self.command(&["SET", k, v]).as_deref() == Some("+OK")
    }
}

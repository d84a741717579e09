//! `ftrun demo`: a KV server from `testprogs/` runs under `ftrun --` with a local follower;
//! acknowledged writes go in, the primary is killed with SIGKILL, the follower takes over,
//! every acknowledged key is read back, and the follower that took over is protected again.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

const KV_SERVER_C: &str = include_str!("../../testprogs/kv_server.c");

#[derive(clap::Args)]
pub struct DemoArgs {
    /// How many keys to write before the primary is killed.
    #[arg(long, default_value_t = 200)]
    keys: usize,
    /// Keep the demo's directory (logs, state) instead of removing it.
    #[arg(long)]
    keep: bool,
}

struct Client(BufReader<TcpStream>);

impl Client {
    fn connect(port: u16, within: Duration) -> Option<Client> {
        let start = Instant::now();
        while start.elapsed() < within {
            if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let mut c = Client(BufReader::new(s));
                if c.ask("PING").as_deref() == Some("PONG") {
                    return Some(c);
                }
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    fn ask(&mut self, line: &str) -> Option<String> {
        self.0
            .get_mut()
            .write_all(format!("{line}\n").as_bytes())
            .ok()?;
        let mut reply = String::new();
        (self.0.read_line(&mut reply).ok()? > 0).then(|| reply.trim_end().to_string())
    }
}

fn build_server(dir: &Path) -> anyhow::Result<PathBuf> {
    let src = dir.join("kv_server.c");
    let bin = dir.join("kv_server");
    std::fs::write(&src, KV_SERVER_C)?;
    let out = Command::new("gcc")
        .args(["-O2", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .context("running gcc (the demo compiles its KV server)")?;
    if !out.status.success() {
        bail!(
            "compiling the KV server failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(bin)
}

fn kill(pid: i32, sig: i32) {
    // SAFETY: kill of a process the demo started.
    unsafe {
        libc::kill(pid, sig);
    }
}

pub fn run(args: DemoArgs) -> anyhow::Result<i32> {
    let dir = std::env::temp_dir().join(format!("ftrun-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = demo(&dir, &args);
    if args.keep || result.is_err() {
        println!("logs and state kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn demo(dir: &Path, args: &DemoArgs) -> anyhow::Result<i32> {
    let server = build_server(dir)?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let state = dir.join("state");
    let log = dir.join("ftrun.log");
    println!(
        "1. starting `ftrun -- kv_server {port}` (primary + local follower, state in {})",
        state.display()
    );
    let mut primary = Command::new(std::env::current_exe()?)
        .arg("--state-dir")
        .arg(&state)
        .arg("--")
        .arg(&server)
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("server.out"))?)
        .stderr(std::fs::File::create(&log)?)
        .spawn()?;
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    let Some(mut client) = Client::connect(port, Duration::from_secs(20)) else {
        bail!("the server did not come up:\n{}", log_text());
    };
    let t = Instant::now();
    for i in 0..args.keys {
        if client.ask(&format!("SET key{i} value{i}")).as_deref() != Some("OK") {
            bail!("SET key{i} was not acknowledged:\n{}", log_text());
        }
    }
    let per_write = t.elapsed() / args.keys.max(1) as u32;
    println!("2. wrote {} keys, each acknowledged ({:.2} ms per write: the follower has the log before a reply leaves)", args.keys, per_write.as_secs_f64() * 1e3);
    let killed_at = Instant::now();
    primary.kill()?; // SIGKILL
    let _ = primary.wait();
    println!("3. killed the primary (SIGKILL, pid {})", primary.id());
    let Some(mut client) = Client::connect(port, Duration::from_secs(30)) else {
        bail!("no server answered after the primary died:\n{}", log_text());
    };
    let back = killed_at.elapsed();
    println!(
        "4. the server answers again {} ms after the kill",
        back.as_millis()
    );
    let mut missing = 0;
    for i in 0..args.keys {
        if client.ask(&format!("GET key{i}")).as_deref() != Some(format!("VALUE value{i}").as_str())
        {
            missing += 1;
        }
    }
    println!("5. read back {} keys: {} missing", args.keys, missing);
    if let Some(line) = log_text().lines().find(|l| l.contains("takeover in")) {
        println!("   {line}");
    }
    let status = Command::new(std::env::current_exe()?)
        .arg("status")
        .arg("--state-dir")
        .arg(&state)
        .output()?;
    println!("6. the follower that took over is the primary now, protected by a new follower:");
    print!("{}", String::from_utf8_lossy(&status.stdout));
    // The primary passes SIGTERM to the server; its follower replays that end and ends too.
    let pid_in = |name: &str| {
        std::fs::read_to_string(state.join(name))
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok())
    };
    match pid_in("primary.pid").filter(|&p| p != primary.id() as i32) {
        Some(pid) => kill(pid, libc::SIGTERM),
        None => {
            if let Some(pid) = pid_in("follower.pid") {
                kill(pid, libc::SIGTERM);
            }
        }
    }
    if missing > 0 {
        bail!("{missing} acknowledged keys were lost");
    }
    println!("no acknowledged write was lost");
    Ok(0)
}

//! `ftrun replay --gdb [DIR] [-- GDB-ARGS…]` and `ftrun replay --gdbserver HOST:PORT [DIR]`:
//! gdb on the replay (see the `debugger` crate).

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use anyhow::Context;

use crate::{exit, trace_dir};

pub fn run(
    dir: Option<PathBuf>,
    server: Option<String>,
    goto: u64,
    gdb_args: Vec<std::ffi::OsString>,
) -> anyhow::Result<i32> {
    let dir = trace_dir::resolve(dir)?;
    let header = schema::TraceReader::open(&dir)
        .with_context(|| format!("cannot replay {}", dir.display()))?
        .header()
        .clone();
    let exe = PathBuf::from(std::ffi::OsStr::from_bytes(&header.exe));
    // Ctrl-C is gdb's: it reaches the replay as an interrupt over the connection.
    // SAFETY: setting a signal disposition.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    let (stream, gdb) = match server {
        Some(addr) => {
            let listener =
                TcpListener::bind(&addr).with_context(|| format!("cannot listen on {addr}"))?;
            let at = listener.local_addr()?;
            eprintln!(
                "ftrun: debugging the replay of {}; connect with:\n  gdb {} -ex 'target remote {at}'",
                dir.display(),
                exe.display()
            );
            let (stream, _) = listener.accept()?;
            (stream, None)
        }
        None => {
            let listener = TcpListener::bind("127.0.0.1:0")?;
            let at = listener.local_addr()?;
            let gdb = start_gdb(&exe, &at.to_string(), &gdb_args)?;
            (accept_or_gdb_gone(&listener, &gdb)?, Some(gdb))
        }
    };
    eprintln!("ftrun: replaying {} under gdb", dir.display());
    let end = debugger::serve(&dir, stream, goto).map_err(|e| anyhow::anyhow!(e));
    let code = match gdb {
        Some(gdb) => gdb.exit_code(),
        None => None,
    };
    match end? {
        debugger::SessionEnd::Exited(status) if code.is_none() => Ok(exit::exit_like(status)),
        _ => Ok(code.unwrap_or(0)),
    }
}

/// gdb runs as a grandchild (the replay waits for any child, so gdb must not be one of
/// ours); its exit code comes back through a pipe.
struct Gdb {
    status: std::fs::File,
}

impl Gdb {
    fn exit_code(mut self) -> Option<i32> {
        let mut s = String::new();
        self.status.read_to_string(&mut s).ok()?;
        s.trim().parse().ok()
    }

    fn gone(&self) -> bool {
        let mut fds = [libc::pollfd {
            fd: self.status.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        // SAFETY: poll on one descriptor we own.
        unsafe { libc::poll(fds.as_mut_ptr(), 1, 0) > 0 }
    }
}

fn start_gdb(exe: &std::path::Path, at: &str, args: &[std::ffi::OsString]) -> anyhow::Result<Gdb> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 into a local array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    // SAFETY: both descriptors were just created and are owned here.
    let (read, write) = unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    };
    let script = r#"exec 4<&0; ( gdb "$@" <&4 4<&-; echo $? >&3 ) 3>&3 & exit 0"#;
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .arg("gdb")
        .arg("-q")
        .arg("-ex")
        .arg(format!("target remote {at}"))
        .arg(exe)
        .args(args);
    let write_fd = write.as_raw_fd();
    // SAFETY: dup2 between fork and exec is async-signal-safe.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            if libc::dup2(write_fd, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut sh = cmd.spawn().context("cannot start gdb (is it on PATH?)")?;
    sh.wait()?;
    drop(write);
    Ok(Gdb { status: read })
}

fn accept_or_gdb_gone(listener: &TcpListener, gdb: &Gdb) -> anyhow::Result<TcpStream> {
    listener.set_nonblocking(true)?;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                return Ok(stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if gdb.gone() {
                    anyhow::bail!("gdb ended before it connected to the replay");
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

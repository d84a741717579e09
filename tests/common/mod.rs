//! Shared harness for ftrun's end-to-end tests.
//!
//! - The C programs in `testprogs/` are compiled once per test process (and shared between the
//!   processes of one test run) into a directory under `CARGO_TARGET_TMPDIR`.
//! - Every ftrun invocation runs in its own process group with a 60 s limit; past it the group is
//!   killed and the test fails with whatever output had arrived.
//! - `assert_replays_identically` records a program, replays it three times and compares stdout,
//!   stderr (less ftrun's own `ftrun: ` lines) and the way the process ended.
//!
//! Set `FTRUN_KEEP_TEST_DIRS=1` to keep every scratch directory (traces included); the directories
//! of a failing test are always kept and their paths printed.
#![allow(dead_code)]

mod recording;
mod switches;
#[allow(unused_imports)]
pub use recording::*;
use switches::fast_path;
#[allow(unused_imports)]
pub use switches::without_fast_path;

use std::collections::hash_map::DefaultHasher;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long one ftrun invocation may take before it is killed and the test fails: a guard
/// against hangs, not a figure (a long scripted gdb session of a debug build takes about a
/// minute when the machine is loaded).
pub const TIMEOUT: Duration = Duration::from_secs(180);
/// How many times each recording is replayed.
pub const REPLAYS: usize = 3;
/// The prefix of every message ftrun itself writes to stderr.
pub const FTRUN_PREFIX: &str = "ftrun: ";
/// For programs run without arguments.
pub const NO_ARGS: [&str; 0] = [];

// ---------------------------------------------------------------------------------------------
// Paths and scratch directories

pub fn ftrun_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ftrun"))
}

fn tmp_root() -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ftrun-tests");
    fs::create_dir_all(&root).expect("create CARGO_TARGET_TMPDIR/ftrun-tests");
    root
}

/// A scratch directory, removed when dropped unless the test is failing (then it is kept and its
/// path printed) or `FTRUN_KEEP_TEST_DIRS` is set.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let label: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = tmp_root().join(format!(
            "{label}-{}-{}-{nanos:09}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if thread::panicking() || std::env::var_os("FTRUN_KEEP_TEST_DIRS").is_some() {
            eprintln!("note: keeping {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Copies a directory tree (regular files, directories and symlinks).
pub fn copy_dir(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap_or_else(|e| panic!("create {}: {e}", dst.display()));
    for entry in fs::read_dir(src).unwrap_or_else(|e| panic!("read_dir {}: {e}", src.display())) {
        let entry = entry.unwrap();
        let ty = entry.file_type().unwrap();
        let to = dst.join(entry.file_name());
        if ty.is_dir() {
            copy_dir(&entry.path(), &to);
        } else if ty.is_symlink() {
            let target = fs::read_link(entry.path()).unwrap();
            std::os::unix::fs::symlink(target, &to).unwrap();
        } else {
            fs::copy(entry.path(), &to)
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}

/// Finds an executable in `PATH`, as a shell would.
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

// ---------------------------------------------------------------------------------------------
// Test programs

/// The directory holding the compiled test programs, built on first use.
pub fn testprogs_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(build_testprogs)
}

/// The path of one compiled test program, e.g. `testprog("rdtsc")`.
pub fn testprog(name: &str) -> PathBuf {
    let p = testprogs_dir().join(name);
    assert!(p.is_file(), "test program {} was not built", p.display());
    p
}

/// Builds `testprogs/` with `build.sh` into `CARGO_TARGET_TMPDIR/testprogs-<hash of the sources>`.
/// Test processes run in parallel (nextest runs every test in its own process), so each builds
/// into a private directory and renames it into place; whoever loses the race uses the winner's.
fn build_testprogs() -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("testprogs");
    let mut files: Vec<PathBuf> = fs::read_dir(&src)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", src.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension() == Some(OsStr::new("c")) || p.file_name() == Some(OsStr::new("build.sh"))
        })
        .collect();
    files.sort();
    let mut hasher = DefaultHasher::new();
    for f in &files {
        f.file_name().hash(&mut hasher);
        fs::read(f).unwrap().hash(&mut hasher);
    }
    let hash = hasher.finish();

    let base = Path::new(env!("CARGO_TARGET_TMPDIR"));
    fs::create_dir_all(base).unwrap();
    let out = base.join(format!("testprogs-{hash:016x}"));
    let marker = ".complete";
    if out.join(marker).exists() {
        return out;
    }
    let tmp = base.join(format!(
        "testprogs-building-{}-{hash:016x}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).unwrap();
    let result = Command::new("sh")
        .arg(src.join("build.sh"))
        .arg(&tmp)
        .stdin(Stdio::null())
        .output()
        .expect("run testprogs/build.sh (is sh installed?)");
    assert!(
        result.status.success(),
        "testprogs/build.sh failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        result.status,
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    fs::write(tmp.join(marker), b"").unwrap();
    match fs::rename(&tmp, &out) {
        Ok(()) => out,
        Err(_) if out.join(marker).exists() => {
            let _ = fs::remove_dir_all(&tmp);
            out
        }
        Err(e) => panic!("rename {} to {}: {e}", tmp.display(), out.display()),
    }
}

// ---------------------------------------------------------------------------------------------
// Running ftrun

/// A running ftrun process whose stdout and stderr are being collected.
pub struct Running {
    child: Child,
    what: String,
    started: Instant,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    reaped: bool,
}

fn collect(mut from: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => into.lock().unwrap().extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
    })
}

impl Running {
    /// The ftrun process id (also its process group id).
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// What ftrun has written to stdout so far.
    pub fn stdout_so_far(&self) -> Vec<u8> {
        self.stdout.lock().unwrap().clone()
    }

    /// What ftrun has written to stderr so far.
    pub fn stderr_so_far(&self) -> Vec<u8> {
        self.stderr.lock().unwrap().clone()
    }

    /// True once the ftrun process has ended (it is then reaped; call `wait` for its output).
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Time left before the limit.
    pub fn time_left(&self) -> Duration {
        TIMEOUT.saturating_sub(self.started.elapsed())
    }

    /// Sends `sig` to the ftrun process alone.
    pub fn signal(&self, sig: i32) {
        let r = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(
            r,
            0,
            "kill({}, {sig}) failed: {}",
            self.pid(),
            std::io::Error::last_os_error()
        );
    }

    fn kill_group(&mut self) {
        // The whole process group: ftrun and anything it left behind.
        unsafe {
            libc::kill(-self.pid(), libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaped = true;
    }

    fn fail(&mut self, why: &str) -> ! {
        self.kill_group();
        // Give the readers a moment to pick up what is left in the pipes.
        thread::sleep(Duration::from_millis(100));
        panic!(
            "{why}: {}\n--- stdout so far\n{}\n--- stderr so far\n{}",
            self.what,
            String::from_utf8_lossy(&self.stdout_so_far()),
            String::from_utf8_lossy(&self.stderr_so_far())
        );
    }

    /// Waits for ftrun to end and for its output pipes to close, within the time limit.
    pub fn wait(mut self) -> Output {
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => self.fail(&format!("waiting for ftrun failed ({e})")),
            }
            if self.started.elapsed() > TIMEOUT {
                self.fail(&format!(
                    "ftrun did not finish within {} s and was killed",
                    TIMEOUT.as_secs()
                ));
            }
            thread::sleep(Duration::from_millis(5));
        };
        self.reaped = true;
        while self.readers.iter().any(|r| !r.is_finished()) {
            if self.started.elapsed() > TIMEOUT {
                self.fail(&format!(
                    "ftrun exited ({status}) but its stdout/stderr stayed open for {} s \
                     (a process left running?)",
                    TIMEOUT.as_secs()
                ));
            }
            thread::sleep(Duration::from_millis(5));
        }
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        Output {
            status,
            stdout: std::mem::take(&mut *self.stdout.lock().unwrap()),
            stderr: std::mem::take(&mut *self.stderr.lock().unwrap()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.reaped {
            self.kill_group();
        }
    }
}

fn describe_args<S: AsRef<OsStr>>(args: &[S]) -> String {
    let mut s = String::from("ftrun");
    for a in args {
        s.push(' ');
        s.push_str(&a.as_ref().to_string_lossy());
    }
    s
}

/// Starts ftrun with `args` in the background (stdin from /dev/null, in its own process group).
pub fn spawn_ftrun<I, S>(args: I) -> Running
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    spawn_ftrun_in(None, args)
}

/// Like `spawn_ftrun`, with the working directory set to `cwd` if given.
pub fn spawn_ftrun_in<I, S>(cwd: Option<&Path>, args: I) -> Running
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    spawn_ftrun_with(cwd, &[], args)
}

/// Like `spawn_ftrun_in`, with `env` added to ftrun's environment (e.g. `FTRUN_DIR`).
pub fn spawn_ftrun_with<I, S>(cwd: Option<&Path>, env: &[(&str, &OsStr)], args: I) -> Running
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(ftrun_bin());
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    cmd.envs(env.iter().map(|&(k, v)| (k, v)));
    spawn_command(cmd, args)
}

/// Runs ftrun with `args` through `wrapper` (a program that sets something up and execs the
/// rest of its command line, e.g. `with_signals ignore 2 --`), to completion (60 s limit).
pub fn ftrun_via<I, S>(wrapper: &[OsString], args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(&wrapper[0]);
    cmd.args(&wrapper[1..]).arg(ftrun_bin());
    spawn_command(cmd, args).wait()
}

fn spawn_command<I, S>(mut cmd: Command, args: I) -> Running
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let what = describe_args(&args);
    cmd.args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", ftrun_bin().display()));
    let stdout = Arc::new(Mutex::new(Vec::new()));
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let readers = vec![
        collect(child.stdout.take().unwrap(), stdout.clone()),
        collect(child.stderr.take().unwrap(), stderr.clone()),
    ];
    Running {
        child,
        what,
        started: Instant::now(),
        stdout,
        stderr,
        readers,
        reaped: false,
    }
}

/// Runs ftrun with `args` to completion (60 s limit) and returns its output.
pub fn ftrun<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    spawn_ftrun(args).wait()
}

fn record_args<P, I, S>(dir: &Path, prog: P, args: I) -> Vec<OsString>
where
    P: AsRef<OsStr>,
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut v: Vec<OsString> = vec!["record".into(), "-o".into(), dir.into()];
    if !fast_path() {
        v.push("--no-fast-path".into());
    }
    v.push("--".into());
    v.push(prog.as_ref().to_owned());
    v.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
    v
}

/// `ftrun record -o DIR -- PROG ARGS…`
pub fn record<P, I, S>(dir: &Path, prog: P, args: I) -> Output
where
    P: AsRef<OsStr>,
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    ftrun(record_args(dir, prog, args))
}

/// `ftrun record -o DIR -- PROG ARGS…` run in working directory `cwd`.
pub fn record_in<P, I, S>(cwd: &Path, dir: &Path, prog: P, args: I) -> Output
where
    P: AsRef<OsStr>,
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    spawn_ftrun_in(Some(cwd), record_args(dir, prog, args)).wait()
}

/// `ftrun record -o DIR -- PROG ARGS…` in the background.
pub fn spawn_record<P, I, S>(dir: &Path, prog: P, args: I) -> Running
where
    P: AsRef<OsStr>,
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    spawn_ftrun(record_args(dir, prog, args))
}

/// `ftrun replay DIR`
pub fn replay(dir: &Path) -> Output {
    ftrun([OsStr::new("replay"), dir.as_os_str()])
}

/// `ftrun dump DIR` or `ftrun dump --json DIR`
pub fn dump(dir: &Path, json: bool) -> Output {
    if json {
        ftrun([OsStr::new("dump"), OsStr::new("--json"), dir.as_os_str()])
    } else {
        ftrun([OsStr::new("dump"), dir.as_os_str()])
    }
}

// ---------------------------------------------------------------------------------------------
// Looking at results

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

pub fn exit_of(status: &ExitStatus) -> Exit {
    match (status.code(), status.signal()) {
        (Some(c), _) => Exit::Code(c),
        (None, Some(s)) => Exit::Signal(s),
        (None, None) => panic!("process neither exited nor was killed: {status:?}"),
    }
}

/// Asserts two processes ended the same way: same exit code, or death by the same signal.
pub fn assert_same_exit(expected: &ExitStatus, actual: &ExitStatus, context: &str) {
    assert_eq!(
        exit_of(expected),
        exit_of(actual),
        "{context}: ended differently (expected {expected}, got {actual})"
    );
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Status, stdout and stderr of a run, for failure messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status: {}\n--- stdout ({} bytes)\n{}\n--- stderr ({} bytes)\n{}",
        out.status,
        out.stdout.len(),
        text(&out.stdout),
        out.stderr.len(),
        text(&out.stderr)
    )
}

/// `stderr` without the lines ftrun wrote itself (those starting with `ftrun: `).
pub fn without_ftrun_lines(stderr: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(stderr.len());
    for line in stderr.split_inclusive(|&b| b == b'\n') {
        if !line.starts_with(FTRUN_PREFIX.as_bytes()) {
            out.extend_from_slice(line);
        }
    }
    out
}

/// The lines of `stderr` that ftrun wrote itself.
pub fn ftrun_lines(stderr: &[u8]) -> Vec<String> {
    text(stderr)
        .lines()
        .filter(|l| l.starts_with(FTRUN_PREFIX))
        .map(str::to_owned)
        .collect()
}

/// Fails if ftrun panicked (exit code 101 or "panicked" on stderr) or died by a signal that
/// nobody asked for (SIGSEGV, SIGABRT …, as opposed to the tracee's own).
pub fn assert_no_panic(out: &Output, context: &str) {
    let err = text(&out.stderr);
    assert!(
        out.status.code() != Some(101) && !err.contains("panicked"),
        "{context}: ftrun panicked\n{}",
        describe(out)
    );
}

/// Asserts ftrun failed cleanly: a non-zero exit code (not a signal, not a panic) and at least
/// one `ftrun: ` line on stderr.
pub fn assert_clean_failure(out: &Output, context: &str) {
    assert_no_panic(out, context);
    match exit_of(&out.status) {
        Exit::Code(c) if c != 0 => {}
        other => panic!(
            "{context}: expected ftrun to fail with a non-zero exit code, got {other:?}\n{}",
            describe(out)
        ),
    }
    assert!(
        !ftrun_lines(&out.stderr).is_empty(),
        "{context}: expected an error message starting with {FTRUN_PREFIX:?} on stderr\n{}",
        describe(out)
    );
}

/// Where two outputs first differ, as a line number and the two lines.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let (a, b) = (text(a), text(b));
    let (mut la, mut lb) = (a.lines(), b.lines());
    let mut n = 1;
    loop {
        match (la.next(), lb.next()) {
            (None, None) => return "outputs differ only in line endings".to_owned(),
            (x, y) if x == y => n += 1,
            (x, y) => {
                return format!(
                    "first difference at line {n}:\n  recorded: {x:?}\n  replayed: {y:?}"
                )
            }
        }
    }
}

/// Asserts a replay reproduced a recording: same stdout, same stderr apart from `ftrun: ` lines,
/// same exit code or signal. Prints both sides on failure.
pub fn assert_same_run(recorded: &Output, replayed: &Output, context: &str) {
    assert_no_panic(replayed, context);
    let both = || {
        format!(
            "=== recording\n{}\n=== replay\n{}",
            describe(recorded),
            describe(replayed)
        )
    };
    if recorded.stdout != replayed.stdout {
        panic!(
            "{context}: replay stdout differs from the recording; {}\n{}",
            first_difference(&recorded.stdout, &replayed.stdout),
            both()
        );
    }
    let (rec_err, rep_err) = (
        without_ftrun_lines(&recorded.stderr),
        without_ftrun_lines(&replayed.stderr),
    );
    if rec_err != rep_err {
        panic!(
            "{context}: replay stderr (without ftrun: lines) differs from the recording; {}\n{}",
            first_difference(&rec_err, &rep_err),
            both()
        );
    }
    if exit_of(&recorded.status) != exit_of(&replayed.status) {
        panic!(
            "{context}: replay ended with {} but the recording with {}\n{}",
            replayed.status,
            recorded.status,
            both()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Recordings

//! Starting a program under ptrace: resolve it like a shell, fork, set up the child
//! (no ASLR, rdtsc trapping, limits, the inherited signal state and umask), attach with
//! `PTRACE_SEIZE`, then let it exec.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::ptrace::Options;
use nix::unistd::{fork, ForkResult, Pid};

use crate::error::TraceeError;
use crate::inherit::InheritedState;
use crate::tracee::Tracee;

/// What to run and how to set up the process before it execs.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    /// The resolved program path handed to execve.
    pub path: PathBuf,
    pub argv: Vec<Vec<u8>>,
    pub env: Vec<Vec<u8>>,
    pub cwd: Option<PathBuf>,
    /// `(RLIMIT_*, soft, hard)` to apply before exec.
    pub rlimits: Vec<(u32, u64, u64)>,
    /// Make rdtsc/rdtscp fault (`PR_SET_TSC`) so they can be emulated.
    pub trap_rdtsc: bool,
    /// Ignored signals, mask and umask the program starts with (what ftrun itself
    /// inherited when recording, the recorded state at replay).
    pub inherited: InheritedState,
}

/// Why a program name could not be turned into something to exec.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{0}: command not found")]
    NotFound(String),
    #[error("{0}: permission denied (not an executable file)")]
    NotExecutable(String),
}

impl ResolveError {
    /// The exit code a shell uses for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            ResolveError::NotFound(_) => 127,
            ResolveError::NotExecutable(_) => 126,
        }
    }
}

fn is_executable_file(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Resolves `prog` the way a shell does: a name with a slash is a path, others are
/// searched in `path_var`.
pub fn resolve_program(prog: &OsStr, path_var: Option<&OsStr>) -> Result<PathBuf, ResolveError> {
    let name = prog.to_string_lossy().into_owned();
    if prog.as_bytes().contains(&b'/') {
        let p = PathBuf::from(prog);
        if !p.exists() {
            return Err(ResolveError::NotFound(name));
        }
        if !is_executable_file(&p) {
            return Err(ResolveError::NotExecutable(name));
        }
        return Ok(std::path::absolute(&p).unwrap_or(p));
    }
    let mut found_non_exec = false;
    let search = path_var.unwrap_or(OsStr::new("/usr/local/bin:/usr/bin:/bin"));
    for dir in std::env::split_paths(search) {
        let candidate = dir.join(prog);
        if is_executable_file(&candidate) {
            return Ok(std::path::absolute(&candidate).unwrap_or(candidate));
        }
        if candidate.is_file() {
            found_non_exec = true;
        }
    }
    if found_non_exec {
        Err(ResolveError::NotExecutable(name))
    } else {
        Err(ResolveError::NotFound(name))
    }
}

fn cstring(bytes: &[u8]) -> CString {
    CString::new(
        bytes
            .iter()
            .copied()
            .filter(|&b| b != 0)
            .collect::<Vec<_>>(),
    )
    .expect("NULs removed")
}

fn pipe_cloexec() -> Result<[libc::c_int; 2], std::io::Error> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 returns.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fds)
}

/// Forks and execs `spec.path` under ptrace. The returned tracee is running toward its
/// exec; its first stop is `PTRACE_EVENT_EXEC`.
pub fn spawn_traced(spec: &SpawnSpec) -> Result<Tracee, TraceeError> {
    let program = spec.path.display().to_string();
    let spawn_err = |source: std::io::Error| TraceeError::Spawn {
        program: program.clone(),
        source,
    };
    // Everything the child needs is allocated before fork: the child may only make syscalls.
    let path = cstring(spec.path.as_os_str().as_bytes());
    let argv: Vec<CString> = spec.argv.iter().map(|a| cstring(a)).collect();
    let env: Vec<CString> = spec.env.iter().map(|a| cstring(a)).collect();
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut env_ptrs: Vec<*const libc::c_char> = env.iter().map(|a| a.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());
    let cwd = spec.cwd.as_ref().map(|c| cstring(c.as_os_str().as_bytes()));
    let go = pipe_cloexec().map_err(spawn_err)?;
    let report = pipe_cloexec().map_err(spawn_err)?;

    // SAFETY: the child only makes raw syscalls on memory prepared above, then execs or exits.
    match unsafe { fork() }.map_err(|e| spawn_err(e.into()))? {
        ForkResult::Child => {
            // SAFETY: async-signal-safe libc calls on pre-built buffers; never returns.
            unsafe {
                // Not ftrun's own state (the Rust runtime ignores SIGPIPE, the recorder
                // blocks its timer signal): the program gets what it was handed down.
                spec.inherited.apply_in_child();
                let persona = libc::personality(0xffff_ffff);
                libc::personality(
                    (persona as libc::c_ulong) | libc::ADDR_NO_RANDOMIZE as libc::c_ulong,
                );
                if spec.trap_rdtsc {
                    libc::prctl(libc::PR_SET_TSC, libc::PR_TSC_SIGSEGV, 0, 0, 0);
                }
                for &(res, soft, hard) in &spec.rlimits {
                    let lim = libc::rlimit {
                        rlim_cur: soft,
                        rlim_max: hard,
                    };
                    libc::setrlimit(res as _, &lim);
                }
                if let Some(c) = &cwd {
                    libc::chdir(c.as_ptr());
                }
                let mut byte = 0u8;
                libc::read(go[0], &mut byte as *mut u8 as *mut libc::c_void, 1);
                libc::execve(path.as_ptr(), argv_ptrs.as_ptr(), env_ptrs.as_ptr());
                let errno = *libc::__errno_location();
                libc::write(report[1], &errno as *const i32 as *const libc::c_void, 4);
                libc::_exit(127);
            }
        }
        ForkResult::Parent { child } => {
            // SAFETY: closing descriptors this process owns.
            unsafe {
                libc::close(go[0]);
                libc::close(report[1]);
            }
            let options = Options::PTRACE_O_TRACESYSGOOD
                | Options::PTRACE_O_TRACEEXEC
                | Options::PTRACE_O_EXITKILL
                | Options::PTRACE_O_TRACECLONE
                | Options::PTRACE_O_TRACEFORK
                | Options::PTRACE_O_TRACEVFORK
                | Options::PTRACE_O_TRACESECCOMP;
            let seized = nix::sys::ptrace::seize(child, options);
            // SAFETY: writing one byte from a local to a pipe we own, then closing it.
            unsafe {
                libc::write(go[1], b"g".as_ptr() as *const libc::c_void, 1);
                libc::close(go[1]);
            }
            let mut errno = 0i32;
            // SAFETY: reading at most 4 bytes into a local i32.
            let n = unsafe {
                let n = libc::read(report[0], &mut errno as *mut i32 as *mut libc::c_void, 4);
                libc::close(report[0]);
                n
            };
            if let Err(e) = seized {
                reap(child);
                return Err(TraceeError::from_errno("PTRACE_SEIZE", child.as_raw(), e));
            }
            if n == 4 {
                reap(child);
                return Err(spawn_err(std::io::Error::from_raw_os_error(errno)));
            }
            Ok(Tracee::new(child))
        }
    }
}

fn reap(child: Pid) {
    let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
    loop {
        match nix::sys::wait::waitpid(child, Some(nix::sys::wait::WaitPidFlag::__WALL)) {
            Err(Errno::EINTR) => continue,
            Ok(nix::sys::wait::WaitStatus::Exited(..))
            | Ok(nix::sys::wait::WaitStatus::Signaled(..))
            | Err(_) => break,
            Ok(_) => continue,
        }
    }
}

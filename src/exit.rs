//! Ending ftrun the way the traced program ended: same exit code, or death by the same signal.

use schema::ExitStatus;

/// Exits with the program's code, or kills ftrun with the program's signal (without a core
/// dump of ftrun itself). Returns only if the signal did not end us.
pub fn exit_like(status: ExitStatus) -> i32 {
    match status {
        ExitStatus::Exited(code) => code,
        ExitStatus::Killed { signo, .. } => {
            use std::io::Write;
            let _ = std::io::stdout().flush();
            // SAFETY: plain libc calls with valid arguments; the default action ends us.
            unsafe {
                let no_core = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &no_core);
                libc::signal(signo, libc::SIG_DFL);
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, signo);
                libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                libc::raise(signo);
            }
            128 + signo
        }
    }
}

/// How the program ended, said for a fault-tolerant run whose program was killed (a SIGKILL
/// cannot come from the program's own signal handling: it came from outside, and both sides
/// end with it); None for a program that exited.
pub fn killed_message(status: ExitStatus, side_ends: &str) -> Option<String> {
    let ExitStatus::Killed { signo, .. } = status else {
        return None;
    };
    let name = nix::sys::signal::Signal::try_from(signo)
        .map(|s| format!(" ({})", s.as_str()))
        .unwrap_or_default();
    let from = if signo == libc::SIGKILL {
        " from outside"
    } else {
        ""
    };
    Some(format!(
        "the program was killed by signal {signo}{name}{from}; {side_ends}"
    ))
}

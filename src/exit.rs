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

//! Names of numbers the kernel hands out: errno values, signals, `si_code`s, wait statuses.

macro_rules! named {
    ($($name:ident),* $(,)?) => {
        &[$((libc::$name as i64, stringify!($name))),*]
    };
}

const ERRNOS: &[(i64, &str)] = named![
    EPERM,
    ENOENT,
    ESRCH,
    EINTR,
    EIO,
    ENXIO,
    E2BIG,
    ENOEXEC,
    EBADF,
    ECHILD,
    EAGAIN,
    ENOMEM,
    EACCES,
    EFAULT,
    ENOTBLK,
    EBUSY,
    EEXIST,
    EXDEV,
    ENODEV,
    ENOTDIR,
    EISDIR,
    EINVAL,
    ENFILE,
    EMFILE,
    ENOTTY,
    ETXTBSY,
    EFBIG,
    ENOSPC,
    ESPIPE,
    EROFS,
    EMLINK,
    EPIPE,
    EDOM,
    ERANGE,
    EDEADLK,
    ENAMETOOLONG,
    ENOLCK,
    ENOSYS,
    ENOTEMPTY,
    ELOOP,
    ENOMSG,
    EIDRM,
    ECHRNG,
    EL2NSYNC,
    EL3HLT,
    EL3RST,
    ELNRNG,
    EUNATCH,
    ENOCSI,
    EL2HLT,
    EBADE,
    EBADR,
    EXFULL,
    ENOANO,
    EBADRQC,
    EBADSLT,
    EBFONT,
    ENOSTR,
    ENODATA,
    ETIME,
    ENOSR,
    ENONET,
    ENOPKG,
    EREMOTE,
    ENOLINK,
    EADV,
    ESRMNT,
    ECOMM,
    EPROTO,
    EMULTIHOP,
    EDOTDOT,
    EBADMSG,
    EOVERFLOW,
    ENOTUNIQ,
    EBADFD,
    EREMCHG,
    ELIBACC,
    ELIBBAD,
    ELIBSCN,
    ELIBMAX,
    ELIBEXEC,
    EILSEQ,
    ERESTART,
    ESTRPIPE,
    EUSERS,
    ENOTSOCK,
    EDESTADDRREQ,
    EMSGSIZE,
    EPROTOTYPE,
    ENOPROTOOPT,
    EPROTONOSUPPORT,
    ESOCKTNOSUPPORT,
    EOPNOTSUPP,
    EPFNOSUPPORT,
    EAFNOSUPPORT,
    EADDRINUSE,
    EADDRNOTAVAIL,
    ENETDOWN,
    ENETUNREACH,
    ENETRESET,
    ECONNABORTED,
    ECONNRESET,
    ENOBUFS,
    EISCONN,
    ENOTCONN,
    ESHUTDOWN,
    ETOOMANYREFS,
    ETIMEDOUT,
    ECONNREFUSED,
    EHOSTDOWN,
    EHOSTUNREACH,
    EALREADY,
    EINPROGRESS,
    ESTALE,
    EUCLEAN,
    ENOTNAM,
    ENAVAIL,
    EISNAM,
    EREMOTEIO,
    EDQUOT,
    ENOMEDIUM,
    EMEDIUMTYPE,
    ECANCELED,
    ENOKEY,
    EKEYEXPIRED,
    EKEYREVOKED,
    EKEYREJECTED,
    EOWNERDEAD,
    ENOTRECOVERABLE,
    ERFKILL,
    EHWPOISON,
];

/// The kernel's internal restart codes, which a tracer sees in `rax` at a syscall exit.
const RESTARTS: &[(i64, &str, &str)] = &[
    (512, "ERESTARTSYS", "To be restarted if SA_RESTART is set"),
    (513, "ERESTARTNOINTR", "To be restarted"),
    (514, "ERESTARTNOHAND", "To be restarted if no handler"),
    (515, "ENOIOCTLCMD", "No ioctl command"),
    (516, "ERESTART_RESTARTBLOCK", "Interrupted by signal"),
];

/// `ENOENT (No such file or directory)` for 2; `errno 4000` for numbers without a name.
pub fn errno_text(e: i64) -> String {
    match errno_name(e) {
        Some(name) => format!("{name} ({})", errno_description(e)),
        None => format!("errno {e}"),
    }
}

pub fn errno_name(e: i64) -> Option<&'static str> {
    ERRNOS
        .iter()
        .find(|(n, _)| *n == e)
        .map(|(_, name)| *name)
        .or_else(|| RESTARTS.iter().find(|r| r.0 == e).map(|r| r.1))
}

fn errno_description(e: i64) -> String {
    if let Some(r) = RESTARTS.iter().find(|r| r.0 == e) {
        return r.2.to_string();
    }
    let text = std::io::Error::from_raw_os_error(e as i32).to_string();
    match text.find(" (os error") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

const SIGNALS: &[(i64, &str)] = named![
    SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGKILL, SIGUSR1, SIGSEGV,
    SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGSTKFLT, SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN,
    SIGTTOU, SIGURG, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGWINCH, SIGIO, SIGPWR, SIGSYS,
];

/// `SIGSEGV` for 11; the kernel's real-time signals as `SIGRTMIN`, `SIGRT_1` …
pub fn signal_name(signo: i64) -> String {
    if let Some((_, name)) = SIGNALS.iter().find(|(n, _)| *n == signo) {
        return (*name).to_string();
    }
    match signo {
        0 => "0".into(),
        32 => "SIGRTMIN".into(),
        33..=64 => format!("SIGRT_{}", signo - 32),
        _ => format!("signal {signo}"),
    }
}

/// The `si_code` of a siginfo, named as in `<asm-generic/siginfo.h>`.
pub fn si_code_name(signo: i64, code: i32) -> String {
    let generic: &[(i32, &str)] = &[
        (0, "SI_USER"),
        (0x80, "SI_KERNEL"),
        (-1, "SI_QUEUE"),
        (-2, "SI_TIMER"),
        (-3, "SI_MESGQ"),
        (-4, "SI_ASYNCIO"),
        (-5, "SI_SIGIO"),
        (-6, "SI_TKILL"),
    ];
    if let Some((_, name)) = generic.iter().find(|(c, _)| *c == code) {
        return (*name).to_string();
    }
    let specific: &[&str] = match signo as i32 {
        libc::SIGSEGV => &["SEGV_MAPERR", "SEGV_ACCERR", "SEGV_BNDERR", "SEGV_PKUERR"],
        libc::SIGBUS => &[
            "BUS_ADRALN",
            "BUS_ADRERR",
            "BUS_OBJERR",
            "BUS_MCEERR_AR",
            "BUS_MCEERR_AO",
        ],
        libc::SIGILL => &[
            "ILL_ILLOPC",
            "ILL_ILLOPN",
            "ILL_ILLADR",
            "ILL_ILLTRP",
            "ILL_PRVOPC",
            "ILL_PRVREG",
            "ILL_COPROC",
            "ILL_BADSTK",
        ],
        libc::SIGFPE => &[
            "FPE_INTDIV",
            "FPE_INTOVF",
            "FPE_FLTDIV",
            "FPE_FLTOVF",
            "FPE_FLTUND",
            "FPE_FLTRES",
            "FPE_FLTINV",
            "FPE_FLTSUB",
        ],
        libc::SIGTRAP => &["TRAP_BRKPT", "TRAP_TRACE", "TRAP_BRANCH", "TRAP_HWBKPT"],
        libc::SIGCHLD => &[
            "CLD_EXITED",
            "CLD_KILLED",
            "CLD_DUMPED",
            "CLD_TRAPPED",
            "CLD_STOPPED",
            "CLD_CONTINUED",
        ],
        libc::SIGIO => &[
            "POLL_IN", "POLL_OUT", "POLL_MSG", "POLL_ERR", "POLL_PRI", "POLL_HUP",
        ],
        _ => &[],
    };
    match usize::try_from(code).ok().and_then(|c| c.checked_sub(1)) {
        Some(i) if i < specific.len() => specific[i].to_string(),
        _ => code.to_string(),
    }
}

/// A wait status as strace shows it: `[{WIFEXITED(s) && WEXITSTATUS(s) == 0}]`.
pub fn wait_status(status: i32) -> String {
    let sig = status & 0x7f;
    if sig == 0 {
        format!(
            "{{WIFEXITED(s) && WEXITSTATUS(s) == {}}}",
            (status >> 8) & 0xff
        )
    } else if sig == 0x7f {
        format!(
            "{{WIFSTOPPED(s) && WSTOPSIG(s) == {}}}",
            signal_name(((status >> 8) & 0xff) as i64)
        )
    } else if status == 0xffff {
        "{WIFCONTINUED(s)}".into()
    } else {
        let core = if status & 0x80 != 0 {
            " && WCOREDUMP(s)"
        } else {
            ""
        };
        format!(
            "{{WIFSIGNALED(s) && WTERMSIG(s) == {}{core}}}",
            signal_name(sig as i64)
        )
    }
}

const RLIMITS: &[&str] = &[
    "RLIMIT_CPU",
    "RLIMIT_FSIZE",
    "RLIMIT_DATA",
    "RLIMIT_STACK",
    "RLIMIT_CORE",
    "RLIMIT_RSS",
    "RLIMIT_NPROC",
    "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",
    "RLIMIT_AS",
    "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
];

pub fn rlimit_name(resource: u64) -> String {
    RLIMITS
        .get(resource as usize)
        .map(|s| s.to_string())
        .unwrap_or_else(|| resource.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_and_signal_names() {
        assert_eq!(errno_text(2), "ENOENT (No such file or directory)");
        assert_eq!(errno_text(38), "ENOSYS (Function not implemented)");
        assert_eq!(errno_name(513), Some("ERESTARTNOINTR"));
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(34), "SIGRT_2");
        assert_eq!(si_code_name(11, 1), "SEGV_MAPERR");
        assert_eq!(si_code_name(11, 0x80), "SI_KERNEL");
        assert_eq!(si_code_name(10, -6), "SI_TKILL");
        assert_eq!(wait_status(0x0100), "{WIFEXITED(s) && WEXITSTATUS(s) == 1}");
        assert_eq!(wait_status(9), "{WIFSIGNALED(s) && WTERMSIG(s) == SIGKILL}");
    }
}

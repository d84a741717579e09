//! What this machine offers a recorder, each feature tried for real (`ftrun check`).

use tracee::{Resume, SpawnSpec, Stop};

use crate::ticks::{self, TickCounter};

/// One feature and whether it works here.
#[derive(Debug, Clone)]
pub struct Probe {
    pub name: &'static str,
    pub available: bool,
    /// Recording cannot work without it.
    pub required: bool,
    pub detail: String,
}

fn probe(name: &'static str, required: bool, r: Result<String, String>) -> Probe {
    match r {
        Ok(detail) => Probe {
            name,
            available: true,
            required,
            detail,
        },
        Err(detail) => Probe {
            name,
            available: false,
            required,
            detail,
        },
    }
}

/// Runs `f` in a forked child and reports how the child ended: `Ok(code)` or `Err(signal)`.
fn in_child(f: fn() -> i32) -> Result<Result<i32, i32>, String> {
    // SAFETY: the child only runs `f` (raw syscalls) and `_exit`s.
    match unsafe { libc::fork() } {
        -1 => Err(format!("fork failed: {}", std::io::Error::last_os_error())),
        0 => {
            let code = f();
            // SAFETY: leaving the child without running the parent's destructors.
            unsafe { libc::_exit(code) }
        }
        pid => {
            let mut status = 0;
            // SAFETY: waiting for the child we just forked.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            if libc::WIFSIGNALED(status) {
                Ok(Err(libc::WTERMSIG(status)))
            } else {
                Ok(Ok(libc::WEXITSTATUS(status)))
            }
        }
    }
}

fn ptrace_probes() -> Vec<Probe> {
    let spec = SpawnSpec {
        path: "/bin/true".into(),
        argv: vec![b"true".to_vec()],
        env: Vec::new(),
        cwd: None,
        rlimits: Vec::new(),
        trap_rdtsc: false,
        inherited: Default::default(),
    };
    let mut tracee = match tracee::spawn_traced(&spec) {
        Ok(t) => t,
        Err(e) => {
            return vec![probe(
                "ptrace",
                true,
                Err(format!("cannot trace a child: {e}")),
            )];
        }
    };
    let mut out = Vec::new();
    let exec = tracee.wait();
    out.push(probe(
        "ptrace",
        true,
        match exec {
            Ok(Stop::Event { .. }) => Ok("PTRACE_SEIZE and exec stops work".into()),
            other => Err(format!("unexpected first stop {other:?}")),
        },
    ));
    out.push(probe(
        "hardware breakpoints",
        true,
        tracee
            .set_exec_breakpoint(0x1000)
            .and_then(|_| tracee.clear_breakpoints())
            .map(|_| {
                "debug registers can be set (signals in spin loops are placed with them)".into()
            })
            .map_err(|e| e.to_string()),
    ));
    let info = tracee
        .resume(Resume::Syscall, 0)
        .and_then(|_| tracee.wait())
        .map_err(|e| e.to_string())
        .and_then(|s| match s {
            Stop::SyscallEntry { .. } | Stop::SyscallExit { .. } => {
                Ok("entry and exit stops are told apart".into())
            }
            other => Err(format!("unexpected stop {other:?}")),
        });
    out.push(probe("PTRACE_GET_SYSCALL_INFO", true, info));
    tracee.kill();
    out
}

fn rdtsc_traps() -> i32 {
    // SAFETY: prctl with constant arguments, then an rdtsc that is meant to fault.
    unsafe {
        if libc::prctl(libc::PR_SET_TSC, libc::PR_TSC_SIGSEGV, 0, 0, 0) != 0 {
            return 3;
        }
        core::arch::x86_64::_rdtsc();
    }
    0
}

fn seccomp_filter() -> i32 {
    let allow = libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: libc::SECCOMP_RET_ALLOW,
    };
    let prog = libc::sock_fprog {
        len: 1,
        filter: &allow as *const _ as *mut _,
    };
    // SAFETY: a one-instruction allow-all filter that outlives the call.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return 3;
        }
        if libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &prog) != 0 {
            return 4;
        }
    }
    0
}

fn cpuid_faulting() -> i32 {
    const ARCH_SET_CPUID: i32 = 0x1012;
    // SAFETY: arch_prctl with constant arguments in a child that exits right after.
    let r = unsafe { libc::syscall(libc::SYS_arch_prctl, ARCH_SET_CPUID, 0) };
    if r == 0 {
        0
    } else {
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(1)
            .min(255)
    }
}

fn no_aslr() -> i32 {
    // SAFETY: personality with a query and then a flag, in a throwaway child.
    unsafe {
        let p = libc::personality(0xffff_ffff);
        if libc::personality(p as libc::c_ulong | libc::ADDR_NO_RANDOMIZE as libc::c_ulong) == -1 {
            return 1;
        }
    }
    0
}

/// Tries every feature ftrun uses or could use.
pub fn probe_machine() -> Vec<Probe> {
    let mut out = Vec::new();
    if let Ok(scope) = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope") {
        let scope = scope.trim().to_string();
        out.push(probe(
            "ptrace scope",
            true,
            if scope == "3" {
                Err("kernel.yama.ptrace_scope is 3: ptrace is disabled".into())
            } else {
                Ok(format!("kernel.yama.ptrace_scope = {scope}"))
            },
        ));
    }
    out.extend(ptrace_probes());
    out.push(probe(
        "rdtsc trapping",
        true,
        match in_child(rdtsc_traps) {
            Ok(Err(libc::SIGSEGV)) => {
                Ok("PR_SET_TSC makes rdtsc fault, so its values are recorded".into())
            }
            Ok(other) => Err(format!("rdtsc did not fault under PR_SET_TSC ({other:?})")),
            Err(e) => Err(e),
        },
    ));
    out.push(probe(
        "ASLR off",
        true,
        match in_child(no_aslr) {
            Ok(Ok(0)) => Ok("personality(ADDR_NO_RANDOMIZE) works".into()),
            other => Err(format!("personality failed ({other:?})")),
        },
    ));
    out.push(probe(
        "seccomp filters",
        false,
        match in_child(seccomp_filter) {
            Ok(Ok(0)) => Ok("available".into()),
            other => Err(format!("not available ({other:?})")),
        },
    ));
    out.push(probe("in-process fast path", false, fast_path_probe()));
    out.push(probe(
        "cpuid faulting",
        false,
        match in_child(cpuid_faulting) {
            Ok(Ok(0)) => Ok("available".into()),
            Ok(Ok(errno)) => Err(format!(
                "not available ({}); cpuid leaves 1 and 7 are kept in the trace header instead",
                std::io::Error::from_raw_os_error(errno)
            )),
            other => Err(format!("not available ({other:?})")),
        },
    ));
    out.push(probe(
        "PMU tick counter",
        false,
        match ticks::detect() {
            TickCounter::Pmu { name, .. } => Ok(name.to_string()),
            TickCounter::Unavailable { reason } => Err(format!(
                "{reason}; asynchronous signals are placed at syscalls and spin-loop landmarks instead"
            )),
        },
    ));
    out.push(probe(
        "context-switch counter",
        false,
        ticks::open_counter(
            perf_event_open_sys::bindings::PERF_TYPE_SOFTWARE,
            perf_event_open_sys::bindings::PERF_COUNT_SW_CONTEXT_SWITCHES as u64,
        )
        .map(|_| "software event available".into())
        .map_err(|e| format!("not available: {e}")),
    ));
    out
}

/// True when every required feature works.
pub fn can_record(probes: &[Probe]) -> bool {
    probes.iter().all(|p| p.available || !p.required)
}

/// Counts what a probe recording logged.
#[derive(Default)]
struct CountingSink {
    runtimes: usize,
    in_process: usize,
}

impl crate::EventSink for CountingSink {
    fn push(&mut self, event: schema::Event) -> Result<(), crate::RecordError> {
        match event.kind {
            schema::EventKind::RuntimeMapped => self.runtimes += 1,
            schema::EventKind::Syscall(s) if s.mode == schema::SyscallMode::Buffered => {
                self.in_process += 1
            }
            _ => {}
        }
        Ok(())
    }

    fn push_buffered(&mut self, calls: schema::BufferedCalls) -> Result<(), crate::RecordError> {
        self.in_process += calls.count as usize;
        Ok(())
    }

    fn finish(&mut self, _: schema::Footer) -> Result<(), crate::RecordError> {
        Ok(())
    }
}

/// Records `cat` reading a file three times: the runtime must be mapped and the reads
/// after the first must run in-process.
fn fast_path_probe() -> Result<String, String> {
    let spec = SpawnSpec {
        path: "/bin/sh".into(),
        argv: vec![
            b"sh".to_vec(),
            b"-c".to_vec(),
            b"exec cat /proc/self/stat /proc/self/stat /proc/self/stat > /dev/null".to_vec(),
        ],
        env: Vec::new(),
        cwd: None,
        rlimits: Vec::new(),
        trap_rdtsc: true,
        inherited: Default::default(),
    };
    let dir = std::env::temp_dir().join(format!("ftrun-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("no scratch directory: {e}"))?;
    let result = (|| {
        let tracee = tracee::spawn_traced(&spec).map_err(|e| format!("cannot trace sh: {e}"))?;
        let mut sink = CountingSink::default();
        crate::Recorder::new(tracee, &mut sink, &dir)
            .run()
            .map_err(|e| format!("recording a probe failed: {e}"))?;
        match (sink.runtimes, sink.in_process) {
            (0, _) => Err("the runtime could not be mapped; every syscall is traced".into()),
            (_, 0) => Err("no call ran in-process; every syscall is traced".into()),
            (_, n) => Ok(format!(
                "syscall sites are rewritten; {n} calls of a probe ran without ptrace stops"
            )),
        }
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

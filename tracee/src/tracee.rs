//! A traced process, stopped or running: resuming, waiting, registers, siginfo and
//! hardware breakpoints.

use std::fs::File;

use crate::wait::{waitpid_all, WaitStatus};
use nix::errno::Errno;
use nix::unistd::Pid;

use crate::error::TraceeError;
use crate::memory;
use crate::regs::Regs;
use crate::stop::{PtraceEvent, Stop};
use crate::RawSiginfo;

/// How to let a stopped tracee run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Run until the next syscall entry or exit (or signal, event).
    Syscall,
    /// Run until a signal or event, not stopping at syscalls.
    Continue,
}

/// `offsetof(struct user, u_debugreg)` on x86-64.
const DEBUGREG_OFFSET: usize = 848;

/// One traced thread. Memory access goes through `/proc/PID/mem`, reopened after every
/// exec because the old file refers to the old image.
pub struct Tracee {
    pid: Pid,
    mem: Option<File>,
    /// Its process has ftrun's seccomp filter: syscalls stop it at entry by themselves (a
    /// seccomp stop), so it runs with `PTRACE_CONT` between syscalls.
    filtered: bool,
    /// Stopped between a syscall's entry and its exit (where `PTRACE_SYSCALL` must be used
    /// to see the exit).
    in_syscall: bool,
    /// Signals that arrived while the tracer ran syscalls inside the tracee.
    pub(crate) deferred: Vec<i32>,
}

impl Tracee {
    pub(crate) fn new(pid: Pid) -> Self {
        Tracee {
            pid,
            mem: None,
            filtered: false,
            in_syscall: false,
            deferred: Vec::new(),
        }
    }

    /// Says that the process has ftrun's seccomp filter (inherited by its children).
    pub fn set_filtered(&mut self, filtered: bool) {
        self.filtered = filtered;
    }

    pub fn is_filtered(&self) -> bool {
        self.filtered
    }

    /// A process traced already: a child auto-attached through fork/vfork/clone tracing.
    pub fn attached(pid: i32) -> Self {
        Tracee::new(Pid::from_raw(pid))
    }

    pub fn pid(&self) -> i32 {
        self.pid.as_raw()
    }

    pub(crate) fn ptrace(
        &self,
        op: &'static str,
        req: libc::c_uint,
        addr: usize,
        data: usize,
    ) -> Result<libc::c_long, TraceeError> {
        Errno::clear();
        // SAFETY: every caller passes a request whose addr/data are either plain integers or
        // pointers to live buffers of the size that request writes or reads.
        let ret = unsafe {
            libc::ptrace(
                req,
                self.pid.as_raw(),
                addr as *mut libc::c_void,
                data as *mut libc::c_void,
            )
        };
        if ret == -1 && Errno::last_raw() != 0 {
            return Err(TraceeError::from_errno(op, self.pid(), Errno::last()));
        }
        Ok(ret)
    }

    /// Let the tracee run, delivering `signo` if it is stopped at a signal (0 = none).
    /// `Resume::Syscall` stops it at its next syscall entry or exit; under the seccomp
    /// filter that is `PTRACE_CONT` outside a syscall (the filter stops it at the entry of
    /// every syscall that is not the in-process runtime's own).
    pub fn resume(&self, how: Resume, signo: i32) -> Result<(), TraceeError> {
        let (op, req) = match how {
            Resume::Syscall if self.filtered && !self.in_syscall => {
                ("PTRACE_CONT", libc::PTRACE_CONT)
            }
            Resume::Syscall => ("PTRACE_SYSCALL", libc::PTRACE_SYSCALL),
            Resume::Continue => ("PTRACE_CONT", libc::PTRACE_CONT),
        };
        self.ptrace(op, req, 0, signo as usize).map(|_| ())
    }

    /// Resumes to the next syscall stop with `PTRACE_SYSCALL`, whatever the filter.
    pub(crate) fn resume_raw_syscall(&self) -> Result<(), TraceeError> {
        self.ptrace("PTRACE_SYSCALL", libc::PTRACE_SYSCALL, 0, 0)
            .map(|_| ())
    }

    /// Lets a tracee in a group-stop stay stopped without holding it in a ptrace stop:
    /// it runs again when a `SIGCONT` ends the group-stop (reporting another
    /// `PTRACE_EVENT_STOP` first), as an untraced process would.
    pub fn listen(&self) -> Result<(), TraceeError> {
        self.ptrace("PTRACE_LISTEN", libc::PTRACE_LISTEN, 0, 0)
            .map(|_| ())
    }

    /// Stop a running tracee (it reports `Stop::Event { event: PtraceEvent::Stop, .. }`).
    pub fn interrupt(&self) -> Result<(), TraceeError> {
        self.ptrace("PTRACE_INTERRUPT", libc::PTRACE_INTERRUPT, 0, 0)
            .map(|_| ())
    }

    /// Wait for the next stop and name it.
    pub fn wait(&mut self) -> Result<Stop, TraceeError> {
        loop {
            let status = match waitpid_all(self.pid()) {
                Ok((_, s)) => s,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(TraceeError::from_errno("waitpid", self.pid(), e)),
            };
            if let Some(stop) = self.decode(status)? {
                return Ok(stop);
            }
        }
    }

    /// Names a wait status reported for this tracee (`None` for statuses that are not stops).
    pub fn decode(&mut self, status: WaitStatus) -> Result<Option<Stop>, TraceeError> {
        Ok(Some(match status {
            WaitStatus::Exited(code) => Stop::Exited { code },
            WaitStatus::Signaled { signo, core_dumped } => Stop::Killed { signo, core_dumped },
            WaitStatus::PtraceSyscall => {
                let stop = self.syscall_stop()?;
                self.in_syscall = matches!(stop, Stop::SyscallEntry { .. });
                stop
            }
            WaitStatus::PtraceEvent { event, .. } if event == libc::PTRACE_EVENT_SECCOMP => {
                // The filter stopped a syscall at its entry: the same as a syscall-entry stop.
                self.in_syscall = true;
                self.syscall_stop()?
            }
            WaitStatus::PtraceEvent { signo, event } => {
                let event = PtraceEvent::from_raw(event);
                if event == PtraceEvent::Exec {
                    self.mem = None;
                }
                Stop::Event { event, signo }
            }
            WaitStatus::Stopped(signo) => {
                self.in_syscall = false;
                Stop::Signal { signo }
            }
            WaitStatus::Continued => return Ok(None),
        }))
    }

    /// Decodes a syscall stop with `PTRACE_GET_SYSCALL_INFO` (entry and exit look alike otherwise).
    fn syscall_stop(&self) -> Result<Stop, TraceeError> {
        let mut info: libc::ptrace_syscall_info = unsafe_zeroed_syscall_info();
        self.ptrace(
            "PTRACE_GET_SYSCALL_INFO",
            libc::PTRACE_GET_SYSCALL_INFO,
            std::mem::size_of::<libc::ptrace_syscall_info>(),
            &mut info as *mut _ as usize,
        )?;
        // SAFETY: `op` says which union member the kernel filled in.
        Ok(unsafe {
            match info.op {
                libc::PTRACE_SYSCALL_INFO_ENTRY => Stop::SyscallEntry {
                    nr: info.u.entry.nr,
                },
                libc::PTRACE_SYSCALL_INFO_EXIT => Stop::SyscallExit {
                    ret: info.u.exit.sval,
                },
                libc::PTRACE_SYSCALL_INFO_SECCOMP => Stop::SyscallEntry {
                    nr: info.u.seccomp.nr,
                },
                _ => {
                    let regs = self.regs()?;
                    Stop::SyscallExit {
                        ret: regs.rax as i64,
                    }
                }
            }
        })
    }

    /// True while stopped at a syscall's entry (or its seccomp stop), before its exit.
    pub fn at_syscall_entry(&self) -> bool {
        self.in_syscall
    }

    pub fn regs(&self) -> Result<Regs, TraceeError> {
        nix::sys::ptrace::getregs(self.pid)
            .map_err(|e| TraceeError::from_errno("PTRACE_GETREGS", self.pid(), e))
    }

    pub fn set_regs(&self, regs: &Regs) -> Result<(), TraceeError> {
        nix::sys::ptrace::setregs(self.pid, *regs)
            .map_err(|e| TraceeError::from_errno("PTRACE_SETREGS", self.pid(), e))
    }

    /// The x87/SSE state (`user_fpregs_struct`, 512 bytes) as raw bytes.
    pub fn fpregs_bytes(&self) -> Result<[u8; 512], TraceeError> {
        let mut buf = [0u8; 512];
        self.ptrace(
            "PTRACE_GETFPREGS",
            libc::PTRACE_GETFPREGS,
            0,
            buf.as_mut_ptr() as usize,
        )?;
        Ok(buf)
    }

    /// Sets the x87/SSE registers from the bytes `fpregs_bytes` returned.
    pub fn set_fpregs_bytes(&self, bytes: &[u8; 512]) -> Result<(), TraceeError> {
        self.ptrace(
            "PTRACE_SETFPREGS",
            libc::PTRACE_SETFPREGS,
            0,
            bytes.as_ptr() as usize,
        )?;
        Ok(())
    }

    /// The siginfo of the signal the tracee is stopped for, as raw bytes.
    pub fn siginfo(&self) -> Result<RawSiginfo, TraceeError> {
        let mut buf: RawSiginfo = [0; 128];
        self.ptrace(
            "PTRACE_GETSIGINFO",
            libc::PTRACE_GETSIGINFO,
            0,
            buf.as_mut_ptr() as usize,
        )?;
        Ok(buf)
    }

    pub fn set_siginfo(&self, info: &RawSiginfo) -> Result<(), TraceeError> {
        self.ptrace(
            "PTRACE_SETSIGINFO",
            libc::PTRACE_SETSIGINFO,
            0,
            info.as_ptr() as usize,
        )
        .map(|_| ())
    }

    /// The `PTRACE_GETEVENTMSG` value (new pid for fork/clone, exit status for exit).
    pub fn event_msg(&self) -> Result<u64, TraceeError> {
        let mut msg: libc::c_ulong = 0;
        self.ptrace(
            "PTRACE_GETEVENTMSG",
            libc::PTRACE_GETEVENTMSG,
            0,
            &mut msg as *mut _ as usize,
        )?;
        Ok(msg)
    }

    /// An exec by a thread other than its process's leader: the kernel gives the thread
    /// the leader's id (`leader`), under which its exec stop and every later stop come.
    pub fn took_over_leader(&mut self, leader: i32) {
        self.pid = Pid::from_raw(leader);
        self.mem = None;
    }

    fn poke_debugreg(&self, n: usize, value: u64) -> Result<(), TraceeError> {
        self.ptrace(
            "PTRACE_POKEUSER(debugreg)",
            libc::PTRACE_POKEUSER,
            DEBUGREG_OFFSET + n * 8,
            value as usize,
        )
        .map(|_| ())
    }

    /// Arms hardware breakpoint 0 to trap on execution of `addr`.
    pub fn set_exec_breakpoint(&self, addr: u64) -> Result<(), TraceeError> {
        self.poke_debugreg(0, addr)?;
        // DR7: local enable of slot 0, condition "execute", length 1.
        self.poke_debugreg(7, 1)
    }

    pub fn clear_breakpoints(&self) -> Result<(), TraceeError> {
        self.poke_debugreg(7, 0)?;
        self.poke_debugreg(6, 0)
    }

    /// Sends `signo` to the tracee's thread (used to deliver a signal at a chosen point).
    pub fn send_signal(&self, signo: i32) -> Result<(), TraceeError> {
        // tkill names one thread, whichever process it belongs to.
        // SAFETY: a plain syscall with integer arguments.
        let ret = unsafe { libc::syscall(libc::SYS_tkill, self.pid.as_raw(), signo) };
        Errno::result(ret)
            .map(|_| ())
            .map_err(|e| TraceeError::from_errno("tkill", self.pid(), e))
    }

    pub fn detach(&mut self, signo: i32) -> Result<(), TraceeError> {
        self.ptrace("PTRACE_DETACH", libc::PTRACE_DETACH, 0, signo as usize)
            .map(|_| ())
    }

    /// Kills the tracee outright and reaps it.
    pub fn kill(&mut self) {
        if self.pid.as_raw() <= 0 {
            // Not a process (a placeholder left where a tracee was handed on).
            return;
        }
        let _ = nix::sys::signal::kill(self.pid, nix::sys::signal::Signal::SIGKILL);
        self.reap();
    }

    /// Waits until the tracee is gone (it was sent SIGKILL), or until it cannot be waited
    /// for any more.
    pub fn reap(&mut self) {
        if self.pid.as_raw() <= 0 {
            return;
        }
        while let Ok(stop) = self.wait() {
            if stop.is_gone() {
                break;
            }
        }
    }

    fn mem_file(&mut self) -> Result<&File, TraceeError> {
        if self.mem.is_none() {
            let path = format!("/proc/{}/mem", self.pid);
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|source| match source.raw_os_error() {
                    // Gone already (killed, and its end not collected yet, or reaped).
                    Some(libc::ESRCH | libc::ENOENT) => TraceeError::TraceeDied { pid: self.pid() },
                    _ => TraceeError::Memory {
                        op: "open /proc/PID/mem",
                        pid: self.pid(),
                        addr: 0,
                        len: 0,
                        source,
                    },
                })?;
            self.mem = Some(file);
        }
        Ok(self.mem.as_ref().expect("just opened"))
    }

    /// Reads `len` bytes of tracee memory at `addr`.
    pub fn read_mem(&mut self, addr: u64, len: usize) -> Result<Vec<u8>, TraceeError> {
        let pid = self.pid();
        memory::read(self.mem_file()?, pid, addr, len)
    }

    /// The byte at each of `addrs` (one call for many addresses).
    pub fn read_bytes_at(&mut self, addrs: &[u64]) -> Result<Vec<u8>, TraceeError> {
        let pid = self.pid();
        memory::read_bytes_at(self.mem_file()?, pid, addrs)
    }

    /// Reads as much of `[addr, addr+len)` as is mapped, stopping at the first hole.
    pub fn read_mem_partial(&mut self, addr: u64, len: usize) -> Result<Vec<u8>, TraceeError> {
        let pid = self.pid();
        memory::read_partial(self.mem_file()?, pid, addr, len)
    }

    /// Writes tracee memory, even where the page is not writable by the tracee itself.
    pub fn write_mem(&mut self, addr: u64, data: &[u8]) -> Result<(), TraceeError> {
        let pid = self.pid();
        memory::write(self.mem_file()?, pid, addr, data)
    }

    pub fn read_u64(&mut self, addr: u64) -> Result<u64, TraceeError> {
        let b = self.read_mem(addr, 8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    /// Reads a NUL-terminated string (at most `max` bytes).
    pub fn read_cstring(&mut self, addr: u64, max: usize) -> Result<Vec<u8>, TraceeError> {
        let mut out = Vec::new();
        let mut at = addr;
        while out.len() < max {
            let chunk = self.read_mem_partial(at, 256.min(max - out.len()))?;
            if chunk.is_empty() {
                break;
            }
            if let Some(nul) = chunk.iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..nul]);
                return Ok(out);
            }
            at += chunk.len() as u64;
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

/// Waits for a stop of any tracee: its pid and raw status.
pub fn wait_any() -> Result<(i32, WaitStatus), TraceeError> {
    loop {
        if let Some(found) = wait_any_or_interrupted()? {
            return Ok(found);
        }
    }
}

/// At an exec stop reported for `pid`: the id the thread that made the exec had before
/// (another than `pid` when it was not its process's leader).
pub fn former_tid_at_exec(pid: i32) -> Option<i32> {
    let mut msg: libc::c_ulong = 0;
    // SAFETY: PTRACE_GETEVENTMSG writes one c_ulong at the address given, ours.
    let ret = unsafe {
        libc::ptrace(
            libc::PTRACE_GETEVENTMSG,
            pid,
            0usize,
            &mut msg as *mut libc::c_ulong,
        )
    };
    (ret == 0).then_some(msg as i32)
}

/// Like `wait_any`, but returns `None` when a signal handler interrupted the wait (a timer
/// installed without `SA_RESTART` uses this to wake the tracer).
pub fn wait_any_or_interrupted() -> Result<Option<(i32, WaitStatus)>, TraceeError> {
    match waitpid_all(-1) {
        Ok(found) => Ok(Some(found)),
        Err(Errno::EINTR) => Ok(None),
        Err(e) => Err(TraceeError::from_errno("waitpid", -1, e)),
    }
}

fn unsafe_zeroed_syscall_info() -> libc::ptrace_syscall_info {
    // SAFETY: a plain C struct of integers and a union of integers; all-zero is valid.
    unsafe { std::mem::zeroed() }
}

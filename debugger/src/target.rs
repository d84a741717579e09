//! The gdbstub target: threads, registers and memory of the replayed program as it stands
//! at a stop, breakpoints and watchpoints gdb sets, and what gdb asks for when it resumes.
//! Writes are refused: replay cannot change the past.

use std::collections::BTreeSet;
use std::num::NonZeroUsize;

use gdbstub::common::{Pid, Signal, Tid};
use gdbstub::target::ext::auxv::{Auxv, AuxvOps};
use gdbstub::target::ext::base::multithread::{
    MultiThreadBase, MultiThreadResume, MultiThreadResumeOps, MultiThreadSchedulerLocking,
    MultiThreadSchedulerLockingOps, MultiThreadSingleStep, MultiThreadSingleStepOps,
};
use gdbstub::target::ext::base::reverse_exec::{
    ReverseCont, ReverseContOps, ReverseStep, ReverseStepOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::{
    Breakpoints, BreakpointsOps, HwBreakpoint, HwBreakpointOps, HwWatchpoint, HwWatchpointOps,
    SwBreakpoint, SwBreakpointOps, WatchKind,
};
use gdbstub::target::ext::catch_syscalls::CatchSyscallsOps;
use gdbstub::target::ext::exec_file::{ExecFile, ExecFileOps};
use gdbstub::target::ext::thread_extra_info::{ThreadExtraInfo, ThreadExtraInfoOps};
use gdbstub::target::{Target, TargetError, TargetResult};
use replayer::Replayer;

use crate::arch::{X86Regs, X86_64Linux};
use crate::catch::Catching;
use crate::engine::Report;
use crate::machine;
use crate::moment::Watch;

/// Debug register slots the debugger may use (slot 0 is the replay's, for landmarks).
pub const HW_SLOTS: usize = 3;

/// What gdb asked for when it resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Resume { step: Option<u32> },
    ReverseCont,
    ReverseStep(u32),
}

pub struct GdbTarget {
    /// The replay, while the hook runs (null otherwise).
    r: *mut Replayer<'static>,
    pub sw_bps: BTreeSet<u64>,
    pub hw_bps: BTreeSet<u64>,
    pub watches: Vec<Watch>,
    pub request: Option<Request>,
    step: Option<u32>,
    /// The thread of the last stop gdb was told of.
    pub stopped: u32,
    pub last_report: Option<Report>,
    exe: Vec<u8>,
    refused_once: bool,
    /// Syscall sites the fast path rewrote: where each starts, and its original bytes.
    pub sites: std::collections::BTreeMap<u64, Vec<u8>>,
    /// The entries of those sites' stubs, and the address of each site's `syscall` (see
    /// `catch`).
    pub stubs: std::collections::BTreeMap<u64, u64>,
    /// The calls gdb catches.
    pub catching: Catching,
}

pub fn tid_of(tid: u32) -> Tid {
    NonZeroUsize::new(tid.max(1) as usize).expect("non-zero")
}

impl GdbTarget {
    pub fn new(exe: Vec<u8>) -> GdbTarget {
        GdbTarget {
            r: std::ptr::null_mut(),
            sw_bps: BTreeSet::new(),
            hw_bps: BTreeSet::new(),
            watches: Vec::new(),
            request: None,
            step: None,
            stopped: 0,
            last_report: None,
            exe,
            refused_once: false,
            sites: std::collections::BTreeMap::new(),
            stubs: std::collections::BTreeMap::new(),
            catching: Catching::Nothing,
        }
    }

    /// Lends the replay to the target for as long as the hook runs.
    pub fn attach(&mut self, r: &mut Replayer<'_>) {
        self.r = (r as *mut Replayer<'_>).cast::<Replayer<'static>>();
    }

    pub fn detach_replay(&mut self) {
        self.r = std::ptr::null_mut();
    }

    pub(crate) fn replay(&mut self) -> Option<&mut Replayer<'static>> {
        // SAFETY: `r` is set only for the duration of a hook call that holds the
        // replay mutably and passes it on to no one else meanwhile; it is reset before the
        // call returns, and the target never keeps anything borrowed from it.
        unsafe { self.r.as_mut() }
    }

    pub(crate) fn pid_of(&mut self, tid: u32) -> Option<i32> {
        self.replay()?
            .threads()
            .into_iter()
            .find(|t| t.tid == tid)
            .map(|t| t.pid)
    }

    pub(crate) fn rip_of(&mut self, tid: u32) -> Option<u64> {
        let r = self.replay()?;
        r.tracee_of(tid)?.regs().ok().map(|g| g.rip)
    }

    fn refuse(&mut self, what: &str) {
        eprintln!("ftrun: {what} refused: a replay cannot change the past");
        self.refused_once = true;
    }

    fn hw_used(&self) -> usize {
        self.hw_bps.len() + self.watches.len()
    }
}

impl Target for GdbTarget {
    type Arch = X86_64Linux;
    type Error = String;

    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::MultiThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }

    fn support_auxv(&mut self) -> Option<AuxvOps<'_, Self>> {
        Some(self)
    }

    fn support_exec_file(&mut self) -> Option<ExecFileOps<'_, Self>> {
        Some(self)
    }

    fn support_catch_syscalls(&mut self) -> Option<CatchSyscallsOps<'_, Self>> {
        Some(self)
    }

    fn use_fork_stop_reason(&self) -> bool {
        false
    }
}

impl MultiThreadBase for GdbTarget {
    fn read_registers(&mut self, regs: &mut X86Regs, tid: Tid) -> TargetResult<(), Self> {
        let r = self.replay().ok_or(TargetError::NonFatal)?;
        let t = r.tracee_of(tid.get() as u32).ok_or(TargetError::NonFatal)?;
        let g = t.regs().map_err(|_| TargetError::NonFatal)?;
        let fx = t.fpregs_bytes().map_err(|_| TargetError::NonFatal)?;
        *regs = X86Regs::from_ptrace(&g, &fx);
        regs.rip = self.shown_rip(g.rip);
        Ok(())
    }

    fn write_registers(&mut self, _regs: &X86Regs, _tid: Tid) -> TargetResult<(), Self> {
        self.refuse("writing registers");
        Err(TargetError::NonFatal)
    }

    fn read_addrs(&mut self, start: u64, data: &mut [u8], tid: Tid) -> TargetResult<usize, Self> {
        let pid = self
            .pid_of(tid.get() as u32)
            .or_else(|| self.pid_of(self.stopped))
            .ok_or(TargetError::NonFatal)?;
        let got = machine::read_mem(pid, start, data.len());
        if got.is_empty() {
            return Err(TargetError::NonFatal);
        }
        data[..got.len()].copy_from_slice(&got);
        // Rewritten syscall sites read as the program's own code.
        let end = start + got.len() as u64;
        for (&at, bytes) in self.sites.range(start.saturating_sub(16)..end) {
            for (i, b) in bytes.iter().enumerate() {
                let a = at + i as u64;
                if (start..end).contains(&a) {
                    data[(a - start) as usize] = *b;
                }
            }
        }
        Ok(got.len())
    }

    fn write_addrs(&mut self, _start: u64, _data: &[u8], _tid: Tid) -> TargetResult<(), Self> {
        self.refuse("writing memory");
        Err(TargetError::NonFatal)
    }

    fn list_active_threads(
        &mut self,
        thread_is_active: &mut dyn FnMut(Tid),
    ) -> Result<(), Self::Error> {
        let stopped = self.stopped;
        let Some(r) = self.replay() else {
            return Ok(());
        };
        let mut threads = r.threads();
        // The thread of the stop first: gdb takes the first as the current one.
        threads.sort_by_key(|t| (t.tid != stopped, t.tid));
        for t in threads {
            thread_is_active(tid_of(t.tid));
        }
        Ok(())
    }

    fn support_resume(&mut self) -> Option<MultiThreadResumeOps<'_, Self>> {
        Some(self)
    }

    fn support_thread_extra_info(&mut self) -> Option<ThreadExtraInfoOps<'_, Self>> {
        Some(self)
    }
}

impl MultiThreadResume for GdbTarget {
    fn resume(&mut self) -> Result<(), Self::Error> {
        self.request = Some(Request::Resume { step: self.step });
        Ok(())
    }

    fn clear_resume_actions(&mut self) -> Result<(), Self::Error> {
        self.step = None;
        Ok(())
    }

    fn set_resume_action_continue(
        &mut self,
        _tid: Tid,
        _signal: Option<Signal>,
    ) -> Result<(), Self::Error> {
        // Signals come from the recording, not from gdb.
        Ok(())
    }

    fn support_single_step(&mut self) -> Option<MultiThreadSingleStepOps<'_, Self>> {
        Some(self)
    }

    fn support_scheduler_locking(&mut self) -> Option<MultiThreadSchedulerLockingOps<'_, Self>> {
        Some(self)
    }

    fn support_reverse_cont(&mut self) -> Option<ReverseContOps<'_, Tid, Self>> {
        Some(self)
    }

    fn support_reverse_step(&mut self) -> Option<ReverseStepOps<'_, Tid, Self>> {
        Some(self)
    }
}

impl MultiThreadSingleStep for GdbTarget {
    fn set_resume_action_step(
        &mut self,
        tid: Tid,
        _signal: Option<Signal>,
    ) -> Result<(), Self::Error> {
        self.step = Some(tid.get() as u32);
        Ok(())
    }
}

impl MultiThreadSchedulerLocking for GdbTarget {
    fn set_resume_action_scheduler_lock(&mut self) -> Result<(), Self::Error> {
        // The log says whose turn it is: other threads run at theirs whatever gdb asks.
        Ok(())
    }
}

impl ReverseCont<Tid> for GdbTarget {
    fn reverse_cont(&mut self) -> Result<(), Self::Error> {
        self.request = Some(Request::ReverseCont);
        Ok(())
    }
}

impl ReverseStep<Tid> for GdbTarget {
    fn reverse_step(&mut self, tid: Tid) -> Result<(), Self::Error> {
        self.request = Some(Request::ReverseStep(tid.get() as u32));
        Ok(())
    }
}

impl ThreadExtraInfo for GdbTarget {
    fn thread_extra_info(&self, tid: Tid, buf: &mut [u8]) -> Result<usize, Self::Error> {
        // SAFETY: as in `replay`; only the thread list is read.
        let Some(r) = (unsafe { self.r.as_ref() }) else {
            return Ok(0);
        };
        let Some(t) = r
            .threads()
            .into_iter()
            .find(|t| t.tid as usize == tid.get())
        else {
            return Ok(0);
        };
        let name = std::fs::read_to_string(format!("/proc/{}/comm", t.pid)).unwrap_or_default();
        let name = name.trim_end().as_bytes();
        let n = name.len().min(buf.len());
        buf[..n].copy_from_slice(&name[..n]);
        Ok(n)
    }
}

impl Breakpoints for GdbTarget {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_breakpoint(&mut self) -> Option<HwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }
}

impl SwBreakpoint for GdbTarget {
    fn add_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        self.sw_bps.insert(addr);
        Ok(true)
    }

    fn remove_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.sw_bps.remove(&addr))
    }
}

impl HwBreakpoint for GdbTarget {
    fn add_hw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        if self.hw_bps.contains(&addr) {
            return Ok(true);
        }
        if self.hw_used() >= HW_SLOTS {
            return Ok(false);
        }
        self.hw_bps.insert(addr);
        Ok(true)
    }

    fn remove_hw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.hw_bps.remove(&addr))
    }
}

/// A watched range as aligned pieces of 1, 2, 4 or 8 bytes (what a debug register takes).
fn pieces(addr: u64, len: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let (mut at, end) = (addr, addr + len);
    while at < end {
        let mut size = 8;
        while size > 1 && (at % size != 0 || at + size > end) {
            size /= 2;
        }
        out.push((at, size));
        at += size;
    }
    out
}

impl HwWatchpoint for GdbTarget {
    fn add_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        let new: Vec<Watch> = pieces(addr, len)
            .into_iter()
            .map(|(addr, len)| Watch {
                addr,
                len,
                kind: kind.into(),
            })
            .filter(|w| !self.watches.contains(w))
            .collect();
        if self.hw_used() + new.len() > HW_SLOTS {
            return Ok(false);
        }
        self.watches.extend(new);
        Ok(true)
    }

    fn remove_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        let gone: Vec<Watch> = pieces(addr, len)
            .into_iter()
            .map(|(addr, len)| Watch {
                addr,
                len,
                kind: kind.into(),
            })
            .collect();
        let before = self.watches.len();
        self.watches.retain(|w| !gone.contains(w));
        Ok(self.watches.len() != before)
    }
}

impl Auxv for GdbTarget {
    fn get_auxv(&self, offset: u64, length: usize, buf: &mut [u8]) -> TargetResult<usize, Self> {
        // SAFETY: as in `replay`; only the thread list is read.
        let r = unsafe { self.r.as_ref() }.ok_or(TargetError::NonFatal)?;
        let pid = r
            .threads()
            .into_iter()
            .find(|t| t.tid == self.stopped)
            .or_else(|| r.threads().into_iter().next())
            .map(|t| t.pid)
            .ok_or(TargetError::NonFatal)?;
        let mut auxv =
            std::fs::read(format!("/proc/{pid}/auxv")).map_err(|_| TargetError::NonFatal)?;
        // The replayed program was shown no vDSO (AT_SYSINFO_EHDR became AT_IGNORE).
        for entry in auxv.chunks_exact_mut(16) {
            if u64::from_le_bytes(entry[..8].try_into().expect("8 bytes")) == 33 {
                entry[..8].copy_from_slice(&1u64.to_le_bytes());
            }
        }
        Ok(copy_range(&auxv, offset, length, buf))
    }
}

impl ExecFile for GdbTarget {
    fn get_exec_file(
        &self,
        _pid: Option<Pid>,
        offset: u64,
        length: usize,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        Ok(copy_range(&self.exe, offset, length, buf))
    }
}

fn copy_range(data: &[u8], offset: u64, length: usize, buf: &mut [u8]) -> usize {
    let start = (offset as usize).min(data.len());
    let n = length.min(buf.len()).min(data.len() - start);
    buf[..n].copy_from_slice(&data[start..start + n]);
    n
}

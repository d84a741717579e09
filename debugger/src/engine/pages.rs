//! Which code pages the program executed between two checkpoints, so that a
//! reverse-continue passes over the stretches that cannot hold a hit of its breakpoints
//! instead of replaying them.
//!
//! At each checkpoint taken or passed, every executable mapping of the process but the
//! runtime's code loses `PROT_EXEC` (its other bits stay, so reads and writes go on as
//! before). The first fetch from such a page faults; the fault is the debugger's (the
//! replay never sees it): the page is noted as executed and gets its protection back, and
//! the instruction runs. So each page costs at most one fault per stretch. The pages where
//! the thread stands when the stretch begins are executed at once and stay as they are.
//!
//! A stretch's set is exact only while the debugger owns the protections it changed. At the
//! entry of any call that may change mappings or copy them (`mprotect`, `mmap`, `munmap`,
//! `mremap`, SysV `shmat`/`shmdt`, `mseal`, a fork, an exec), every page gets its protection
//! back before the call runs and the stretch is marked unknown: it is always scanned.
//! So is every stretch while gdb has a watchpoint (writes are not followed). Following
//! needs the runtime's `syscall` instruction to make the `mprotect`s from (a process
//! without the fast path's runtime is not followed), and SIGSEGV at its default action
//! (at a fault the kernel resets a blocked or ignored SIGSEGV to its default): a stretch
//! that begins otherwise is not followed, and one that sets a SIGSEGV action ends
//! following like a call that changes mappings.

use std::collections::{BTreeMap, BTreeSet};

use replayer::{ReplayError, Replayer};
use tracee::{Regs, Resume, Stop, Tracee};

use super::{Engine, Goal};
use crate::machine;

const PAGE: u64 = 4096;
const SEGV_ACCERR: i32 = 2;
/// The longest x86 instruction: a fetch fault lies at most this far past `rip`.
const MAX_INSN: u64 = 15;

/// `FTRUN_GDB_NO_PAGES=1` follows no pages (every stretch is scanned; for tests).
fn pages_off() -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OFF.get_or_init(|| std::env::var_os("FTRUN_GDB_NO_PAGES").is_some())
}

fn page_of(addr: u64) -> u64 {
    addr & !(PAGE - 1)
}

/// What a stretch between two checkpoints may have executed.
#[derive(Debug, Clone, Default)]
pub struct Executed {
    /// Pages of the program's executable mappings that it fetched from.
    pages: BTreeSet<u64>,
    /// Executable ranges whose execution was not followed (the runtime's code, the
    /// vsyscall page).
    unfollowed: Vec<(u64, u64)>,
}

impl Executed {
    /// Whether the stretch may have run the instruction at `addr`.
    pub fn may_have_run(&self, addr: u64) -> bool {
        self.pages.contains(&page_of(addr))
            || self.unfollowed.iter().any(|&(s, e)| (s..e).contains(&addr))
    }

    /// The set of two stretches one after the other (unknown if either is).
    pub fn joined(a: &Option<Executed>, b: &Option<Executed>) -> Option<Executed> {
        let (a, b) = (a.as_ref()?, b.as_ref()?);
        let mut out = a.clone();
        out.pages.extend(b.pages.iter().copied());
        out.unfollowed.extend(b.unfollowed.iter().copied());
        Some(out)
    }
}

/// The pages followed since a checkpoint.
#[derive(Debug, Clone)]
pub struct PageTracker {
    /// The process (its recorded id) whose pages are followed.
    tgid: u32,
    /// Pages that are without `PROT_EXEC` by the debugger's doing, with their protection.
    pub protected: BTreeMap<u64, i32>,
    executed: Executed,
    /// The anchor of the checkpoint the stretch began at.
    pub since: u64,
    /// False once code may have run unseen (a call changed mappings).
    exact: bool,
}

impl PageTracker {
    /// The stretch's set, if it is exact.
    pub fn executed(&self) -> Option<Executed> {
        self.exact.then(|| self.executed.clone())
    }
}

/// Calls at whose entry the debugger gives every page its protection back.
fn ends_following(nr: u64, regs: &Regs) -> bool {
    const SYS_MSEAL: i64 = 462;
    let nr = nr as i64;
    if nr == libc::SYS_clone {
        // A new thread shares the mappings (and the debugger follows its faults too); a
        // new process would inherit pages without `PROT_EXEC`.
        return regs.rdi & libc::CLONE_THREAD as u64 == 0;
    }
    if nr == libc::SYS_rt_sigaction {
        // A fault of the debugger's resets a handled SIGSEGV that is blocked to its
        // default (the kernel does so for faults): it follows only while SIGSEGV has its
        // default action.
        return regs.rdi == libc::SIGSEGV as u64 && regs.rsi != 0;
    }
    [
        libc::SYS_mprotect,
        libc::SYS_pkey_mprotect,
        libc::SYS_mmap,
        libc::SYS_munmap,
        libc::SYS_mremap,
        libc::SYS_shmat,
        libc::SYS_shmdt,
        libc::SYS_fork,
        libc::SYS_vfork,
        libc::SYS_clone3,
        libc::SYS_execve,
        libc::SYS_execveat,
        SYS_MSEAL,
    ]
    .contains(&nr)
}

/// Runs `mprotect` calls from the runtime's `syscall` instruction (never without
/// `PROT_EXEC`), then gives the thread its registers back.
fn mprotect_all(t: &mut Tracee, calls: &[(u64, u64, i32)]) -> Result<(), ReplayError> {
    let regs = t.regs()?;
    let insn = fastpath::runtime_syms::UNTRACED_INSN;
    let mut failed = None;
    for &(addr, len, prot) in calls {
        let ret = t.inject_syscall(&regs, insn, libc::SYS_mprotect, &[addr, len, prot as u64]);
        match ret {
            Ok(0) => {}
            Ok(e) => {
                failed = Some(format!("mprotect at {addr:#x}: error {}", -e));
                break;
            }
            Err(e) => {
                failed = Some(e.to_string());
                break;
            }
        }
    }
    t.set_regs(&regs)?;
    t.resend_deferred_signals()?;
    match failed {
        None => Ok(()),
        Some(why) => Err(ReplayError::Setup(format!(
            "following which code pages the replay runs: {why}"
        ))),
    }
}

/// Contiguous runs of pages with the same protection.
fn runs(pages: &BTreeMap<u64, i32>) -> Vec<(u64, u64, i32)> {
    let mut out: Vec<(u64, u64, i32)> = Vec::new();
    for (&page, &prot) in pages {
        match out.last_mut() {
            Some((start, len, p)) if *start + *len == page && *p == prot => *len += PAGE,
            _ => out.push((page, PAGE, prot)),
        }
    }
    out
}

/// Whether SIGSEGV has its default action in the process of thread `pid` (neither
/// ignored nor handled).
fn segv_default(pid: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let bit = 1u64 << (libc::SIGSEGV - 1);
    let mask = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
    };
    match (mask("SigIgn:"), mask("SigCgt:")) {
        (Some(ignored), Some(caught)) => (ignored | caught) & bit == 0,
        _ => false,
    }
}

fn prot_of(perms: &str) -> i32 {
    let b = perms.as_bytes();
    let mut prot = 0;
    if b.first() == Some(&b'r') {
        prot |= libc::PROT_READ;
    }
    if b.get(1) == Some(&b'w') {
        prot |= libc::PROT_WRITE;
    }
    if b.get(2) == Some(&b'x') {
        prot |= libc::PROT_EXEC;
    }
    prot
}

impl Engine {
    /// At a checkpoint taken or passed: the stretch that ended here is closed (its set goes
    /// with the checkpoint it began at), and a new one begins.
    pub(super) fn pages_at_checkpoint(&mut self, r: &mut Replayer<'_>) -> Result<(), ReplayError> {
        if let Some(old) = self.pages.take() {
            let at = self.checkpoints.iter().position(|c| c.stop == old.since);
            let ends_here = self
                .checkpoints
                .get(at.map_or(usize::MAX, |i| i + 1))
                .is_none_or(|c| c.stop >= self.stops);
            if let (Some(i), true) = (at, ends_here) {
                if old.since < self.stops {
                    self.checkpoints[i].executed = old.executed();
                    self.checkpoints[i].closed = true;
                }
            }
            self.pages = Some(old);
        }
        // A stretch whose set is known already (the same on every pass) is not followed
        // again, nor one this pass cannot finish: a way back that ends before the next
        // checkpoint (there is none yet, and it is not gdb that runs forward). Their pages
        // get their protection back at once, which costs less than their faults.
        let known = self
            .checkpoints
            .iter()
            .find(|c| c.stop == self.stops)
            .is_some_and(|c| c.closed);
        let may_finish = matches!(self.goal, Goal::Gdb { .. })
            || self.checkpoints.iter().any(|c| c.stop > self.stops);
        if known || !may_finish {
            return self.stop_following(r);
        }
        self.start_following(r)
    }

    /// Gives every page of the current process its protection back; nothing is followed
    /// until the next checkpoint.
    fn stop_following(&mut self, r: &mut Replayer<'_>) -> Result<(), ReplayError> {
        let cur = r.current_thread();
        let Some(tracker) = self.pages.take() else {
            return Ok(());
        };
        if tracker.tgid != cur.tgid || tracker.protected.is_empty() {
            return Ok(());
        }
        match r.tracee_of(cur.tid) {
            Some(t) => mprotect_all(t, &runs(&tracker.protected)),
            None => Ok(()),
        }
    }

    /// Takes `PROT_EXEC` from every executable page of the current process but those
    /// where its threads stand and the runtime's.
    fn start_following(&mut self, r: &mut Replayer<'_>) -> Result<(), ReplayError> {
        if pages_off() {
            return Ok(());
        }
        let cur = r.current_thread();
        let maps = machine::mappings(cur.pid);
        let insn = fastpath::runtime_syms::UNTRACED_INSN;
        let has_runtime = maps
            .iter()
            .any(|m| m.start <= insn && insn < m.end && m.perms.as_bytes().get(2) == Some(&b'x'));
        let Some(rip) = r
            .tracee_of(cur.tid)
            .and_then(|t| t.regs().ok())
            .map(|g| g.rip)
        else {
            return self.stop_following(r);
        };
        if !has_runtime || !segv_default(cur.pid) {
            return self.stop_following(r);
        }
        let mut tracker = match self.pages.take() {
            Some(t) if t.tgid == cur.tgid => t,
            _ => PageTracker {
                tgid: cur.tgid,
                protected: BTreeMap::new(),
                executed: Executed::default(),
                since: 0,
                exact: true,
            },
        };
        // Every thread's, which it runs when it goes on: a checkpoint's restore takes a
        // thread that waits at a syscall's entry back through its `syscall` instruction.
        let mut standing = vec![page_of(rip), page_of(rip + MAX_INSN)];
        for th in r
            .threads()
            .iter()
            .filter(|th| th.tgid == cur.tgid && th.tid != cur.tid)
        {
            if let Some(at) = r
                .tracee_of(th.tid)
                .and_then(|t| t.regs().ok())
                .map(|g| g.rip)
            {
                standing.extend([
                    page_of(at.wrapping_sub(2)),
                    page_of(at),
                    page_of(at + MAX_INSN),
                ]);
            }
        }
        standing.sort_unstable();
        standing.dedup();
        let mut executed = Executed::default();
        let mut newly = BTreeMap::new();
        for m in &maps {
            let prot = prot_of(&m.perms);
            if prot & libc::PROT_EXEC == 0 {
                continue;
            }
            if fastpath::space::in_runtime(m.start) || m.start >= 0x8000_0000_0000 {
                executed.unfollowed.push((m.start, m.end));
                continue;
            }
            let mut page = m.start;
            while page < m.end {
                if !standing.contains(&page) {
                    newly.insert(page, prot);
                }
                page += PAGE;
            }
        }
        for &p in &standing {
            executed.pages.insert(p);
        }
        if super::debug_on() {
            eprintln!(
                "ftrun: [gdb] following pages from stop {} (rip {rip:#x}): {:x?}",
                self.stops,
                runs(&newly)
            );
        }
        // Pages still without `PROT_EXEC` from the last stretch stay so (and ours), but
        // those where the thread stands now get their protection back.
        let mut back = BTreeMap::new();
        for &p in &standing {
            if let Some(prot) = tracker.protected.remove(&p) {
                back.insert(p, prot);
            }
        }
        if let Some(t) = r.tracee_of(cur.tid) {
            let calls: Vec<(u64, u64, i32)> = runs(&newly)
                .into_iter()
                .map(|(a, l, p)| (a, l, p & !libc::PROT_EXEC))
                .chain(runs(&back))
                .collect();
            mprotect_all(t, &calls)?;
        }
        tracker.protected.extend(newly);
        tracker.executed = executed;
        tracker.since = self.stops;
        tracker.exact = true;
        self.pages = Some(tracker);
        Ok(())
    }

    /// A fetch fault from a page the debugger took `PROT_EXEC` from: the page is noted and
    /// given its protection back. True when the stop was that (the replay must not see it).
    pub(super) fn pages_fault(
        &mut self,
        r: &mut Replayer<'_>,
        stop: &Stop,
    ) -> Result<bool, ReplayError> {
        if !matches!(stop, Stop::Signal { signo } if *signo == libc::SIGSEGV) {
            return Ok(false);
        }
        let cur = r.current_thread();
        let Some(tracker) = self.pages.as_mut().filter(|t| t.tgid == cur.tgid) else {
            return Ok(false);
        };
        let Some((code, addr)) = machine::fault_info(cur.pid) else {
            return Ok(false);
        };
        let Some(t) = r.tracee_of(cur.tid) else {
            return Ok(false);
        };
        let rip = t.regs()?.rip;
        let page = page_of(addr);
        if super::debug_on() {
            eprintln!(
                "ftrun: [gdb] fault code {code} at {addr:#x} rip {rip:#x}, ours {}",
                tracker.protected.contains_key(&page)
            );
        }
        if code != SEGV_ACCERR || addr.wrapping_sub(rip) > MAX_INSN {
            return Ok(false);
        }
        let Some(prot) = tracker.protected.remove(&page) else {
            return Ok(false);
        };
        mprotect_all(t, &[(page, PAGE, prot)])?;
        tracker.executed.pages.insert(page);
        Ok(true)
    }

    /// At a syscall entry: a call that may change mappings first gets every page its
    /// protection back (see the module's comment), and the stretch becomes unknown.
    pub(super) fn pages_at_entry(
        &mut self,
        r: &mut Replayer<'_>,
        nr: u64,
    ) -> Result<(), ReplayError> {
        let cur = r.current_thread();
        let Some(tracker) = self.pages.as_mut() else {
            return Ok(());
        };
        let Some(t) = r.tracee_of(cur.tid) else {
            return Ok(());
        };
        let entry = t.regs()?;
        if !ends_following(nr, &entry) {
            return Ok(());
        }
        tracker.exact = false;
        if tracker.protected.is_empty() || tracker.tgid != cur.tgid {
            return Ok(());
        }
        let calls = runs(&tracker.protected);
        tracker.protected.clear();
        give_back_at_entry(t, &entry, &calls)
    }
}

/// Gives pages their protection back while the thread stands at a syscall's entry: the
/// call is skipped, the `mprotect`s run from its exit, and the thread makes the call again
/// up to the same entry stop.
fn give_back_at_entry(
    t: &mut Tracee,
    entry: &Regs,
    calls: &[(u64, u64, i32)],
) -> Result<(), ReplayError> {
    let mut skipped = *entry;
    skipped.orig_rax = u64::MAX;
    t.set_regs(&skipped)?;
    let mut signals = Vec::new();
    run_to(t, &mut signals, |s| matches!(s, Stop::SyscallExit { .. }))?;
    mprotect_all(t, calls)?;
    let mut again = *entry;
    again.rip -= 2;
    again.rax = entry.orig_rax;
    t.set_regs(&again)?;
    run_to(t, &mut signals, |s| matches!(s, Stop::SyscallEntry { .. }))?;
    t.set_regs(entry)?;
    for signo in signals {
        t.send_signal(signo)?;
    }
    Ok(())
}

/// Resumes the thread to its next syscall stop that `until` accepts; signals meanwhile are
/// kept in `signals` (sent again afterwards).
fn run_to(
    t: &mut Tracee,
    signals: &mut Vec<i32>,
    until: impl Fn(&Stop) -> bool,
) -> Result<(), ReplayError> {
    loop {
        t.resume(Resume::Syscall, 0)?;
        let stop = t.wait()?;
        if until(&stop) {
            return Ok(());
        }
        match stop {
            Stop::Signal { signo } => signals.push(signo),
            Stop::Exited { .. } | Stop::Killed { .. } => return Err(ReplayError::Setup(
                "the replayed thread ended while the debugger gave its pages their protection back"
                    .to_string(),
            )),
            _ => {}
        }
    }
}

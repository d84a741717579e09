//! The fast path of one address space, seen from the tracer: mapping the runtime after an
//! exec, its ring, the stub pages, and the sites rewritten so far (threads share it; a
//! forked child inherits the rewritten code but starts with the runtime off).

use std::collections::{BTreeMap, HashSet};

use schema::SitePatch;
use tracee::{Regs, Tracee};

use crate::layout::*;
use crate::patch::{self, PatchPlan, BEFORE, SITE_WINDOW};
use crate::ring::{Diverged, Ring, ToLoad};
use crate::runtime_syms::ENTRY;
use crate::FastPathError;

mod setup;

const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;
const MADV_DONTFORK: u64 = 10;
const MADV_WIPEONFORK: u64 = 18;
/// Scratch room in the control page while the runtime is being set up.
const SCRATCH: u64 = CONTROL_BASE + 0x400;
/// Stubs reach their site with a 32-bit displacement; pages are kept well inside that.
const REACH: u64 = 0x7000_0000;
const STUB_PAGE_TRIES: u64 = 64;

/// How the runtime of a process is set up.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    /// `MODE_RECORD` or `MODE_OFF` (replay: every call takes the traced path).
    pub mode: u32,
    pub flags: u32,
    /// Install the seccomp filter (once, in the first process: children inherit it).
    pub install_filter: bool,
    /// ftrun's stdout and stderr as (device, inode) pairs, for `FLAG_ECHO_TRACED`.
    pub echo: [u64; 4],
}

struct StubPage {
    base: u64,
    used: u64,
}

/// The fast path's state for one address space.
#[derive(Default)]
pub struct Space {
    ring: Option<std::sync::Arc<Ring>>,
    /// The flags last written to the control page.
    flags: u32,
    sites: BTreeMap<u64, PatchPlan>,
    pages: Vec<StubPage>,
    unpatchable: HashSet<u64>,
    /// Replay: where the sent bytes of each record loaded into the ring will be.
    loaded: Vec<(u64, u64)>,
    /// Replay: how many of them were handed back and taken off already.
    taken: usize,
    /// A forked child's: the code is its parent's, the ring not yet its own.
    needs_ring: bool,
}

/// Why the runtime at replay stopped short of the next loaded record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The program made another call (its number).
    OtherCall(u64),
    /// The runtime made the recorded call again and it returned another result.
    Diverged(Diverged),
}

/// A recorded call the runtime handed back in replay.
pub struct HandedBack {
    /// The bytes an output call sent (empty for others).
    pub sent: Vec<u8>,
}

fn check(what: &str, ret: i64) -> Result<u64, FastPathError> {
    if ret < 0 {
        return Err(FastPathError::Setup {
            what: what.to_string(),
            errno: -ret as i32,
        });
    }
    Ok(ret as u64)
}

// The runtime's memory stays out of landmark hashes.
const _: () = assert!(
    tracee::landmark::RUNTIME_RESERVED.start == RUNTIME_BASE
        && STACK_BASE + STACK_SIZE <= tracee::landmark::RUNTIME_RESERVED.end
);

/// True inside the runtime's code (where a thread may be half-way through a record).
pub fn in_runtime_code(addr: u64) -> bool {
    (RUNTIME_BASE..RUNTIME_BASE + CODE_SIZE).contains(&addr)
}

/// True for addresses of the runtime's own code and memory.
pub fn in_runtime(addr: u64) -> bool {
    (RUNTIME_BASE..STACK_BASE + STACK_SIZE).contains(&addr)
}

impl Space {
    /// A forked child whose runtime is still off.
    pub fn needs_ring(&self) -> bool {
        self.needs_ring
    }

    /// What a forked child inherits: the rewritten code, not the ring (its runtime is off).
    pub fn forked(&self) -> Space {
        Space {
            ring: None,
            flags: 0,
            sites: self.sites.clone(),
            pages: self
                .pages
                .iter()
                .map(|p| StubPage {
                    base: p.base,
                    used: p.used,
                })
                .collect(),
            unpatchable: self.unpatchable.clone(),
            loaded: Vec::new(),
            taken: 0,
            needs_ring: self.ring.is_some(),
        }
    }

    /// Replay: whether recorded calls may be put into the ring now (a ring, none loaded).
    pub fn can_load(&self) -> bool {
        self.ring.is_some() && self.loaded.is_empty()
    }

    /// Replay: puts recorded calls into the ring; returns how many fit.
    pub fn load(&mut self, calls: &[ToLoad]) -> usize {
        let Some(ring) = &self.ring else {
            return 0;
        };
        self.loaded = ring.load(calls);
        self.taken = 0;
        self.loaded.len()
    }

    /// Replay: the calls handed back since the last look, and how the runtime stopped
    /// short of the next loaded one, if it did.
    pub fn handed_back(&mut self) -> (Vec<HandedBack>, Option<Refusal>) {
        let Some(ring) = &self.ring else {
            return (Vec::new(), None);
        };
        let (consumed, mismatch) = ring.progress();
        let consumed = (consumed as usize).min(self.loaded.len());
        let out = self.loaded[self.taken..consumed]
            .iter()
            .map(|&at| HandedBack {
                sent: ring.sent_at(at),
            })
            .collect();
        self.taken = consumed;
        let short = consumed < self.loaded.len();
        let refused = match ring.diverged() {
            Some(d) if short => Some(Refusal::Diverged(d)),
            _ => (mismatch != 0 && short).then(|| Refusal::OtherCall(mismatch - 1)),
        };
        if self.taken == self.loaded.len() || refused.is_some() {
            ring.reset();
            self.loaded.clear();
            self.taken = 0;
        }
        (out, refused)
    }

    /// Replay: records loaded but not handed back yet.
    pub fn pending(&self) -> usize {
        self.loaded.len() - self.taken
    }

    /// Switches the runtime's mode (off before a replayed process goes live).
    pub fn set_mode(&mut self, tracee: &mut Tracee, mode: u32) -> Result<(), FastPathError> {
        if self.ring.is_some() {
            tracee.write_mem(CONTROL_BASE + 8, &mode.to_le_bytes())?;
        }
        Ok(())
    }

    pub(crate) fn ring(&self) -> Option<&std::sync::Arc<Ring>> {
        self.ring.as_ref()
    }

    /// Whether the runtime runs calls in-process here (a ring is mapped).
    pub fn active(&self) -> bool {
        self.ring.is_some()
    }

    /// Whether the runtime has appended records since the last drain.
    pub fn has_records(&self) -> bool {
        self.ring.as_ref().is_some_and(|r| r.has_records())
    }

    /// Bytes of records the runtime published that the tracer has not taken yet.
    pub fn pending_record_bytes(&self) -> u64 {
        self.ring.as_ref().map_or(0, |r| r.pending_bytes())
    }

    /// Takes the records the runtime published that the tracer has not taken yet
    /// (`stopped`: the thread that makes them is stopped outside the runtime).
    pub fn take_records(&self, stopped: bool) -> Result<(Vec<u8>, u64), FastPathError> {
        match &self.ring {
            Some(ring) => ring.take(stopped),
            None => Ok((Vec::new(), 0)),
        }
    }

    /// Sets the control flags (`FLAG_TRACED_NEXT`, …) if they changed.
    pub fn set_flags(&mut self, tracee: &mut Tracee, flags: u32) -> Result<(), FastPathError> {
        if self.ring.is_some() && flags != self.flags {
            tracee.write_mem(CONTROL_BASE + 12, &flags.to_le_bytes())?;
            self.flags = flags;
        }
        Ok(())
    }

    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// True for addresses in the runtime or in a stub.
    pub fn owns(&self, addr: u64) -> bool {
        in_runtime(addr)
            || self
                .pages
                .iter()
                .any(|p| (p.base..p.base + STUB_PAGE_SIZE).contains(&addr))
    }

    /// Where a thread at `rip` goes on, if `rip` is inside a rewritten site.
    pub fn translate(&self, rip: u64) -> Option<u64> {
        let (_, plan) = self.sites.range(..=rip).next_back()?;
        plan.translate(rip)
    }

    /// Rewrites the syscall site before `regs.rip` (the thread is at that syscall's exit),
    /// if it can be; returns what was written, to log.
    pub fn patch_site(
        &mut self,
        tracee: &mut Tracee,
        regs: &Regs,
    ) -> Result<Option<SitePatch>, FastPathError> {
        let site = regs.rip.wrapping_sub(2);
        if self.ring.is_none()
            || self.sites.contains_key(&site)
            || self.unpatchable.contains(&site)
            || self.owns(site)
        {
            return Ok(None);
        }
        let from = site - BEFORE as u64;
        if !in_file_code(tracee.pid(), from, SITE_WINDOW as u64) {
            self.unpatchable.insert(site);
            return Ok(None);
        }
        let code = tracee.read_mem(from, SITE_WINDOW)?;
        let (plan, new_page) = match self.plan_with_stub(tracee, regs, &code, site)? {
            Some(found) => found,
            None => {
                self.unpatchable.insert(site);
                return Ok(None);
            }
        };
        tracee.write_mem(plan.stub, &plan.stub_bytes)?;
        tracee.write_mem(plan.start, &plan.site_bytes)?;
        let logged = SitePatch {
            site,
            site_bytes: plan.site_bytes.clone(),
            stub: plan.stub,
            stub_bytes: plan.stub_bytes.clone(),
            new_stub_page: new_page.unwrap_or(0),
        };
        self.sites.insert(site, plan);
        Ok(Some(logged))
    }

    /// A stub for `site`: in a page within reach, or in a new page mapped now.
    fn plan_with_stub(
        &mut self,
        tracee: &mut Tracee,
        regs: &Regs,
        code: &[u8],
        site: u64,
    ) -> Result<Option<(PatchPlan, Option<u64>)>, FastPathError> {
        if let Some(page) = self
            .pages
            .iter_mut()
            .find(|p| p.base.abs_diff(site) < REACH && p.used + STUB_SIZE <= STUB_PAGE_SIZE)
        {
            let plan = patch::plan(code, site, page.base + page.used, page.base);
            if plan.is_some() {
                page.used += STUB_SIZE;
            }
            return Ok(plan.map(|p| (p, None)));
        }
        let first = stub_page_candidate(site);
        if patch::plan(code, site, first + STUB_PAGE_HEADER, first).is_none() {
            return Ok(None);
        }
        for k in 0..STUB_PAGE_TRIES {
            let base = first + k * STUB_PAGE_SIZE;
            if self.map_stub_page(tracee, regs, site, base)? {
                let plan = patch::plan(code, site, base + STUB_PAGE_HEADER, base);
                self.pages.push(StubPage {
                    base,
                    used: STUB_PAGE_HEADER + STUB_SIZE,
                });
                return Ok(plan.map(|p| (p, Some(base))));
            }
        }
        Ok(None)
    }

    /// Maps a stub page at `base` (from the unpatched syscall at `site`); false if the
    /// address is taken.
    fn map_stub_page(
        &mut self,
        tracee: &mut Tracee,
        regs: &Regs,
        site: u64,
        base: u64,
    ) -> Result<bool, FastPathError> {
        let prot = (libc::PROT_READ | libc::PROT_EXEC) as u64;
        let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64 | MAP_FIXED_NOREPLACE;
        let args = [base, STUB_PAGE_SIZE, prot, flags, u64::MAX, 0];
        let at = tracee.inject_syscall(regs, site, libc::SYS_mmap, &args)?;
        tracee.set_regs(regs)?;
        tracee.resend_deferred_signals()?;
        if at == -(libc::EEXIST as i64) {
            return Ok(false);
        }
        if check("mapping a stub page", at)? != base {
            return Ok(false);
        }
        tracee.write_mem(base, &ENTRY.to_le_bytes())?;
        Ok(true)
    }

    /// Replays a logged rewrite: maps its new stub page, checks that planning the same site
    /// gives the same bytes, and writes them.
    pub fn apply(
        &mut self,
        tracee: &mut Tracee,
        regs: &Regs,
        p: &SitePatch,
    ) -> Result<(), FastPathError> {
        if p.new_stub_page != 0 {
            if !self.map_stub_page(tracee, regs, p.site, p.new_stub_page)? {
                return Err(FastPathError::Replay(format!(
                    "the stub page at {:#x} is taken",
                    p.new_stub_page
                )));
            }
            self.pages.push(StubPage {
                base: p.new_stub_page,
                used: STUB_PAGE_HEADER + STUB_SIZE,
            });
        }
        let slot = p.stub & !(STUB_PAGE_SIZE - 1);
        let code = tracee.read_mem(p.site - BEFORE as u64, SITE_WINDOW)?;
        let plan = patch::plan(&code, p.site, p.stub, slot)
            .filter(|plan| plan.site_bytes == p.site_bytes && plan.stub_bytes == p.stub_bytes)
            .ok_or_else(|| {
                FastPathError::Replay(format!(
                    "the syscall site at {:#x} is not the code that was rewritten when recording",
                    p.site
                ))
            })?;
        if let Some(page) = self.pages.iter_mut().find(|pg| pg.base == slot) {
            page.used = page.used.max(p.stub - slot + STUB_SIZE);
        }
        tracee.write_mem(plan.stub, &plan.stub_bytes)?;
        tracee.write_mem(plan.start, &plan.site_bytes)?;
        self.sites.insert(plan.site, plan);
        Ok(())
    }
}

/// Where the first stub page for a site goes: near the runtime for code in the low 2 GiB
/// (non-PIE executables), else half a GiB below the site's GiB.
fn stub_page_candidate(site: u64) -> u64 {
    if site.abs_diff(NEAR_STUBS_BASE) < REACH {
        return NEAR_STUBS_BASE;
    }
    (site & !((1 << 30) - 1)).saturating_sub(1 << 29)
}

/// Whether `[addr, addr+len)` lies in one executable, non-writable mapping of a file (code
/// that nothing rewrites at run time, unlike a JIT's).
fn in_file_code(pid: i32, addr: u64, len: u64) -> bool {
    in_code(pid, addr, len, true)
}

/// Whether `[addr, addr+len)` lies in one executable, non-writable mapping (of a file only,
/// if `file_only`).
pub(crate) fn in_code(pid: i32, addr: u64, len: u64, file_only: bool) -> bool {
    let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
        return false;
    };
    maps.lines().any(|line| {
        let mut parts = line.split_whitespace();
        let (Some(range), Some(perms)) = (parts.next(), parts.next()) else {
            return false;
        };
        let inode = parts.nth(2).unwrap_or("0");
        let Some((a, b)) = range.split_once('-') else {
            return false;
        };
        let (Ok(a), Ok(b)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) else {
            return false;
        };
        a <= addr && addr + len <= b && perms.starts_with("r-x") && (!file_only || inode != "0")
    })
}

//! Reading the time-stamp counter without trapping, where nothing can read it unrecorded.
//!
//! Recorded programs start with `rdtsc` trapping (`PR_SET_TSC`), so that each value is
//! logged; with the vDSO hidden, every time call is then a syscall (a few hundred ns under
//! the seccomp filter, against 20–30 ns natively), which is most of what a pipelined
//! server like redis spends under recording. Once every executable mapping of a process
//! is accounted for, its threads stop trapping and the runtime serves time calls from the
//! vDSO's own functions (`layout::FLAG_TSC_FREE`), logging what they wrote as before, so
//! replay, which hands the logged results back, is unchanged.
//!
//! Accounted for means: the runtime and its stubs (which hold no counter read), the vDSO
//! (only the runtime calls it: it is hidden from the program), and read-only private file
//! mappings in which every `rdtsc`/`rdtscp` was found by decoding its function
//! (`fastpath::tsc_sites`) and made to trap with an `int3` — a hit is completed and logged
//! as the trapped instruction is, so replay (which traps them all) sees the same event.
//! Anything else executable (anonymous or writable code, a JIT's, a shared mapping, bytes
//! the decoding could not account for) keeps or puts the process back to trapping.
//!
//! Executable memory only changes through traced calls (the runtime leaves `mmap` and
//! `mprotect` with `PROT_EXEC` to the tracer), which mark the process for a new look.
//! Trapping is a per-thread flag, set with an injected `prctl` at a stop where that is
//! safe; `FLAG_TSC_FREE` is on only while every thread of the process is untrapped, and
//! is taken off before any thread is made to trap again.

use std::collections::HashMap;

use fastpath::functions::Place;
use fastpath::layout::{CONTROL_VDSO, FLAG_TSC_FREE};
use fastpath::tsc_sites::{candidates, verdict, TscKind, Verdict};
use tracee::rdtsc::TscInsn;
use tracee::{Regs, Stop};

use crate::session::Recorder;
use crate::tsc_facts::{self, Sites};
use crate::RecordError;

const READ_IMPLIES_EXEC: u32 = 0x0040_0000;
/// Clock sources the vDSO reads without a syscall of its own.
const VDSO_CLOCKS: &[&str] = &["tsc", "kvm-clock", "hyperv_clocksource_tsc_page"];

/// Every process's state, and the looks already taken at mapped files.
#[derive(Default)]
pub(crate) struct TscState {
    /// Off: rdtsc traps all along (no fast path, a clock source the vDSO cannot read,
    /// `FTRUN_TSC_TRAP=1`).
    enabled: bool,
    books: HashMap<i32, Book>,
    /// By mapped file range (device, inode, offset, length): its counter reads as
    /// offsets into the range, or `None` when its code could not be accounted for.
    scans: HashMap<FileRange, Sites>,
}

/// A mapped range of a file: device, inode, offset, length.
type FileRange = (String, u64, u64, u64);

#[derive(Clone, Default)]
struct Book {
    /// The mappings changed since the last look.
    dirty: bool,
    /// Every executable mapping is accounted for.
    clean: bool,
    /// Counter reads made to trap with `int3`, by address.
    sites: HashMap<u64, TscInsn>,
    /// The vDSO's time functions, and its range.
    vdso: [u64; 3],
    vdso_range: (u64, u64),
    /// `FLAG_TSC_FREE` was published, and the vDSO words with it.
    published: bool,
}

/// `FTRUN_DEBUG_TSC=1` says when a process's threads stop or start trapping.
fn debug_tsc() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FTRUN_DEBUG_TSC").is_some())
}

impl TscState {
    /// On with the fast path, where this machine's vDSO reads the clock without a syscall.
    pub(crate) fn new(fast_path: bool) -> TscState {
        let source = std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .unwrap_or_default();
        TscState {
            enabled: fast_path
                && VDSO_CLOCKS.contains(&source.trim())
                && std::env::var_os("FTRUN_TSC_TRAP").is_none(),
            ..TscState::default()
        }
    }

    /// The counter read made to trap at `addr` in process `tgid`, if any.
    pub(crate) fn site(&self, tgid: i32, addr: u64) -> Option<TscInsn> {
        self.books.get(&tgid)?.sites.get(&addr).copied()
    }

    /// Whether a counter read of process `tgid` was made to trap in `[lo, hi)` (code
    /// whose bytes are not what its decoding expects).
    pub(crate) fn has_site_within(&self, tgid: i32, lo: u64, hi: u64) -> bool {
        self.books
            .get(&tgid)
            .is_some_and(|b| b.sites.keys().any(|&a| a >= lo && a < hi))
    }

    /// Whether `rip` is in process `tgid`'s vDSO: only the runtime runs it, for a time
    /// call, so a thread stopped there is inside the runtime.
    pub(crate) fn in_vdso(&self, tgid: i32, rip: u64) -> bool {
        self.books
            .get(&tgid)
            .is_some_and(|b| (b.vdso_range.0..b.vdso_range.1).contains(&rip))
    }

    /// A traced call that may change process `tgid`'s code ran; `regs` are its registers at
    /// its exit. Mapping or protecting memory without `PROT_EXEC` only takes code away (a
    /// mapping replaced, code made unexecutable): the counter reads made to trap there are
    /// forgotten, and the look at every mapping is saved for calls that may add code.
    pub(crate) fn code_call_ran(&mut self, tgid: i32, nr: u64, regs: &Regs) {
        let Some(book) = self.books.get_mut(&tgid) else {
            return;
        };
        let failed = (regs.rax as i64) < 0 && (regs.rax as i64) > -4096;
        let no_exec = regs.rdx & libc::PROT_EXEC as u64 == 0 && !failed;
        let removed = match nr as libc::c_long {
            libc::SYS_mmap if no_exec => Some(regs.rax),
            libc::SYS_mprotect | libc::SYS_pkey_mprotect if no_exec => Some(regs.rdi),
            _ => None,
        };
        let Some(start) = removed else {
            book.dirty = true;
            return;
        };
        let end = start.saturating_add(regs.rsi.saturating_add(0xfff) & !0xfff);
        book.sites.retain(|&a, _| a < start || a >= end);
    }

    /// A forked child has its parent's code, traps made included; its control page is new.
    pub(crate) fn forked(&mut self, parent: i32, child: i32) {
        if let Some(b) = self.books.get(&parent) {
            let mut b = b.clone();
            b.dirty = true;
            b.published = false;
            self.books.insert(child, b);
        }
    }

    pub(crate) fn forget(&mut self, tgid: i32) {
        self.books.remove(&tgid);
    }

    /// Whether threads of `tgid` may run untrapped.
    fn wanted_free(&self, tgid: i32) -> bool {
        self.books.get(&tgid).is_some_and(|b| b.clean && !b.dirty)
    }
}

/// Whether a syscall can change what code a process has.
pub(crate) fn changes_code(nr: u64) -> bool {
    [
        libc::SYS_mmap,
        libc::SYS_mprotect,
        libc::SYS_pkey_mprotect,
        libc::SYS_mremap,
        libc::SYS_remap_file_pages,
        libc::SYS_shmat,
        libc::SYS_personality,
    ]
    .contains(&(nr as libc::c_long))
}

/// Whether an injected syscall cannot disturb the stop: not one inside a syscall the
/// kernel is about to restart (its restart is decided from registers the injection
/// replaces), nor one a signal is delivered from.
fn injectable(stop: Option<Stop>, regs: &Regs, deliver: i32) -> bool {
    let restarting = regs.orig_rax != u64::MAX && (-516..=-512).contains(&(regs.rax as i64));
    deliver == 0
        && !restarting
        && matches!(
            stop,
            Some(Stop::SyscallExit { .. })
                | Some(Stop::Signal { .. })
                | Some(Stop::Event {
                    event: tracee::PtraceEvent::Stop,
                    ..
                })
        )
}

fn insn_of(kind: TscKind) -> TscInsn {
    match kind {
        TscKind::Rdtsc => TscInsn::Rdtsc,
        TscKind::Rdtscp => TscInsn::Rdtscp,
    }
}

impl Recorder<'_> {
    /// A new image (at its exec stop): it starts trapping; its mappings are looked at.
    pub(crate) fn tsc_exec(&mut self, vdso_base: u64) -> Result<(), RecordError> {
        let tgid = self.t.tgid;
        self.tsc.forget(tgid);
        if !self.tsc.enabled || vdso_base == 0 {
            return Ok(());
        }
        let vdso_range = exec_range_named(tgid, "[vdso]").unwrap_or((0, 0));
        let len = (vdso_range.1 - vdso_range.0) as usize;
        let vdso = tracee::vdso::time_functions_of(&mut self.t.tracee, vdso_base, len)?;
        if let Some(vdso) = vdso.filter(|v| v.iter().any(|&f| f != 0)) {
            self.tsc.books.insert(
                tgid,
                Book {
                    dirty: true,
                    vdso,
                    vdso_range,
                    ..Book::default()
                },
            );
        }
        Ok(())
    }

    /// Before the current thread resumes: a new look at its process's code if it changed,
    /// `FLAG_TSC_FREE` taken off at once if the process must trap again, and the thread's
    /// own trapping set as the process wants, where its stop allows an injected call.
    pub(crate) fn tsc_before_resume(&mut self) -> Result<(), RecordError> {
        if !self.tsc.enabled && !self.t.tsc_free {
            return Ok(());
        }
        self.tsc_refresh()?;
        let want = self.tsc.wanted_free(self.t.tgid) && self.tsc_space_allows();
        if want == self.t.tsc_free {
            return Ok(());
        }
        let regs = self.t.tracee.regs()?;
        if !injectable(self.t.tsc_stop, &regs, self.t.deliver) {
            return Ok(());
        }
        let mode = if want {
            libc::PR_TSC_ENABLE
        } else {
            libc::PR_TSC_SIGSEGV
        };
        let args = [libc::PR_SET_TSC as u64, mode as u64];
        let made = if self.spaces.contains_key(&self.t.tgid) {
            let insn = fastpath::runtime_syms::UNTRACED_INSN;
            let made = self
                .t
                .tracee
                .inject_syscall(&regs, insn, libc::SYS_prctl, &args);
            self.t.tracee.set_regs(&regs)?;
            made
        } else {
            // No runtime (a new image that could not have one): a `syscall` written over
            // the code at the thread's rip for the time, as the runtime is mapped. Only
            // its one thread runs (an exec leaves one).
            let saved = self.t.tracee.read_mem(regs.rip, 2)?;
            self.t.tracee.write_mem(regs.rip, &[0x0f, 0x05])?;
            let made = self
                .t
                .tracee
                .inject_syscall(&regs, regs.rip, libc::SYS_prctl, &args);
            self.t.tracee.write_mem(regs.rip, &saved)?;
            self.t.tracee.set_regs(&regs)?;
            made
        };
        self.t.tracee.resend_deferred_signals()?;
        if made? == 0 {
            self.t.tsc_free = want;
            if debug_tsc() {
                let how = if want {
                    "reads the counter untrapped"
                } else {
                    "traps rdtsc again"
                };
                eprintln!(
                    "ftrun: [tsc] thread {} of process {} {how}",
                    self.t.tid, self.t.tgid
                );
            }
        }
        Ok(())
    }

    /// `FLAG_TSC_FREE` for the current process's control flags: every thread untrapped.
    pub(crate) fn tsc_flag(&mut self) -> u32 {
        let tgid = self.t.tgid;
        let all_free = self.tsc.wanted_free(tgid)
            && self.tsc_space_allows()
            && self.t.tsc_free
            && self.tasks.of_process(tgid).all(|t| t.tsc_free);
        if !all_free {
            return 0;
        }
        let Some(book) = self.tsc.books.get_mut(&tgid) else {
            return 0;
        };
        if !book.published {
            let words: Vec<u8> = book.vdso.iter().flat_map(|w| w.to_le_bytes()).collect();
            if self.t.tracee.write_mem(CONTROL_VDSO, &words).is_err() {
                return 0;
            }
            book.published = true;
        }
        FLAG_TSC_FREE
    }

    /// The runtime is on and nobody else runs in this process's memory (a vfork child).
    fn tsc_space_allows(&self) -> bool {
        let tgid = self.t.tgid;
        self.spaces.get(&tgid).is_some_and(|s| s.active())
            && self.vfork_children.get(&tgid).is_none_or(|&n| n == 0)
            && self.t.vfork_parent.is_none()
    }

    /// Looks at the process's code again if it changed; takes `FLAG_TSC_FREE` off at once
    /// when it must trap again.
    pub(crate) fn tsc_refresh(&mut self) -> Result<(), RecordError> {
        let tgid = self.t.tgid;
        let Some(book) = self.tsc.books.get(&tgid) else {
            return Ok(());
        };
        if !book.dirty {
            return Ok(());
        }
        let was_clean = book.clean;
        let clean = self.tsc_look(tgid)?;
        let book = self.tsc.books.get_mut(&tgid).expect("looked at");
        book.dirty = false;
        book.clean = clean;
        if !clean && book.published {
            book.published = false;
            if let Some(space) = self.spaces.get_mut(&tgid) {
                let flags = space.flags() & !FLAG_TSC_FREE;
                let pid = self.t.tracee.pid();
                space
                    .set_flags(&mut self.t.tracee, flags)
                    .map_err(|e| crate::inproc::failure(tgid, pid, e))?;
            }
        }
        if debug_tsc() && clean != was_clean {
            let how = if clean {
                "has no code that reads the counter unrecorded"
            } else {
                "has code that is not accounted for"
            };
            eprintln!("ftrun: [tsc] process {tgid} {how}");
        }
        Ok(())
    }

    /// Accounts for every executable mapping of `tgid`, making the counter reads found trap
    /// with `int3`; false if one cannot be accounted for.
    fn tsc_look(&mut self, tgid: i32) -> Result<bool, RecordError> {
        let personality = std::fs::read_to_string(format!("/proc/{tgid}/personality"))
            .ok()
            .and_then(|p| u32::from_str_radix(p.trim(), 16).ok());
        if personality.is_none_or(|p| p & READ_IMPLIES_EXEC != 0) {
            return Ok(false);
        }
        let Ok(maps) = std::fs::read_to_string(format!("/proc/{tgid}/maps")) else {
            return Ok(false);
        };
        let vdso_range = self.tsc.books.get(&tgid).map_or((0, 0), |b| b.vdso_range);
        let mut found = Vec::new();
        for m in maps.lines().filter_map(Mapping::parse) {
            if !m.perms.contains('x') {
                continue;
            }
            let ours = self.spaces.get(&tgid).is_some_and(|s| s.owns(m.start));
            if ours || (m.start, m.end) == vdso_range || m.name == "[vsyscall]" {
                continue;
            }
            if m.perms != "r-xp" || !m.name.starts_with('/') || m.inode == 0 {
                if debug_tsc() {
                    eprintln!(
                        "ftrun: [tsc] process {tgid}: {:#x}-{:#x} {} {}",
                        m.start, m.end, m.perms, m.name
                    );
                }
                return Ok(false);
            }
            let key = (m.dev.clone(), m.inode, m.offset, m.end - m.start);
            let sites = match self.tsc.scans.get(&key) {
                Some(sites) => sites.clone(),
                None => {
                    let sites = self.tsc_scan_remembered(tgid, &m);
                    self.tsc.scans.insert(key, sites.clone());
                    sites
                }
            };
            let Some(sites) = sites else {
                if debug_tsc() {
                    eprintln!(
                        "ftrun: [tsc] process {tgid}: {:#x}-{:#x} {}: undecided bytes",
                        m.start, m.end, m.name
                    );
                }
                return Ok(false);
            };
            found.extend(sites.into_iter().map(|(off, insn)| (m.start + off, insn)));
        }
        // The sites are those of the code mapped now: a library unmapped and mapped again
        // at the same place (dlclose, dlopen) has its counter reads without the `int3`
        // again, and what was unmapped has none left.
        let addrs: Vec<u64> = found.iter().map(|&(addr, _)| addr).collect();
        let now = self.t.tracee.read_bytes_at(&addrs)?;
        let mut sites = HashMap::with_capacity(found.len());
        for ((addr, insn), byte) in found.into_iter().zip(now) {
            if byte != 0xcc {
                self.t.tracee.write_mem(addr, &[0xcc])?;
            }
            sites.insert(addr, insn);
        }
        self.tsc.books.get_mut(&tgid).expect("a book").sites = sites;
        Ok(true)
    }

    /// The counter reads of one mapping, from the store when an earlier recording looked
    /// at the same range of the same unchanged file (`crate::tsc_facts`).
    fn tsc_scan_remembered(&mut self, tgid: i32, m: &Mapping) -> Sites {
        let store = self.files.store().cloned();
        let key = store
            .as_ref()
            .and_then(|_| tsc_facts::key_of(tgid, m.start, m.end, m.inode, m.offset));
        if let (Some(store), Some(key)) = (&store, &key) {
            if let Some(sites) = tsc_facts::recall(store, key) {
                if debug_tsc() {
                    eprintln!(
                        "ftrun: [tsc] {} +{:#x}: the look is the store's",
                        m.name, m.offset
                    );
                }
                return sites;
            }
        }
        let (sites, of_the_file_alone) = self.tsc_scan(m);
        if let (Some(store), Some(key), true) = (&store, &key, of_the_file_alone) {
            tsc_facts::remember(store, key, &sites);
        }
        sites
    }

    /// The counter reads of one mapping, as offsets into it (`None`: not accounted for),
    /// and whether the outcome follows from the mapped file alone (not from a failed read,
    /// nor from code of a neighbouring mapping).
    fn tsc_scan(&mut self, m: &Mapping) -> (Sites, bool) {
        let Ok(code) = self.t.tracee.read_mem(m.start, (m.end - m.start) as usize) else {
            return (None, false);
        };
        let mut of_the_file_alone = true;
        let mut sites = Vec::new();
        let mut places = fastpath::functions::Places::default();
        for at in candidates(&code) {
            let addr = m.start + at as u64;
            let (start, end) = match places.place_of(&mut self.t.tracee, addr) {
                Place::Function(start, end) => (start, end),
                // Data in the text (a table of hand-written code): compiled code always
                // has an entry. Were it code after all, replay (where every counter read
                // traps) would stop at it with a divergence, not run on.
                Place::Between => continue,
                Place::Unknown => {
                    if debug_tsc() {
                        eprintln!(
                            "ftrun: [tsc] {addr:#x} (+{at:#x}) in {}: no unwind table",
                            m.name
                        );
                    }
                    return (None, of_the_file_alone);
                }
            };
            let bytes = if start >= m.start && end <= m.end {
                code[(start - m.start) as usize..(end - m.start) as usize].to_vec()
            } else {
                of_the_file_alone = false;
                match self.t.tracee.read_mem(start, (end - start) as usize) {
                    Ok(bytes) => bytes,
                    Err(_) => return (None, false),
                }
            };
            match verdict(&bytes, start, addr) {
                Verdict::Site(kind) => sites.push((at as u64, insn_of(kind))),
                Verdict::NotAnInstruction => {}
                Verdict::Unknown => {
                    if debug_tsc() {
                        eprintln!("ftrun: [tsc] {:#x} (+{at:#x}) in {}: undecodable in {start:#x}-{end:#x}", addr, m.name);
                    }
                    return (None, of_the_file_alone);
                }
            }
        }
        (Some(sites), of_the_file_alone)
    }

    /// A `SIGTRAP` at a counter read made to trap: completed and logged as a trapped
    /// `rdtsc` is; false if it is no such trap.
    pub(crate) fn tsc_trap_hit(&mut self, regs: &mut Regs) -> Result<bool, RecordError> {
        let site = regs.rip.wrapping_sub(1);
        let Some(insn) = self.tsc.site(self.t.tgid, site) else {
            return Ok(false);
        };
        regs.rip = site;
        self.complete_rdtsc(regs, insn)?;
        Ok(true)
    }
}

/// The range of the mapping `name` (`[vdso]`) in process `tgid`.
fn exec_range_named(tgid: i32, name: &str) -> Option<(u64, u64)> {
    let maps = std::fs::read_to_string(format!("/proc/{tgid}/maps")).ok()?;
    let m = maps
        .lines()
        .filter_map(Mapping::parse)
        .find(|m| m.name == name)?;
    Some((m.start, m.end))
}

/// One line of `/proc/PID/maps`.
struct Mapping {
    start: u64,
    end: u64,
    perms: String,
    offset: u64,
    dev: String,
    inode: u64,
    name: String,
}

impl Mapping {
    fn parse(line: &str) -> Option<Mapping> {
        let mut p = line.split_whitespace();
        let (a, b) = p.next()?.split_once('-')?;
        let perms = p.next()?.to_string();
        let offset = u64::from_str_radix(p.next()?, 16).ok()?;
        let dev = p.next()?.to_string();
        let inode = p.next()?.parse().ok()?;
        let name = p.collect::<Vec<_>>().join(" ");
        Some(Mapping {
            start: u64::from_str_radix(a, 16).ok()?,
            end: u64::from_str_radix(b, 16).ok()?,
            perms,
            offset,
            dev,
            inode,
            name,
        })
    }
}

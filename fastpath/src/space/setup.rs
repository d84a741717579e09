//! Setting the runtime up in a process: its code, control page, stack, ring and seccomp
//! filter after an exec, a ring of its own for a forked child, and recording from a point
//! of a replayed process that went live.
//!
//! Each syscall injected one by one costs two ptrace stops (its entry and its exit, ~75 µs
//! each here). Once the code and the control page are mapped, the rest is made by the
//! runtime's batch runner (`ftrun_batch`): the tracer writes a table of calls into the
//! control page's scratch room and the runner makes them from the untraced instruction and
//! stops at an `int3`, one stop for the lot. An exec's setup takes 6 stops instead of 22.

use std::fs::File;

use tracee::{Regs, Runner, Tracee, TraceeError};

use super::{check, Setup, Space, MADV_DONTFORK, MADV_WIPEONFORK, MAP_FIXED_NOREPLACE, SCRATCH};
use crate::layout::*;
use crate::ring::Ring;
use crate::runtime_syms::{BATCH, BATCH_DONE};
use crate::{seccomp, FastPathError};

const MFD_CLOEXEC: u64 = 1;
const SECCOMP_SET_MODE_FILTER: u64 = 1;
const SECCOMP_FILTER_FLAG_TSYNC: u64 = 1;
/// In the scratch room: the ring's name, the filter's header and program, the runner's
/// stack (growing down from the table) and the table of calls.
const RING_NAME: u64 = SCRATCH;
const FILTER_HEADER: u64 = SCRATCH + 0x80;
const FILTER_PROGRAM: u64 = SCRATCH + 0x100;
const BATCH_TABLE: u64 = SCRATCH + 0x180;
const SCRATCH_SIZE: usize = 0x400;
/// Calls a table has room for.
const BATCH_MAX: usize = (SCRATCH_SIZE - 0x180 - 8) / 64;

/// One call of a batch: its number and arguments.
type Call = (i64, [u64; 6]);

fn call(nr: i64, args: &[u64]) -> Call {
    let mut six = [0u64; 6];
    six[..args.len()].copy_from_slice(args);
    (nr, six)
}

/// Runs `calls` through the runtime's batch runner (mapped, with its control page).
fn batch(tracee: &mut Tracee, regs: &Regs, calls: &[Call]) -> Result<Vec<i64>, TraceeError> {
    debug_assert!(calls.len() <= BATCH_MAX);
    let runner = Runner {
        code: BATCH,
        done: BATCH_DONE,
        table: BATCH_TABLE,
        stack: BATCH_TABLE,
    };
    tracee.inject_batch(regs, runner, calls)
}

impl Space {
    /// Maps the runtime into a process stopped at the exit of its exec (or any syscall
    /// exit), from a `syscall` instruction written over the one at `rip` for the time.
    pub fn install(tracee: &mut Tracee, setup: &Setup) -> Result<Space, FastPathError> {
        let regs = tracee.regs()?;
        let insn = regs.rip;
        let saved = tracee.read_mem(insn, 2)?;
        tracee.write_mem(insn, &[0x0f, 0x05])?;
        let result = Self::map_runtime(tracee, &regs, insn, setup);
        tracee.write_mem(insn, &saved)?;
        tracee.set_regs(&regs)?;
        tracee.resend_deferred_signals()?;
        result
    }

    fn map_runtime(
        tracee: &mut Tracee,
        regs: &Regs,
        insn: u64,
        setup: &Setup,
    ) -> Result<Space, FastPathError> {
        let (rx, rw) = (
            (libc::PROT_READ | libc::PROT_EXEC) as u64,
            (libc::PROT_READ | libc::PROT_WRITE) as u64,
        );
        let private = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64 | MAP_FIXED_NOREPLACE;
        let at = tracee.inject_syscall(
            regs,
            insn,
            libc::SYS_mmap,
            &[RUNTIME_BASE, CODE_SIZE, rx, private, u64::MAX, 0],
        )?;
        if check("mapping the runtime's code", at)? != RUNTIME_BASE {
            return Err(FastPathError::Setup {
                what: "mapping the runtime's code at its address".into(),
                errno: libc::EEXIST,
            });
        }
        tracee.write_mem(RUNTIME_BASE, crate::RUNTIME_IMAGE)?;
        let at = tracee.inject_syscall(
            regs,
            insn,
            libc::SYS_mmap,
            &[CONTROL_BASE, CONTROL_SIZE, rw, private, u64::MAX, 0],
        )?;
        check("mapping the runtime's control page", at)?;
        // From here the runner makes the calls.
        let first = [
            call(
                libc::SYS_madvise,
                &[CONTROL_BASE, CONTROL_SIZE, MADV_WIPEONFORK],
            ),
            call(
                libc::SYS_mmap,
                &[STACK_BASE, STACK_SIZE, rw, private, u64::MAX, 0],
            ),
        ];
        let made = batch(tracee, regs, &first)?;
        check("marking the control page wiped on fork", made[0])?;
        check("mapping the runtime's stack", made[1])?;
        let (ring, filtered) = Self::map_ring(tracee, regs, setup.install_filter.then_some(0))?;
        match filtered {
            // Without CAP_SYS_ADMIN a filter needs no_new_privs (set-user-ID programs then
            // run without their privileges, as under rr).
            Some(r) if r == -(libc::EACCES as i64) => {
                Self::install_filter_with_no_new_privs(tracee, regs, 0)?
            }
            Some(r) => {
                check("installing the seccomp filter", r)?;
            }
            None => {}
        }
        tracee.write_mem(SCRATCH, &[0u8; SCRATCH_SIZE])?;
        let mut space = Space {
            ring: Some(std::sync::Arc::new(ring)),
            ..Space::default()
        };
        space.ring.as_ref().expect("just set").reset();
        space.start(tracee, setup)?;
        Ok(space)
    }

    /// Creates the ring (a memfd), maps it at its address and into the tracer, and then
    /// installs the seccomp filter with `filter` flags if asked (its call goes last: the
    /// filter lets only the runtime's calls through); returns the ring and that call's
    /// result.
    fn map_ring(
        tracee: &mut Tracee,
        regs: &Regs,
        filter: Option<u64>,
    ) -> Result<(Ring, Option<i64>), FastPathError> {
        let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
        tracee.write_mem(RING_NAME, b"ftrun-ring\0")?;
        let made = batch(
            tracee,
            regs,
            &[call(libc::SYS_memfd_create, &[RING_NAME, MFD_CLOEXEC])],
        )?;
        let fd = check("creating the ring", made[0])?;
        let path = format!("/proc/{}/fd/{fd}", tracee.pid());
        let mapped = File::options()
            .read(true)
            .write(true)
            .open(&path)
            .and_then(|file| {
                // The tracer sizes the file it shares with the tracee.
                file.set_len(RING_MAP_SIZE)?;
                Ring::map(&file)
            })
            .map_err(|source| FastPathError::Io {
                what: format!("opening and mapping the ring {path}"),
                source,
            });
        let shared = libc::MAP_SHARED as u64 | MAP_FIXED_NOREPLACE;
        let mut calls = vec![
            call(
                libc::SYS_mmap,
                &[RING_BASE, RING_MAP_SIZE, rw, shared, fd, 0],
            ),
            call(
                libc::SYS_madvise,
                &[RING_BASE, RING_MAP_SIZE, MADV_DONTFORK],
            ),
            call(libc::SYS_close, &[fd]),
        ];
        if mapped.is_err() {
            calls.truncate(0);
            calls.push(call(libc::SYS_close, &[fd]));
        } else if let Some(flags) = filter {
            Self::write_filter(tracee)?;
            calls.push(call(
                libc::SYS_seccomp,
                &[SECCOMP_SET_MODE_FILTER, flags, FILTER_HEADER],
            ));
        }
        let made = batch(tracee, regs, &calls)?;
        let ring = mapped?;
        check("mapping the ring", made[0])?;
        check("keeping the ring from forked children", made[1])?;
        Ok((ring, made.get(3).copied()))
    }

    /// Writes the control page's magic, mode and flags: the runtime is on from here.
    pub(super) fn start(
        &mut self,
        tracee: &mut Tracee,
        setup: &Setup,
    ) -> Result<(), FastPathError> {
        let echo: Vec<u8> = setup.echo.iter().flat_map(|w| w.to_le_bytes()).collect();
        tracee.write_mem(CONTROL_ECHO, &echo)?;
        let mut control = Vec::with_capacity(16);
        control.extend_from_slice(&CONTROL_MAGIC.to_le_bytes());
        control.extend_from_slice(&setup.mode.to_le_bytes());
        control.extend_from_slice(&setup.flags.to_le_bytes());
        tracee.write_mem(CONTROL_BASE, &control)?;
        self.flags = setup.flags;
        Ok(())
    }

    /// A forked child, stopped before it ran: gets a ring of its own and its runtime on
    /// (its control page was wiped by the fork, and its parent's ring is not mapped in it).
    pub fn give_ring(&mut self, tracee: &mut Tracee, setup: &Setup) -> Result<(), FastPathError> {
        let regs = tracee.regs()?;
        let ring = Self::map_ring(tracee, &regs, None);
        tracee.write_mem(SCRATCH, &[0u8; SCRATCH_SIZE])?;
        tracee.set_regs(&regs)?;
        tracee.resend_deferred_signals()?;
        let (ring, _) = ring?;
        ring.reset();
        self.ring = Some(std::sync::Arc::new(ring));
        self.needs_ring = false;
        self.start(tracee, setup)
    }

    /// A replayed process that went live is recorded from here (the new primary after a
    /// takeover): its ring, emptied, records again, and the seccomp filter is installed
    /// in every one of its threads at once (`SECCOMP_FILTER_FLAG_TSYNC`), unless the replay
    /// ran under it already. `tracee` is one of its threads, stopped. An error before the filter is in
    /// place leaves the runtime off, every call traced as before.
    pub fn record_from_here(
        &mut self,
        tracee: &mut Tracee,
        setup: &Setup,
    ) -> Result<(), FastPathError> {
        let Some(ring) = self.ring.clone() else {
            return Err(FastPathError::Setup {
                what: "recording a live process: its runtime has no ring".into(),
                errno: 0,
            });
        };
        let regs = tracee.regs()?;
        let filtered = if tracee.is_filtered() {
            Ok(())
        } else {
            Self::install_filter_with_no_new_privs(tracee, &regs, SECCOMP_FILTER_FLAG_TSYNC)
        };
        tracee.write_mem(SCRATCH, &[0u8; SCRATCH_SIZE])?;
        tracee.set_regs(&regs)?;
        tracee.resend_deferred_signals()?;
        filtered?;
        ring.reset();
        self.loaded.clear();
        self.taken = 0;
        self.start(tracee, setup)
    }

    /// The filter's program and header, in the scratch room.
    fn write_filter(tracee: &mut Tracee) -> Result<(), FastPathError> {
        tracee.write_mem(FILTER_PROGRAM, &seccomp::filter_program())?;
        let mut header = [0u8; 16];
        header[..2].copy_from_slice(&seccomp::filter_len().to_le_bytes());
        header[8..].copy_from_slice(&FILTER_PROGRAM.to_le_bytes());
        tracee.write_mem(FILTER_HEADER, &header)?;
        Ok(())
    }

    /// Installs the filter, setting no_new_privs first when the filter is refused without
    /// it (no CAP_SYS_ADMIN).
    fn install_filter_with_no_new_privs(
        tracee: &mut Tracee,
        regs: &Regs,
        filter_flags: u64,
    ) -> Result<(), FastPathError> {
        Self::write_filter(tracee)?;
        let seccomp = call(
            libc::SYS_seccomp,
            &[SECCOMP_SET_MODE_FILTER, filter_flags, FILTER_HEADER],
        );
        let mut r = batch(tracee, regs, &[seccomp])?[0];
        if r == -(libc::EACCES as i64) {
            let no_new_privs = call(
                libc::SYS_prctl,
                &[libc::PR_SET_NO_NEW_PRIVS as u64, 1, 0, 0, 0],
            );
            let made = batch(tracee, regs, &[no_new_privs, seccomp])?;
            check("setting no_new_privs", made[0])?;
            r = made[1];
        }
        if check("installing the seccomp filter", r)? != 0 {
            // With TSYNC: the thread that could not take the filter.
            return Err(FastPathError::Setup {
                what: format!("installing the seccomp filter in every thread (thread {r})"),
                errno: 0,
            });
        }
        Ok(())
    }
}

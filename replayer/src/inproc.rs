//! The replayer's side of the in-process fast path: the runtime is mapped after an exec
//! where the recording mapped it, sites are rewritten where the recording rewrote them, and
//! a thread coming back into a rewritten site goes on in its stub, all as when recording. The
//! runtime is off here: every call it would have run takes its stub's traced `syscall`,
//! whose recorded result (a `Buffered` event) is written back like any emulated call's.

use fastpath::layout::MODE_OFF;
use fastpath::{Setup, Space};
use schema::{Event, EventKind};
use tracee::Regs;

use crate::session::Replayer;
use crate::ReplayError;

fn setup_error(e: fastpath::FastPathError) -> ReplayError {
    match e {
        fastpath::FastPathError::Tracee(e) => e.into(),
        other => ReplayError::Setup(other.to_string()),
    }
}

impl Replayer<'_> {
    fn next_is(&mut self, want: fn(&EventKind) -> bool) -> Result<bool, ReplayError> {
        let me = self.t.tid;
        Ok(matches!(self.peek()?, Some(Event { tid, kind, .. }) if *tid == me && want(kind)))
    }

    /// At the exit of an exec: the runtime, if the recording mapped one here.
    pub(crate) fn on_exec_exit(&mut self) -> Result<(), ReplayError> {
        let tgid = self.t.tgid;
        self.spaces.remove(&tgid);
        if !self.next_is(|k| matches!(k, EventKind::RuntimeMapped))? {
            return Ok(());
        }
        self.take()?;
        let setup = Setup {
            mode: MODE_OFF,
            flags: 0,
            install_filter: false,
        };
        let space = Space::install(&mut self.t.tracee, &setup).map_err(setup_error)?;
        self.spaces.insert(tgid, space);
        Ok(())
    }

    /// Rewrites the sites the recording rewrote at this syscall's exit.
    pub(crate) fn apply_site_patches(&mut self) -> Result<(), ReplayError> {
        while self.next_is(|k| matches!(k, EventKind::SitePatched(_)))? {
            let EventKind::SitePatched(p) = self.take()?.kind else {
                unreachable!("peeked")
            };
            let tgid = self.t.tgid;
            let regs = self.t.tracee.regs()?;
            let Some(space) = self.spaces.get_mut(&tgid) else {
                return Err(self.divergence(
                    "no rewritten syscall site (this process has no runtime)",
                    format!("a site rewritten at {:#x}", p.site),
                ));
            };
            space
                .apply(&mut self.t.tracee, &regs, &p)
                .map_err(|e| ReplayError::Setup(e.to_string()))?;
        }
        Ok(())
    }

    /// Moves a thread standing inside a rewritten site to the same point in its stub.
    pub(crate) fn translate_rip(&self, regs: &mut Regs) -> bool {
        match self
            .spaces
            .get(&self.t.tgid)
            .and_then(|s| s.translate(regs.rip))
        {
            Some(rip) => {
                regs.rip = rip;
                true
            }
            None => false,
        }
    }

    /// A forked child inherits its parent's rewritten code.
    pub(crate) fn fork_space(&mut self, parent: u32, child: u32) {
        if let Some(space) = self.spaces.get(&parent) {
            let forked = space.forked();
            self.spaces.insert(child, forked);
        }
    }
}

//! `catch syscall`: which calls gdb catches, and where a call made through a rewritten
//! site's stub enters and returns.
//!
//! A traced call is caught at its ptrace stops: its entry before the replay handles it (the
//! registers as the program made the call), its return at the anchor after the exit (the
//! recorded result in `rax`). A call the fast path hands back in-process makes no stop, so
//! while gdb catches calls every stub's entry (right after the moved `mov $NR,%eax`, before
//! `lea -128(%rsp),%rsp; call *slot`: the program's registers for the call) and the
//! instruction after its traced `syscall` (where the runtime comes back to with the result,
//! and where a traced call from the stub ends) carry an int3: their arrivals are the call's
//! entry and return, whichever way it is made, and its ptrace stops are not shown again.

use std::collections::BTreeSet;

use gdbstub::target::ext::catch_syscalls::{CatchSyscalls, SyscallNumbers};
use gdbstub::target::TargetResult;

use crate::target::GdbTarget;

/// From a stub's entry to the instruction after its traced `syscall`: the `lea` (5 bytes),
/// the `call` (6) and the `syscall` (2).
pub const STUB_RETURN_OFFSET: u64 = 13;
const MOV_EAX_IMM: u8 = 0xb8;
const LEA_CALL: [u8; 7] = [0x48, 0x8d, 0x64, 0x24, 0x80, 0xff, 0x15];

/// Which calls gdb catches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Catching {
    Nothing,
    All,
    Numbers(BTreeSet<u64>),
}

/// A call caught: its number and whether at its entry or its return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaughtCall {
    pub nr: u64,
    pub entry: bool,
}

impl Catching {
    pub fn any(&self) -> bool {
        !matches!(self, Catching::Nothing)
    }

    pub fn catches(&self, nr: u64) -> bool {
        match self {
            Catching::Nothing => false,
            Catching::All => true,
            Catching::Numbers(set) => set.contains(&nr),
        }
    }
}

/// The entry of the stub a site rewrite wrote (see `fastpath::patch`), from its bytes.
pub fn stub_entry(stub: u64, stub_bytes: &[u8]) -> Option<u64> {
    let skip = if stub_bytes.first() == Some(&MOV_EAX_IMM) {
        5
    } else {
        0
    };
    let call = stub_bytes.get(skip..skip + LEA_CALL.len())?;
    let traced = stub_bytes.get(skip + 11..skip + 13)?;
    (call == LEA_CALL && traced == [0x0f, 0x05]).then_some(stub + skip as u64)
}

impl GdbTarget {
    /// The stub entry whose traced `syscall` a thread standing at `rip` (just past it)
    /// made, if any.
    pub fn stub_of_return(&self, rip: u64) -> Option<u64> {
        let entry = rip.checked_sub(STUB_RETURN_OFFSET)?;
        self.stubs.contains_key(&entry).then_some(entry)
    }

    /// Whether `a` is a stub's entry or return while gdb catches calls.
    pub fn is_catch_point(&self, a: u64) -> bool {
        self.catching.any() && (self.stubs.contains_key(&a) || self.stub_of_return(a).is_some())
    }

    /// The call an arrival at `a` (an int3 of ours) enters or returns from; `rax` is the
    /// thread's, `entered` its last stub entry and that call's number.
    pub fn stub_call(&self, a: u64, rax: u64, entered: Option<(u64, u64)>) -> Option<CaughtCall> {
        if !self.catching.any() {
            return None;
        }
        if self.stubs.contains_key(&a) {
            return Some(CaughtCall {
                nr: rax,
                entry: true,
            });
        }
        let entry = self.stub_of_return(a)?;
        let (at, nr) = entered?;
        (at == entry).then_some(CaughtCall { nr, entry: false })
    }

    /// Where gdb is shown a thread standing at a stub's entry or return: right after the
    /// site's `syscall`, as at a traced call's stops (gdb names the function and unwinds
    /// from there; the stub is ftrun's code, unknown to it).
    pub fn shown_rip(&self, rip: u64) -> u64 {
        let entry = self.stub_of_return(rip).unwrap_or(rip);
        self.stubs.get(&entry).map_or(rip, |&site| site + 2)
    }

    /// The int3 addresses of `catch syscall`: every stub's entry and return.
    pub fn catch_points(&self) -> Vec<u64> {
        if !self.catching.any() {
            return Vec::new();
        }
        self.stubs
            .keys()
            .flat_map(|&e| [e, e + STUB_RETURN_OFFSET])
            .collect()
    }
}

impl CatchSyscalls for GdbTarget {
    fn enable_catch_syscalls(
        &mut self,
        filter: Option<SyscallNumbers<'_, u64>>,
    ) -> TargetResult<(), Self> {
        self.catching = match filter {
            None => Catching::All,
            Some(numbers) => Catching::Numbers(numbers.collect()),
        };
        Ok(())
    }

    fn disable_catch_syscalls(&mut self) -> TargetResult<(), Self> {
        self.catching = Catching::Nothing;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stub_entry_is_after_a_moved_mov() {
        let mut plain = LEA_CALL.to_vec();
        plain.extend([0, 0, 0, 0, 0x0f, 0x05, 0xe9]);
        assert_eq!(stub_entry(0x1000, &plain), Some(0x1000));
        let mut moved = vec![MOV_EAX_IMM, 0x27, 0, 0, 0];
        moved.extend(&plain);
        assert_eq!(stub_entry(0x1000, &moved), Some(0x1005));
        assert_eq!(stub_entry(0x1000, &[0x90; 20]), None);
    }
}

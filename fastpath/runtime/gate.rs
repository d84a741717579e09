//! The Output Rule in the runtime (fault tolerance): an output waits until the tracer's
//! gate words say the follower has every input before it (see `layout::RingHeader`).

use core::ptr::{read_volatile, write_volatile};

use crate::layout::*;
use crate::{control, nr, ring, sys, sys3, CLOCK_MONOTONIC, FUTEX_WAIT, GATE_NAP_NS, SIGALRM};

pub(crate) unsafe fn monotonic_ns() -> u64 {
    let mut ts = [0u64; 2];
    if sys3(nr::CLOCK_GETTIME, CLOCK_MONOTONIC, ts.as_mut_ptr() as u64, 0) < 0 {
        return u64::MAX;
    }
    ts[0] * 1_000_000_000 + ts[1]
}

/// Whether what the tracer last published lets an output go without asking: the follower
/// has every event logged before the thread resumed and every input of this ring, and
/// heard from this primary recently enough that it cannot have taken over since.
unsafe fn gate_clear(r: *mut RingHeader) -> bool {
    read_volatile(&(*r).acked_events) >= read_volatile(&(*r).gate_floor)
        && read_volatile(&(*r).acked_records) >= read_volatile(&(*r).last_input)
        && monotonic_ns() < read_volatile(&(*r).clear_until_ns)
}

/// Whether the follower has acknowledged what request `req` needs (the tracer wrote the
/// need once it had logged every record before the request), recently enough.
unsafe fn need_acknowledged(r: *mut RingHeader, req: u64) -> bool {
    if read_volatile(&(*r).gate_need_req) != req {
        return false;
    }
    core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
    read_volatile(&(*r).acked_events) >= read_volatile(&(*r).gate_need)
        && monotonic_ns() < read_volatile(&(*r).clear_until_ns)
}

/// Request `req`, asked at `asked_at`, stops waiting: counted for the tracer's report.
unsafe fn left_gate(r: *mut RingHeader, req: u64, asked_at: u64) {
    write_volatile(&mut (*r).gate_sleeping, 0);
    let waited = monotonic_ns().saturating_sub(asked_at);
    write_volatile(&mut (*r).gate_waits, read_volatile(&(*r).gate_waits) + 1);
    write_volatile(
        &mut (*r).gate_wait_ns,
        read_volatile(&(*r).gate_wait_ns).wrapping_add(waited),
    );
    write_volatile(&mut (*r).gate_done, req);
}

/// The Output Rule, in-process: returns once the output may go, or false when the tracer
/// wants the thread (a signal waits, another thread wants the token): the output then
/// takes the traced path, whose gate is the tracer's.
pub(crate) unsafe fn gate_passed(flags: u32) -> bool {
    let r = ring();
    let ask_always = flags & FLAG_GATE_ASK != 0;
    if !ask_always && gate_clear(r) {
        return true;
    }
    let asked_at = monotonic_ns();
    let req = read_volatile(&(*r).gate_req) + 1;
    write_volatile(&mut (*r).gate_req, req);
    let bell = read_volatile(&(*control()).doorbell);
    if bell[0] != 0 {
        sys3(nr::TGKILL, bell[0] as u64, bell[1] as u64, SIGALRM);
    }
    // Announced before the first look at `gate_word`: a tracer that changes it after that
    // look sees the flag and wakes the futex (the fences order each side's store before
    // its load, so one of the two always sees the other's).
    write_volatile(&mut (*r).gate_sleeping, 1);
    core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
    loop {
        let seen = read_volatile(&(*r).gate_word);
        if read_volatile(&(*r).gate_granted) >= req
            || (!ask_always && gate_clear(r))
            || need_acknowledged(r, req)
        {
            left_gate(r, req, asked_at);
            return true;
        }
        if read_volatile(&(*control()).flags) & FLAG_TRACED_NEXT != 0 {
            left_gate(r, req, asked_at);
            return false;
        }
        let nap = [0u64, GATE_NAP_NS];
        let word = &mut (*r).gate_word as *mut u32 as u64;
        sys(nr::FUTEX, [word, FUTEX_WAIT, seen as u64, nap.as_ptr() as u64, 0, 0]);
    }
}


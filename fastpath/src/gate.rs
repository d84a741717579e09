//! The tracer's side of the in-process output gate (fault tolerance): the words of a ring's
//! header through which it tells the runtime what the follower has acknowledged, and
//! answers an output that asked (see `layout::RingHeader::gate_floor`). Two tracer threads
//! write them — the recording thread, and the link's receiving thread as acknowledgements
//! come — so they are written as atomics.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use tracee::Tracee;

use crate::layout::*;
use crate::ring::Ring;
use crate::space::Space;
use crate::FastPathError;

/// What the follower has, as the gate words say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acknowledged {
    /// Events of the log the follower has acknowledged (`u64::MAX`: outputs are not held).
    pub events: u64,
    /// Outputs may go without asking until this `CLOCK_MONOTONIC` time, in nanoseconds.
    pub clear_until_ns: u64,
}

impl Ring {
    fn word(&self, offset: u64) -> &AtomicU64 {
        assert!(offset + 8 <= RING_HEADER_SIZE && offset.is_multiple_of(8));
        // SAFETY: an 8-aligned word inside the header page, which lives as long as `self`;
        // every access to it from the tracer goes through this atomic.
        unsafe { &*(self.word_ptr(offset) as *const AtomicU64) }
    }

    /// The gate requests the runtime has made so far.
    pub fn gate_requests(&self) -> u64 {
        self.word(RING_GATE_REQ).load(Ordering::Acquire)
    }

    /// Outputs the runtime let through its gate so far.
    pub fn gated_outputs(&self) -> u64 {
        self.word(RING_GATED_OUTPUTS).load(Ordering::Acquire)
    }

    /// Outputs that asked at the gate so far, and the nanoseconds they waited there.
    pub fn gate_waits(&self) -> (u64, u64) {
        (
            self.word(RING_GATE_WAITS).load(Ordering::Acquire),
            self.word(RING_GATE_WAIT_NS).load(Ordering::Acquire),
        )
    }

    /// What the gate words say the follower has: events, and the ring's own records.
    pub fn acknowledged(&self) -> (u64, u64) {
        (
            self.word(RING_ACKED_EVENTS).load(Ordering::Acquire),
            self.word(RING_ACKED_RECORDS).load(Ordering::Acquire),
        )
    }

    /// Records the tracer has taken so far.
    pub fn records_taken(&self) -> u64 {
        self.read_u64(RING_SHIPPED)
    }

    /// An output now must wait until the follower has `events` events (the thread is
    /// about to resume with that many logged).
    pub fn set_gate_floor(&self, events: u64) {
        self.word(RING_GATE_FLOOR).store(events, Ordering::Release);
    }

    /// Request `req` may go once the follower has acknowledged `events` events. The
    /// runtime is woken now only if the acknowledgement is already there; otherwise the
    /// receiving thread's publication of it wakes the runtime (it changes `acked_events`
    /// after this store, or this load sees it).
    pub fn set_gate_need(&self, req: u64, events: u64) {
        self.word(RING_GATE_NEED).store(events, Ordering::SeqCst);
        self.word(RING_GATE_NEED_REQ).store(req, Ordering::SeqCst);
        if self.word(RING_ACKED_EVENTS).load(Ordering::SeqCst) >= events {
            self.wake_gate();
        }
    }

    /// Publishes what the follower has; wakes a waiting output if anything changed.
    pub fn publish_acknowledged(&self, ack: Acknowledged) {
        let events = self
            .word(RING_ACKED_EVENTS)
            .swap(ack.events, Ordering::AcqRel);
        let until = self
            .word(RING_CLEAR_UNTIL)
            .swap(ack.clear_until_ns, Ordering::AcqRel);
        if (events, until) != (ack.events, ack.clear_until_ns) {
            self.wake_gate();
        }
    }

    /// Publishes how many of the ring's records the follower has acknowledged.
    pub fn publish_acked_records(&self, records: u64) {
        if self
            .word(RING_ACKED_RECORDS)
            .swap(records, Ordering::AcqRel)
            != records
        {
            self.wake_gate();
        }
    }

    /// Whether the runtime stopped waiting for request `req` (it went on, or took the
    /// traced path).
    pub fn gate_done(&self, req: u64) -> bool {
        self.word(RING_GATE_DONE).load(Ordering::Acquire) >= req
    }

    /// Lets the outputs that asked up to request `req` go.
    pub fn grant(&self, req: u64) {
        if self
            .word(RING_GATE_GRANTED)
            .fetch_max(req, Ordering::AcqRel)
            < req
        {
            self.wake_gate();
        }
    }

    fn wake_gate(&self) {
        let word = self.word_ptr(RING_GATE_WORD);
        // SAFETY: 4-aligned words inside the header page; the runtime only reads the first
        // and writes the second.
        let (atomic, sleeping) = unsafe {
            (
                &*(word as *const AtomicU32),
                &*(self.word_ptr(RING_GATE_SLEEPING) as *const AtomicU32),
            )
        };
        atomic.fetch_add(1, Ordering::SeqCst);
        // No runtime waits at the gate (it announces itself before reading the word): no
        // wake needed, and none made — most acknowledgements come with nobody waiting.
        if sleeping.load(Ordering::SeqCst) == 0 {
            return;
        }
        // SAFETY: a futex wake on that word. The futex is shared (the mapping is a memfd's,
        // MAP_SHARED), so it reaches a runtime waiting on the same word in its own mapping.
        unsafe {
            libc::syscall(libc::SYS_futex, word, libc::FUTEX_WAKE, i32::MAX, 0, 0, 0);
        }
    }
}

impl Space {
    /// The ring, while the runtime records into one.
    pub fn gate_ring(&self) -> Option<&Arc<Ring>> {
        self.ring()
    }

    /// Tells the runtime which tracer thread to wake (`SIGALRM`) when an output asks.
    pub fn set_doorbell(
        &self,
        tracee: &mut Tracee,
        pid: u32,
        tid: u32,
    ) -> Result<(), FastPathError> {
        if self.ring().is_some() {
            let mut bell = pid.to_le_bytes().to_vec();
            bell.extend_from_slice(&tid.to_le_bytes());
            tracee.write_mem(CONTROL_DOORBELL, &bell)?;
        }
        Ok(())
    }
}

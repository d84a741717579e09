//! The tracer's side of the in-process output gate (fault tolerance): the words of a ring's
//! header through which it tells the runtime what the follower has acknowledged, and
//! answers an output that asked (see `layout::RingHeader::gate_floor`).

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
    /// Records of this ring among them.
    pub records: u64,
    /// Outputs may go without asking until this `CLOCK_MONOTONIC` time, in nanoseconds.
    pub clear_until_ns: u64,
}

impl Ring {
    /// The gate requests the runtime has made so far.
    pub fn gate_requests(&self) -> u64 {
        self.read_u64(RING_GATE_REQ)
    }

    /// Outputs the runtime let through its gate so far.
    pub fn gated_outputs(&self) -> u64 {
        self.read_u64(RING_GATED_OUTPUTS)
    }

    /// Records the tracer has taken so far.
    pub fn records_taken(&self) -> u64 {
        self.read_u64(RING_SHIPPED)
    }

    /// An output now must wait until the follower has `events` events (the thread is
    /// about to resume with that many logged).
    pub fn set_gate_floor(&self, events: u64) {
        if self.read_u64(RING_GATE_FLOOR) != events {
            self.write_u64(RING_GATE_FLOOR, events);
        }
    }

    /// Publishes what the follower has; wakes a waiting output if anything changed.
    pub fn publish_acknowledged(&self, ack: Acknowledged) {
        let now = (
            self.read_u64(RING_ACKED_EVENTS),
            self.read_u64(RING_ACKED_RECORDS),
            self.read_u64(RING_CLEAR_UNTIL),
        );
        if now == (ack.events, ack.records, ack.clear_until_ns) {
            return;
        }
        self.write_u64(RING_ACKED_EVENTS, ack.events);
        self.write_u64(RING_ACKED_RECORDS, ack.records);
        self.write_u64(RING_CLEAR_UNTIL, ack.clear_until_ns);
        self.wake_gate();
    }

    /// Lets the outputs that asked up to request `req` go.
    pub fn grant(&self, req: u64) {
        if self.read_u64(RING_GATE_GRANTED) < req {
            self.write_u64(RING_GATE_GRANTED, req);
            self.wake_gate();
        }
    }

    fn wake_gate(&self) {
        let word = self.word_ptr(RING_GATE_WORD);
        // SAFETY: `word` is a 4-aligned u32 inside the mapped header page; the runtime
        // only reads it. The futex is shared (the mapping is a memfd's, MAP_SHARED), so
        // the wake reaches a runtime waiting on the same word in its own mapping.
        unsafe {
            let v = std::ptr::read_volatile(word);
            std::ptr::write_volatile(word, v.wrapping_add(1));
            libc::syscall(libc::SYS_futex, word, libc::FUTEX_WAKE, i32::MAX, 0, 0, 0);
        }
    }
}

impl Space {
    /// The ring, while the runtime records into one.
    pub fn gate_ring(&self) -> Option<&Ring> {
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

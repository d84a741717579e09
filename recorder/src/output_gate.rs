//! The tracer's side of the Output Rule for outputs made in-process (fault tolerance). The
//! runtime holds a write to a socket, pipe or terminal until the follower has every input
//! logged before it; the tracer tells it, through its ring's gate words, how far the
//! follower's acknowledgements go in the ring's own records and in the log, and grants an
//! output that asked once the log up to it is acknowledged (see `fastpath::gate`). One
//! acknowledgement lets through every output that follows the same inputs: replies to a
//! batch of requests wait for one round trip, not one each.
//!
//! Asking rings the doorbell: the runtime sends `SIGALRM` to the recording thread, which
//! ends its wait for stops, takes the rings' records and writes the request's need into
//! the ring. The acknowledgement that covers it is published into every ring by the
//! link's receiving thread as it arrives (`publisher`), in events and in each ring's own
//! records: the runtime goes on without the recording thread in between, and so do the
//! replies after it, which need the ring's records acknowledged. When only the recording thread can decide (an
//! acknowledgement that came late, a follower being waited out), acknowledgements wake it
//! with `SIGALRM` too; and the clock's next tick (2 ms) finds anything missed.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use fastpath::ring::Ring;
use fastpath::Acknowledged;

use crate::session::Recorder;
use crate::sink::Clearance;
use crate::RecordError;

/// The gates of every process that records in-process under the Output Rule.
pub(crate) struct OutputGates {
    books: HashMap<i32, Book>,
    /// An output waits for a grant: acknowledgements wake the recording thread.
    waiting: Arc<AtomicBool>,
    /// The recording thread, as the runtimes' doorbell names it.
    bell: (u32, u32),
    /// The rings acknowledgements are published into (kept in step with the spaces).
    board: Arc<Mutex<Vec<Arc<GateRing>>>>,
    /// Each process's ring under the gate.
    rings: HashMap<i32, Arc<GateRing>>,
}

/// A ring under the gate, with what it takes to tell its runtime how far the follower's
/// acknowledgements go in the ring's own records (from any thread).
struct GateRing {
    ring: Arc<Ring>,
    /// Per batch of records taken from the ring: the events logged once it was, and the
    /// ring's records taken by then.
    batches: Mutex<VecDeque<(u64, u64)>>,
    /// The ring's records the follower has acknowledged.
    acked_records: AtomicU64,
}

impl GateRing {
    fn new(ring: &Arc<Ring>) -> Arc<GateRing> {
        Arc::new(GateRing {
            ring: ring.clone(),
            batches: Mutex::new(VecDeque::new()),
            acked_records: AtomicU64::new(0),
        })
    }

    /// Publishes `clear` into the ring: the events, and the ring's records they cover.
    /// Outputs not held (no follower has the log) count nothing as acknowledged: once they
    /// are held again, for a follower that joined, only what it acknowledged counts.
    fn publish(&self, clear: Clearance) {
        let open = clear.acked_events == u64::MAX;
        let records = match open {
            true => u64::MAX,
            false => {
                let mut batches = self.batches.lock().expect("gate batches");
                while let Some(&(logged, taken)) = batches.front() {
                    if logged > clear.acked_events {
                        break;
                    }
                    self.acked_records.fetch_max(taken, Ordering::AcqRel);
                    batches.pop_front();
                }
                self.acked_records.load(Ordering::Acquire)
            }
        };
        self.ring.publish_acked_records(records);
        self.ring.publish_acknowledged(acknowledged(clear));
    }

    /// Records were taken: `taken` of them by the time `logged` events were logged.
    fn took(&self, logged: u64, taken: u64) {
        let mut batches = self.batches.lock().expect("gate batches");
        if batches.len() >= BATCHES_KEPT {
            // A later batch covers the records of the one forgotten: they count as
            // acknowledged a little later, never earlier.
            batches.pop_front();
        }
        batches.push_back((logged, taken));
    }
}

/// Batches remembered per ring while they wait for an acknowledgement (a primary alone
/// acknowledges none for as long as it stays alone).
const BATCHES_KEPT: usize = 4096;

#[derive(Default)]
struct Book {
    /// The request taken up: its number, the events logged then, and since when it waits.
    pending: Option<(u64, u64, Instant)>,
    granted: u64,
    /// Outputs of the ring counted so far.
    outputs: u64,
    /// The ring's gate waits counted so far: how many, and their nanoseconds.
    waits: (u64, u64),
}

/// The calling thread's ids.
fn this_thread() -> (u32, u32) {
    // SAFETY: getpid and gettid take no arguments and cannot fail.
    unsafe { (libc::getpid() as u32, libc::gettid() as u32) }
}

impl OutputGates {
    pub(crate) fn new() -> Self {
        OutputGates {
            books: HashMap::new(),
            waiting: Arc::new(AtomicBool::new(false)),
            bell: this_thread(),
            board: Arc::new(Mutex::new(Vec::new())),
            rings: HashMap::new(),
        }
    }

    /// What the sink calls, under its lock of the follower's state (so that two
    /// publications never cross), with each new clearance and when the recording thread
    /// asks for it: publishes it into every ring, so that an output waiting for it goes on
    /// at once.
    pub(crate) fn publisher(&self) -> Arc<dyn Fn(Clearance) + Send + Sync> {
        let board = self.board.clone();
        Arc::new(move |clear: Clearance| {
            for ring in board.lock().expect("gate board").iter() {
                ring.publish(clear);
            }
        })
    }

    /// The gate's view of process `tgid`'s ring `ring` (new when the ring is).
    fn ring_of(&mut self, tgid: i32, ring: &Arc<Ring>) -> Arc<GateRing> {
        let known = self.rings.get(&tgid).filter(|g| Arc::ptr_eq(&g.ring, ring));
        match known {
            Some(g) => g.clone(),
            None => {
                let g = GateRing::new(ring);
                self.rings.insert(tgid, g.clone());
                g
            }
        }
    }

    /// What the sink calls when acknowledgements come: wakes the recording thread while an
    /// output waits for a decision only it can make.
    pub(crate) fn waker(&self) -> Arc<dyn Fn() + Send + Sync> {
        let (waiting, (pid, tid)) = (self.waiting.clone(), self.bell);
        Arc::new(move || {
            if waiting.load(Ordering::Acquire) {
                // SAFETY: tgkill with our own process and recording thread; SIGALRM is
                // handled (by doing nothing) and blocked outside the wait for stops.
                unsafe {
                    libc::syscall(libc::SYS_tgkill, pid, tid, libc::SIGALRM);
                }
            }
        })
    }

    pub(crate) fn doorbell(&self) -> (u32, u32) {
        self.bell
    }

    /// A process's ring is new (exec, fork): its records count from 0 again.
    pub(crate) fn forget(&mut self, tgid: i32) {
        self.books.remove(&tgid);
        self.rings.remove(&tgid);
    }
}

/// `FTRUN_DEBUG_GATE=1` prints the gate's state at every tick (for debugging ftrun itself).
fn debug_gate() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FTRUN_DEBUG_GATE").is_some())
}

/// The gate words for a clearance.
fn acknowledged(clear: Clearance) -> Acknowledged {
    let open = clear.acked_events == u64::MAX;
    Acknowledged {
        events: clear.acked_events,
        clear_until_ns: match (open, clear.fresh_until) {
            (true, _) => u64::MAX,
            (false, Some(until)) => monotonic_ns(until),
            (false, None) => 0,
        },
    }
}

fn monotonic_ns(at: Instant) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a timespec local; CLOCK_MONOTONIC is the clock `Instant` reads.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let now = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
    let now_instant = Instant::now();
    // A moment already past stays past (it must not become "now": a runtime that read its
    // clock just before would take an acknowledgement that came too late as fresh).
    match at.checked_duration_since(now_instant) {
        Some(ahead) => now.saturating_add(ahead.as_nanos() as u64),
        None => now.saturating_sub((now_instant - at).as_nanos() as u64),
    }
}

impl Recorder<'_> {
    /// With the fast path under the Output Rule: the gates, hooked to the sink.
    pub(crate) fn prepare_gates(&mut self) -> Result<(), RecordError> {
        if self.fast_path && self.sink.gates_output() && self.gates.is_none() {
            crate::timeslice::prepare_ticks()?;
            let gates = OutputGates::new();
            self.sink.set_gate_hooks(gates.waker(), gates.publisher());
            self.gates = Some(gates);
        }
        Ok(())
    }

    /// Records of process `tgid`'s ring were just logged.
    pub(crate) fn note_shipped(&mut self, tgid: i32) {
        let (Some(gates), Some(ring)) = (
            self.gates.as_mut(),
            self.spaces.get(&tgid).and_then(|s| s.gate_ring()),
        ) else {
            return;
        };
        gates
            .ring_of(tgid, ring)
            .took(self.seq, ring.records_taken());
        let book = gates.books.entry(tgid).or_default();
        let outputs = ring.gated_outputs();
        if outputs > book.outputs {
            self.sink.count_outputs(outputs - book.outputs);
            book.outputs = outputs;
        }
        let (waits, ns) = ring.gate_waits();
        if waits > book.waits.0 {
            let waited = std::time::Duration::from_nanos(ns.wrapping_sub(book.waits.1));
            self.sink.count_gate_waits(waits - book.waits.0, waited);
            book.waits = (waits, ns);
        }
    }

    /// The events an output now waits for: up to the last input logged (outputs before it
    /// need not be acknowledged first).
    fn inputs_logged(&self) -> u64 {
        self.sink
            .inputs_logged()
            .map_or(self.seq, |n| n.min(self.seq))
    }

    /// The current thread resumes: every input logged so far comes before its next output.
    pub(crate) fn set_gate_floor(&mut self) {
        if self.gates.is_none() {
            return;
        }
        if let Some(ring) = self.spaces.get(&self.t.tgid).and_then(|s| s.gate_ring()) {
            ring.set_gate_floor(self.inputs_logged());
        }
    }

    /// At each tick and doorbell (after the running threads' records were taken): takes
    /// up new requests, publishes the acknowledgements, grants what may go.
    pub(crate) fn serve_gates(&mut self) -> Result<(), RecordError> {
        let Some(gates) = self.gates.as_mut() else {
            return Ok(());
        };
        let mut asked = Vec::new();
        for (&tgid, space) in &self.spaces {
            let Some(ring) = space.gate_ring() else {
                continue;
            };
            let req = ring.gate_requests();
            let book = gates.books.entry(tgid).or_default();
            if req > book.granted && book.pending.is_none_or(|(p, _, _)| p < req) {
                asked.push((tgid, req));
            }
        }
        if !asked.is_empty() {
            // The runtime published the records before the output that asked (the inputs
            // it answers) before it asked: taken now, they are logged before it — and so
            // is everything every other process's runtime published by now.
            self.stream_rings()?;
            self.sink.streamed()?;
        }
        let need = self.inputs_logged();
        let Some(gates) = self.gates.as_mut() else {
            return Ok(());
        };
        for (tgid, req) in asked {
            let book = gates.books.entry(tgid).or_default();
            book.pending = Some((req, need, Instant::now()));
            if let Some(ring) = self.spaces.get(&tgid).and_then(|s| s.gate_ring()) {
                ring.set_gate_need(req, need);
            }
        }
        {
            // The board follows the spaces (rebuilt only when a ring came or went).
            let rings: Vec<(i32, Arc<Ring>)> = self
                .spaces
                .iter()
                .filter_map(|(&tgid, s)| Some((tgid, s.gate_ring()?.clone())))
                .collect();
            let board = gates.board.lock().expect("gate board");
            let same = board.len() == rings.len()
                && rings
                    .iter()
                    .all(|(_, r)| board.iter().any(|b| Arc::ptr_eq(&b.ring, r)));
            drop(board);
            if !same {
                let fresh = rings.iter().map(|(t, r)| gates.ring_of(*t, r)).collect();
                *gates.board.lock().expect("gate board") = fresh;
            }
        }
        // Asking for the clearance publishes it into the rings (under the sink's lock).
        let clear = self.sink.clearance();
        let mut waiting = false;
        for (&tgid, space) in &self.spaces {
            let Some(ring) = space.gate_ring() else {
                continue;
            };
            let book = gates.books.entry(tgid).or_default();
            if debug_gate() {
                eprintln!(
                    "ftrun: [gate {tgid}] acked {} records {:?} pending {:?} logged {}",
                    clear.acked_events,
                    gates
                        .rings
                        .get(&tgid)
                        .map(|g| g.acked_records.load(Ordering::Relaxed)),
                    book.pending,
                    self.seq
                );
            }
            if let Some((req, need, since)) = book.pending {
                if ring.gate_done(req) {
                    // The runtime went on by itself (the receiving thread published the
                    // acknowledgement it needed), or took the traced path.
                    self.sink.gate_passed(since);
                    book.granted = req;
                    book.pending = None;
                } else if self.sink.decide_gate(need, since)? {
                    ring.grant(req);
                    book.granted = req;
                    book.pending = None;
                } else {
                    waiting = true;
                }
            }
        }
        gates.waiting.store(waiting, Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(name: &str) -> Arc<Ring> {
        let path = std::env::temp_dir().join(format!("ftrun-gate-{name}-{}", std::process::id()));
        let f = std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        f.set_len(fastpath::layout::RING_MAP_SIZE).unwrap();
        let ring = Ring::map(&f).unwrap();
        let _ = std::fs::remove_file(&path);
        Arc::new(ring)
    }

    fn acked(events: u64) -> Clearance {
        Clearance {
            acked_events: events,
            fresh_until: None,
        }
    }

    #[test]
    fn a_publication_covers_the_records_of_every_batch_its_events_reach() {
        let ring = ring("batches");
        let gate = GateRing::new(&ring);
        // Batches taken: 4 records once 10 events were logged, 9 by 25, 15 by 40.
        for (logged, taken) in [(10, 4), (25, 9), (40, 15)] {
            gate.took(logged, taken);
        }
        gate.publish(acked(9));
        assert_eq!(ring.acknowledged(), (9, 0), "no batch is whole yet");
        gate.publish(acked(24));
        assert_eq!(ring.acknowledged(), (24, 4));
        gate.publish(acked(25));
        assert_eq!(ring.acknowledged(), (25, 9));
        // Outputs not held: everything may go; held again, the count is what was acknowledged.
        gate.publish(Clearance::OPEN);
        assert_eq!(ring.acknowledged(), (u64::MAX, u64::MAX));
        gate.publish(acked(30));
        assert_eq!(ring.acknowledged(), (30, 9));
        gate.publish(acked(40));
        assert_eq!(ring.acknowledged(), (40, 15));
        assert!(gate.batches.lock().unwrap().is_empty());
    }

    #[test]
    fn forgotten_batches_count_as_acknowledged_only_with_a_later_one() {
        let ring = ring("kept");
        let gate = GateRing::new(&ring);
        for i in 0..BATCHES_KEPT as u64 + 10 {
            gate.took(10 * (i + 1), i + 1);
        }
        // The first ten batches were forgotten: an acknowledgement that reaches only them
        // counts none of their records.
        gate.publish(acked(100));
        assert_eq!(ring.acknowledged(), (100, 0));
        gate.publish(acked(110));
        assert_eq!(ring.acknowledged(), (110, 11));
    }
}

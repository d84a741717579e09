//! Where recorded events go: a trace on disk, or (for fault tolerance) also a follower.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use schema::codec::ChunkItem;
use schema::{BufferedCalls, Event, Footer, TraceWriter};

use crate::ring_records::RingRecords;
use crate::RecordError;

/// Receives the event stream of a recording.
pub trait EventSink {
    fn push(&mut self, event: Event) -> Result<(), RecordError>;
    /// Calls a thread ran in-process, packed: `calls.count` events from `calls.first_seq`.
    fn push_buffered(&mut self, calls: BufferedCalls) -> Result<(), RecordError>;
    /// The records of a ring, to be packed and pushed (here, or on a thread of the sink's).
    fn push_ring(&mut self, records: RingRecords) -> Result<(), RecordError> {
        let calls = records.pack()?;
        self.push_buffered(calls)
    }
    /// Called before a syscall whose effect leaves the process runs: a fault-tolerant sink
    /// holds it here until the follower has every earlier event (the Output Rule).
    fn before_output(&mut self) -> Result<(), RecordError> {
        Ok(())
    }
    fn finish(&mut self, footer: Footer) -> Result<(), RecordError>;

    /// Called after records were taken from rings while the program ran: a sink that
    /// streams (the fault-tolerant primary's) sends what it holds now.
    fn streamed(&mut self) -> Result<(), RecordError> {
        Ok(())
    }

    /// True when outputs must wait in `before_output` (the fault-tolerant primary's gate):
    /// the in-process runtime then holds them at its own gate (`output_gate`).
    fn gates_output(&self) -> bool {
        false
    }

    /// Under the Output Rule: the events up to the last input logged (what an output
    /// must wait for); `None`: every event counts.
    fn inputs_logged(&self) -> Option<u64> {
        None
    }

    /// For the in-process gate: what the follower has acknowledged now, published through
    /// the hooks' `publish` too (under the same lock as the publications of new
    /// acknowledgements, so that an older clearance never lands after a newer one).
    fn clearance(&mut self) -> Clearance {
        Clearance::OPEN
    }

    /// An output that asked the in-process gate, with `need` events logged before it,
    /// waiting since `since`: whether it may go now (the checks of `before_output`,
    /// without waiting).
    fn decide_gate(&mut self, _need: u64, _since: Instant) -> Result<bool, RecordError> {
        Ok(true)
    }

    /// `n` more outputs went through the in-process gate (for the report).
    fn count_outputs(&mut self, _n: u64) {}

    /// `n` more outputs had to ask at the in-process gate, and waited `waited` there in
    /// all, as the runtime measured it (for the report).
    fn count_gate_waits(&mut self, _n: u64, _waited: std::time::Duration) {}

    /// An output that asked at `since` went on once the acknowledgement it needed was
    /// published.
    fn gate_passed(&mut self, _since: Instant) {}

    /// Hooks called, from any thread, whenever acknowledgements or the follower's state
    /// change: `publish` with the new clearance, and `wake` when only the recording thread
    /// can decide what waits (`decide_gate`).
    fn set_gate_hooks(
        &mut self,
        _wake: Arc<dyn Fn() + Send + Sync>,
        _publish: Arc<dyn Fn(Clearance) + Send + Sync>,
    ) {
    }
}

/// What the follower has acknowledged, as the in-process gate needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clearance {
    /// Events acknowledged (`u64::MAX`: outputs are not held).
    pub acked_events: u64,
    /// Until when an output whose inputs are acknowledged may go without asking: after
    /// that the follower might have taken over meanwhile (`None`: every output asks).
    /// Not held (`acked_events` is `u64::MAX`), outputs never ask.
    pub fresh_until: Option<Instant>,
}

impl Clearance {
    pub const OPEN: Clearance = Clearance {
        acked_events: u64::MAX,
        fresh_until: None,
    };
}

/// Events handed to the writer thread at a time.
const BATCH: usize = 256;
/// Batches in flight before `push` waits for the writer (bounded memory).
const IN_FLIGHT: usize = 64;

enum ToWriter {
    Items(Vec<ChunkItem>),
    /// Ring records to pack, after the items sent before.
    Ring(RingRecords),
    Flush(SyncSender<Result<(), RecordError>>),
    Finish(Footer, SyncSender<Result<(), RecordError>>),
}

/// A plain recording: events into a trace directory. Encoding, compressing and writing run
/// on a thread of their own, so that the traced program does not wait for them at each stop.
pub struct TraceSink {
    to_writer: Option<SyncSender<ToWriter>>,
    batch: Vec<ChunkItem>,
    /// Events the batch stands for (packed calls count as many).
    batch_events: usize,
    writer: Option<JoinHandle<()>>,
    /// Set by the writer when it failed: the next flush or finish says why.
    failed: Arc<AtomicBool>,
}

impl TraceSink {
    pub fn new(writer: TraceWriter) -> Self {
        let (tx, rx) = mpsc::sync_channel(IN_FLIGHT);
        let failed = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&failed);
        let thread = std::thread::Builder::new()
            .name("trace writer".into())
            .spawn(move || {
                // Signals are for the recording thread (the scheduler's tick interrupts its
                // wait for stops; ftrun's handlers forward to the program), never this one.
                let _ = nix::sys::signal::SigSet::all().thread_block();
                write_events(writer, rx, &flag)
            })
            .expect("a thread for the trace writer");
        TraceSink {
            to_writer: Some(tx),
            batch: Vec::with_capacity(BATCH),
            batch_events: 0,
            writer: Some(thread),
            failed,
        }
    }

    fn send(&mut self, msg: ToWriter) -> Result<(), RecordError> {
        let gone = || RecordError::Other("the trace writer stopped".into());
        let tx = self.to_writer.as_ref().ok_or_else(gone)?;
        tx.send(msg).map_err(|_| gone())
    }

    fn send_batch(&mut self) -> Result<(), RecordError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.batch_events = 0;
        self.send(ToWriter::Items(batch))
    }

    /// Sends `ask` with a reply channel and waits for the writer's answer.
    fn ask(
        &mut self,
        ask: impl FnOnce(SyncSender<Result<(), RecordError>>) -> ToWriter,
    ) -> Result<(), RecordError> {
        self.send_batch()?;
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(ask(tx))?;
        match rx.recv() {
            Ok(result) => result,
            Err(_) => Err(RecordError::Other("the trace writer stopped".into())),
        }
    }

    /// Writes buffered events out, so that what is on disk is replayable now.
    pub fn flush(&mut self) -> Result<(), RecordError> {
        self.ask(ToWriter::Flush)
    }
}

/// The writer thread: an error stops it (the next flush or finish reports it). When the
/// recorder goes away without a footer, what it sent is still written out.
fn write_events(mut writer: TraceWriter, rx: Receiver<ToWriter>, failed: &AtomicBool) {
    let mut error: Option<RecordError> = None;
    let stopped = || RecordError::Other("the trace writer stopped after an error".into());
    for msg in rx {
        match msg {
            ToWriter::Items(items) if error.is_none() && !failed.load(Ordering::Relaxed) => {
                for item in items {
                    let pushed = match item {
                        ChunkItem::Event(event) => writer.push(event),
                        ChunkItem::Calls(calls) => writer.push_buffered(calls),
                    };
                    if let Err(e) = pushed {
                        error = Some(e.into());
                        failed.store(true, Ordering::Relaxed);
                        break;
                    }
                }
            }
            ToWriter::Items(_) => {}
            ToWriter::Ring(records) if error.is_none() && !failed.load(Ordering::Relaxed) => {
                let pushed = records
                    .pack()
                    .and_then(|calls| writer.push_buffered(calls).map_err(RecordError::from));
                if let Err(e) = pushed {
                    error = Some(e);
                    failed.store(true, Ordering::Relaxed);
                }
            }
            ToWriter::Ring(_) => {}
            ToWriter::Flush(reply) => {
                let result = match error.take() {
                    Some(e) => Err(e),
                    None if failed.load(Ordering::Relaxed) => Err(stopped()),
                    None => writer.flush().map_err(RecordError::from),
                };
                let _ = reply.send(result);
            }
            ToWriter::Finish(footer, reply) => {
                let result = match error.take() {
                    Some(e) => Err(e),
                    None if failed.load(Ordering::Relaxed) => Err(stopped()),
                    None => writer.finish(&footer).map_err(RecordError::from),
                };
                let _ = reply.send(result);
                return;
            }
        }
    }
    let _ = writer.flush();
}

impl TraceSink {
    fn push_item(&mut self, item: ChunkItem) -> Result<(), RecordError> {
        self.batch_events += item.events() as usize;
        self.batch.push(item);
        if self.batch_events >= BATCH {
            if self.failed.load(Ordering::Relaxed) {
                // Say why at once rather than record on into nothing.
                return self.flush();
            }
            self.send_batch()?;
        }
        Ok(())
    }
}

impl EventSink for TraceSink {
    fn push(&mut self, event: Event) -> Result<(), RecordError> {
        self.push_item(ChunkItem::Event(event))
    }

    fn push_buffered(&mut self, calls: BufferedCalls) -> Result<(), RecordError> {
        self.push_item(ChunkItem::Calls(calls))
    }

    /// Packed on the writer's thread, while the program runs on.
    fn push_ring(&mut self, records: RingRecords) -> Result<(), RecordError> {
        if self.failed.load(Ordering::Relaxed) {
            return self.flush();
        }
        self.send_batch()?;
        self.send(ToWriter::Ring(records))
    }

    fn finish(&mut self, footer: Footer) -> Result<(), RecordError> {
        let done = self.ask(|reply| ToWriter::Finish(footer, reply));
        self.to_writer = None;
        if let Some(t) = self.writer.take() {
            let _ = t.join();
        }
        done
    }
}

impl Drop for TraceSink {
    fn drop(&mut self) {
        let _ = self.send_batch();
        // Closing the channel lets the writer write out what it has and end.
        self.to_writer = None;
        if let Some(t) = self.writer.take() {
            let _ = t.join();
        }
    }
}

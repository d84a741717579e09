//! Recording a process that is traced already: the server a follower has just taken over,
//! stopped where going live left each thread, is recorded from there on as the new
//! primary's. Its events continue the log it was replayed from (their seq goes on from
//! there). The in-process runtime the replay used goes on recording: its ring is emptied,
//! its mode set to record, and the seccomp filter installed in every thread at once (see
//! `fastpath::Space::record_from_here`); where that fails, every call is traced, each
//! rewritten site making its call through the traced `syscall` in its stub.

use schema::{ExitStatus, Footer};
use tracee::{PtraceEvent, Stop, Tracee};

use crate::sched::Scheduler;
use crate::session::Recorder;
use crate::sink::EventSink;
use crate::tasks::{Task, Tasks};
use crate::RecordError;

/// One stopped thread of the process to adopt.
pub struct AdoptedThread {
    pub tracee: Tracee,
    /// Its process (the real id of the thread group's leader).
    pub tgid: i32,
    /// A signal to deliver when it first runs (it is stopped at that signal's delivery).
    pub deliver: i32,
}

/// The stop an adopted thread is taken to be at: nothing to log, it only has to get its
/// token and go on.
const ADOPTED: Stop = Stop::Event {
    event: PtraceEvent::Other(0),
    signo: 0,
};

/// A recorder that has adopted a stopped process, ready to let it go on.
pub struct Adopted<'a> {
    rec: Recorder<'a>,
    tids: Vec<i32>,
}

impl<'a> Recorder<'a> {
    /// A recorder for the stopped threads of one process (its leader first, if alive); the
    /// first event it logs has seq `first_seq`.
    pub fn adopt(
        threads: Vec<AdoptedThread>,
        sink: &'a mut dyn EventSink,
        trace_dir: &std::path::Path,
        first_seq: u64,
        space: Option<Box<fastpath::Space>>,
    ) -> Result<Adopted<'a>, RecordError> {
        let mut threads = threads.into_iter();
        let first = threads
            .next()
            .ok_or_else(|| RecordError::Other("no thread to adopt".into()))?;
        let tgid = first.tgid;
        let mut rec = Recorder::new(first.tracee, sink, trace_dir).without_fast_path();
        rec.t.tgid = tgid;
        rec.t.deliver = first.deliver;
        rec.tasks = Tasks::new(tgid);
        // A follower's replay ran under the seccomp filter: its threads keep it.
        rec.tasks.filtered = rec.t.tracee.is_filtered();
        rec.sched = Scheduler::default();
        rec.sched.add_thread(tgid, rec.t.tid as i32);
        rec.seq = first_seq;
        let mut tids = vec![rec.t.tid as i32];
        for th in threads {
            let mut task = Task::new(th.tracee, Some(th.tgid));
            task.deliver = th.deliver;
            rec.sched.add_thread(th.tgid, task.tid as i32);
            tids.push(task.tid as i32);
            rec.tasks.insert(task);
        }
        if let Some(space) = space.filter(|s| s.active()) {
            rec.resume_fast_path(*space)?;
        }
        Ok(Adopted { rec, tids })
    }

    /// The adopted process's runtime records from here, if it can.
    fn resume_fast_path(&mut self, mut space: fastpath::Space) -> Result<(), RecordError> {
        self.fast_path = true;
        self.prepare_gates()?;
        let setup = self.setup();
        let tgid = self.t.tgid;
        match space.record_from_here(&mut self.t.tracee, &setup) {
            Ok(()) => {}
            Err(fastpath::FastPathError::Tracee(e)) => return Err(e.into()),
            Err(e) => {
                eprintln!("ftrun: {e}; the server is recorded with every call traced");
                self.fast_path = false;
                return Ok(());
            }
        }
        // Every thread has the filter now: only its traced calls stop.
        self.tasks.filtered = true;
        self.t.tracee.set_filtered(true);
        self.tasks.set_all_filtered();
        self.spaces.insert(tgid, space);
        self.ring_doorbell_setup(tgid)
    }
}

impl Adopted<'_> {
    /// Lets every adopted thread go on (each once it holds its process's token) and records
    /// to the end, as `Recorder::run` does for a process it started.
    pub fn run(mut self) -> Result<ExitStatus, RecordError> {
        let tids = std::mem::take(&mut self.tids);
        let rec = &mut self.rec;
        if let Err(e) = rec.adopted_loop(&tids) {
            rec.kill_all();
            return Err(e);
        }
        let exit = rec.tasks.root_exit().unwrap_or(ExitStatus::Exited(0));
        let footer = Footer {
            finished_cleanly: true,
            event_count: rec.seq,
            exit: Some(exit),
        };
        rec.sink.finish(footer)?;
        Ok(exit)
    }
}

impl Recorder<'_> {
    fn adopted_loop(&mut self, tids: &[i32]) -> Result<(), RecordError> {
        for &tid in tids {
            self.tasks.switch_to(&mut self.t, tid);
            self.step(ADOPTED)?;
        }
        self.dispatch()?;
        loop {
            if self.tasks.all_ended(&self.t) {
                return Ok(());
            }
            let stop = self.next_stop()?;
            self.step(stop)?;
            self.dispatch()?;
        }
    }
}

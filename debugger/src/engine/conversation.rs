//! Talking to gdb: telling it of a stop, serving its requests while every thread is
//! stopped, and turning what it asks for next (resume, step, go back) into a goal.

use gdbstub::common::Signal;
use gdbstub::stub::state_machine::GdbStubStateMachine;
use gdbstub::stub::MultiThreadStopReason;
use gdbstub::target::ext::base::reverse_exec::ReplayLogPosition;
use gdbstub::target::ext::breakpoints::WatchKind;
use gdbstub::target::ext::catch_syscalls::CatchSyscallPosition;
use replayer::{ReplayError, Replayer};

use super::{debug_on, gdb_error, Engine, Goal, Reason, Report};
use crate::moment::Moment;
use crate::target::{tid_of, Request};
use crate::wire::Incoming;

impl Engine {
    /// Tells gdb of a stop (or, with `None`, lets it look at the first one) and waits for
    /// what it says next. `Err(Abandoned)`: the replay is to be given up and run again.
    pub(super) fn serve(
        &mut self,
        r: &mut Replayer<'_>,
        report: Option<Report>,
        here: Moment,
    ) -> Result<(), ReplayError> {
        r.take_in_process_results()?;
        if report.is_none() {
            // The session's first stop: gdb is told of no stop, but this thread is the one
            // it looks at (and the one "no more history" names).
            self.t.stopped = r.current_thread().tid;
        }
        self.history.end_run(&here, |tid| {
            r.tracee_of(tid).and_then(|t| t.regs().ok()).map(|g| g.rip)
        });
        self.t.attach(r);
        let out = self.serve_inner(report, here);
        self.t.detach_replay();
        out
    }

    pub(super) fn serve_inner(
        &mut self,
        mut report: Option<Report>,
        here: Moment,
    ) -> Result<(), ReplayError> {
        if debug_on() {
            eprintln!("ftrun: [gdb] stop {report:?} at {here:?}");
        }
        self.here = here.clone();
        self.set_base(here.clone());
        self.site_return.clear();
        if self.initial.is_none() {
            self.initial = Some(here);
        }
        loop {
            let mut sm = self.sm.take().expect("a gdb connection");
            if let Some(rep) = report.take() {
                if let Reason::Syscall(call) = rep.reason {
                    // The entry of a stub: its return is this call's.
                    if let Some(entry) = self.t.rip_of(rep.tid).filter(|_| call.entry) {
                        if self.t.stubs.contains_key(&entry) {
                            self.stub_nr.insert(rep.tid, (entry, call.nr));
                        }
                    }
                }
                self.t.stopped = rep.tid;
                self.t.last_report = Some(rep);
                sm = match sm {
                    GdbStubStateMachine::Running(g) => g
                        .report_stop(&mut self.t, stop_reason(rep))
                        .map_err(gdb_error)?,
                    GdbStubStateMachine::CtrlCInterrupt(g) => g
                        .interrupt_handled(&mut self.t, Some(stop_reason(rep)))
                        .map_err(gdb_error)?,
                    other => other,
                };
            }
            loop {
                sm = match sm {
                    GdbStubStateMachine::Idle(mut g) => {
                        match g.borrow_conn().next_incoming() {
                            Ok(Incoming::Byte(byte)) => {
                                g.incoming_data(&mut self.t, byte).map_err(gdb_error)?
                            }
                            Ok(Incoming::Own(packet)) => {
                                let general = g.borrow_conn().general_thread;
                                let reply = self.t.answer(&packet, general);
                                g.borrow_conn().reply(&reply).map_err(gdb_error)?;
                                GdbStubStateMachine::Idle(g)
                            }
                            Err(_) => {
                                // gdb went away without a word.
                                self.goal = Goal::Quit;
                                return Err(ReplayError::Abandoned);
                            }
                        }
                    }
                    GdbStubStateMachine::CtrlCInterrupt(g) => {
                        let tid = tid_of(self.t.stopped);
                        g.interrupt_handled(
                            &mut self.t,
                            Some(MultiThreadStopReason::SignalWithThread {
                                tid,
                                signal: Signal::SIGINT,
                            }),
                        )
                        .map_err(gdb_error)?
                    }
                    GdbStubStateMachine::Disconnected(g) => {
                        use gdbstub::stub::DisconnectReason;
                        self.goal = match g.get_reason() {
                            DisconnectReason::Kill => Goal::Quit,
                            _ => Goal::Detached,
                        };
                        self.t.sw_bps.clear();
                        self.t.hw_bps.clear();
                        self.t.watches.clear();
                        if matches!(self.goal, Goal::Quit) {
                            return Err(ReplayError::Abandoned);
                        }
                        return Ok(());
                    }
                    running @ GdbStubStateMachine::Running(_) => {
                        self.sm = Some(running);
                        break;
                    }
                };
            }
            let here = self.here.clone();
            let at_start = Some(&here) == self.initial.as_ref();
            match self.t.request.take() {
                Some(Request::Resume { .. }) if here == Moment::End => {
                    // Nothing comes after the end of the trace.
                    report = self.t.last_report;
                }
                Some(Request::Resume { step }) => {
                    self.begin_history_run(step);
                    self.goal = Goal::Gdb { step };
                    return Ok(());
                }
                Some(Request::ReverseCont) | Some(Request::ReverseStep(_)) if at_start => {
                    report = Some(Report {
                        tid: self.t.stopped,
                        reason: Reason::Begin,
                    });
                }
                Some(Request::ReverseCont) => {
                    self.scan_back = 0;
                    self.scan_from = super::ScanFrom::Latest;
                    self.goal = self.plan_reverse_continue(here);
                    return Err(ReplayError::Abandoned);
                }
                Some(Request::ReverseStep(tid)) => {
                    self.goal = self.plan_back(here, tid, Reason::Step);
                    if let Goal::Gdb { .. } = self.goal {
                        report = Some(Report {
                            tid,
                            reason: Reason::Begin,
                        });
                        continue;
                    }
                    return Err(ReplayError::Abandoned);
                }
                None => {
                    self.goal = Goal::Gdb { step: None };
                    return Ok(());
                }
            }
        }
    }

    /// Reads what gdb sent while the replay runs (a Ctrl-C).
    pub(super) fn poll_gdb(&mut self) -> Result<(), ReplayError> {
        if !matches!(self.goal, Goal::Gdb { .. }) {
            return Ok(());
        }
        if !matches!(self.sm, Some(GdbStubStateMachine::Running(_))) {
            return Ok(());
        }
        let Some(GdbStubStateMachine::Running(mut g)) = self.sm.take() else {
            return Ok(());
        };
        use gdbstub::conn::ConnectionExt;
        let sm = match g.borrow_conn().peek() {
            Ok(Some(_)) => match g.borrow_conn().read() {
                Ok(byte) => g.incoming_data(&mut self.t, byte).map_err(gdb_error)?,
                Err(_) => GdbStubStateMachine::Running(g),
            },
            _ => GdbStubStateMachine::Running(g),
        };
        self.sm = Some(sm);
        Ok(())
    }
}

fn stop_reason(rep: Report) -> MultiThreadStopReason<u64> {
    let tid = tid_of(rep.tid);
    match rep.reason {
        Reason::SwBreak => MultiThreadStopReason::SwBreak(tid),
        Reason::HwBreak => MultiThreadStopReason::HwBreak(tid),
        Reason::Watch(w) => MultiThreadStopReason::Watch {
            tid,
            kind: WatchKind::from(w.kind),
            addr: w.addr,
        },
        Reason::Step => MultiThreadStopReason::SignalWithThread {
            tid,
            signal: Signal::SIGTRAP,
        },
        Reason::Signal(s) => MultiThreadStopReason::SignalWithThread {
            tid,
            signal: Signal(s),
        },
        Reason::Interrupt => MultiThreadStopReason::SignalWithThread {
            tid,
            signal: Signal::SIGINT,
        },
        Reason::End => MultiThreadStopReason::SignalWithThread {
            tid,
            signal: Signal::SIGKILL,
        },
        Reason::Begin => MultiThreadStopReason::ReplayLog {
            tid: Some(tid),
            pos: ReplayLogPosition::Begin,
        },
        Reason::Syscall(call) => MultiThreadStopReason::CatchSyscall {
            tid: Some(tid),
            number: call.nr,
            position: if call.entry {
                CatchSyscallPosition::Entry
            } else {
                CatchSyscallPosition::Return
            },
        },
    }
}

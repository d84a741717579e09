//! The scheduler's clock: a periodic signal to the recording thread that interrupts its
//! wait for tracee stops, so that a thread running too long can be preempted. The signal is
//! blocked except during that wait, so that no other call of the recorder (file copies,
//! trace writes) is ever interrupted by it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tracee::{PtraceEvent, Stop, TraceeError};

use crate::RecordError;

/// A tick came (the timer, or a runtime's doorbell: see `output_gate`) and was not yet
/// taken: one that arrives just before the wait starts is taken then and interrupts
/// nothing, so the wait's caller asks here too.
static TICKED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_tick(_signo: libc::c_int) {
    TICKED.store(true, Ordering::Relaxed);
}

/// Whether a tick came since the last call.
pub fn take_tick() -> bool {
    TICKED.swap(false, Ordering::Relaxed)
}

/// Installs the tick's handler (it only notes the tick) and blocks `SIGALRM` in the
/// calling thread, so that a tick from anywhere is taken at the next wait and cuts
/// nothing else short.
pub fn prepare_ticks() -> Result<(), RecordError> {
    set_alarm_blocked(true);
    // SAFETY: the handler only stores to an atomic; the sigaction struct is fully set.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_tick as *const () as usize;
        action.sa_flags = 0;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut()) != 0 {
            return Err(RecordError::Io {
                what: "installing the scheduler's SIGALRM handler".to_string(),
                source: std::io::Error::last_os_error(),
            });
        }
    }
    Ok(())
}

/// A POSIX timer aimed at the calling thread; disarmed and deleted on drop.
pub struct Ticker {
    timer: libc::timer_t,
}

impl Ticker {
    /// Starts ticking every `period` with `SIGALRM`, whose handler only notes the tick and
    /// is installed without `SA_RESTART`: a `waitpid` in [`Ticker::wait`] returns `EINTR` at
    /// each tick. Elsewhere the calling thread has the signal blocked.
    pub fn start(period: Duration) -> Result<Self, RecordError> {
        prepare_ticks()?;
        let os = |what: &str| RecordError::Io {
            what: what.to_string(),
            source: std::io::Error::last_os_error(),
        };
        // SAFETY: sigevent is plain data; zeroed and then the fields the kernel reads are set.
        let mut event: libc::sigevent = unsafe { std::mem::zeroed() };
        event.sigev_notify = libc::SIGEV_THREAD_ID;
        event.sigev_signo = libc::SIGALRM;
        // SAFETY: gettid has no arguments and cannot fail.
        event.sigev_notify_thread_id = unsafe { libc::gettid() };
        let mut timer: libc::timer_t = std::ptr::null_mut();
        // SAFETY: `event` and `timer` are live locals of the types timer_create expects.
        if unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, &mut event, &mut timer) } != 0 {
            return Err(os("creating the scheduler's timer"));
        }
        let ticker = Ticker { timer };
        let ts = libc::timespec {
            tv_sec: period.as_secs() as libc::time_t,
            tv_nsec: period.subsec_nanos() as libc::c_long,
        };
        let spec = libc::itimerspec {
            it_interval: ts,
            it_value: ts,
        };
        // SAFETY: `timer` was created above; `spec` is a live local.
        if unsafe { libc::timer_settime(ticker.timer, 0, &spec, std::ptr::null_mut()) } != 0 {
            return Err(os("arming the scheduler's timer"));
        }
        Ok(ticker)
    }
}

impl Ticker {
    /// Runs `wait` with the tick unblocked: a tick during it makes its syscall fail with
    /// `EINTR`. A tick that comes just before the syscall starts is taken then, and the
    /// next one interrupts it instead.
    pub fn wait<T>(&self, wait: impl FnOnce() -> T) -> T {
        set_alarm_blocked(false);
        let result = wait();
        set_alarm_blocked(true);
        result
    }
}

/// Blocks or unblocks `SIGALRM` for the calling thread.
fn set_alarm_blocked(blocked: bool) {
    let how = if blocked {
        libc::SIG_BLOCK
    } else {
        libc::SIG_UNBLOCK
    };
    // SAFETY: a signal set built in a local and a null old-set pointer.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGALRM);
        libc::pthread_sigmask(how, &set, std::ptr::null_mut());
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        // SAFETY: the timer was created by `start` and is deleted once, here.
        unsafe {
            libc::timer_delete(self.timer);
        }
        // SIGALRM stays blocked: a tick still pending (or a doorbell) is taken at the
        // next wait, and interrupts no other call.
    }
}

/// The recording thread's wait for the next stop, with the clock.
impl crate::session::Recorder<'_> {
    pub(crate) fn next_stop(&mut self) -> Result<Stop, RecordError> {
        loop {
            self.keep_clock()?;
            let found = match &self.ticker {
                Some(ticker) => ticker.wait(tracee::wait_any_or_interrupted)?,
                None => Some(tracee::wait_any()?),
            };
            let ticked = crate::timeslice::take_tick();
            if found.is_none() || ticked {
                self.on_tick()?;
            }
            let Some((pid, status)) = found else {
                continue;
            };
            self.tasks.switch_to(&mut self.t, pid);
            let decoded = match self.t.tracee.decode(status) {
                // Killed right after this stop: its end is reported next.
                Err(TraceeError::TraceeDied { .. }) => continue,
                other => other?,
            };
            if let Some(stop) = decoded {
                if matches!(
                    stop,
                    Stop::Event {
                        event: PtraceEvent::Exec,
                        ..
                    }
                ) {
                    self.take_over_leader_at_exec()?;
                }
                self.t.running_since = None;
                if !matches!(
                    stop,
                    Stop::Event {
                        event: PtraceEvent::Stop,
                        ..
                    }
                ) {
                    // Any other stop takes the place of an interrupt sent meanwhile: the
                    // kernel reports no interrupt stop after it, so none is awaited.
                    self.t.interrupting = false;
                }
                return Ok(stop);
            }
        }
    }

    /// The clock runs while some process has several threads (to preempt a spinning
    /// one) or runs calls in-process (to take its ring's records while it runs).
    fn keep_clock(&mut self) -> Result<(), RecordError> {
        let wanted = self.sched.any_threaded()
            || !self.spaces.is_empty()
            || !self.holding_for_syscall().is_empty();
        match (wanted, self.ticker.is_some()) {
            (true, false) => self.ticker = Some(Ticker::start(crate::session::TICK)?),
            (false, true) => self.ticker = None,
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleep_50ms() -> (i32, i32) {
        let ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 50_000_000,
        };
        // SAFETY: a timespec local and a null remainder pointer.
        let ret = unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
        (
            ret,
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        )
    }

    #[test]
    fn ticks_interrupt_the_wait_and_nothing_else() {
        let ticker = Ticker::start(Duration::from_millis(1)).unwrap();
        // Outside the wait (copying a mapped file, writing the trace) no call is cut short.
        assert_eq!(
            sleep_50ms().0,
            0,
            "a tick interrupted a call outside the wait"
        );
        // In the wait, a tick ends a blocking call with EINTR.
        assert_eq!(ticker.wait(sleep_50ms), (-1, libc::EINTR));
        drop(ticker);
        assert_eq!(sleep_50ms().0, 0, "ticks go on after the ticker is dropped");
    }
}

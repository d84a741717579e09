//! The scheduler's clock: a periodic signal to the recording thread that interrupts its
//! wait for tracee stops, so that a thread running too long can be preempted.

use std::time::Duration;

use crate::RecordError;

extern "C" fn on_tick(_signo: libc::c_int) {}

/// A POSIX timer aimed at the calling thread; disarmed and deleted on drop.
pub struct Ticker {
    timer: libc::timer_t,
}

impl Ticker {
    /// Starts ticking every `period` with `SIGALRM`, whose handler does nothing and is
    /// installed without `SA_RESTART`: a blocked `waitpid` returns `EINTR` at each tick.
    pub fn start(period: Duration) -> Result<Self, RecordError> {
        let os = |what: &str| RecordError::Io {
            what: what.to_string(),
            source: std::io::Error::last_os_error(),
        };
        // SAFETY: the handler makes no calls at all; the sigaction struct is fully set.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_tick as *const () as usize;
            action.sa_flags = 0;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut()) != 0 {
                return Err(os("installing the scheduler's SIGALRM handler"));
            }
        }
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

impl Drop for Ticker {
    fn drop(&mut self) {
        // SAFETY: the timer was created by `start` and is deleted once, here.
        unsafe {
            libc::timer_delete(self.timer);
        }
    }
}

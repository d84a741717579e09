//! Clocks, sleeps and timers: results logged; replay never waits or arms a real timer.

use crate::rule::{out, Len::*, Rule, Rule::*};
use libc::*;

/// Setting a clock is run while recording, as it would be without ftrun (it fails without
/// the privilege, and CLOCK_MONOTONIC refuses with EINVAL); replay only hands back the result.
const SET_CLOCK: Rule = Emulate(&[]);

pub(crate) const RULES: &[(c_long, Rule)] = &[
    (SYS_clock_gettime, Emulate(&[out(1, Fixed(16))])),
    (SYS_clock_getres, Emulate(&[out(1, Fixed(16))])),
    (
        SYS_gettimeofday,
        Emulate(&[out(0, Fixed(16)), out(1, Fixed(8))]),
    ),
    (SYS_time, Emulate(&[out(0, Fixed(8))])),
    (SYS_nanosleep, Emulate(&[out(1, Fixed(16))])),
    (SYS_clock_nanosleep, Emulate(&[out(3, Fixed(16))])),
    (SYS_alarm, Emulate(&[])),
    (SYS_setitimer, Emulate(&[out(2, Fixed(32))])),
    (SYS_getitimer, Emulate(&[out(1, Fixed(32))])),
    (SYS_timer_create, Emulate(&[out(2, Fixed(4))])),
    (SYS_timer_settime, Emulate(&[out(3, Fixed(32))])),
    (SYS_timer_gettime, Emulate(&[out(1, Fixed(32))])),
    (SYS_timer_getoverrun, Emulate(&[])),
    (SYS_timer_delete, Emulate(&[])),
    (SYS_timerfd_create, Emulate(&[])),
    (SYS_timerfd_settime, Emulate(&[out(3, Fixed(32))])),
    (SYS_timerfd_gettime, Emulate(&[out(1, Fixed(32))])),
    (SYS_times, Emulate(&[out(0, Fixed(32))])),
    (SYS_getrusage, Emulate(&[out(1, Fixed(144))])),
    (SYS_sysinfo, Emulate(&[out(0, Fixed(112))])),
    (SYS_settimeofday, SET_CLOCK),
    (SYS_clock_settime, SET_CLOCK),
    // Mostly used to read the clock's state (`struct timex`, 208 bytes); emulated.
    (SYS_adjtimex, Emulate(&[out(0, Fixed(208))])),
    (SYS_clock_adjtime, Emulate(&[out(1, Fixed(208))])),
];

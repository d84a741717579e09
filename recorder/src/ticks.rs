//! The tick source: a PMU counter of retired conditional branches where the machine has
//! one (the events rr uses), nothing otherwise. Detected at runtime.

use perf_event_open_sys as sys;

/// What this machine offers for measuring a thread's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickCounter {
    /// A raw PMU event that counts retired conditional branches in user mode.
    Pmu { event: u64, name: &'static str },
    /// No usable counter; why.
    Unavailable { reason: String },
}

impl TickCounter {
    pub fn source(&self) -> schema::TickSource {
        match self {
            TickCounter::Pmu { .. } => schema::TickSource::Pmu,
            TickCounter::Unavailable { .. } => schema::TickSource::None,
        }
    }

    pub fn event(&self) -> u64 {
        match self {
            TickCounter::Pmu { event, .. } => *event,
            TickCounter::Unavailable { .. } => 0,
        }
    }
}

/// The conditional-branch event for this CPU vendor, if we know one.
fn branch_event(vendor: &str) -> Option<(u64, &'static str)> {
    match vendor {
        "GenuineIntel" => Some((0x5101c4, "Intel BR_INST_RETIRED.CONDITIONAL (0x5101c4)")),
        "AuthenticAMD" => Some((0x5100d1, "AMD Zen retired conditional branches (0x5100d1)")),
        _ => None,
    }
}

/// Opens a counter of `type_`/`config` on this thread, user mode only; the errno on failure.
pub fn open_counter(type_: u32, config: u64) -> Result<std::os::fd::OwnedFd, std::io::Error> {
    use std::os::fd::FromRawFd;
    let mut attr = sys::bindings::perf_event_attr {
        type_,
        size: std::mem::size_of::<sys::bindings::perf_event_attr>() as u32,
        config,
        ..Default::default()
    };
    attr.set_disabled(1);
    attr.set_exclude_kernel(1);
    attr.set_exclude_hv(1);
    // SAFETY: `attr` is a fully initialised perf_event_attr of the size we state.
    let fd = unsafe {
        sys::perf_event_open(
            &mut attr,
            0,
            -1,
            -1,
            sys::bindings::PERF_FLAG_FD_CLOEXEC as _,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us and nothing else owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Finds out whether this machine can count retired conditional branches.
pub fn detect() -> TickCounter {
    let vendor = crate::machine::cpu_vendor();
    let Some((event, name)) = branch_event(&vendor) else {
        return TickCounter::Unavailable {
            reason: format!("no known branch-counting event for CPU vendor {vendor:?}"),
        };
    };
    match open_counter(sys::bindings::PERF_TYPE_RAW, event) {
        Ok(_fd) => TickCounter::Pmu { event, name },
        Err(e) => TickCounter::Unavailable {
            reason: format!("perf_event_open of {name} failed: {e}"),
        },
    }
}

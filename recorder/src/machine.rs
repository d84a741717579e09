//! Facts about this machine and the starting process that go into a trace's header.

use schema::{Header, Rlimit, FORMAT_VERSION};

/// `/proc/cpuinfo`, read once (the kernel makes it afresh, with cpuid, at every read).
fn cpuinfo() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default())
}

fn cpuinfo_field(name: &str) -> String {
    cpuinfo()
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default()
}

pub fn cpu_vendor() -> String {
    cpuinfo_field("vendor_id")
}

pub fn cpu_model() -> String {
    cpuinfo_field("model name")
}

/// cpuid leaves 1 and 7: the feature bits that steer libraries' choice of code paths.
pub fn cpuid_signature() -> Vec<u32> {
    let (l1, l7) = (
        core::arch::x86_64::__cpuid(1),
        core::arch::x86_64::__cpuid_count(7, 0),
    );
    // Leaf 1 ebx holds the APIC id of the current CPU, which varies run to run: masked.
    vec![
        l1.eax,
        l1.ebx & 0x00ff_ffff,
        l1.ecx,
        l1.edx,
        l7.eax,
        l7.ebx,
        l7.ecx,
        l7.edx,
    ]
}

pub fn kernel_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Every resource limit of this process (the tracee inherits them; its layout depends on some).
pub fn current_rlimits() -> Vec<Rlimit> {
    // RLIMIT_CPU (0) .. RLIMIT_RTTIME (15) on x86-64 Linux.
    (0..16u32)
        .filter_map(|res| {
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: `lim` is a valid out-parameter.
            let ok = unsafe { libc::getrlimit(res as _, &mut lim) } == 0;
            ok.then_some(Rlimit {
                resource: res,
                soft: lim.rlim_cur,
                hard: lim.rlim_max,
            })
        })
        .collect()
}

/// Ignored signals, mask and umask as this process got them from its parent: what the
/// program is started with.
pub fn inherited_state() -> schema::Inherited {
    let state = tracee::InheritedState::at_startup();
    schema::Inherited {
        ignored_signals: state.ignored,
        blocked_signals: state.blocked,
        umask: state.umask.unwrap_or(0o022),
    }
}

/// The header of a new recording of `exe` started as `argv` with `env` in `cwd`.
pub fn header_for(argv: Vec<Vec<u8>>, env: Vec<Vec<u8>>, cwd: Vec<u8>, exe: Vec<u8>) -> Header {
    let ticks = crate::ticks::detect();
    Header {
        format_version: FORMAT_VERSION,
        recorder_version: env!("CARGO_PKG_VERSION").to_string(),
        argv,
        env,
        cwd,
        exe,
        kernel_release: kernel_release(),
        cpu_vendor: cpu_vendor(),
        cpu_model: cpu_model(),
        cpuid_signature: cpuid_signature(),
        tick_source: ticks.source(),
        tick_event: ticks.event(),
        rlimits: current_rlimits(),
        start_time_ns: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
        inherited: Some(inherited_state()),
    }
}

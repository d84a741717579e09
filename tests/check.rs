//! `ftrun check` reports what this machine offers, and agrees with independent probes.

mod common;

use common::*;

/// Opens the vendor's retired-conditional-branch event ourselves, as the recorder would.
fn pmu_works() -> bool {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let event: u64 = if info.contains("GenuineIntel") {
        0x5101c4
    } else if info.contains("AuthenticAMD") {
        0x5100d1
    } else {
        return false;
    };
    // perf_event_attr: type (u32), size (u32), config (u64), then zeros; PERF_ATTR_SIZE_VER0 = 64.
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&4u32.to_le_bytes()); // PERF_TYPE_RAW
    attr[4..8].copy_from_slice(&128u32.to_le_bytes());
    attr[8..16].copy_from_slice(&event.to_le_bytes());
    // flags at offset 40: disabled (bit 0), exclude_kernel (bit 5), exclude_hv (bit 6)
    attr[40..48].copy_from_slice(&(1u64 | 1 << 5 | 1 << 6).to_le_bytes());
    // SAFETY: a valid attr buffer of the size stated; the descriptor is closed at once.
    let fd = unsafe { libc::syscall(libc::SYS_perf_event_open, attr.as_ptr(), 0, -1, -1, 0) };
    if fd >= 0 {
        // SAFETY: closing the descriptor just opened.
        unsafe { libc::close(fd as i32) };
    }
    fd >= 0
}

#[test]
fn check_says_this_machine_can_record_and_tells_the_truth_about_the_pmu() {
    let out = ftrun(["check"]);
    let text = text(&out.stdout);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(text.contains("ftrun can record on this machine"), "{text}");
    for required in [
        "ptrace",
        "hardware breakpoints",
        "PTRACE_GET_SYSCALL_INFO",
        "rdtsc trapping",
    ] {
        assert!(
            text.lines()
                .any(|l| l.starts_with("yes") && l.contains(required)),
            "{required} not reported working:\n{text}"
        );
    }
    let pmu = pmu_works();
    let line = text
        .lines()
        .find(|l| l.contains("PMU tick counter"))
        .expect("a PMU line");
    eprintln!(
        "this machine {} a PMU: checking that path ({line})",
        if pmu { "has" } else { "has no" }
    );
    assert_eq!(
        line.starts_with("yes"),
        pmu,
        "ftrun check disagrees with perf_event_open: {line}"
    );
    if !pmu {
        assert!(text.contains("without a PMU"), "{text}");
    }
}

#[test]
fn check_json_is_one_object_with_every_probe() {
    let out = ftrun(["check", "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["can_record"], true);
    assert_eq!(v["pmu"], pmu_works());
    let probes = v["probes"].as_array().expect("probes");
    assert!(probes.len() >= 8, "{v}");
    assert!(probes
        .iter()
        .all(|p| p["name"].is_string() && p["available"].is_boolean()));
}

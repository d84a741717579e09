//! Reading the real time-stamp counter for a trapped rdtsc/rdtscp (decoding and completing
//! the instruction is `tracee::rdtsc`, shared with replay).

use tracee::rdtsc::TscInsn;

/// Reads the real counter (and `IA32_TSC_AUX` for rdtscp) in the tracer.
pub fn read_counter(insn: TscInsn) -> (u64, u32) {
    match insn {
        // SAFETY: rdtsc has no preconditions; the tracer itself does not trap it.
        TscInsn::Rdtsc => (unsafe { core::arch::x86_64::_rdtsc() }, 0),
        TscInsn::Rdtscp => {
            let mut aux = 0u32;
            // SAFETY: as above; `aux` is a valid place for the TSC_AUX value.
            let v = unsafe { core::arch::x86_64::__rdtscp(&mut aux) };
            (v, aux)
        }
    }
}

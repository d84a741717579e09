//! Finding every `rdtsc` and `rdtscp` in a piece of code, so that a process whose code has
//! none left untreated may read the time-stamp counter without trapping (its time calls
//! then run the vDSO in-process; see `recorder::tsc_free`). The two byte patterns
//! (`0f 31`, `0f 01 f9`) also occur inside other instructions (displacements, immediates),
//! so each occurrence is decoded in its function (from the unwind table's bounds) to tell
//! an instruction from a coincidence. What cannot be told either way is reported: the
//! process then keeps trapping.

use iced_x86::{Decoder, DecoderOptions, Mnemonic};

/// A time-stamp-counter instruction, and its length (`rdtsc` is 2 bytes, `rdtscp` 3: one
/// with a prefix is not handled, and makes its code unprovable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TscKind {
    Rdtsc,
    Rdtscp,
}

/// Offsets in `code` where one of the two patterns starts (in order; searched for with
/// `memmem`, which skips ahead: a library's text is megabytes, its candidates a few dozen).
pub fn candidates(code: &[u8]) -> Vec<usize> {
    let mut found: Vec<usize> = memchr::memmem::find_iter(code, &[0x0f, 0x31]).collect();
    found.extend(memchr::memmem::find_iter(code, &[0x0f, 0x01, 0xf9]));
    found.sort_unstable();
    found
}

/// What a candidate turned out to be, decoding its function from the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// An instruction, to be made to trap.
    Site(TscKind),
    /// Bytes inside another instruction.
    NotAnInstruction,
    /// The decoding did not reach it cleanly (an undecodable byte before it, or an
    /// instruction of the kind with a prefix).
    Unknown,
}

/// Decodes `function` (its bytes, starting at `start`) up to `candidate`, an address in it.
pub fn verdict(function: &[u8], start: u64, candidate: u64) -> Verdict {
    let mut decoder = Decoder::with_ip(64, function, start, DecoderOptions::NONE);
    while decoder.can_decode() {
        let ins = decoder.decode();
        if ins.is_invalid() {
            return Verdict::Unknown;
        }
        let (at, end) = (ins.ip(), ins.next_ip());
        if end <= candidate {
            continue;
        }
        if at > candidate {
            // The candidate's bytes were skipped over: impossible for a linear decode.
            return Verdict::Unknown;
        }
        return match (ins.mnemonic(), ins.len()) {
            (Mnemonic::Rdtsc, 2) if at == candidate => Verdict::Site(TscKind::Rdtsc),
            (Mnemonic::Rdtscp, 3) if at == candidate => Verdict::Site(TscKind::Rdtscp),
            (Mnemonic::Rdtsc | Mnemonic::Rdtscp, _) => Verdict::Unknown,
            _ => Verdict::NotAnInstruction,
        };
    }
    Verdict::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_reads_no_time_stamp_counter() {
        // Its code is left as it is in a process that reads the counter untrapped.
        let code = crate::RUNTIME_IMAGE;
        let mut decoder =
            Decoder::with_ip(64, code, crate::layout::RUNTIME_BASE, DecoderOptions::NONE);
        while decoder.can_decode() {
            let ins = decoder.decode();
            assert!(
                !matches!(ins.mnemonic(), Mnemonic::Rdtsc | Mnemonic::Rdtscp),
                "at {:#x}",
                ins.ip()
            );
        }
    }

    #[test]
    fn finds_both_patterns() {
        let code = [0x90, 0x0f, 0x31, 0x0f, 0x01, 0xf9, 0x0f, 0x01, 0xd0, 0x0f];
        assert_eq!(candidates(&code), vec![1, 3]);
    }

    #[test]
    fn tells_an_instruction_from_a_displacement() {
        // mov $0x310f, %eax; rdtsc; ret
        let code = [0xb8, 0x0f, 0x31, 0x00, 0x00, 0x0f, 0x31, 0xc3];
        let start = 0x1000;
        let found = candidates(&code);
        assert_eq!(found, vec![1, 5]);
        assert_eq!(verdict(&code, start, start + 1), Verdict::NotAnInstruction);
        assert_eq!(
            verdict(&code, start, start + 5),
            Verdict::Site(TscKind::Rdtsc)
        );
    }

    #[test]
    fn rdtscp_and_prefixed_forms() {
        // rdtscp; ret
        let code = [0x0f, 0x01, 0xf9, 0xc3];
        assert_eq!(verdict(&code, 0, 0), Verdict::Site(TscKind::Rdtscp));
        // A prefixed rdtsc (66 0f 31) is not handled.
        let code = [0x66, 0x0f, 0x31, 0xc3];
        assert_eq!(verdict(&code, 0, 1), Verdict::Unknown);
    }

    #[test]
    fn undecodable_bytes_before_the_candidate_are_unknown() {
        // 0x06 is invalid in 64-bit mode.
        let code = [0x06, 0x0f, 0x31];
        assert_eq!(verdict(&code, 0, 1), Verdict::Unknown);
    }
}

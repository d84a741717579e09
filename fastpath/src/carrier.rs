//! Where a landmark filter can go: its *carrier*, the code the filter's `jmp` replaces.
//!
//! A carrier is either one instruction of at least 5 bytes (the `jmp` covers nothing a
//! branch could land in), or a *run*: the first few instructions of a loop's body, from
//! the target of its back edge, that together cover 5 bytes, where no branch of the
//! function lands after the first (the whole function is decoded to know it). A tight
//! loop compiled with optimisations often has no long instruction, and its head is where
//! each pass begins. Neither holds a branch, a call or a syscall: the filter moves it into
//! its stub and runs it there.

use std::collections::{BTreeMap, HashSet};

use iced_x86::{Decoder, DecoderOptions, FlowControl, Instruction};

/// The bytes of the filter's `jmp rel32`.
pub const JMP_LEN: usize = 5;
/// Straight-line instructions looked at for a carrier after the one a thread was stopped at.
const CARRIER_LOOKAHEAD: usize = 24;
/// Instructions a run holds at most.
const RUN_MOST: usize = 5;
/// Instructions followed through jumps from where a thread was stopped to a loop's head.
const WALK_MOST: usize = 64;
/// A function decoded to find a run is this long at most.
pub const FUNCTION_MOST: u64 = 64 << 10;

/// Where a filter goes: at `at`, covering `len` bytes; `run` when those are several
/// instructions (the head of a loop whose function was checked), else one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Carrier {
    pub at: u64,
    pub len: u8,
    pub run: bool,
}

/// An instruction a filter can move into its stub, whatever its length.
fn movable(ins: &Instruction) -> bool {
    crate::patch::relocatable(ins)
}

fn can_carry(ins: &Instruction) -> bool {
    movable(ins) && ins.len() >= JMP_LEN
}

/// The length of the instruction at the start of `code` (at `ip`) if it can carry a filter.
pub fn carrier_len(code: &[u8], ip: u64) -> Option<usize> {
    let mut decoder = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
    let ins = decoder.decode();
    can_carry(&ins).then_some(ins.len())
}

/// The first instruction from `ip` on, in straight line (no branch before it, so that it
/// runs whenever the one at `ip` does), that can carry a filter. `code` holds the bytes
/// from `ip`.
pub fn carrier_from(code: &[u8], ip: u64) -> Option<Carrier> {
    let mut decoder = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
    for _ in 0..CARRIER_LOOKAHEAD {
        if !decoder.can_decode() {
            return None;
        }
        let ins = decoder.decode();
        if can_carry(&ins) {
            return Some(Carrier {
                at: ins.ip(),
                len: ins.len() as u8,
                run: false,
            });
        }
        if !movable(&ins) {
            return None;
        }
    }
    None
}

/// The instructions of the carrier at the start of `code` (at `at`): one, or for a run the
/// instructions that cover exactly `run_len` bytes. `None` if they cannot carry a filter.
pub fn carrier_instructions(code: &[u8], at: u64, run_len: u8) -> Option<Vec<Instruction>> {
    let mut decoder = Decoder::with_ip(64, code, at, DecoderOptions::NONE);
    if run_len == 0 {
        let ins = decoder.decode();
        return can_carry(&ins).then(|| vec![ins]);
    }
    let mut run = Vec::new();
    let mut len = 0;
    while len < run_len as usize && run.len() < RUN_MOST && decoder.can_decode() {
        let ins = decoder.decode();
        if !movable(&ins) {
            return None;
        }
        len += ins.len();
        run.push(ins);
    }
    (len == run_len as usize && len >= JMP_LEN).then_some(run)
}

/// A function's instructions decoded from its start, with every address a direct branch
/// of it goes to; `None` if it jumps through a register or memory (a switch table could
/// land anywhere) or does not decode.
struct Function {
    code: BTreeMap<u64, Instruction>,
    targets: HashSet<u64>,
}

impl Function {
    fn decode(code: &[u8], start: u64) -> Option<Function> {
        let mut decoder = Decoder::with_ip(64, code, start, DecoderOptions::NONE);
        let mut f = Function {
            code: BTreeMap::new(),
            targets: HashSet::new(),
        };
        while decoder.can_decode() {
            let ins = decoder.decode();
            if ins.is_invalid() || ins.flow_control() == FlowControl::IndirectBranch {
                return None;
            }
            if matches!(
                ins.flow_control(),
                FlowControl::UnconditionalBranch
                    | FlowControl::ConditionalBranch
                    | FlowControl::Call
                    | FlowControl::XbeginXabortXend
            ) {
                f.targets.insert(ins.near_branch_target());
            }
            f.code.insert(ins.ip(), ins);
        }
        Some(f)
    }

    /// The run at `head`: its first instructions covering 5 bytes, none of them a branch,
    /// with no branch of the function landing after the first.
    fn run_at(&self, head: u64) -> Option<Carrier> {
        let mut len = 0usize;
        for (n, (&ip, ins)) in self.code.range(head..).enumerate() {
            if n >= RUN_MOST || !movable(ins) || (ip != head && self.targets.contains(&ip)) {
                return None;
            }
            len += ins.len();
            if len >= JMP_LEN {
                return Some(Carrier {
                    at: head,
                    len: len as u8,
                    run: n > 0,
                });
            }
        }
        None
    }
}

/// A carrier a thread stopped at `rip` reaches at each pass of the loop it is in, for the
/// function `code` holds from `start`: from `rip`, through jumps, calls and the loop's
/// exits left aside, to the first instruction that carries a filter, or else to the head
/// of the loop (the target of a branch back) if a run fits there.
pub fn loop_carrier(code: &[u8], start: u64, rip: u64) -> Option<Carrier> {
    let f = Function::decode(code, start)?;
    let mut at = rip;
    let mut seen = HashSet::new();
    for _ in 0..WALK_MOST {
        let ins = f.code.get(&at)?;
        if !seen.insert(at) {
            return None;
        }
        if can_carry(ins) {
            return Some(Carrier {
                at,
                len: ins.len() as u8,
                run: false,
            });
        }
        at = match ins.flow_control() {
            FlowControl::Next | FlowControl::Call => ins.next_ip(),
            FlowControl::UnconditionalBranch if is_near(ins) => ins.near_branch_target(),
            FlowControl::ConditionalBranch if is_near(ins) => {
                let target = ins.near_branch_target();
                if target > ins.ip() {
                    // Forward: most often the loop's exit; the loop goes on after it.
                    ins.next_ip()
                } else if let Some(run) = f.run_at(target) {
                    return Some(run);
                } else {
                    target
                }
            }
            _ => return None,
        };
    }
    None
}

fn is_near(ins: &Instruction) -> bool {
    ins.near_branch_target() != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_or_branching_instructions_carry_none() {
        assert_eq!(carrier_len(&[0x48, 0x83, 0xc2, 0x01], 0x1000), None); // add $1,%rdx
        assert_eq!(carrier_len(&[0xe9, 0, 0, 0, 0], 0x1000), None); // jmp
        assert_eq!(carrier_len(&[0xe8, 0, 0, 0, 0], 0x1000), None); // call
        assert_eq!(carrier_len(&[0x0f, 0x85, 0, 0, 0, 0], 0x1000), None); // jne
        assert_eq!(carrier_len(&[0xb8, 1, 0, 0, 0], 0x1000), Some(5)); // mov $1,%eax
    }

    #[test]
    fn the_carrier_is_found_in_straight_line_only() {
        // add $1,%rdx; cmp %rbx,%rdx; mov 0x2e57(%rip),%rax
        let code = [
            0x48, 0x83, 0xc2, 0x01, 0x48, 0x39, 0xda, 0x48, 0x8b, 0x05, 0x57, 0x2e, 0, 0,
        ];
        assert_eq!(carrier_from(&code, 0x1000).map(|c| c.at), Some(0x1007));
        // add $1,%rdx; jne back; mov 0x2e57(%rip),%rax
        let code = [
            0x48, 0x83, 0xc2, 0x01, 0x75, 0xe2, 0x48, 0x8b, 0x05, 0x57, 0x2e, 0, 0,
        ];
        assert_eq!(carrier_from(&code, 0x1000), None);
    }

    /// xor %edx,%edx; loop: imul %rcx,%rax; add %rdx,%rax; add $1,%rdx; cmp %rbx,%rdx;
    /// jb loop; ret
    const TIGHT_LOOP: [u8; 21] = [
        0x31, 0xd2, 0x48, 0x0f, 0xaf, 0xc1, 0x48, 0x01, 0xd0, 0x48, 0x83, 0xc2, 0x01, 0x48, 0x39,
        0xda, 0x72, 0xf0, 0xc3, 0x90, 0x90,
    ];

    #[test]
    fn a_tight_loop_carries_a_run_at_its_head() {
        // Stopped at the cmp: through the back edge to the head, imul and add (7 bytes).
        let c = loop_carrier(&TIGHT_LOOP, 0x1000, 0x100d).unwrap();
        assert_eq!((c.at, c.len, c.run), (0x1002, 7, true));
        let run = carrier_instructions(&TIGHT_LOOP[2..], 0x1002, 7).unwrap();
        assert_eq!(run.len(), 2);
        assert_eq!(carrier_instructions(&TIGHT_LOOP[2..], 0x1002, 6), None);
    }

    #[test]
    fn no_run_where_a_branch_lands_inside_it_or_the_function_jumps_through_a_table() {
        // jmp cond; loop: add %rdx,%rax; cond: add $1,%rdx; cmp %rbx,%rdx; jb loop; ret
        let code = [
            0xeb, 0x03, 0x48, 0x01, 0xd0, 0x48, 0x83, 0xc2, 0x01, 0x48, 0x39, 0xda, 0x72, 0xf4,
            0xc3,
        ];
        assert_eq!(loop_carrier(&code, 0x1000, 0x1009), None);
        let mut table = TIGHT_LOOP.to_vec();
        table.extend_from_slice(&[0xff, 0xe0]); // jmp *%rax
        assert_eq!(loop_carrier(&table, 0x1000, 0x100d), None);
    }

    #[test]
    fn a_long_instruction_after_the_back_edge_is_carrier_enough() {
        // loop: mov 0x2e57(%rip),%rax; add $1,%rdx; cmp %rbx,%rdx; jb loop; ret
        let code = [
            0x48, 0x8b, 0x05, 0x57, 0x2e, 0, 0, 0x48, 0x83, 0xc2, 0x01, 0x48, 0x39, 0xda, 0x72,
            0xf0, 0xc3,
        ];
        let c = loop_carrier(&code, 0x1000, 0x100b).unwrap();
        assert_eq!((c.at, c.len, c.run), (0x1000, 7, false));
    }
}

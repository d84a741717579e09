//! Calls a thread ran in-process between two of its stops, packed into one item of a chunk
//! instead of one capnp event each: the recorder appends them as it empties the thread's
//! ring, without an allocation per call, and readers unpack them into ordinary `Syscall`
//! events of mode `Buffered` with consecutive seq numbers.
//!
//! A server makes the same few calls over and over (two `gettimeofday` per redis command),
//! so each call is written as its difference from the last call of the same number in the
//! item: a call `n` finds its predecessor in slot `n % SLOTS` (a slot holding another
//! number counts as no predecessor, all zeros). A call is
//!
//! - its number, a varint;
//! - a 16-bit little-endian word of flags: bits 0–5, argument `i` differs (its difference
//!   follows); bit 6, the result differs; bit 7, an output hash follows; bits 8–9, the echo;
//!   bits 10–14, the number of memory writes; bit 15 is zero;
//! - the differing arguments, then the result, each as the zigzag varint of its wrapping
//!   difference from the predecessor's; the output hash as 8 bytes;
//! - each write: a byte whose bit 0 says the address is the predecessor's write's at the same
//!   place and bit 1 that the length is, then the address (zigzag varint difference) and the
//!   length (varint) where they are not; then the bytes. When the predecessor's write at the
//!   same place had the same length, its first `HEAD` bytes are written as their difference
//!   from the predecessor's: each whole 8-byte word as the zigzag varint of its wrapping
//!   difference, the bytes left of the first `HEAD` xor-ed (a clock read differs from the
//!   last in its low word only: a `timeval` takes 2 or 3 bytes instead of 16).

use crate::model::{
    BufferedCalls, Echo, Event, EventKind, MemWrite, SyscallEvent, SyscallMode, WriteBytes, Writes,
};

/// How many numbers are remembered at once (direct-mapped by number).
const SLOTS: usize = 16;
/// Writes per call whose shape and first bytes are remembered.
const WRITE_SLOTS: usize = 2;
/// How many first bytes of a write are written as their difference from the predecessor's.
const HEAD: usize = 16;
/// Writes a call can have in its flags.
const MAX_WRITES: u16 = 31;

const RESULT_DIFFERS: u16 = 1 << 6;
const HAS_HASH: u16 = 1 << 7;
const ECHO_SHIFT: u16 = 8;
const WRITES_SHIFT: u16 = 10;
const RESERVED: u16 = 1 << 15;
const SAME_ADDR: u8 = 1;
const SAME_LEN: u8 = 2;

/// What a call's predecessor left for the next call of its number.
#[derive(Debug, Clone, Copy)]
struct Last {
    number: u32,
    result: i64,
    args: [u64; 6],
    writes: [LastWrite; WRITE_SLOTS],
}

#[derive(Debug, Clone, Copy, Default)]
struct LastWrite {
    addr: u64,
    len: u64,
    head: [u8; HEAD],
}

const NONE: Last = Last {
    number: u32::MAX,
    result: 0,
    args: [0; 6],
    writes: [LastWrite {
        addr: 0,
        len: 0,
        head: [0; HEAD],
    }; WRITE_SLOTS],
};

/// The predecessors of one item's calls, kept alike by the packer and the reader.
#[derive(Debug, Clone)]
struct History {
    slots: [Last; SLOTS],
}

impl Default for History {
    fn default() -> Self {
        History {
            slots: [NONE; SLOTS],
        }
    }
}

impl History {
    /// The slot of calls `number`, holding the last one's values (zeros if there was none:
    /// the slot is taken from the number that had it).
    fn slot_for(&mut self, number: u32) -> usize {
        let slot = number as usize % SLOTS;
        if self.slots[slot].number != number {
            self.slots[slot] = Last { number, ..NONE };
        }
        slot
    }
}

/// Builds the packed calls of one thread.
#[derive(Debug, Default)]
pub struct Packer {
    bytes: Vec<u8>,
    count: u32,
    history: History,
    /// The call being packed: where its flags are, and its slot in `history` (updated in
    /// place as the call is packed: it is the predecessor of the next of its number).
    current: Option<(usize, usize)>,
}

fn echo_code(e: Echo) -> u16 {
    match e {
        Echo::None => 0,
        Echo::Stdout => 1,
        Echo::Stderr => 2,
    }
}

fn zigzag(d: u64) -> u64 {
    let d = d as i64;
    ((d << 1) ^ (d >> 63)) as u64
}

fn unzigzag(z: u64) -> u64 {
    ((z >> 1) as i64 ^ -((z & 1) as i64)) as u64
}

fn put_varint(bytes: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        bytes.push(v as u8 | 0x80);
        v >>= 7;
    }
    bytes.push(v as u8);
}

fn word_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

fn head_of(data: &[u8]) -> [u8; HEAD] {
    let mut head = [0u8; HEAD];
    let n = data.len().min(HEAD);
    head[..n].copy_from_slice(&data[..n]);
    head
}

impl Packer {
    /// Starts the next call; its memory writes follow with [`write`](Self::write).
    pub fn call(
        &mut self,
        number: u32,
        result: i64,
        args: &[u64; 6],
        output_hash: u64,
        echo: Echo,
    ) {
        self.count += 1;
        let slot = self.history.slot_for(number);
        let last = &mut self.history.slots[slot];
        let bytes = &mut self.bytes;
        put_varint(bytes, u64::from(number));
        let at = bytes.len();
        let mut flags = echo_code(echo) << ECHO_SHIFT;
        bytes.extend_from_slice(&[0, 0]);
        for (i, (&a, was)) in args.iter().zip(&mut last.args).enumerate() {
            if a != *was {
                flags |= 1 << i;
                put_varint(bytes, zigzag(a.wrapping_sub(*was)));
                *was = a;
            }
        }
        if result != last.result {
            flags |= RESULT_DIFFERS;
            put_varint(
                bytes,
                zigzag((result as u64).wrapping_sub(last.result as u64)),
            );
            last.result = result;
        }
        if output_hash != 0 {
            flags |= HAS_HASH;
            bytes.extend_from_slice(&output_hash.to_le_bytes());
        }
        bytes[at..at + 2].copy_from_slice(&flags.to_le_bytes());
        self.current = Some((at, slot));
    }

    /// Bytes the kernel wrote at `addr` during the current call. Calls have at most a few
    /// writes (the runtime makes at most two); further ones are dropped, never misfiled.
    pub fn write(&mut self, addr: u64, data: &[u8]) {
        let Some((at, slot)) = self.current else {
            return;
        };
        let bytes = &mut self.bytes;
        let mut flags = u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let index = (flags >> WRITES_SHIFT) & MAX_WRITES;
        if index == MAX_WRITES {
            return;
        }
        flags += 1 << WRITES_SHIFT;
        bytes[at..at + 2].copy_from_slice(&flags.to_le_bytes());
        let len = data.len() as u64;
        let mut none = LastWrite::default();
        let (was, remembered) = match self.history.slots[slot].writes.get_mut(index as usize) {
            Some(w) => (w, true),
            None => (&mut none, false),
        };
        let mut shape = 0;
        if addr == was.addr {
            shape |= SAME_ADDR;
        }
        if len == was.len {
            shape |= SAME_LEN;
        }
        bytes.push(shape);
        if addr != was.addr {
            put_varint(bytes, zigzag(addr.wrapping_sub(was.addr)));
        }
        if len != was.len {
            put_varint(bytes, len);
        }
        if remembered && len == was.len {
            let n = data.len().min(HEAD);
            let words = n / 8;
            for w in 0..words {
                let (now, then) = (word_at(data, w * 8), word_at(&was.head, w * 8));
                put_varint(bytes, zigzag(now.wrapping_sub(then)));
            }
            let rest = words * 8..n;
            bytes.extend(
                data[rest.clone()]
                    .iter()
                    .zip(&was.head[rest])
                    .map(|(a, b)| a ^ b),
            );
            bytes.extend_from_slice(&data[n..]);
        } else {
            bytes.extend_from_slice(data);
        }
        *was = LastWrite {
            addr,
            len,
            head: head_of(data),
        };
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// The packed calls, the first of which is event `first_seq` of thread `tid`.
    pub fn finish(self, first_seq: u64, tid: u32) -> BufferedCalls {
        BufferedCalls {
            first_seq,
            tid,
            count: self.count,
            packed: self.bytes,
        }
    }
}

/// A reader of packed bytes that refuses to run past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or_else(|| format!("packed calls end inside a call (byte {})", self.at))?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let start = self.at;
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                if shift == 63 && b > 1 {
                    break;
                }
                return Ok(v);
            }
        }
        Err(format!("a number at byte {start} is longer than 64 bits"))
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let end = self.at + N;
        let b = self
            .bytes
            .get(self.at..end)
            .ok_or_else(|| format!("packed calls end inside a call (byte {})", self.at))?;
        self.at = end;
        Ok(b.try_into().expect("N bytes"))
    }

    fn data(&mut self, len: u64, prev: Option<&[u8; HEAD]>) -> Result<WriteBytes, String> {
        let past = |at: usize| {
            format!("a memory write of {len} bytes runs past the packed calls (byte {at})")
        };
        let len = usize::try_from(len).map_err(|_| past(self.at))?;
        let Some(prev) = prev else {
            let at = self.at;
            return Ok(WriteBytes::from_slice(
                self.raw(len).ok_or_else(|| past(at))?,
            ));
        };
        let n = len.min(HEAD);
        let words = n / 8;
        let mut data = WriteBytes::with_capacity(len);
        for w in 0..words {
            let now = word_at(prev, w * 8).wrapping_add(unzigzag(self.varint()?));
            data.extend_from_slice(&now.to_le_bytes());
        }
        let at = self.at;
        let raw = self.raw(len - words * 8).ok_or_else(|| past(at))?;
        data.extend_from_slice(raw);
        for (d, p) in data[words * 8..n].iter_mut().zip(&prev[words * 8..n]) {
            *d ^= p;
        }
        Ok(data)
    }

    /// The next `len` bytes as they are.
    fn raw(&mut self, len: usize) -> Option<&[u8]> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&e| e <= self.bytes.len())?;
        let raw = &self.bytes[self.at..end];
        self.at = end;
        Some(raw)
    }
}

/// The events of packed calls (checked as untrusted input: a count or a length that does
/// not match the bytes is an error naming the byte).
pub fn unpack(calls: &BufferedCalls) -> Result<Vec<Event>, String> {
    let mut events = Vec::new();
    unpack_into(calls, &mut events)?;
    Ok(events)
}

/// Appends the events of packed calls to `events`, each built in place (a chunk's events
/// are moved once, not gathered per item first); on an error `events` is left as it was.
pub fn unpack_into(calls: &BufferedCalls, events: &mut Vec<Event>) -> Result<(), String> {
    unpack_view_into(calls.view(), events)
}

/// `unpack_into` from packed bytes where they lie (a chunk's message: not copied first).
pub fn unpack_view_into(calls: PackedView<'_>, events: &mut Vec<Event>) -> Result<(), String> {
    let before = events.len();
    let result = append_calls(calls, events);
    if result.is_err() {
        events.truncate(before);
    }
    result
}

/// Packed calls as `BufferedCalls` holds them, the bytes borrowed.
#[derive(Clone, Copy)]
pub struct PackedView<'a> {
    pub first_seq: u64,
    pub tid: u32,
    pub count: u32,
    pub packed: &'a [u8],
}

impl BufferedCalls {
    pub fn view(&self) -> PackedView<'_> {
        PackedView {
            first_seq: self.first_seq,
            tid: self.tid,
            count: self.count,
            packed: &self.packed,
        }
    }
}

fn append_calls(calls: PackedView<'_>, events: &mut Vec<Event>) -> Result<(), String> {
    let mut r = Reader {
        bytes: calls.packed,
        at: 0,
    };
    let mut history = History::default();
    // A call takes at least its number and flags: a count the bytes cannot hold reserves
    // no more.
    let most = calls.packed.len() / MIN_CALL_BYTES;
    events.reserve((calls.count as usize).min(most));
    for i in 0..u64::from(calls.count) {
        let number = u32::try_from(r.varint()?)
            .map_err(|_| format!("call {i} has a number past 32 bits (byte {})", r.at))?;
        let flags = u16::from_le_bytes(r.fixed::<2>()?);
        if flags & RESERVED != 0 {
            return Err(format!("call {i} has unknown flags {flags:#x}"));
        }
        let echo = match (flags >> ECHO_SHIFT) & 3 {
            0 => Echo::None,
            1 => Echo::Stdout,
            2 => Echo::Stderr,
            other => return Err(format!("call {i} has an unknown echo {other}")),
        };
        let slot = history.slot_for(number);
        let last = &mut history.slots[slot];
        for (bit, a) in last.args.iter_mut().enumerate() {
            if flags & (1 << bit) != 0 {
                *a = a.wrapping_add(unzigzag(r.varint()?));
            }
        }
        if flags & RESULT_DIFFERS != 0 {
            last.result = (last.result as u64).wrapping_add(unzigzag(r.varint()?)) as i64;
        }
        let output_hash = if flags & HAS_HASH != 0 {
            u64::from_le_bytes(r.fixed::<8>()?)
        } else {
            0
        };
        let nwrites = usize::from((flags >> WRITES_SHIFT) & MAX_WRITES);
        let mut writes = Writes::with_capacity(nwrites);
        for index in 0..nwrites {
            let shape = r.byte()?;
            if shape & !(SAME_ADDR | SAME_LEN) != 0 {
                return Err(format!(
                    "call {i} has a write of unknown shape {shape:#x} (byte {})",
                    r.at - 1
                ));
            }
            let remembered = last.writes.get_mut(index);
            let was = remembered.as_ref().map(|w| **w).unwrap_or_default();
            let addr = if shape & SAME_ADDR != 0 {
                was.addr
            } else {
                was.addr.wrapping_add(unzigzag(r.varint()?))
            };
            let len = if shape & SAME_LEN != 0 {
                was.len
            } else {
                r.varint()?
            };
            let xor = (remembered.is_some() && len == was.len).then_some(&was.head);
            let data = r.data(len, xor)?;
            if let Some(w) = remembered {
                *w = LastWrite {
                    addr,
                    len,
                    head: head_of(&data),
                };
            }
            writes.push(MemWrite { addr, data });
        }
        events.push(Event {
            seq: calls.first_seq + i,
            tid: calls.tid,
            kind: EventKind::Syscall(SyscallEvent {
                number: u64::from(number),
                args: last.args,
                result: last.result,
                mode: SyscallMode::Buffered,
                writes,
                rip: 0,
                regs_hash: 0,
                output_hash,
                echo,
                mapping: None,
            }),
        });
    }
    if r.at != calls.packed.len() {
        return Err(format!(
            "{} bytes follow the last of {} packed calls",
            calls.packed.len() - r.at,
            calls.count
        ));
    }
    Ok(())
}

/// A rough upper bound of the bytes packed calls take once encoded in a chunk.
pub fn estimated_size(calls: &BufferedCalls) -> usize {
    calls.packed.len().saturating_add(64)
}

/// The fewest bytes a call takes: its number and its flags.
const MIN_CALL_BYTES: usize = 3;

#[cfg(test)]
#[path = "packed_tests.rs"]
mod tests;

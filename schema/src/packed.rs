//! Calls a thread ran in-process between two of its stops, packed into one item of a chunk
//! instead of one capnp event each: the recorder appends them as it empties the thread's
//! ring, without an allocation per call, and readers unpack them into ordinary `Syscall`
//! events of mode `Buffered` with consecutive seq numbers.
//!
//! Each call is little-endian 64-bit words: `number | nwrites << 32 | echo << 48`, the
//! result, the six arguments, the output hash; then each memory write as its address, its
//! length and its bytes padded to 8.

use crate::model::{
    BufferedCalls, Echo, Event, EventKind, MemWrite, SyscallEvent, SyscallMode, WriteBytes, Writes,
};

const CALL_WORDS: usize = 9;
const MAX_WRITES: u64 = 0xffff;

/// Builds the packed calls of one thread.
#[derive(Debug, Default)]
pub struct Packer {
    bytes: Vec<u8>,
    count: u32,
    /// Where the word holding the current call's number of writes is.
    current: Option<usize>,
}

fn echo_code(e: Echo) -> u64 {
    match e {
        Echo::None => 0,
        Echo::Stdout => 1,
        Echo::Stderr => 2,
    }
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
        self.current = Some(self.bytes.len());
        self.count += 1;
        let head = u64::from(number) | echo_code(echo) << 48;
        // Built whole, then appended in one go.
        let mut words = [0u8; CALL_BYTES];
        let values = [head, result as u64]
            .into_iter()
            .chain(args.iter().copied())
            .chain([output_hash]);
        for (slot, w) in words.chunks_exact_mut(8).zip(values) {
            slot.copy_from_slice(&w.to_le_bytes());
        }
        self.bytes.extend_from_slice(&words);
    }

    /// Bytes the kernel wrote at `addr` during the current call. Calls have at most a few
    /// writes (the runtime makes at most two); further ones are dropped, never misfiled.
    pub fn write(&mut self, addr: u64, data: &[u8]) {
        let Some(at) = self.current else {
            return;
        };
        let head = u64::from_le_bytes(self.bytes[at..at + 8].try_into().expect("8 bytes"));
        let nwrites = (head >> 32) & MAX_WRITES;
        if nwrites == MAX_WRITES {
            return;
        }
        let head = (head & !(MAX_WRITES << 32)) | (nwrites + 1) << 32;
        self.bytes[at..at + 8].copy_from_slice(&head.to_le_bytes());
        self.word(addr);
        self.word(data.len() as u64);
        self.bytes.extend_from_slice(data);
        self.bytes.resize(pad8(self.bytes.len()), 0);
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

    fn word(&mut self, w: u64) {
        self.bytes.extend_from_slice(&w.to_le_bytes());
    }
}

fn pad8(n: usize) -> usize {
    (n + 7) & !7
}

/// A reader of packed words that refuses to run past the end.
struct Words<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Words<'_> {
    fn word(&mut self) -> Result<u64, String> {
        let end = self.at + 8;
        let w = self
            .bytes
            .get(self.at..end)
            .ok_or_else(|| format!("packed calls end inside a call (byte {})", self.at))?;
        self.at = end;
        Ok(u64::from_le_bytes(w.try_into().expect("8 bytes")))
    }

    fn bytes(&mut self, len: u64) -> Result<WriteBytes, String> {
        let padded = usize::try_from(len).ok().map(pad8);
        let end = padded.and_then(|p| self.at.checked_add(p));
        match end.filter(|&e| e <= self.bytes.len()) {
            Some(end) => {
                let data = WriteBytes::from_slice(&self.bytes[self.at..self.at + len as usize]);
                self.at = end;
                Ok(data)
            }
            None => Err(format!(
                "a memory write of {len} bytes runs past the packed calls (byte {})",
                self.at
            )),
        }
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
    let mut r = Words {
        bytes: calls.packed,
        at: 0,
    };
    // A call takes at least its words: a count the bytes cannot hold reserves no more.
    let most = calls.packed.len() / CALL_BYTES;
    events.reserve((calls.count as usize).min(most));
    for i in 0..u64::from(calls.count) {
        let head = r.word()?;
        let echo = match head >> 48 {
            0 => Echo::None,
            1 => Echo::Stdout,
            2 => Echo::Stderr,
            other => return Err(format!("call {i} has an unknown echo {other}")),
        };
        let result = r.word()? as i64;
        let mut args = [0u64; 6];
        for a in &mut args {
            *a = r.word()?;
        }
        let output_hash = r.word()?;
        let nwrites = (head >> 32) & MAX_WRITES;
        let mut writes = Writes::with_capacity(nwrites as usize);
        for _ in 0..nwrites {
            let addr = r.word()?;
            let len = r.word()?;
            writes.push(MemWrite {
                addr,
                data: r.bytes(len)?,
            });
        }
        events.push(Event {
            seq: calls.first_seq + i,
            tid: calls.tid,
            kind: EventKind::Syscall(SyscallEvent {
                number: head & 0xffff_ffff,
                args,
                result,
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

/// The words of one call before its writes.
pub const CALL_BYTES: usize = CALL_WORDS * 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_unpack_to_the_events_they_were_packed_from() {
        let mut p = Packer::default();
        p.call(110, 42, &[1, 2, 3, 4, 5, 6], 0, Echo::None);
        p.call(0, 3, &[3, 0x1000, 16, 0, 0, 0], 0, Echo::None);
        p.write(0x1000, b"abc");
        p.call(1, 5, &[1, 0x2000, 5, 0, 0, 0], 0xfeed, Echo::Stdout);
        let calls = p.finish(7, 99);
        let events = unpack(&calls).unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!((events[0].seq, events[2].seq, events[1].tid), (7, 9, 99));
        let EventKind::Syscall(read) = &events[1].kind else {
            panic!("not a syscall")
        };
        assert_eq!(
            (read.number, read.result, read.mode),
            (0, 3, SyscallMode::Buffered)
        );
        assert_eq!(
            read.writes.as_slice(),
            [MemWrite {
                addr: 0x1000,
                data: WriteBytes::from_slice(b"abc")
            }]
        );
        let EventKind::Syscall(write) = &events[2].kind else {
            panic!("not a syscall")
        };
        assert_eq!((write.output_hash, write.echo), (0xfeed, Echo::Stdout));
    }

    #[test]
    fn packed_calls_that_do_not_match_their_count_are_refused() {
        let mut p = Packer::default();
        p.call(0, 3, &[0; 6], 0, Echo::None);
        p.write(0x1000, b"abc");
        let mut calls = p.finish(0, 1);
        calls.count = 2;
        assert!(unpack(&calls).unwrap_err().contains("end inside a call"));
        calls.count = 1;
        // The write claims more bytes than there are.
        calls.packed[CALL_BYTES + 8] = 0xff;
        assert!(unpack(&calls).unwrap_err().contains("memory write"));
        calls.packed[CALL_BYTES + 8] = 3;
        calls.packed.extend_from_slice(&[0; 8]);
        assert!(unpack(&calls).unwrap_err().contains("follow the last"));
    }

    #[test]
    fn unpacked_calls_follow_the_events_before_them_and_bad_ones_add_none() {
        let mut p = Packer::default();
        p.call(39, 1, &[0; 6], 0, Echo::None);
        p.call(110, 2, &[0; 6], 0, Echo::None);
        let calls = p.finish(5, 8);
        let mut events = unpack(&calls).unwrap();
        events.truncate(1);
        unpack_into(&calls, &mut events).unwrap();
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![5, 5, 6]);
        // A count past the bytes: an error, and the events already there stay alone.
        let mut bad = calls.clone();
        bad.count = 3;
        assert!(unpack_into(&bad, &mut events).is_err());
        assert_eq!(events.len(), 3);
    }
}

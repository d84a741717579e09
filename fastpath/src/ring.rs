//! The tracer's side of a process's ring: the records the runtime appended, read through
//! the tracer's own mapping of the shared memory and checked as untrusted input.

use std::fs::File;

use memmap2::MmapRaw;

use crate::layout::*;
use crate::FastPathError;

/// One record in bytes taken from a ring (checked when it was read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub nr: u32,
    pub args: [u64; 6],
    pub result: i64,
    /// For an output: its descriptor's file (device, inode) when it was written.
    pub file: Option<(u64, u64)>,
    /// The memory writes: (address, length, bytes padded to 8) each.
    writes: &'a [u8],
    nwrites: u32,
    /// An output let through the in-process gate (`RECORD_GATED_OUTPUT`).
    pub gated_output: bool,
    /// A call replay makes again (`RECORD_RUN_AT_REPLAY`).
    pub run_at_replay: bool,
    /// Bytes an output call sent.
    pub sent: &'a [u8],
}

impl<'a> RecordRef<'a> {
    /// Bytes the kernel wrote into the program's memory: (address, bytes).
    pub fn writes(&self) -> impl Iterator<Item = (u64, &'a [u8])> + 'a {
        let mut at = 0usize;
        let bytes = self.writes;
        (0..self.nwrites).map(move |_| {
            let addr = le64(&bytes[at..]);
            let len = le64(&bytes[at + 8..]) as usize;
            let data = &bytes[at + 16..at + 16 + len];
            at += 16 + pad8(len as u64) as usize;
            (addr, data)
        })
    }
}

#[inline]
fn le64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}

/// The records in bytes taken from a ring, each checked as untrusted input.
#[inline]
pub fn records(bytes: &[u8]) -> impl Iterator<Item = Result<RecordRef<'_>, FastPathError>> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        if at >= bytes.len() {
            return None;
        }
        let record = record_at(bytes, at);
        match &record {
            Ok((_, size)) => at += size,
            Err(_) => at = bytes.len(),
        }
        Some(record.map(|(r, _)| r))
    })
}

#[inline]
fn record_at(bytes: &[u8], at: usize) -> Result<(RecordRef<'_>, usize), FastPathError> {
    let bad = |why: String| FastPathError::CorruptRecord {
        offset: at as u64,
        why,
    };
    let rest = &bytes[at..];
    let header = RECORD_HEADER_SIZE as usize;
    if rest.len() < header {
        return Err(bad("a record header runs past the end".into()));
    }
    let word = |i: usize| u32::from_le_bytes(rest[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
    let quad = |i: usize| le64(&rest[16 + i * 8..]);
    let (size, nr, sent_len) = (word(0) as usize, word(1), word(3) as u64);
    let (nwrites, flags) = (word(2) & 0xffff, (word(2) >> 16) as u16);
    if size < header || !size.is_multiple_of(8) || size > rest.len() {
        return Err(bad(format!("a record of {size} bytes")));
    }
    let mut args = [0u64; 6];
    for (i, a) in args.iter_mut().enumerate() {
        *a = quad(1 + i);
    }
    let (dev, ino) = (quad(7), quad(8));
    let body = &rest[header..size];
    let mut off = 0usize;
    for _ in 0..nwrites {
        if body.len() - off < WRITE_HEADER_SIZE as usize {
            return Err(bad("a memory write runs past its record".into()));
        }
        let len = le64(&body[off + 8..]);
        off += WRITE_HEADER_SIZE as usize;
        let room = (body.len() - off) as u64;
        if len > room || pad8(len) > room {
            return Err(bad(format!("a memory write of {len} bytes")));
        }
        off += pad8(len) as usize;
    }
    if pad8(sent_len) > (body.len() - off) as u64 {
        return Err(bad(format!("{sent_len} bytes sent")));
    }
    let record = RecordRef {
        nr,
        args,
        result: quad(0) as i64,
        file: (dev != 0 || ino != 0).then_some((dev, ino)),
        writes: &body[..off],
        nwrites,
        gated_output: flags & RECORD_GATED_OUTPUT != 0,
        run_at_replay: flags & RECORD_RUN_AT_REPLAY != 0,
        sent: &body[off..off + sent_len as usize],
    };
    Ok((record, size))
}

/// Replay: how the runtime makes a recorded call again itself (`RECORD_RUN_AT_REPLAY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAgain {
    /// The arguments it makes the call with (an `mmap` at its recorded address).
    pub args: [u64; 6],
    /// Its result must be the recorded one (else it may differ, and the recorded one is
    /// handed back).
    pub same_result: bool,
}

/// Replay: a recorded call to load into the ring, and whether the runtime makes it again.
#[derive(Debug, Clone, Copy)]
pub struct ToLoad<'a> {
    pub call: &'a schema::SyscallEvent,
    pub run: Option<RunAgain>,
}

impl ToLoad<'_> {
    /// The bytes its record takes in the ring.
    pub fn size(&self) -> u64 {
        let writes: u64 = self
            .call
            .writes
            .iter()
            .map(|w| WRITE_HEADER_SIZE + pad8(w.data.len() as u64))
            .sum();
        let run_size = if self.run.is_some() { RUN_ARGS_SIZE } else { 0 };
        RECORD_HEADER_SIZE + run_size + writes + pad8(sent_len(self.call))
    }
}

/// The bytes an output call sent, which the runtime keeps for the tracer to check.
fn sent_len(call: &schema::SyscallEvent) -> u64 {
    match call.number as libc::c_long {
        libc::SYS_write | libc::SYS_writev | libc::SYS_sendto | libc::SYS_sendmsg
            if call.result > 0 =>
        {
            call.result as u64
        }
        _ => 0,
    }
}

/// A call the runtime made again at replay that returned something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Diverged {
    pub nr: u64,
    pub result: i64,
}

/// The tracer's mapping of one process's ring (the memfd the runtime writes).
pub struct Ring {
    map: MmapRaw,
}

impl Ring {
    pub fn map(file: &File) -> std::io::Result<Ring> {
        let map = memmap2::MmapOptions::new()
            .len(RING_MAP_SIZE as usize)
            .map_raw(file)?;
        Ok(Ring { map })
    }

    /// A header word, read once: the runtime in another process may be changing it.
    pub(crate) fn read_u64(&self, offset: u64) -> u64 {
        debug_assert!(offset + 8 <= RING_HEADER_SIZE);
        // SAFETY: inside the mapping's header page, 8-aligned; a volatile read of a word
        // the other side writes whole.
        let v = unsafe {
            std::ptr::read_volatile(self.map.as_ptr().add(offset as usize) as *const u64)
        };
        // What the word publishes is read after it.
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        u64::from_le(v)
    }

    /// `read` of `len` bytes appended to `out`, without zeroing them first.
    fn read_append(&self, offset: u64, len: u64, out: &mut Vec<u8>) {
        let len = len as usize;
        assert!(
            offset as usize + len <= self.map.len(),
            "a read past the ring"
        );
        out.reserve(len);
        // SAFETY: the source range is inside the mapping (asserted); the destination is
        // the vector's spare capacity, reserved above, and the `len` bytes copied there are
        // initialized before the length covers them. Copied, never referenced (see `read`).
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.map.as_ptr().add(offset as usize),
                out.as_mut_ptr().add(out.len()),
                len,
            );
            out.set_len(out.len() + len);
        }
    }

    fn read(&self, offset: u64, out: &mut [u8]) {
        debug_assert!(offset as usize + out.len() <= self.map.len());
        // SAFETY: the range is inside the mapping (checked by every caller against
        // RING_MAP_SIZE); the bytes are copied, never referenced, because the runtime in
        // another process may write them (it does not while its process is stopped).
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.map.as_ptr().add(offset as usize),
                out.as_mut_ptr(),
                out.len(),
            )
        }
    }

    /// Sets a header word, after everything read or written before it.
    pub(crate) fn write_u64(&self, offset: u64, v: u64) {
        debug_assert!(offset + 8 <= RING_HEADER_SIZE);
        std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
        // SAFETY: inside the mapping's header page, 8-aligned; a whole-word volatile write.
        unsafe {
            std::ptr::write_volatile(
                self.map.as_mut_ptr().add(offset as usize) as *mut u64,
                v.to_le(),
            )
        }
    }

    /// A 32-bit header word, for futexes.
    pub(crate) fn word_ptr(&self, offset: u64) -> *mut u32 {
        assert!(offset + 4 <= RING_HEADER_SIZE && offset.is_multiple_of(4));
        // SAFETY: inside the mapping's header page (checked above).
        unsafe { self.map.as_mut_ptr().add(offset as usize) as *mut u32 }
    }

    fn write(&self, offset: u64, data: &[u8]) {
        debug_assert!(offset as usize + data.len() <= self.map.len());
        // SAFETY: inside the mapping (callers check against RING_DATA_SIZE); plain bytes,
        // written while the process is stopped.
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.map.as_mut_ptr().add(offset as usize),
                data.len(),
            )
        }
    }

    /// Little-endian words at `offset`, from the stack.
    fn write_words<const N: usize>(&self, offset: u64, words: &[u64; N]) {
        for (i, w) in words.iter().enumerate() {
            self.write(offset + 8 * i as u64, &w.to_le_bytes());
        }
    }

    /// Replay: puts recorded calls into the ring, from its start, for the runtime to hand
    /// back; returns, for each one that fit, where its sent bytes will be and how many.
    pub fn load(&self, calls: &[ToLoad]) -> Vec<(u64, u64)> {
        let mut at = 0u64;
        let mut sent = Vec::new();
        for load in calls {
            let ToLoad { call, run } = *load;
            let sent_len = sent_len(call);
            let size = load.size();
            if at + size > RING_DATA_SIZE || size > u32::MAX as u64 {
                break;
            }
            let flags = match run {
                Some(r) if r.same_result => RECORD_RUN_AT_REPLAY,
                Some(_) => RECORD_RUN_AT_REPLAY | RECORD_ANY_RESULT,
                None => 0,
            };
            // Built on the stack and copied whole: no allocation per call.
            let mut h = [0u8; RECORD_HEADER_SIZE as usize];
            let words = [
                size as u32,
                call.number as u32,
                (call.writes.len() as u32 & 0xffff) | (flags as u32) << 16,
                sent_len as u32,
            ];
            let quads = std::iter::once(call.result as u64).chain(call.args);
            for (i, w) in words.into_iter().enumerate() {
                h[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
            }
            for (i, q) in quads.enumerate() {
                h[16 + i * 8..24 + i * 8].copy_from_slice(&q.to_le_bytes());
            }
            let base = RING_HEADER_SIZE + at;
            self.write(base, &h);
            let mut off = RECORD_HEADER_SIZE;
            if let Some(r) = run {
                self.write_words(base + off, &r.args);
                off += RUN_ARGS_SIZE;
            }
            for w in &call.writes {
                self.write_words(base + off, &[w.addr, w.data.len() as u64]);
                self.write(base + off + WRITE_HEADER_SIZE, &w.data);
                off += WRITE_HEADER_SIZE + pad8(w.data.len() as u64);
            }
            sent.push((base + off, sent_len));
            at += size;
        }
        for (field, v) in [
            (RING_COUNT, 0),
            (RING_READ_POS, 0),
            (RING_CONSUMED, 0),
            (RING_MISMATCH, 0),
            (RING_DIVERGED_NR, 0),
            (RING_WRITE_POS, at),
        ] {
            self.write_u64(field, v);
        }
        sent
    }

    /// Recording: whether the runtime has published records the tracer has not taken.
    pub fn has_records(&self) -> bool {
        self.read_u64(RING_WRITE_POS) != self.read_u64(RING_SHIP_POS)
    }

    /// Recording: bytes of records published and not taken yet.
    pub fn pending_bytes(&self) -> u64 {
        self.read_u64(RING_WRITE_POS)
            .saturating_sub(self.read_u64(RING_SHIP_POS))
    }

    /// Replay: how many loaded records the runtime has handed back, and the call it met
    /// instead of the next one (0: none).
    pub fn progress(&self) -> (u64, u64) {
        (self.read_u64(RING_CONSUMED), self.read_u64(RING_MISMATCH))
    }

    /// Replay: the call the runtime made again and found returning another result, if any.
    pub fn diverged(&self) -> Option<Diverged> {
        match self.read_u64(RING_DIVERGED_NR) {
            0 => None,
            nr => Some(Diverged {
                nr: nr - 1,
                result: self.read_u64(RING_DIVERGED_RESULT) as i64,
            }),
        }
    }

    /// Replay: the bytes the runtime kept from an output call's buffer.
    pub fn sent_at(&self, (offset, len): (u64, u64)) -> Vec<u8> {
        let mut out = vec![0u8; len as usize];
        self.read(offset, &mut out);
        out
    }

    /// Empties the ring (replay: once every loaded record was handed back).
    pub fn reset(&self) {
        for field in [
            RING_WRITE_POS,
            RING_COUNT,
            RING_READ_POS,
            RING_CONSUMED,
            RING_MISMATCH,
            RING_DIVERGED_NR,
            RING_SHIP_POS,
            RING_SHIPPED,
        ] {
            self.write_u64(field, 0);
        }
    }

    /// Recording: takes every record the runtime has published and the tracer not yet
    /// taken, as contiguous bytes to be read with [`records`], and how many they are. The
    /// runtime may go on appending meanwhile (it never writes where the tracer has not
    /// taken). `stopped`: the thread is stopped outside the runtime, so the ring's count
    /// must match the records exactly (while it runs, one may be counted and not yet
    /// published).
    pub fn take(&self, stopped: bool) -> Result<(Vec<u8>, u64), FastPathError> {
        let end = self.read_u64(RING_WRITE_POS);
        let count = self.read_u64(RING_COUNT);
        let start = self.read_u64(RING_SHIP_POS);
        let shipped = self.read_u64(RING_SHIPPED);
        let corrupt = |at: u64, why: String| FastPathError::CorruptRecord {
            offset: at % RING_DATA_SIZE,
            why,
        };
        if end < start || end - start > RING_DATA_SIZE || !(end - start).is_multiple_of(8) {
            return Err(corrupt(
                start,
                format!("the ring says {start} bytes taken of {end} written"),
            ));
        }
        // Copied whole first (one stretch, or two where the data wraps), then checked in the
        // copy: walking from header to header in memory the runtime has just written on
        // another core waits for each header in turn, while a copy streams.
        let len = end - start;
        let first = start % RING_DATA_SIZE;
        let before_wrap = len.min(RING_DATA_SIZE - first);
        let mut bytes = Vec::with_capacity(len as usize);
        self.read_append(RING_HEADER_SIZE + first, before_wrap, &mut bytes);
        if len > before_wrap {
            self.read_append(RING_HEADER_SIZE, len - before_wrap, &mut bytes);
        }
        let (mut at, mut i, mut taken) = (start, 0usize, 0u64);
        while at < end {
            let offset = at % RING_DATA_SIZE;
            // `end - at` is a positive multiple of 8: the header's first 8 bytes are there.
            let size = u64::from(u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4")));
            let nr = u32::from_le_bytes(bytes[i + 4..i + 8].try_into().expect("4"));
            if nr == WRAP {
                if offset + size != RING_DATA_SIZE || at + size > end {
                    return Err(corrupt(at, format!("a wrap marker of {size} bytes")));
                }
                // The skipped end of the data is no record: out of the copy.
                bytes.drain(i..i + size as usize);
                at += size;
                continue;
            }
            if size < RECORD_HEADER_SIZE
                || !size.is_multiple_of(8)
                || offset + size > RING_DATA_SIZE
                || at + size > end
            {
                return Err(corrupt(at, format!("a record of {size} bytes")));
            }
            at += size;
            i += size as usize;
            taken += 1;
        }
        let counted = count.wrapping_sub(shipped);
        if counted < taken || (stopped && counted != taken) {
            return Err(corrupt(
                start,
                format!("the ring counts {counted} records but holds {taken}"),
            ));
        }
        // Taken: the runtime may write there again.
        self.write_u64(RING_SHIPPED, shipped + taken);
        self.write_u64(RING_SHIP_POS, end);
        Ok((bytes, taken))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    fn ring_file(name: &str) -> (File, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!("ftrun-ring-{name}-{}", std::process::id()));
        let f = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        f.set_len(RING_MAP_SIZE).unwrap();
        (f, path)
    }

    fn record(nr: u32, result: i64, write: Option<(u64, &[u8])>) -> Vec<u8> {
        let mut body = Vec::new();
        if let Some((addr, data)) = write {
            body.extend_from_slice(&addr.to_le_bytes());
            body.extend_from_slice(&(data.len() as u64).to_le_bytes());
            body.extend_from_slice(data);
            body.resize(pad8(body.len() as u64) as usize, 0);
        }
        let size = RECORD_HEADER_SIZE as usize + body.len();
        let mut r = Vec::new();
        for w in [size as u32, nr, write.is_some() as u32, 0] {
            r.extend_from_slice(&w.to_le_bytes());
        }
        r.extend_from_slice(&result.to_le_bytes());
        for a in 1..=6u64 {
            r.extend_from_slice(&a.to_le_bytes());
        }
        r.resize(RECORD_HEADER_SIZE as usize, 0);
        r.extend_from_slice(&body);
        r
    }

    fn set(f: &File, field: u64, v: u64) {
        f.write_all_at(&v.to_le_bytes(), field).unwrap();
    }

    #[test]
    fn records_come_out_in_order_and_the_ring_is_emptied() {
        let (f, path) = ring_file("ok");
        let mut data = record(110, 42, None);
        data.extend(record(0, 3, Some((0x1000, b"abc"))));
        f.write_all_at(&data, RING_HEADER_SIZE).unwrap();
        set(&f, RING_COUNT, 2);
        set(&f, RING_WRITE_POS, data.len() as u64);
        let ring = Ring::map(&f).unwrap();
        assert!(ring.has_records());
        let (bytes, count) = ring.take(true).unwrap();
        assert_eq!(count, 2);
        let calls: Vec<RecordRef> = records(&bytes).map(Result::unwrap).collect();
        assert_eq!(calls.len(), 2);
        assert_eq!((calls[0].nr, calls[0].result), (110, 42));
        let writes: Vec<(u64, &[u8])> = calls[1].writes().collect();
        assert_eq!(writes, vec![(0x1000, &b"abc"[..])]);
        assert_eq!(calls[1].args, [1, 2, 3, 4, 5, 6]);
        assert!(!ring.has_records());
        assert!(ring.take(true).unwrap().0.is_empty());
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn records_after_a_wrap_marker_come_out_whole_and_in_order() {
        let (f, path) = ring_file("wrap");
        // Taken up to 16 bytes before the end of the data; then a marker for those 16
        // bytes and a record at the start of the data, published together.
        let first = record(39, 7, None);
        let taken = 3 * RING_DATA_SIZE - 16 - first.len() as u64;
        f.write_all_at(&first, RING_HEADER_SIZE + taken % RING_DATA_SIZE)
            .unwrap();
        let mut marker = 16u32.to_le_bytes().to_vec();
        marker.extend_from_slice(&WRAP.to_le_bytes());
        f.write_all_at(&marker, RING_HEADER_SIZE + RING_DATA_SIZE - 16)
            .unwrap();
        let second = record(0, 3, Some((0x2000, b"wrapped")));
        f.write_all_at(&second, RING_HEADER_SIZE).unwrap();
        set(&f, RING_SHIP_POS, taken);
        set(&f, RING_SHIPPED, 1000);
        set(&f, RING_COUNT, 1002);
        let end = taken + first.len() as u64 + 16 + second.len() as u64;
        set(&f, RING_WRITE_POS, end);
        let ring = Ring::map(&f).unwrap();
        let (bytes, count) = ring.take(true).unwrap();
        assert_eq!(count, 2);
        let calls: Vec<RecordRef> = records(&bytes).map(Result::unwrap).collect();
        assert_eq!((calls[0].nr, calls[1].nr), (39, 0));
        let writes: Vec<(u64, &[u8])> = calls[1].writes().collect();
        assert_eq!(writes, vec![(0x2000, &b"wrapped"[..])]);
        assert!(!ring.has_records(), "everything was taken");
        // A marker that does not reach the end of the data is refused.
        let at = RING_HEADER_SIZE + end % RING_DATA_SIZE;
        f.write_all_at(&first, at).unwrap();
        f.write_all_at(&marker, at + first.len() as u64).unwrap();
        set(&f, RING_COUNT, 1003);
        set(&f, RING_WRITE_POS, end + first.len() as u64 + 16);
        match ring.take(false) {
            Err(FastPathError::CorruptRecord { why, .. }) => {
                assert!(why.contains("wrap marker"), "{why}")
            }
            other => panic!("expected a bad marker, got {other:?}"),
        }
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_record_that_ends_the_data_exactly_is_followed_by_one_at_its_start() {
        // No marker: the first record fills the data to its last byte, the next begins at
        // offset 0; each comes out whole, in order.
        let (f, path) = ring_file("exact-end");
        let first = record(0, 5, Some((0x3000, b"last bytes")));
        let taken = 2 * RING_DATA_SIZE - first.len() as u64;
        f.write_all_at(&first, RING_HEADER_SIZE + taken % RING_DATA_SIZE)
            .unwrap();
        let second = record(110, 9, Some((0x4000, b"first")));
        f.write_all_at(&second, RING_HEADER_SIZE).unwrap();
        set(&f, RING_SHIP_POS, taken);
        set(&f, RING_SHIPPED, 10);
        set(&f, RING_COUNT, 12);
        set(
            &f,
            RING_WRITE_POS,
            taken + (first.len() + second.len()) as u64,
        );
        let ring = Ring::map(&f).unwrap();
        let (bytes, count) = ring.take(true).unwrap();
        assert_eq!(count, 2);
        let calls: Vec<RecordRef> = records(&bytes).map(Result::unwrap).collect();
        assert_eq!((calls[0].nr, calls[1].nr), (0, 110));
        let writes: Vec<Vec<(u64, &[u8])>> = calls.iter().map(|c| c.writes().collect()).collect();
        assert_eq!(writes[0], vec![(0x3000, &b"last bytes"[..])]);
        assert_eq!(writes[1], vec![(0x4000, &b"first"[..])]);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_call_replay_makes_again_is_loaded_marked_with_its_replay_arguments() {
        use std::os::unix::fs::FileExt as _;
        let (f, path) = ring_file("run-again");
        let ring = Ring::map(&f).unwrap();
        let call = schema::SyscallEvent {
            number: libc::SYS_mprotect as u64,
            args: [0x1000, 4096, 0, 0, 0, 0],
            result: 0,
            mode: schema::SyscallMode::Buffered,
            writes: Default::default(),
            rip: 0,
            regs_hash: 0,
            output_hash: 0,
            echo: schema::Echo::None,
            mapping: None,
        };
        let run = RunAgain {
            args: [7, 8, 9, 10, 11, 12],
            same_result: true,
        };
        let loads = [
            ToLoad {
                call: &call,
                run: Some(run),
            },
            ToLoad {
                call: &call,
                run: None,
            },
        ];
        assert_eq!(loads[0].size(), RECORD_HEADER_SIZE + RUN_ARGS_SIZE);
        assert_eq!(ring.load(&loads).len(), 2);
        let mut header = [0u8; 12];
        f.read_exact_at(&mut header, RING_HEADER_SIZE).unwrap();
        let word =
            |h: &[u8; 12], i: usize| u32::from_le_bytes(h[i * 4..i * 4 + 4].try_into().unwrap());
        assert_eq!(word(&header, 0) as u64, loads[0].size());
        assert_eq!((word(&header, 2) >> 16) as u16, RECORD_RUN_AT_REPLAY);
        let mut args = [0u8; 8];
        f.read_exact_at(&mut args, RING_HEADER_SIZE + RECORD_HEADER_SIZE)
            .unwrap();
        assert_eq!(
            u64::from_le_bytes(args),
            7,
            "the replay arguments follow the header"
        );
        f.read_exact_at(&mut header, RING_HEADER_SIZE + loads[0].size())
            .unwrap();
        assert_eq!(
            word(&header, 2) >> 16,
            0,
            "a call handed back is not marked"
        );
        assert_eq!(ring.diverged(), None);
        set(&f, RING_DIVERGED_RESULT, (-12i64) as u64);
        set(&f, RING_DIVERGED_NR, libc::SYS_mprotect as u64 + 1);
        assert_eq!(
            ring.diverged(),
            Some(Diverged {
                nr: libc::SYS_mprotect as u64,
                result: -12
            })
        );
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_corrupt_record_is_refused_with_its_offset() {
        let (f, path) = ring_file("bad");
        let mut good = record(110, 42, None);
        let mut bad = record(0, 3, Some((0x1000, b"abc")));
        // The memory write claims more bytes than its record holds.
        bad[RECORD_HEADER_SIZE as usize + 8] = 0xff;
        let at = good.len() as u64;
        good.extend(bad);
        f.write_all_at(&good, RING_HEADER_SIZE).unwrap();
        set(&f, RING_COUNT, 2);
        set(&f, RING_WRITE_POS, good.len() as u64);
        let ring = Ring::map(&f).unwrap();
        let (bytes, _) = ring.take(true).unwrap();
        match records(&bytes).nth(1) {
            Some(Err(FastPathError::CorruptRecord { offset, why })) => {
                assert_eq!(offset, at);
                assert!(why.contains("memory write"), "{why}");
            }
            other => panic!("expected a corrupt record, got {other:?}"),
        }
        // A length that is not a whole number of records is refused too, and so is a
        // count that is not the records'.
        set(&f, RING_WRITE_POS, 12345);
        assert!(matches!(
            ring.take(true),
            Err(FastPathError::CorruptRecord { .. })
        ));
        let (f2, path2) = ring_file("count");
        let one = record(110, 1, None);
        f2.write_all_at(&one, RING_HEADER_SIZE).unwrap();
        set(&f2, RING_COUNT, 5);
        set(&f2, RING_WRITE_POS, one.len() as u64);
        let ring2 = Ring::map(&f2).unwrap();
        match ring2.take(true) {
            Err(FastPathError::CorruptRecord { why, .. }) => {
                assert!(why.contains("counts 5 records but holds 1"), "{why}")
            }
            other => panic!("expected a count mismatch, got {other:?}"),
        }
        std::fs::remove_file(path2).unwrap();
        std::fs::remove_file(path).unwrap();
    }
}

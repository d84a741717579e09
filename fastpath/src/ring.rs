//! The tracer's side of a process's ring: the records the runtime appended, read through
//! the tracer's own mapping of the shared memory and checked as untrusted input.

use std::fs::File;

use memmap2::MmapRaw;

use crate::layout::*;
use crate::FastPathError;

/// One call the runtime made in-process, as it recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferedCall {
    pub nr: u64,
    pub args: [u64; 6],
    pub result: i64,
    /// Bytes the kernel wrote into the program's memory: (address, bytes).
    pub writes: Vec<(u64, Vec<u8>)>,
    /// Bytes an output call sent.
    pub sent: Vec<u8>,
    /// For an output: its descriptor's file (device, inode) when it was written.
    pub file: Option<(u64, u64)>,
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

    fn read_u64(&self, offset: u64) -> u64 {
        let mut b = [0u8; 8];
        self.read(offset, &mut b);
        u64::from_le_bytes(b)
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

    fn write_u64(&self, offset: u64, v: u64) {
        // SAFETY: inside the mapping (the header page); plain bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(
                v.to_le_bytes().as_ptr(),
                self.map.as_mut_ptr().add(offset as usize),
                8,
            )
        }
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

    /// Replay: puts recorded calls into the ring, from its start, for the runtime to hand
    /// back; returns, for each one that fit, where its sent bytes will be and how many.
    pub fn load(&self, calls: &[&schema::SyscallEvent]) -> Vec<(u64, u64)> {
        let mut at = 0u64;
        let mut sent = Vec::new();
        for call in calls {
            let sent_len = match call.number as libc::c_long {
                libc::SYS_write | libc::SYS_sendto if call.result > 0 => call.result as u64,
                _ => 0,
            };
            let writes: u64 = call
                .writes
                .iter()
                .map(|w| WRITE_HEADER_SIZE + pad8(w.data.len() as u64))
                .sum();
            let size = RECORD_HEADER_SIZE + writes + pad8(sent_len);
            if at + size > RING_DATA_SIZE || size > u32::MAX as u64 {
                break;
            }
            let mut h = Vec::with_capacity(RECORD_HEADER_SIZE as usize);
            for w in [
                size as u32,
                call.number as u32,
                call.writes.len() as u32,
                sent_len as u32,
            ] {
                h.extend_from_slice(&w.to_le_bytes());
            }
            h.extend_from_slice(&call.result.to_le_bytes());
            for a in call.args {
                h.extend_from_slice(&a.to_le_bytes());
            }
            h.resize(RECORD_HEADER_SIZE as usize, 0);
            let base = RING_HEADER_SIZE + at;
            self.write(base, &h);
            let mut off = RECORD_HEADER_SIZE;
            for w in &call.writes {
                let mut wh = w.addr.to_le_bytes().to_vec();
                wh.extend_from_slice(&(w.data.len() as u64).to_le_bytes());
                self.write(base + off, &wh);
                self.write(base + off + WRITE_HEADER_SIZE, &w.data);
                off += WRITE_HEADER_SIZE + pad8(w.data.len() as u64);
            }
            sent.push((base + off, sent_len));
            at += size;
        }
        for (field, v) in [(8, 0), (16, 0), (24, 0), (32, 0), (0, at)] {
            self.write_u64(field, v);
        }
        sent
    }

    /// Recording: whether the runtime has appended records since the ring was emptied.
    pub fn has_records(&self) -> bool {
        self.read_u64(0) != 0
    }

    /// Replay: how many loaded records the runtime has handed back, and the call it met
    /// instead of the next one (0: none).
    pub fn progress(&self) -> (u64, u64) {
        (self.read_u64(24), self.read_u64(32))
    }

    /// Replay: the bytes the runtime kept from an output call's buffer.
    pub fn sent_at(&self, (offset, len): (u64, u64)) -> Vec<u8> {
        let mut out = vec![0u8; len as usize];
        self.read(offset, &mut out);
        out
    }

    /// Replay: empties the ring once every loaded record was handed back.
    pub fn reset(&self) {
        for field in [0, 8, 16, 24, 32] {
            self.write_u64(field, 0);
        }
    }

    /// Takes every complete record out of the ring (the process is stopped).
    pub fn drain(&self) -> Result<Vec<BufferedCall>, FastPathError> {
        let end = self.read_u64(0);
        if end == 0 {
            return Ok(Vec::new());
        }
        if end > RING_DATA_SIZE || !end.is_multiple_of(8) {
            return Err(FastPathError::CorruptRecord {
                offset: 0,
                why: format!("the ring says {end} bytes of records"),
            });
        }
        let mut calls = Vec::new();
        let mut at = 0;
        while at < end {
            let (call, size) = self.record_at(at, end)?;
            calls.push(call);
            at += size;
        }
        self.write_u64(0, 0);
        self.write_u64(8, 0);
        Ok(calls)
    }

    fn record_at(&self, at: u64, end: u64) -> Result<(BufferedCall, u64), FastPathError> {
        let bad = |why: String| FastPathError::CorruptRecord { offset: at, why };
        let base = RING_HEADER_SIZE + at;
        if end - at < RECORD_HEADER_SIZE {
            return Err(bad("a record header runs past the end".into()));
        }
        let mut h = [0u8; RECORD_HEADER_SIZE as usize];
        self.read(base, &mut h);
        let word = |i: usize| u32::from_le_bytes(h[i * 4..i * 4 + 4].try_into().unwrap());
        let quad = |i: usize| u64::from_le_bytes(h[16 + i * 8..24 + i * 8].try_into().unwrap());
        let (size, nr, nwrites, sent_len) = (word(0) as u64, word(1), word(2), word(3) as u64);
        if size < RECORD_HEADER_SIZE || !size.is_multiple_of(8) || size > end - at {
            return Err(bad(format!("a record of {size} bytes")));
        }
        let mut args = [0u64; 6];
        for (i, a) in args.iter_mut().enumerate() {
            *a = quad(1 + i);
        }
        let (dev, ino) = (quad(7), quad(8));
        let mut call = BufferedCall {
            nr: nr as u64,
            args,
            result: quad(0) as i64,
            writes: Vec::new(),
            sent: Vec::new(),
            file: (dev != 0 || ino != 0).then_some((dev, ino)),
        };
        let mut off = RECORD_HEADER_SIZE;
        for _ in 0..nwrites {
            if size - off < WRITE_HEADER_SIZE {
                return Err(bad("a memory write runs past its record".into()));
            }
            let addr = self.read_u64(base + off);
            let len = self.read_u64(base + off + 8);
            off += WRITE_HEADER_SIZE;
            if len > size - off || pad8(len) > size - off {
                return Err(bad(format!("a memory write of {len} bytes")));
            }
            let mut data = vec![0u8; len as usize];
            self.read(base + off, &mut data);
            call.writes.push((addr, data));
            off += pad8(len);
        }
        if pad8(sent_len) > size - off {
            return Err(bad(format!("{sent_len} bytes sent")));
        }
        call.sent = vec![0u8; sent_len as usize];
        self.read(base + off, &mut call.sent);
        Ok((call, size))
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

    #[test]
    fn records_come_out_in_order_and_the_ring_is_emptied() {
        let (f, path) = ring_file("ok");
        let mut data = record(110, 42, None);
        data.extend(record(0, 3, Some((0x1000, b"abc"))));
        f.write_all_at(&data, RING_HEADER_SIZE).unwrap();
        f.write_all_at(&(data.len() as u64).to_le_bytes(), 0)
            .unwrap();
        let ring = Ring::map(&f).unwrap();
        let calls = ring.drain().unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!((calls[0].nr, calls[0].result), (110, 42));
        assert_eq!(calls[1].writes, vec![(0x1000, b"abc".to_vec())]);
        assert_eq!(calls[1].args, [1, 2, 3, 4, 5, 6]);
        assert!(ring.drain().unwrap().is_empty());
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
        f.write_all_at(&(good.len() as u64).to_le_bytes(), 0)
            .unwrap();
        let ring = Ring::map(&f).unwrap();
        match ring.drain() {
            Err(FastPathError::CorruptRecord { offset, why }) => {
                assert_eq!(offset, at);
                assert!(why.contains("memory write"), "{why}");
            }
            other => panic!("expected a corrupt record, got {other:?}"),
        }
        // A length that is not a whole number of records is refused too.
        f.write_all_at(&12345u64.to_le_bytes(), 0).unwrap();
        assert!(matches!(
            ring.drain(),
            Err(FastPathError::CorruptRecord { .. })
        ));
        std::fs::remove_file(path).unwrap();
    }
}

//! Landmark hashes: the registers and every writable byte of a process, which together
//! identify a point in a spin loop that replay can find again without a tick counter.

use std::io::BufRead;

use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use crate::{regs_hash, Regs, Tracee, TraceeError};

/// Bit of `eflags` the CPU sets after an instruction breakpoint; not part of the program's state.
const EFLAGS_RF: u64 = 1 << 16;

/// Hash of the registers (general-purpose and x87/SSE) that, with the memory hash,
/// identifies a point in a loop; the breakpoint's resume flag is masked out.
pub fn landmark_regs_hash(tracee: &Tracee, r: &Regs) -> Result<u64, TraceeError> {
    let mut r = *r;
    r.eflags &= !EFLAGS_RF;
    let fp = tracee.fpregs_bytes()?;
    Ok(regs_hash(&r) ^ xxh3_64(&fp).rotate_left(1))
}

/// Addresses reserved for ftrun's in-process runtime (its control page and ring differ
/// between recording and replay by design): never part of a landmark's memory.
pub const RUNTIME_RESERVED: std::ops::Range<u64> = 0x7000_0000..0x7020_0000;

/// The writable memory of a process, from `/proc/PID/maps` (the kernel's vvar and
/// vsyscall pages excluded: they change without the process doing anything; ftrun's
/// runtime too).
struct Writable {
    /// Adjacent mappings are one range: replay rebuilds file mappings as anonymous memory,
    /// which the kernel may merge where the recording had two mappings.
    ranges: Vec<(u64, u64)>,
    /// The private anonymous mappings among them, where a page never touched (neither in
    /// memory nor swapped out) reads as zeros without being read.
    anonymous: Vec<(u64, u64)>,
}

fn writable_memory(pid: i32) -> std::io::Result<Writable> {
    let f = std::fs::File::open(format!("/proc/{pid}/maps"))?;
    let mut out = Writable {
        ranges: Vec::new(),
        anonymous: Vec::new(),
    };
    for line in std::io::BufReader::new(f).lines() {
        let line = line?;
        let mut parts = line.split_whitespace();
        let (Some(range), Some(perms)) = (parts.next(), parts.next()) else {
            continue;
        };
        let inode = parts.nth(2).unwrap_or("0");
        let name = parts.next().unwrap_or("");
        if !perms.starts_with("rw") || name.starts_with("[vvar") || name == "[vsyscall]" {
            continue;
        }
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Ok(a), Ok(b)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) else {
            continue;
        };
        if RUNTIME_RESERVED.start <= a && b <= RUNTIME_RESERVED.end {
            continue;
        }
        match out.ranges.last_mut() {
            Some((_, end)) if *end == a => *end = b,
            _ => out.ranges.push((a, b)),
        }
        if perms == "rw-p" && inode == "0" && (name.is_empty() || name.starts_with('[')) {
            out.anonymous.push((a, b));
        }
    }
    Ok(out)
}

fn writable_memory_of(tracee: &Tracee) -> Result<Writable, TraceeError> {
    writable_memory(tracee.pid()).map_err(|source| TraceeError::Memory {
        op: "read /proc/PID/maps",
        pid: tracee.pid(),
        addr: 0,
        len: 0,
        source,
    })
}

const PAGE: u64 = 4096;
/// `/proc/PID/pagemap`: the page is in memory, or swapped out.
const PAGE_PRESENT: u64 = 1 << 63;
const PAGE_SWAPPED: u64 = 1 << 62;

/// Which pages of `[start, start + len)` a read must copy: all but the untouched pages of
/// private anonymous mappings (`None`: all, the page map being unreadable).
fn touched_pages(pid: i32, w: &Writable, start: u64, len: u64) -> Option<Vec<bool>> {
    use std::os::unix::fs::FileExt;
    let pages = len.div_ceil(PAGE) as usize;
    let mut raw = vec![0u8; pages * 8];
    let f = std::fs::File::open(format!("/proc/{pid}/pagemap")).ok()?;
    f.read_exact_at(&mut raw, start / PAGE * 8).ok()?;
    Some(
        raw.chunks_exact(8)
            .enumerate()
            .map(|(i, e)| {
                let entry = u64::from_le_bytes(e.try_into().expect("8 bytes"));
                let at = start + i as u64 * PAGE;
                // The mappings are in address order, as the maps file lists them.
                let i = w.anonymous.partition_point(|&(_, end)| end <= at);
                let anonymous = w.anonymous.get(i).is_some_and(|&(a, _)| a <= at);
                !anonymous || entry & (PAGE_PRESENT | PAGE_SWAPPED) != 0
            })
            .collect(),
    )
}

/// Zeros standing for a page no one touched, when one is hashed or compared.
static ZERO_PAGE: [u8; PAGE as usize] = [0; PAGE as usize];
/// `Sparse::at` of a page no one touched.
const UNTOUCHED: usize = usize::MAX;

/// The bytes of a page-aligned stretch of memory, without the pages no one touched: they
/// read as zeros, and are neither copied nor allocated (a thread's 8 MB stack costs the
/// few pages it used, at every look).
struct Sparse {
    /// Bytes the stretch has: it ends early at the first byte that cannot be read.
    len: usize,
    /// Where each page's bytes start in `data` (`UNTOUCHED`: zeros).
    at: Vec<usize>,
    data: Vec<u8>,
}

impl Sparse {
    /// Every page of `bytes` touched.
    #[cfg(test)]
    fn from_bytes(bytes: Vec<u8>) -> Sparse {
        Sparse {
            len: bytes.len(),
            at: (0..bytes.len().div_ceil(PAGE as usize))
                .map(|p| p * PAGE as usize)
                .collect(),
            data: bytes,
        }
    }

    fn pages(&self) -> usize {
        self.len.div_ceil(PAGE as usize)
    }

    /// The bytes of page `i` (shorter than a page at the end), zeros if untouched.
    fn page(&self, i: usize) -> &[u8] {
        let n = (self.len - i * PAGE as usize).min(PAGE as usize);
        match self.at[i] {
            UNTOUCHED => &ZERO_PAGE[..n],
            at => &self.data[at..at + n],
        }
    }

    fn touched(&self, i: usize) -> bool {
        self.at[i] != UNTOUCHED
    }

    /// Feeds the bytes in a row, zeros included, to `h` (a streamed hash is the same
    /// whatever pieces it is fed in).
    fn hash_into(&self, h: &mut Xxh3) {
        for page in 0..self.pages() {
            h.update(self.page(page));
        }
    }

    /// Zeroes the bytes (the stretch starting at address `at`) that fall in `holes`.
    fn clear_holes(&mut self, at: u64, holes: &[(u64, u64)]) {
        let end = at + self.len as u64;
        for &(addr, len) in holes {
            let (from, to) = (addr.max(at), addr.saturating_add(len).min(end));
            let mut x = from;
            while x < to {
                let page = ((x - at) / PAGE) as usize;
                let page_end = (at + (page as u64 + 1) * PAGE).min(to);
                if self.at[page] != UNTOUCHED {
                    let base = self.at[page] + ((x - at) % PAGE) as usize;
                    self.data[base..base + (page_end - x) as usize].fill(0);
                }
                x = page_end;
            }
        }
    }
}

/// The bytes of `[start, start + len)` (page-aligned), as `read_mem_partial` gives them
/// (up to the first that cannot be read), without reading the pages no one has touched.
fn read_writable(
    tracee: &mut Tracee,
    w: &Writable,
    start: u64,
    len: usize,
) -> Result<Sparse, TraceeError> {
    let pages = len.div_ceil(PAGE as usize);
    let touched =
        touched_pages(tracee.pid(), w, start, len as u64).unwrap_or_else(|| vec![true; pages]);
    let mut out = Sparse {
        len,
        at: vec![UNTOUCHED; pages],
        data: Vec::new(),
    };
    let mut page = 0;
    while page < touched.len() {
        let run = touched[page..]
            .iter()
            .take_while(|&&t| t == touched[page])
            .count();
        if touched[page] {
            let (from, to) = (
                page * PAGE as usize,
                ((page + run) * PAGE as usize).min(len),
            );
            let base = out.data.len();
            let data = tracee.read_mem_partial(start + from as u64, to - from)?;
            out.data.extend_from_slice(&data);
            for (i, at) in out.at[page..page + run].iter_mut().enumerate() {
                *at = base + i * PAGE as usize;
            }
            if data.len() < to - from {
                out.len = from + data.len();
                out.at.truncate(out.pages());
                return Ok(out);
            }
        }
        page += run;
    }
    Ok(out)
}

/// Hashes every writable byte of the process.
pub fn memory_hash(tracee: &mut Tracee) -> Result<u64, TraceeError> {
    memory_hash_without(tracee, &[])
}

/// `memory_hash`, with the bytes of `holes` (address, length) hashed as zeros: memory
/// that the kernel wrote for another thread whose call the log completes only later.
pub fn memory_hash_without(tracee: &mut Tracee, holes: &[(u64, u64)]) -> Result<u64, TraceeError> {
    let w = writable_memory_of(tracee)?;
    let mut h = Xxh3::new();
    for &(start, end) in &w.ranges {
        let mut at = start;
        while at < end {
            let n = ((end - at) as usize).min(1 << 20);
            let mut data = read_writable(tracee, &w, at, n)?;
            data.clear_holes(at, holes);
            h.update(&at.to_le_bytes());
            data.hash_into(&mut h);
            if data.len < n {
                break;
            }
            at += n as u64;
        }
    }
    Ok(h.digest())
}

/// A copy of every writable byte of a process, to tell which words a loop changes from
/// one pass to the next.
pub struct MemorySnapshot {
    ranges: Vec<(u64, Sparse)>,
}

/// Copies every writable byte of the process, unless there are more than `limit` of them.
pub fn memory_snapshot(
    tracee: &mut Tracee,
    limit: u64,
) -> Result<Option<MemorySnapshot>, TraceeError> {
    let w = writable_memory_of(tracee)?;
    if w.ranges.iter().map(|(a, b)| b - a).sum::<u64>() > limit {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(w.ranges.len());
    for &(start, end) in &w.ranges {
        out.push((
            start,
            read_writable(tracee, &w, start, (end - start) as usize)?,
        ));
    }
    Ok(Some(MemorySnapshot { ranges: out }))
}

impl MemorySnapshot {
    /// The 8-byte words whose value differs from `earlier`'s (addresses both copies hold),
    /// with their value now: the first `max` of them.
    pub fn changed_since(
        &self,
        earlier: &MemorySnapshot,
        max: usize,
        holes: &[(u64, u64)],
    ) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        for (start, now) in &self.ranges {
            let Some((old_start, old)) = earlier
                .ranges
                .iter()
                .find(|(s, o)| *s <= *start && *start < *s + o.len as u64)
            else {
                continue;
            };
            // Both start on a page.
            let skip = ((*start - *old_start) / PAGE) as usize;
            let n = now.len.min(old.len - skip * PAGE as usize) / 8 * 8;
            for page in 0..n.div_ceil(PAGE as usize) {
                if !now.touched(page) && !old.touched(page + skip) {
                    continue;
                }
                let len = (n - page * PAGE as usize).min(PAGE as usize);
                let (a, b) = (&now.page(page)[..len], &old.page(page + skip)[..len]);
                if a == b {
                    continue;
                }
                for off in (0..len).step_by(8) {
                    let addr = start + (page * PAGE as usize + off) as u64;
                    let in_hole = holes
                        .iter()
                        .any(|&(h, hlen)| addr < h.saturating_add(hlen) && h < addr + 8);
                    if a[off..off + 8] != b[off..off + 8] && !in_hole {
                        if out.len() == max {
                            return out;
                        }
                        let word = a[off..off + 8].try_into().expect("8 bytes");
                        out.push((addr, u64::from_le_bytes(word)));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_are_cleared_where_they_overlap_and_nowhere_else() {
        let mut sparse = Sparse::from_bytes(vec![0xffu8; 32]);
        sparse.clear_holes(0x1000, &[(0xff8, 12), (0x1010, 4), (0x2000, 8)]);
        let data = sparse.page(0);
        assert_eq!(&data[..4], &[0; 4]);
        assert_eq!(&data[4..16], &[0xff; 12]);
        assert_eq!(&data[16..20], &[0; 4]);
        assert_eq!(&data[20..], &[0xff; 12]);
    }

    #[test]
    fn pages_of_anonymous_memory_no_one_touched_are_not_read() {
        let len = 4 * PAGE as usize;
        // SAFETY: a fresh private anonymous mapping, unmapped below; nothing else uses it.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        // SAFETY: inside the mapping made above.
        unsafe { *(p as *mut u8).add(PAGE as usize + 5) = 7 };
        let at = p as u64;
        let pid = std::process::id() as i32;
        let w = writable_memory(pid).unwrap();
        let touched = touched_pages(pid, &w, at, len as u64).unwrap();
        // SAFETY: the mapping made above, no longer used.
        unsafe { libc::munmap(p, len) };
        assert_eq!(touched, [false, true, false, false]);
    }

    /// Three pages (the last one short), the middle one untouched.
    fn with_untouched_middle() -> (Vec<u8>, Sparse) {
        let dense: Vec<u8> = (0..2 * PAGE as usize + 100)
            .map(|i| (i % 251) as u8)
            .collect();
        let mut dense = dense;
        dense[PAGE as usize..2 * PAGE as usize].fill(0);
        let mut sparse = Sparse::from_bytes(dense.clone());
        sparse.at[1] = UNTOUCHED;
        (dense, sparse)
    }

    #[test]
    fn untouched_pages_hash_as_the_zeros_they_read_as() {
        let (dense, sparse) = with_untouched_middle();
        let mut h = Xxh3::new();
        sparse.hash_into(&mut h);
        assert_eq!(h.digest(), xxh3_64(&dense));
        let mut other = dense.clone();
        other[PAGE as usize + 8] = 1;
        assert_ne!(h.digest(), xxh3_64(&other));
    }

    #[test]
    fn a_word_written_into_a_page_untouched_before_is_a_change() {
        let (dense, before) = with_untouched_middle();
        let mut now = dense;
        now[PAGE as usize + 16] = 9;
        let snap = |s| MemorySnapshot {
            ranges: vec![(0x10000, s)],
        };
        let (before, now) = (snap(before), snap(Sparse::from_bytes(now)));
        assert_eq!(now.changed_since(&before, 16, &[]), [(0x11010, 9)]);
        assert_eq!(before.changed_since(&now, 16, &[]), [(0x11010, 0)]);
        assert!(before.changed_since(&before, 16, &[]).is_empty());
    }

    #[test]
    fn changed_words_in_holes_are_not_watched() {
        let before = MemorySnapshot {
            ranges: vec![(0x1000, Sparse::from_bytes(vec![0u8; 64]))],
        };
        let mut now = vec![0u8; 64];
        now[8] = 1;
        now[40] = 2;
        let now = MemorySnapshot {
            ranges: vec![(0x1000, Sparse::from_bytes(now))],
        };
        assert_eq!(
            now.changed_since(&before, 16, &[]),
            [(0x1008, 1), (0x1028, 2)]
        );
        assert_eq!(
            now.changed_since(&before, 16, &[(0x1024, 16)]),
            [(0x1008, 1)]
        );
    }
}

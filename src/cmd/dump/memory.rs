//! What the trace says about the bytes in a process's memory, so that pointers can be shown
//! as the strings they point to: the argument and environment strings the kernel put on the
//! first program's initial stack (known from the header), and read-only file mappings (the
//! trace keeps a copy of their bytes in `files/`). Everything else is shown as an address.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use schema::{FileMapping, Header};

/// The top of the initial stack without address randomization (the recorder turns it off):
/// the strings end 8 bytes below it.
const STACK_TOP: u64 = 0x7fff_ffff_f000;
/// Longest string looked up.
const MAX_STRING: usize = 4096;

#[derive(Clone)]
enum Bytes {
    Owned(Rc<Vec<u8>>),
    /// A copy in `files/`; `base` is the position in it of the region's first byte.
    File {
        path: Rc<PathBuf>,
        base: u64,
    },
}

#[derive(Clone)]
struct Region {
    start: u64,
    end: u64,
    bytes: Bytes,
}

impl Region {
    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        if addr < self.start || addr >= self.end {
            return None;
        }
        let len = len.min((self.end - addr) as usize);
        let off = addr - self.start;
        match &self.bytes {
            Bytes::Owned(v) => v.get(off as usize..off as usize + len).map(<[u8]>::to_vec),
            Bytes::File { path, base } => {
                let file = File::open(path.as_path()).ok()?;
                let mut buf = vec![0; len];
                let n = file.read_at(&mut buf, base + off).ok()?;
                buf.truncate(n);
                Some(buf)
            }
        }
    }
}

/// The known bytes of one address space.
#[derive(Clone, Default)]
struct Space {
    regions: Vec<Region>,
}

impl Space {
    /// Forgets what was known about `[start, end)`: it was unmapped, remapped or made writable.
    fn forget(&mut self, start: u64, end: u64) {
        let mut kept = Vec::with_capacity(self.regions.len());
        for r in self.regions.drain(..) {
            if r.end <= start || r.start >= end {
                kept.push(r);
                continue;
            }
            if r.start < start {
                kept.push(Region {
                    start: r.start,
                    end: start,
                    bytes: r.bytes.clone(),
                });
            }
            if r.end > end {
                let cut = end - r.start;
                let bytes = match &r.bytes {
                    Bytes::Owned(v) => Bytes::Owned(Rc::new(v[cut as usize..].to_vec())),
                    Bytes::File { path, base } => Bytes::File {
                        path: path.clone(),
                        base: base + cut,
                    },
                };
                kept.push(Region {
                    start: end,
                    end: r.end,
                    bytes,
                });
            }
        }
        self.regions = kept;
    }

    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        self.regions.iter().find_map(|r| r.read(addr, len))
    }
}

/// Known memory of every process in the trace, by thread id.
pub struct KnownMemory {
    trace_dir: PathBuf,
    spaces: Vec<Space>,
    by_tid: HashMap<u32, usize>,
    /// The first program's strings, until its exec event places them.
    initial: Option<Vec<u8>>,
}

impl KnownMemory {
    pub fn new(trace_dir: &Path, header: &Header) -> KnownMemory {
        let mut strings = Vec::new();
        for s in header.argv.iter().chain(&header.env) {
            strings.extend_from_slice(s);
            strings.push(0);
        }
        strings.extend_from_slice(&header.exe);
        strings.push(0);
        KnownMemory {
            trace_dir: trace_dir.to_path_buf(),
            spaces: Vec::new(),
            by_tid: HashMap::new(),
            initial: Some(strings),
        }
    }

    fn space_mut(&mut self, tid: u32) -> &mut Space {
        let next = self.spaces.len();
        let i = *self.by_tid.entry(tid).or_insert(next);
        if i == next {
            self.spaces.push(Space::default());
        }
        &mut self.spaces[i]
    }

    /// `tid` exec'd: a new address space. The first exec of the trace is the recorded command,
    /// whose strings lie just below the stack top (checked against where `AT_RANDOM` and the
    /// stack pointer are).
    pub fn exec(&mut self, tid: u32, rsp: u64, at_random_addr: u64) {
        let mut space = Space::default();
        if let Some(strings) = self.initial.take() {
            let end = STACK_TOP - 8;
            let start = end.saturating_sub(strings.len() as u64);
            if rsp < at_random_addr && at_random_addr + 16 <= start {
                space.regions.push(Region {
                    start,
                    end,
                    bytes: Bytes::Owned(Rc::new(strings)),
                });
            }
        }
        let i = self.spaces.len();
        self.spaces.push(space);
        self.by_tid.insert(tid, i);
    }

    /// `parent` made `child`: a copy of its memory, or the same memory (`CLONE_VM`).
    pub fn fork(&mut self, parent: u32, child: u32, shares_memory: bool) {
        self.space_mut(parent);
        let i = self.by_tid[&parent];
        if shares_memory {
            self.by_tid.insert(child, i);
        } else {
            let copy = self.spaces[i].clone();
            self.spaces.push(copy);
            self.by_tid.insert(child, self.spaces.len() - 1);
        }
    }

    /// A mapping at `[addr, addr + len)` replaced what was there; a read-only file mapping's
    /// bytes are known from its copy in the trace.
    pub fn mapped(
        &mut self,
        tid: u32,
        addr: u64,
        len: u64,
        writable: bool,
        file: Option<&FileMapping>,
    ) {
        let copy = file.map(|m| {
            let path = self
                .trace_dir
                .join(schema::kept::FILES_DIR)
                .join(&m.stored_as);
            // The copy holds the mapped range (shorter where the file ended before it).
            let length = std::fs::metadata(&path)
                .map(|md| md.len().min(m.length))
                .unwrap_or(0);
            (path, 0, length)
        });
        let space = self.space_mut(tid);
        space.forget(addr, addr.saturating_add(len));
        if let (Some((path, base, length)), false) = (copy, writable) {
            space.regions.push(Region {
                start: addr,
                end: addr.saturating_add(length.min(len)),
                bytes: Bytes::File {
                    path: Rc::new(path),
                    base,
                },
            });
        }
    }

    /// `[addr, addr + len)` is gone or may change.
    pub fn forget(&mut self, tid: u32, addr: u64, len: u64) {
        self.space_mut(tid).forget(addr, addr.saturating_add(len));
    }

    /// The NUL-terminated string at `addr`, if its bytes are known (up to the NUL).
    pub fn c_string(&self, tid: u32, addr: u64) -> Option<Vec<u8>> {
        let space = &self.spaces[*self.by_tid.get(&tid)?];
        let bytes = space.read(addr, MAX_STRING)?;
        let nul = bytes.iter().position(|&b| b == 0)?;
        Some(bytes[..nul].to_vec())
    }

    /// `len` bytes at `addr`, if all are known.
    pub fn bytes(&self, tid: u32, addr: u64, len: usize) -> Option<Vec<u8>> {
        let space = &self.spaces[*self.by_tid.get(&tid)?];
        space.read(addr, len).filter(|b| b.len() == len)
    }
}

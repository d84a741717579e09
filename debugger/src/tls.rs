//! Where a thread-local variable lives, for gdb's `qGetTLSAddr` (`print errno`).
//!
//! glibc on x86-64 keeps a thread's TLS in variant II: `fs_base` is the thread pointer,
//! `*(fs_base + 8)` the thread's dtv, whose entry `modid` (16 bytes each) points at the
//! module's block; a module loaded with the program has its block at `fs_base -
//! l_tls_offset` too. gdb names the module by its `link_map`; the place of `l_tls_modid`
//! and `l_tls_offset` in that struct is not ABI, so it is read from the descriptors glibc
//! exports for libthread_db (`_thread_db_link_map_l_tls_modid`: size in bits, count,
//! offset), looked up in the dynamic symbol tables of the loaded modules. Without them, the
//! two fields are found as glibc lays them out, side by side: a word equal to `fs_base`
//! minus a dtv entry, followed by that entry's index. gdb names no module in a static
//! executable: its block is module 1's.

use crate::machine::read_mem;

const DT_NULL: u64 = 0;
const DT_HASH: u64 = 4;
const DT_STRTAB: u64 = 5;
const DT_SYMTAB: u64 = 6;
const DT_GNU_HASH: u64 = 0x6fff_fef5;
/// A dtv entry of a block not allocated yet (glibc's `TLS_DTV_UNALLOCATED`).
const DTV_UNALLOCATED: u64 = u64::MAX;
/// How far into a `link_map` the fallback looks for the two fields.
const LINK_MAP_SCAN: u64 = 0x1000;
/// Most modules and dynamic entries walked (a damaged list must not loop).
const MAX_WALK: usize = 4096;

/// A word of the thread's memory.
fn word(pid: i32, addr: u64) -> Option<u64> {
    let b = read_mem(pid, addr, 8);
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

fn word32(pid: i32, addr: u64) -> Option<u32> {
    let b = read_mem(pid, addr, 4);
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

fn c_string(pid: i32, addr: u64) -> Vec<u8> {
    let mut s = read_mem(pid, addr, 256);
    if let Some(end) = s.iter().position(|&b| b == 0) {
        s.truncate(end);
    }
    s
}

/// The address of the thread-local variable at `offset` in module `lm`'s block, for the
/// thread whose thread pointer is `fs_base`.
pub fn address(pid: i32, fs_base: u64, lm: u64, offset: u64) -> Result<u64, String> {
    if fs_base == 0 {
        return Err("the thread has no thread pointer yet".into());
    }
    if lm == 0 {
        // A static executable (gdb knows no link map): its own block is module 1's.
        return dtv_entry(pid, fs_base, 1)
            .map(|block| block.wrapping_add(offset))
            .ok_or_else(|| "the program's thread-local storage is not allocated".into());
    }
    let (modid, tls_offset) = match descriptor_fields(pid, lm) {
        Some((modid_at, offset_at)) => (
            word(pid, lm + modid_at).ok_or("cannot read the link map")?,
            word(pid, lm + offset_at).ok_or("cannot read the link map")?,
        ),
        None => scanned_fields(pid, fs_base, lm)
            .ok_or("cannot find the module's TLS in its link map")?,
    };
    if modid == 0 {
        return Err("the module has no thread-local storage".into());
    }
    if let Some(block) = dtv_entry(pid, fs_base, modid) {
        return Ok(block.wrapping_add(offset));
    }
    // A block in the static TLS area (its dtv entry is not filled in yet).
    if tls_offset != 0 && tls_offset != u64::MAX {
        return Ok(fs_base.wrapping_sub(tls_offset).wrapping_add(offset));
    }
    Err("the module's thread-local storage is not allocated in this thread".into())
}

/// The block of module `modid` as the thread's dtv has it, if allocated.
fn dtv_entry(pid: i32, fs_base: u64, modid: u64) -> Option<u64> {
    let dtv = word(pid, fs_base + 8)?;
    // dtv[-1] holds how many entries the dtv has.
    let len = word(pid, dtv.wrapping_sub(16))?;
    if modid > len {
        return None;
    }
    let block = word(pid, dtv.wrapping_add(modid * 16))?;
    (block != 0 && block != DTV_UNALLOCATED).then_some(block)
}

/// The modules in the order of the link map list that `lm` is on.
fn modules(pid: i32, lm: u64) -> Vec<u64> {
    let mut head = lm;
    for _ in 0..MAX_WALK {
        match word(pid, head + 32) {
            Some(prev) if prev != 0 => head = prev,
            _ => break,
        }
    }
    let mut out = Vec::new();
    let mut at = head;
    while at != 0 && out.len() < MAX_WALK && !out.contains(&at) {
        out.push(at);
        at = word(pid, at + 24).unwrap_or(0);
    }
    out
}

/// Offsets of `l_tls_modid` and `l_tls_offset` in a `link_map`, from glibc's descriptors.
fn descriptor_fields(pid: i32, lm: u64) -> Option<(u64, u64)> {
    let mut list = modules(pid, lm);
    // libc has them (libpthread did before glibc 2.34): look there first.
    list.sort_by_key(|&m| {
        let name = c_string(pid, word(pid, m + 8).unwrap_or(0));
        let base = name.rsplit(|&b| b == b'/').next().unwrap_or(&[]).to_vec();
        !(base.starts_with(b"libc.so") || base.starts_with(b"libpthread.so"))
    });
    for m in list {
        let modid = symbol(pid, m, b"_thread_db_link_map_l_tls_modid");
        let offset = symbol(pid, m, b"_thread_db_link_map_l_tls_offset");
        if let (Some(modid), Some(offset)) = (modid, offset) {
            // Each descriptor: size in bits, count, offset.
            let modid_at = word32(pid, modid + 8)?;
            let offset_at = word32(pid, offset + 8)?;
            return Some((modid_at as u64, offset_at as u64));
        }
    }
    None
}

/// The fields found by their values: `l_tls_offset` is `fs_base` minus the block of module
/// `l_tls_modid`, which comes right after it.
fn scanned_fields(pid: i32, fs_base: u64, lm: u64) -> Option<(u64, u64)> {
    let bytes = read_mem(pid, lm, LINK_MAP_SCAN as usize);
    let words: Vec<u64> = bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    for pair in words.windows(2) {
        let (tls_offset, modid) = (pair[0], pair[1]);
        if modid == 0 || modid > 0xffff || tls_offset == 0 || tls_offset > fs_base {
            continue;
        }
        if dtv_entry(pid, fs_base, modid) == Some(fs_base - tls_offset) {
            return Some((modid, tls_offset));
        }
    }
    None
}

/// The address of dynamic symbol `name` of module `lm` (relocated), if it defines it.
fn symbol(pid: i32, lm: u64, name: &[u8]) -> Option<u64> {
    let l_addr = word(pid, lm)?;
    let dynamic = word(pid, lm + 16)?;
    let (mut symtab, mut strtab, mut gnu_hash, mut hash) = (0, 0, 0, 0);
    for i in 0..MAX_WALK as u64 {
        let tag = word(pid, dynamic + i * 16)?;
        let val = word(pid, dynamic + i * 16 + 8)?;
        // ld.so relocates these in place; an offset left as is is below the load address.
        let ptr = if val < l_addr { val + l_addr } else { val };
        match tag {
            DT_NULL => break,
            DT_SYMTAB => symtab = ptr,
            DT_STRTAB => strtab = ptr,
            DT_GNU_HASH => gnu_hash = ptr,
            DT_HASH => hash = ptr,
            _ => {}
        }
    }
    if symtab == 0 || strtab == 0 {
        return None;
    }
    let sym = Symbols {
        pid,
        symtab,
        strtab,
    };
    let index = if gnu_hash != 0 {
        sym.gnu_lookup(gnu_hash, name)?
    } else if hash != 0 {
        sym.sysv_lookup(hash, name)?
    } else {
        return None;
    };
    let value = word(pid, symtab + index * 24 + 8)?;
    (value != 0).then_some(l_addr.wrapping_add(value))
}

struct Symbols {
    pid: i32,
    symtab: u64,
    strtab: u64,
}

impl Symbols {
    fn named(&self, index: u64, name: &[u8]) -> bool {
        let Some(st_name) = word32(self.pid, self.symtab + index * 24) else {
            return false;
        };
        c_string(self.pid, self.strtab + st_name as u64) == name
    }

    fn gnu_lookup(&self, table: u64, name: &[u8]) -> Option<u64> {
        let pid = self.pid;
        let nbuckets = word32(pid, table)? as u64;
        let symoffset = word32(pid, table + 4)? as u64;
        let bloom_size = word32(pid, table + 8)? as u64;
        if nbuckets == 0 {
            return None;
        }
        let h = name
            .iter()
            .fold(5381u32, |h, &c| h.wrapping_mul(33).wrapping_add(c as u32));
        let buckets = table + 16 + bloom_size * 8;
        let chains = buckets + nbuckets * 4;
        let first = word32(pid, buckets + (h as u64 % nbuckets) * 4)? as u64;
        if first < symoffset {
            return None;
        }
        for index in first..first + (MAX_WALK * 16) as u64 {
            let chain = word32(pid, chains + (index - symoffset) * 4)?;
            if chain | 1 == h | 1 && self.named(index, name) {
                return Some(index);
            }
            if chain & 1 != 0 {
                return None;
            }
        }
        None
    }

    fn sysv_lookup(&self, table: u64, name: &[u8]) -> Option<u64> {
        let pid = self.pid;
        let nbucket = word32(pid, table)? as u64;
        if nbucket == 0 {
            return None;
        }
        let h = name.iter().fold(0u32, |h, &c| {
            let h = (h << 4).wrapping_add(c as u32);
            let g = h & 0xf000_0000;
            (h ^ (g >> 24)) & !g
        });
        let chains = table + 8 + nbucket * 4;
        let mut index = word32(pid, table + 8 + (h as u64 % nbucket) * 4)? as u64;
        for _ in 0..MAX_WALK * 16 {
            if index == 0 {
                return None;
            }
            if self.named(index, name) {
                return Some(index);
            }
            index = word32(pid, chains + index * 4)? as u64;
        }
        None
    }
}

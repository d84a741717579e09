//! The bounds of the function an address of a traced process is in, from the unwind table
//! of the object it belongs to (`PT_GNU_EH_FRAME`: the sorted table of every function's
//! start, beside `.eh_frame`). Compilers give every function an entry there, also where
//! there are no symbols, so a whole function can be decoded to know where its branches
//! land (see `carrier::loop_carrier`).

use tracee::le::{u16_at, u32_at, u64_at};
use tracee::Tracee;

const PT_LOAD: u32 = 1;
const PT_GNU_EH_FRAME: u32 = 0x6474_e550;
/// `eh_frame_hdr` encodings: 4-byte values, unsigned; signed and relative to the header.
const DW_EH_PE_UDATA4: u8 = 0x03;
const DW_EH_PE_SDATA4: u8 = 0x0b;
const DW_EH_PE_DATAREL_SDATA4: u8 = 0x3b;
/// Table entries read at most (libc has a few thousand functions).
const MOST_ENTRIES: u32 = 1 << 20;

/// One line of `/proc/PID/maps`: start, end, file offset, path.
type MapLine = (u64, u64, u64, String);

/// The lines of `/proc/PID/maps`.
fn read_maps(pid: i32) -> Option<Vec<MapLine>> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    let fields = |l: &str| -> Option<MapLine> {
        let mut p = l.split_whitespace();
        let (a, b) = p.next()?.split_once('-')?;
        let _perms = p.next()?;
        let offset = u64::from_str_radix(p.next()?, 16).ok()?;
        let _dev = p.next()?;
        let _inode = p.next()?;
        let path = p.next()?.to_string();
        Some((
            u64::from_str_radix(a, 16).ok()?,
            u64::from_str_radix(b, 16).ok()?,
            offset,
            path,
        ))
    };
    Some(maps.lines().filter_map(fields).collect())
}

/// The mapped object holding `addr`: the address its file's offset 0 is mapped at.
fn object_base(all: &[MapLine], addr: u64) -> Option<u64> {
    let (_, _, _, path) = all.iter().find(|(a, b, _, _)| (*a..*b).contains(&addr))?;
    if !path.starts_with('/') {
        return None;
    }
    all.iter()
        .filter(|(a, _, off, p)| p == path && *off == 0 && *a <= addr)
        .map(|(a, _, _, _)| *a)
        .max()
}

/// The address of the object's `eh_frame_hdr`, mapped from its file at `base`.
fn eh_frame_hdr(tracee: &mut Tracee, base: u64) -> Option<u64> {
    let ehdr = tracee.read_mem(base, 64).ok()?;
    if ehdr.get(..4)? != b"\x7fELF" || ehdr[4] != 2 {
        return None;
    }
    let phoff = u64_at(&ehdr, 0x20)?;
    let (phentsize, phnum) = (u16_at(&ehdr, 0x36)? as u64, u16_at(&ehdr, 0x38)? as u64);
    if phentsize < 56 || phnum > 512 {
        return None;
    }
    let phdrs = tracee
        .read_mem(base + phoff, (phentsize * phnum) as usize)
        .ok()?;
    let headers = phdrs.chunks(phentsize as usize).map(|h| {
        (
            u32_at(h, 0).unwrap_or(0),
            u64_at(h, 8).unwrap_or(u64::MAX),
            u64_at(h, 16).unwrap_or(0),
        )
    });
    let (mut bias, mut hdr) = (None, None);
    for (kind, offset, vaddr) in headers {
        match kind {
            PT_LOAD if offset == 0 && bias.is_none() => bias = Some(base - (vaddr & !0xfff)),
            PT_GNU_EH_FRAME => hdr = Some(vaddr),
            _ => {}
        }
    }
    Some(bias?.wrapping_add(hdr?))
}

/// The start and end of the function holding `addr` in the traced process, if its object
/// has an unwind table in the usual encoding and an entry covers `addr`.
pub fn function_around(tracee: &mut Tracee, addr: u64) -> Option<(u64, u64)> {
    match place_of(tracee, addr) {
        Place::Function(start, end) => Some((start, end)),
        Place::Between | Place::Unknown => None,
    }
}

/// Where an address is, by its object's unwind table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// In the function from the first to the second address.
    Function(u64, u64),
    /// The object has a table, and no entry covers the address: bytes between functions
    /// (padding, or data compilers and assemblers put in the text, such as constant
    /// tables of hand-written code), not code compiled to run.
    Between,
    /// No table in the usual encoding to tell.
    Unknown,
}

/// Where `addr` is in the traced process, by its object's unwind table.
pub fn place_of(tracee: &mut Tracee, addr: u64) -> Place {
    Places::default().place_of(tracee, addr)
}

/// `place_of` for many addresses of a process that is stopped meanwhile: its maps and each
/// object's unwind table are read once (a look at a library's code asks about every
/// counter-read-like byte pair in it).
#[derive(Debug, Default)]
pub struct Places {
    maps: Option<Option<Vec<MapLine>>>,
    tables: std::collections::HashMap<u64, Option<Table>>,
}

/// An object's `eh_frame_hdr` and its sorted table of (function start, FDE) pairs.
#[derive(Debug)]
struct Table {
    hdr: u64,
    entries: Vec<u8>,
    count: usize,
}

impl Places {
    pub fn place_of(&mut self, tracee: &mut Tracee, addr: u64) -> Place {
        match self.lookup(tracee, addr) {
            Some(Some((start, end))) => Place::Function(start, end),
            Some(None) => Place::Between,
            None => Place::Unknown,
        }
    }

    /// `None`: no table to tell; `Some(None)`: no entry covers `addr`.
    fn lookup(&mut self, tracee: &mut Tracee, addr: u64) -> Option<Option<(u64, u64)>> {
        let pid = tracee.pid();
        let maps = self.maps.get_or_insert_with(|| read_maps(pid)).as_deref()?;
        let base = object_base(maps, addr)?;
        let table = self
            .tables
            .entry(base)
            .or_insert_with(|| load_table(tracee, base))
            .as_ref()?;
        table_lookup(tracee, table, addr)
    }
}

/// The unwind table of the object mapped at `base`, if it has one in the usual encoding.
fn load_table(tracee: &mut Tracee, base: u64) -> Option<Table> {
    let hdr = eh_frame_hdr(tracee, base)?;
    let head = tracee.read_mem(hdr, 12).ok()?;
    let (version, frame_ptr_enc, count_enc, table_enc) = (head[0], head[1], head[2], head[3]);
    if version != 1
        || !matches!(frame_ptr_enc & 0x0f, DW_EH_PE_UDATA4 | DW_EH_PE_SDATA4)
        || count_enc != DW_EH_PE_UDATA4
        || table_enc != DW_EH_PE_DATAREL_SDATA4
    {
        return None;
    }
    let count = u32_at(&head, 8)?.min(MOST_ENTRIES) as usize;
    let entries = tracee.read_mem(hdr + 12, count * 8).ok()?;
    Some(Table {
        hdr,
        entries,
        count,
    })
}

/// `None`: the entry found does not decode; `Some(None)`: no entry covers `addr`.
fn table_lookup(tracee: &mut Tracee, t: &Table, addr: u64) -> Option<Option<(u64, u64)>> {
    let (hdr, table, count) = (t.hdr, &t.entries, t.count);
    let entry = |i: usize| -> (u64, u64) {
        let field = |at: usize| u32_at(table, at).unwrap_or(0) as i32 as i64;
        (
            hdr.wrapping_add_signed(field(i * 8)),
            hdr.wrapping_add_signed(field(i * 8 + 4)),
        )
    };
    // The last function starting at or before `addr`.
    let (mut lo, mut hi) = (0, count);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if entry(mid).0 <= addr {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let Some(before) = lo.checked_sub(1) else {
        return Some(None);
    };
    let (start, fde) = entry(before);
    // The entry's FDE: length, CIE pointer, then the start (relative to its own field,
    // which must agree with the table: otherwise the encoding is another) and length.
    let f = tracee.read_mem(fde, 16).ok()?;
    let begin = (fde + 8).wrapping_add_signed(u32_at(&f, 8)? as i32 as i64);
    if u32_at(&f, 0)? == u32::MAX || u32_at(&f, 4)? == 0 || begin != start {
        return None;
    }
    let end = start + u32_at(&f, 12)? as u64;
    Some((addr < end).then_some((start, end)))
}

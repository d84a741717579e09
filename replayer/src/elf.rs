//! The little of an ELF executable that exec'ing kept copies needs: where its program
//! headers are and what its `PT_INTERP` names.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::ReplayError;

const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;
const PT_PHDR: u32 = 6;

/// What the exec of kept copies needs from an ELF executable.
pub(crate) struct Elf {
    /// Where the program headers are in the image (before the load bias).
    pub(crate) phdr_vaddr: u64,
    pub(crate) interp: Option<Interp>,
}

pub(crate) struct Interp {
    pub(crate) name: Vec<u8>,
    pub(crate) offset: u64,
    pub(crate) size: u64,
    pub(crate) vaddr: u64,
    /// Inside a loaded segment, so in the image's memory.
    pub(crate) mapped: bool,
}

pub(crate) fn read_elf(path: &Path) -> Result<Elf, ReplayError> {
    let f = File::open(path).map_err(|source| ReplayError::Io {
        what: format!("opening {}", path.display()),
        source,
    })?;
    let bad = || ReplayError::Setup(format!("{} is not an x86-64 ELF file", path.display()));
    let mut ehdr = [0u8; 64];
    f.read_exact_at(&mut ehdr, 0).map_err(|_| bad())?;
    if &ehdr[..4] != b"\x7fELF" || ehdr[4] != 2 || ehdr[5] != 1 {
        return Err(bad());
    }
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    let u32_at =
        |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap_or_default());
    let u64_at =
        |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or_default());
    let phoff = u64_at(&ehdr, 0x20);
    let phentsize = u16_at(&ehdr, 0x36) as usize;
    let phnum = u16_at(&ehdr, 0x38) as usize;
    if phentsize < 56 || phnum > 4096 {
        return Err(bad());
    }
    let mut table = vec![0u8; phentsize * phnum];
    f.read_exact_at(&mut table, phoff).map_err(|_| bad())?;
    let headers: Vec<(u32, u64, u64, u64)> = table
        .chunks_exact(phentsize)
        .map(|p| (u32_at(p, 0), u64_at(p, 8), u64_at(p, 16), u64_at(p, 32)))
        .collect();
    let loads: Vec<_> = headers.iter().filter(|h| h.0 == PT_LOAD).collect();
    let phdr_vaddr = match headers.iter().find(|h| h.0 == PT_PHDR) {
        Some(h) => h.2,
        None => loads
            .iter()
            .find(|l| l.1 <= phoff && phoff < l.1 + l.3)
            .map(|l| l.2 + (phoff - l.1))
            .unwrap_or(0),
    };
    let interp = match headers.iter().find(|h| h.0 == PT_INTERP) {
        None => None,
        Some(&(_, offset, vaddr, size)) => {
            if size == 0 || size > 4096 {
                return Err(bad());
            }
            let mut name = vec![0u8; size as usize];
            f.read_exact_at(&mut name, offset).map_err(|_| bad())?;
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            name.truncate(end);
            let mapped = loads.iter().any(|l| {
                l.1 <= offset
                    && offset + size <= l.1 + l.3
                    && vaddr.wrapping_sub(l.2) == offset - l.1
            });
            Some(Interp {
                name,
                offset,
                size,
                vaddr,
                mapped,
            })
        }
    };
    Ok(Elf { phdr_vaddr, interp })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_test_binary_has_an_interpreter() {
        let elf = read_elf(Path::new("/proc/self/exe")).unwrap();
        let interp = elf.interp.expect("a dynamically linked test binary");
        assert!(interp.name.starts_with(b"/"));
        assert!(interp.mapped);
    }
}

//! The vDSO's time functions: where `clock_gettime`, `gettimeofday` and `time` are in a
//! process's vDSO, read off its dynamic symbol table (the image the kernel maps holds
//! its section headers).

use crate::le::{u16_at, u32_at, u64_at};
use crate::{Tracee, TraceeError};

const SHT_DYNSYM: u32 = 11;
/// The vDSO is two pages or so; more is not a vDSO.
const MOST_BYTES: usize = 1 << 16;

/// The time functions' addresses in an image mapped at `base`: `clock_gettime`,
/// `gettimeofday`, `time` (0 for one it lacks).
pub fn time_functions(image: &[u8], base: u64) -> Option<[u64; 3]> {
    if image.get(..4)? != b"\x7fELF" || image[4] != 2 {
        return None;
    }
    let shoff = u64_at(image, 0x28)? as usize;
    let (shentsize, shnum) = (u16_at(image, 0x3a)? as usize, u16_at(image, 0x3c)? as usize);
    if shentsize < 64 {
        return None;
    }
    let section = |i: usize| image.get(shoff + i * shentsize..shoff + (i + 1) * shentsize);
    let dynsym = (0..shnum).find_map(|i| {
        let s = section(i)?;
        (u32_at(s, 4)? == SHT_DYNSYM).then_some(s)
    })?;
    let (sym_off, sym_size, link, entsize) = (
        u64_at(dynsym, 0x18)? as usize,
        u64_at(dynsym, 0x20)? as usize,
        u32_at(dynsym, 0x28)? as usize,
        u64_at(dynsym, 0x38)? as usize,
    );
    let strtab = section(link)?;
    let str_off = u64_at(strtab, 0x18)? as usize;
    if entsize < 24 {
        return None;
    }
    let mut found = [0u64; 3];
    for i in 0..sym_size / entsize {
        let sym = image.get(sym_off + i * entsize..sym_off + (i + 1) * entsize)?;
        let name_at = str_off + u32_at(sym, 0)? as usize;
        let name = image.get(name_at..)?;
        let name = &name[..name.iter().position(|&b| b == 0)?];
        let slot = match name {
            b"__vdso_clock_gettime" => 0,
            b"__vdso_gettimeofday" => 1,
            b"__vdso_time" => 2,
            _ => continue,
        };
        let value = u64_at(sym, 8)?;
        if value != 0 && (value as usize) < image.len() {
            found[slot] = base + value;
        }
    }
    Some(found)
}

/// The time functions of the vDSO the process has at `base`, which spans `len` bytes.
pub fn time_functions_of(
    tracee: &mut Tracee,
    base: u64,
    len: usize,
) -> Result<Option<[u64; 3]>, TraceeError> {
    if base == 0 || len == 0 || len > MOST_BYTES {
        return Ok(None);
    }
    let image = tracee.read_mem(base, len)?;
    Ok(time_functions(&image, base))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_this_process_s_time_functions() {
        // SAFETY: getauxval only reads this process's auxiliary vector.
        let base = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) };
        if base == 0 {
            return; // no vDSO here: nothing to read
        }
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let line = maps.lines().find(|l| l.ends_with("[vdso]")).unwrap();
        let (a, b) = line
            .split_whitespace()
            .next()
            .unwrap()
            .split_once('-')
            .unwrap();
        let (a, b) = (
            u64::from_str_radix(a, 16).unwrap(),
            u64::from_str_radix(b, 16).unwrap(),
        );
        assert_eq!(a, base);
        // SAFETY: the vDSO mapping is readable for its whole length.
        let image = unsafe { std::slice::from_raw_parts(a as *const u8, (b - a) as usize) };
        let f = time_functions(image, base).expect("a symbol table");
        assert!(f.iter().all(|&addr| addr > a && addr < b), "{f:x?}");
        type ClockGettime = extern "C" fn(libc::clockid_t, *mut libc::timespec) -> i32;
        // SAFETY: the address is the vDSO's clock_gettime, which has this signature.
        let clock_gettime: ClockGettime = unsafe { std::mem::transmute(f[0] as usize) };
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        assert_eq!(clock_gettime(libc::CLOCK_REALTIME, &mut ts), 0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!((ts.tv_sec - now).abs() <= 2, "{} against {now}", ts.tv_sec);
    }
}

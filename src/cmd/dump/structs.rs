//! What the kernel wrote, decoded from the logged bytes: strings as strace quotes them, and
//! the structs of `<asm/stat.h>`, `<linux/time.h>` … in x86-64 layout.

use super::flags;
use super::names;

/// How many bytes of a buffer are shown before `...` (strace's default `-s 32`).
pub const SHOWN_BYTES: usize = 32;

/// `"abc\n"`, and `"abc"...` when `bytes` goes on past `limit`.
pub fn quote(bytes: &[u8], limit: usize) -> String {
    let shown = &bytes[..bytes.len().min(limit)];
    let mut s = String::with_capacity(shown.len() + 2);
    s.push('"');
    for (i, &b) in shown.iter().enumerate() {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\r' => s.push_str("\\r"),
            0x0b => s.push_str("\\v"),
            0x0c => s.push_str("\\f"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                // Short octal, unless a digit follows and would be read as part of it.
                let next_is_digit = shown.get(i + 1).is_some_and(|n| n.is_ascii_digit());
                if next_is_digit {
                    s.push_str(&format!("\\{b:03o}"));
                } else {
                    s.push_str(&format!("\\{b:o}"));
                }
            }
        }
    }
    s.push('"');
    if bytes.len() > limit {
        s.push_str("...");
    }
    s
}

fn u16_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u16::from_le_bytes(b.get(off..off + 2)?.try_into().ok()?) as u64)
}

fn u32_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?) as u64)
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

fn i64_at(b: &[u8], off: usize) -> Option<i64> {
    u64_at(b, off).map(|v| v as i64)
}

/// `makedev(0x88, 0x1)` from a Linux `dev_t`.
fn makedev(dev: u64) -> String {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    format!("makedev({major:#x}, {minor:#x})")
}

fn is_device(mode: u64) -> bool {
    let t = mode & libc::S_IFMT as u64;
    t == libc::S_IFCHR as u64 || t == libc::S_IFBLK as u64
}

/// `struct stat`: `{st_mode=S_IFREG|0644, st_size=2996, ...}`.
pub fn stat(b: &[u8]) -> Option<String> {
    let mode = u32_at(b, 24)?;
    let what = if is_device(mode) {
        format!("st_rdev={}", makedev(u64_at(b, 40)?))
    } else {
        format!("st_size={}", i64_at(b, 48)?)
    };
    Some(format!(
        "{{st_mode={}, {what}, ...}}",
        flags::file_mode(mode)
    ))
}

/// `struct statx`: `{stx_mode=S_IFREG|0644, stx_size=2996, ...}`.
pub fn statx(b: &[u8]) -> Option<String> {
    let mode = u16_at(b, 28)?;
    let what = if is_device(mode) {
        let major = u32_at(b, 128)?;
        let minor = u32_at(b, 132)?;
        format!("stx_rdev_major={major}, stx_rdev_minor={minor}")
    } else {
        format!("stx_size={}", u64_at(b, 40)?)
    };
    Some(format!(
        "{{stx_mode={}, {what}, ...}}",
        flags::file_mode(mode)
    ))
}

pub fn timespec(b: &[u8]) -> Option<String> {
    Some(format!(
        "{{tv_sec={}, tv_nsec={}}}",
        i64_at(b, 0)?,
        i64_at(b, 8)?
    ))
}

pub fn timeval(b: &[u8]) -> Option<String> {
    Some(format!(
        "{{tv_sec={}, tv_usec={}}}",
        i64_at(b, 0)?,
        i64_at(b, 8)?
    ))
}

fn rlim(v: u64) -> String {
    if v == u64::MAX {
        "RLIM64_INFINITY".into()
    } else if v >= 1024 && v.is_multiple_of(1024) {
        format!("{}*1024", v / 1024)
    } else {
        v.to_string()
    }
}

pub fn rlimit(b: &[u8]) -> Option<String> {
    Some(format!(
        "{{rlim_cur={}, rlim_max={}}}",
        rlim(u64_at(b, 0)?),
        rlim(u64_at(b, 8)?)
    ))
}

/// Two descriptors (pipe, socketpair): `[3, 4]`.
pub fn fd_pair(b: &[u8]) -> Option<String> {
    Some(format!(
        "[{}, {}]",
        u32_at(b, 0)? as i32,
        u32_at(b, 4)? as i32
    ))
}

pub fn wait_status(b: &[u8]) -> Option<String> {
    Some(format!("[{}]", names::wait_status(u32_at(b, 0)? as i32)))
}

/// `struct utsname`: six 65-byte fields.
pub fn utsname(b: &[u8]) -> Option<String> {
    let field = |i: usize| -> Option<String> {
        let raw = b.get(i * 65..(i + 1) * 65)?;
        let end = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
        Some(quote(&raw[..end], 65))
    };
    Some(format!(
        "{{sysname={}, nodename={}, ...}}",
        field(0)?,
        field(1)?
    ))
}

/// `struct linux_dirent64` entries: `[{d_type=DT_DIR, d_name="."}, ...]`, the first few.
pub fn dirents(b: &[u8]) -> Option<String> {
    const SHOWN: usize = 4;
    let mut entries = Vec::new();
    let mut count = 0;
    let mut off = 0;
    while off + 19 <= b.len() {
        let reclen = u16_at(b, off + 16)? as usize;
        if reclen < 19 || off + reclen > b.len() {
            return None;
        }
        if count < SHOWN {
            let kind = match b[off + 18] {
                libc::DT_DIR => "DT_DIR",
                libc::DT_REG => "DT_REG",
                libc::DT_LNK => "DT_LNK",
                libc::DT_CHR => "DT_CHR",
                libc::DT_BLK => "DT_BLK",
                libc::DT_FIFO => "DT_FIFO",
                libc::DT_SOCK => "DT_SOCK",
                _ => "DT_UNKNOWN",
            };
            let name = &b[off + 19..off + reclen];
            let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
            entries.push(format!(
                "{{d_type={kind}, d_name={}}}",
                quote(&name[..end], 256)
            ));
        }
        count += 1;
        off += reclen;
    }
    if count > SHOWN {
        entries.push("...".into());
    }
    Some(format!("[{}] /* {count} entries */", entries.join(", ")))
}

/// A NUL-terminated string the kernel wrote (getcwd).
pub fn c_string(b: &[u8]) -> Option<String> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    Some(quote(&b[..end], 4096))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_quoted_like_strace() {
        assert_eq!(quote(b"vm\n", 32), "\"vm\\n\"");
        assert_eq!(quote(b"\x7fELF\x02\x01", 32), "\"\\177ELF\\2\\1\"");
        assert_eq!(quote(b"\x001", 32), "\"\\0001\"");
        assert_eq!(quote(b"abcdef", 3), "\"abc\"...");
    }

    #[test]
    fn stat_shows_mode_and_size() {
        let mut b = vec![0u8; 144];
        b[24..28].copy_from_slice(&0o100644u32.to_le_bytes());
        b[48..56].copy_from_slice(&2996i64.to_le_bytes());
        assert_eq!(
            stat(&b).unwrap(),
            "{st_mode=S_IFREG|0644, st_size=2996, ...}"
        );
    }
}

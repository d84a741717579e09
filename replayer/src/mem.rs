//! mmap at replay: every mapping is made again at its recorded address; a file mapping
//! becomes anonymous memory (shared if it was) filled with the bytes kept in the trace.

use std::path::Path;

use schema::SyscallEvent;
use tracee::{Regs, Tracee};

use crate::ReplayError;

const MAP_TYPE_MASK: u64 = 0x03; // MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE
const DROPPED_FLAGS: u64 = (libc::MAP_FIXED_NOREPLACE | libc::MAP_HUGETLB | libc::MAP_SYNC) as u64;

/// Rewrites the mmap the tracee is entering so that it lands where it did when recorded.
/// Shared memory stays shared (a parent and its forked children see each other's writes
/// through it, anonymous or a file's); everything else becomes private anonymous memory.
/// A file mapping that the recorded bytes cannot be written into as it is (shared and not
/// writable, or `PROT_NONE`) is made readable and writable for its filling, and
/// `finish_mapping` puts its protection back.
pub fn prepare_mmap(regs: &mut Regs, ev: &SyscallEvent) {
    let flags = regs.r10;
    let kind = if is_shared(flags) {
        libc::MAP_SHARED
    } else {
        libc::MAP_PRIVATE
    };
    regs.rdi = ev.result as u64;
    regs.r10 = (flags & !(MAP_TYPE_MASK | DROPPED_FLAGS))
        | (kind | libc::MAP_FIXED | libc::MAP_ANONYMOUS) as u64;
    regs.r8 = u64::MAX; // fd -1
    regs.r9 = 0;
    if filled_writable(ev) {
        regs.rdx |= (libc::PROT_READ | libc::PROT_WRITE) as u64;
    }
}

fn is_shared(flags: u64) -> bool {
    flags & libc::MAP_SHARED as u64 != 0
}

/// A file mapping filled through a temporarily writable mapping (and a shared one, whose
/// placeholder is written before it is replaced).
fn filled_writable(ev: &SyscallEvent) -> bool {
    let prot = ev.args[2] as i32;
    ev.mapping.is_some()
        && (is_shared(ev.args[3]) || prot & (libc::PROT_READ | libc::PROT_WRITE) == 0)
}

/// The arguments replay makes an anonymous `mmap` with: `prepare_mmap`'s.
pub fn mmap_replay_args(ev: &SyscallEvent) -> [u64; 6] {
    let mut regs = tracee::regs_from_words(&[0; 27]).expect("27 words");
    (regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9) = (
        ev.args[0], ev.args[1], ev.args[2], ev.args[3], ev.args[4], ev.args[5],
    );
    prepare_mmap(&mut regs, ev);
    [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9]
}

/// Puts back the arguments `prepare_mmap` changed: the program sees its registers as it left them.
pub fn restore_args(regs: &mut Regs, ev: &SyscallEvent) {
    regs.rdi = ev.args[0];
    regs.rdx = ev.args[2];
    regs.r10 = ev.args[3];
    regs.r8 = ev.args[4];
    regs.r9 = ev.args[5];
}

/// Fills a replayed file mapping and gives it its recorded protection; the tracee is at the
/// mmap's exit with the registers `regs` (the program's), which are put back afterwards.
/// A shared file mapping is backed by one replay file per recorded file, so that every
/// mapping of the same file, in this process or another, sees the same bytes.
pub fn finish_mapping(
    tracee: &mut Tracee,
    regs: &Regs,
    ev: &SyscallEvent,
    trace_dir: &Path,
    shared: &mut SharedFiles,
) -> Result<(), ReplayError> {
    if is_shared(ev.args[3]) {
        if let Some(mapping) = &ev.mapping {
            let data = read_copy(mapping, trace_dir)?;
            match shared.map(tracee, regs, ev, mapping, &data) {
                Ok(()) => return Ok(()),
                Err(why) => shared.warn_once(&why),
            }
        }
    }
    fill_mapping(tracee, ev, trace_dir)?;
    if filled_writable(ev) {
        let (addr, len, prot) = (ev.result as u64, ev.args[1], ev.args[2]);
        let r =
            tracee.inject_syscall(regs, regs.rip - 2, libc::SYS_mprotect, &[addr, len, prot])?;
        tracee.set_regs(regs)?;
        tracee.resend_deferred_signals()?;
        if r != 0 {
            return Err(ReplayError::Setup(format!(
                "could not give the mapping at {addr:#x} its recorded protection: error {}",
                -r
            )));
        }
    }
    Ok(())
}

/// The files behind shared file mappings at replay: one unlinked temporary file per
/// recorded file (device and inode), holding the bytes the recording saw, filled page by
/// page the first time a mapping covers them; later the program's own writes live there.
#[derive(Default)]
pub struct SharedFiles {
    files: std::collections::HashMap<(u64, u64), SharedFile>,
    warned: bool,
}

struct SharedFile {
    file: std::fs::File,
    size: u64,
    filled: std::collections::HashSet<u64>,
    /// Stands for a SysV segment (the kernel names those `/SYSV…`).
    sysv: bool,
}

const PAGE: u64 = 4096;

impl SharedFiles {
    pub(crate) fn warn_once(&mut self, why: &str) {
        if !std::mem::replace(&mut self.warned, true) {
            eprintln!(
                "ftrun: {why}; shared file mappings replay as separate memory (two mappings \
                 of one file may not see each other's writes)"
            );
        }
    }

    fn backing(&mut self, mapping: &schema::FileMapping) -> Result<&mut SharedFile, String> {
        use std::collections::hash_map::Entry;
        let key = (mapping.file.dev, mapping.file.ino);
        match self.files.entry(key) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(v) => {
                let dir = Path::new("/dev/shm");
                let dir = if dir.is_dir() {
                    dir.to_path_buf()
                } else {
                    std::env::temp_dir()
                };
                let path = dir.join(format!(
                    "ftrun-replay-{}-{:x}-{:x}",
                    std::process::id(),
                    key.0,
                    key.1
                ));
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                let _ = std::fs::remove_file(&path);
                Ok(v.insert(SharedFile {
                    file,
                    size: 0,
                    filled: Default::default(),
                    sysv: mapping.file.path.starts_with(b"/SYSV"),
                }))
            }
        }
    }

    /// Maps the shared file behind `mapping` over the placeholder the mmap made.
    pub(crate) fn map(
        &mut self,
        tracee: &mut Tracee,
        regs: &Regs,
        ev: &SyscallEvent,
        mapping: &schema::FileMapping,
        data: &[u8],
    ) -> Result<(), String> {
        use std::os::unix::fs::FileExt;
        use std::os::unix::io::AsRawFd;
        let (addr, len, offset) = (ev.result as u64, ev.args[1], ev.args[5]);
        let shared = self.backing(mapping)?;
        let size = mapping.file.size.max(shared.size);
        if size > shared.size {
            shared
                .file
                .set_len(size)
                .map_err(|e| format!("cannot size a replay file: {e}"))?;
            shared.size = size;
        }
        for (i, chunk) in data.chunks(PAGE as usize).enumerate() {
            let at = offset + i as u64 * PAGE;
            if shared.filled.insert(at / PAGE) {
                shared
                    .file
                    .write_all_at(chunk, at)
                    .map_err(|e| format!("cannot fill a replay file: {e}"))?;
            }
        }
        let path = format!(
            "/proc/{}/fd/{}\0",
            std::process::id(),
            shared.file.as_raw_fd()
        );
        // The placeholder is the program's new memory, which nothing has seen yet: the path
        // goes there for the open.
        tracee
            .write_mem(addr, path.as_bytes())
            .map_err(|e| e.to_string())?;
        let insn = regs.rip - 2;
        let inject = |t: &mut Tracee, nr: i64, args: &[u64]| {
            t.inject_syscall(regs, insn, nr, args)
                .map_err(|e| e.to_string())
        };
        let at_fdcwd = libc::AT_FDCWD as i64 as u64;
        let flags = (libc::O_RDWR | libc::O_CLOEXEC) as u64;
        let fd = inject(tracee, libc::SYS_openat, &[at_fdcwd, addr, flags])?;
        let result = if fd < 0 {
            Err(format!(
                "the replayed program cannot open a replay file (error {})",
                -fd
            ))
        } else {
            let mflags = (ev.args[3] & !(MAP_TYPE_MASK | DROPPED_FLAGS))
                | (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
            let r = inject(
                tracee,
                libc::SYS_mmap,
                &[addr, len, ev.args[2], mflags, fd as u64, offset],
            )?;
            inject(tracee, libc::SYS_close, &[fd as u64])?;
            if r as u64 == addr {
                Ok(())
            } else {
                Err(format!(
                    "mapping a replay file at {addr:#x} failed (error {})",
                    -r
                ))
            }
        };
        tracee.set_regs(regs).map_err(|e| e.to_string())?;
        tracee
            .resend_deferred_signals()
            .map_err(|e| e.to_string())?;
        result
    }
}

impl SharedFiles {
    /// The size of the replay file standing for a SysV segment whose device and inode
    /// (as `/proc/PID/maps` shows the replay's mapping) are these.
    pub(crate) fn sysv_segment_size(&self, dev: u64, ino: u64) -> Option<u64> {
        use std::os::unix::fs::MetadataExt;
        self.files.values().find_map(|f| {
            let meta = f.file.metadata().ok()?;
            (f.sysv && meta.dev() == dev && meta.ino() == ino).then_some(f.size)
        })
    }
}

impl SharedFiles {
    /// A recorded write into a file mapped shared (`write` of its bytes, kept in the
    /// trace, at their offset): it goes into the replay file of that file too, as the
    /// kernel showed it to every mapping of the file.
    pub(crate) fn write_through(
        &mut self,
        mapping: &schema::FileMapping,
        trace_dir: &Path,
    ) -> Result<(), ReplayError> {
        use std::os::unix::fs::FileExt;
        let Some(shared) = self.files.get_mut(&(mapping.file.dev, mapping.file.ino)) else {
            return Ok(());
        };
        let data = read_copy(mapping, trace_dir)?;
        let io = |source| ReplayError::Io {
            what: format!(
                "writing into the replay file of {}",
                String::from_utf8_lossy(&mapping.file.path)
            ),
            source,
        };
        shared
            .file
            .write_all_at(&data, mapping.offset)
            .map_err(io)?;
        let end = mapping.offset + data.len() as u64;
        if end > shared.size {
            shared.file.set_len(end).map_err(io)?;
            shared.size = end;
        }
        Ok(())
    }
}

/// An mremap that grew a file mapping (the recorder kept the whole new range): the pages
/// it added show the file's bytes, as they did when recorded. A shared mapping already
/// maps the replay file, whose pages are filled the first time a mapping covers them.
pub fn finish_mremap(
    tracee: &mut Tracee,
    ev: &SyscallEvent,
    trace_dir: &Path,
    shared: &mut SharedFiles,
) -> Result<(), ReplayError> {
    use std::os::unix::fs::FileExt;
    let Some(mapping) = &ev.mapping else {
        return Ok(());
    };
    let data = read_copy(mapping, trace_dir)?;
    let key = (mapping.file.dev, mapping.file.ino);
    if let Some(file) = shared.files.get_mut(&key) {
        for (i, chunk) in data.chunks(PAGE as usize).enumerate() {
            let at = mapping.offset + i as u64 * PAGE;
            if file.filled.insert(at / PAGE) {
                file.file
                    .write_all_at(chunk, at)
                    .map_err(|source| ReplayError::Io {
                        what: "filling a replay file".to_string(),
                        source,
                    })?;
            }
        }
        return Ok(());
    }
    let old_len = ev.args[1].div_ceil(PAGE) * PAGE;
    if let Some(grown) = data.get(old_len as usize..) {
        tracee.write_mem(ev.result as u64 + old_len, grown)?;
    }
    Ok(())
}

pub(crate) fn read_copy(
    mapping: &schema::FileMapping,
    trace_dir: &Path,
) -> Result<Vec<u8>, ReplayError> {
    let path = trace_dir
        .join(schema::kept::FILES_DIR)
        .join(&mapping.stored_as);
    let data = std::fs::read(&path).map_err(|source| ReplayError::Io {
        what: format!(
            "reading the recorded copy of {} ({})",
            String::from_utf8_lossy(&mapping.file.path),
            path.display()
        ),
        source,
    })?;
    // A copy is named by its content: one that does not hash to its name is damaged.
    if let Err(problem) = schema::kept::check_bytes(&data, &mapping.stored_as) {
        return Err(ReplayError::Setup(format!(
            "the trace's copy of {} ({}) {problem}; the trace cannot be replayed",
            String::from_utf8_lossy(&mapping.file.path),
            path.display()
        )));
    }
    Ok(data)
}

fn fill_mapping(
    tracee: &mut Tracee,
    ev: &SyscallEvent,
    trace_dir: &Path,
) -> Result<(), ReplayError> {
    let Some(mapping) = &ev.mapping else {
        return Ok(());
    };
    let data = read_copy(mapping, trace_dir)?;
    tracee.write_mem(ev.result as u64, &data)?;
    Ok(())
}

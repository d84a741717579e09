//! Starting an image from the copies the trace kept of it (`ExecImage`) when the files at its
//! paths are not the recorded ones any more: the program was rebuilt or deleted, or the trace
//! was made on another machine.
//!
//! Before each exec (the first one, and every execve replayed) the files the kernel is about to
//! read — the `#!` scripts, the executable, its ELF interpreter — are compared by content with
//! the recorded ones. When they all match, the exec runs as recorded. Otherwise the kernel is
//! given another name of exactly the same length that leads to the kept copies: a symlink in
//! a private directory under /tmp (extra slashes pad it to the length) to the kept copy, or to
//! a copy of it whose `#!` line or `PT_INTERP` names the next replacement. An equal length
//! gives the new image the stack layout it had when recorded; at the exec stop the names the
//! kernel put on the stack (`AT_EXECFN`, a script's argv) and the `PT_INTERP` bytes in memory
//! are set back to the recorded ones, so the program sees exactly what it saw.

use std::collections::{HashMap, HashSet};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use schema::kept::{check_copy, name_of_file, CopyProblem, FILES_DIR};
use schema::{Event, EventKind, ExecEvent, ExecImage, FileMapping, Header, SyscallEvent};
use tracee::Tracee;

use crate::elf::read_elf;
use crate::ReplayError;

const AT_PHDR: u64 = 3;

/// The copies of one trace and the execs being started from them.
pub struct Kept {
    files: PathBuf,
    /// Content names of files met at their paths, by identity.
    seen: HashMap<(u64, u64, u64, i64, i64), String>,
    /// Copies whose content was checked against their name.
    checked: HashSet<String>,
    scratch: Option<PathBuf>,
    made: u64,
    /// Execs under way, by the process that execs.
    pending: HashMap<i32, Planned>,
    /// The plan for the first exec, until its process exists.
    spawn: Option<Planned>,
}

enum Planned {
    /// The files at the recorded paths are the recorded ones.
    AsRecorded,
    Swapped(Swap),
}

/// An exec given other names for the kept copies, and what to set back once it is done.
struct Swap {
    /// (the name used, the recorded name) for the names the kernel copies onto the new stack.
    names: Vec<(Vec<u8>, Vec<u8>)>,
    /// The executable's `PT_INTERP` as recorded, when the copy loaded names another.
    interp: Option<InterpBytes>,
    /// Where the execve's file name was changed in the old memory, which a vfork parent
    /// still uses: `(pid of the parent, address, name used, recorded name)`.
    shared: Option<(i32, u64, Vec<u8>, Vec<u8>)>,
    /// Names made directly in /tmp for this exec, removed once it is done.
    temporary: Vec<PathBuf>,
}

struct InterpBytes {
    /// `PT_INTERP`'s address in the image, and that of the program headers (both before the
    /// load bias).
    vaddr: u64,
    phdr_vaddr: u64,
    original: Vec<u8>,
}

/// One file the kernel reads for the exec.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Script,
    Exe,
    Interp,
}

struct Step<'a> {
    kept: &'a FileMapping,
    /// The name the kernel opens it by.
    path: Vec<u8>,
    role: Role,
    /// The file at `path` has the recorded content.
    same: bool,
    /// Why not, in words.
    now: String,
}

impl Drop for Kept {
    fn drop(&mut self) {
        // Names made for execs that never came (the replay stopped before).
        for planned in self.pending.values().chain(&self.spawn) {
            if let Planned::Swapped(swap) = planned {
                for t in &swap.temporary {
                    let _ = std::fs::remove_file(t);
                }
            }
        }
        if let Some(dir) = &self.scratch {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Kept {
    pub fn new(trace_dir: &Path) -> Kept {
        // Absolute: links to the copies are made elsewhere.
        let trace_dir = std::path::absolute(trace_dir).unwrap_or_else(|_| trace_dir.to_path_buf());
        Kept {
            files: trace_dir.join(FILES_DIR),
            seen: HashMap::new(),
            checked: HashSet::new(),
            scratch: None,
            made: 0,
            pending: HashMap::new(),
            spawn: None,
        }
    }

    /// The path to start the recorded program from: the recorded one, or a name for the kept
    /// copies (`first` is the trace's first event, the exec of that program).
    pub fn spawn_path(
        &mut self,
        header: &Header,
        first: Option<&Event>,
    ) -> Result<PathBuf, ReplayError> {
        let recorded = PathBuf::from(std::ffi::OsStr::from_bytes(&header.exe));
        let Some(Event {
            kind: EventKind::Exec(ExecEvent {
                image: Some(image), ..
            }),
            ..
        }) = first
        else {
            return Ok(recorded);
        };
        let cwd = PathBuf::from(std::ffi::OsStr::from_bytes(&header.cwd));
        let cwd = if cwd.is_dir() {
            cwd
        } else {
            std::env::current_dir().unwrap_or_default()
        };
        match self.plan(image, &header.exe, &cwd)? {
            None => {
                self.spawn = Some(Planned::AsRecorded);
                Ok(recorded)
            }
            Some(swap) => {
                let path = PathBuf::from(std::ffi::OsStr::from_bytes(&swap.names[0].0));
                self.spawn = Some(Planned::Swapped(swap));
                Ok(path)
            }
        }
    }

    /// The first process was started (from [`Kept::spawn_path`]) as `pid`.
    pub fn spawned(&mut self, pid: i32) {
        if let Some(p) = self.spawn.take() {
            self.pending.insert(pid, p);
        }
    }

    /// At the entry of an execve that succeeded when recorded (`next` is the event after it,
    /// its exec): if the files have changed, the call is given the name of the kept copies.
    pub(crate) fn before_exec(
        &mut self,
        tracee: &mut Tracee,
        s: &SyscallEvent,
        next: Option<&Event>,
    ) -> Result<(), ReplayError> {
        let Some(Event {
            kind: EventKind::Exec(ExecEvent {
                image: Some(image), ..
            }),
            ..
        }) = next
        else {
            return Ok(());
        };
        let pid = tracee.pid();
        let tgid = status_field(pid, "Tgid:").unwrap_or(pid);
        let addr = if s.number == libc::SYS_execveat as u64 {
            s.args[1]
        } else {
            s.args[0]
        };
        let given = read_c_string(tracee, addr)?;
        if s.number == libc::SYS_execveat as u64 {
            let relative_to_fd = s.args[0] as i32 != libc::AT_FDCWD && !given.starts_with(b"/");
            if relative_to_fd || s.args[4] as i32 & libc::AT_EMPTY_PATH != 0 {
                // The kernel names such an image after the descriptor; the content is checked
                // once it is loaded.
                return Ok(());
            }
        }
        let cwd = PathBuf::from(format!("/proc/{pid}/cwd"));
        let planned = match self.plan(image, &given, &cwd)? {
            None => Planned::AsRecorded,
            Some(mut swap) => {
                let alias = swap.names[0].0.clone();
                tracee.write_mem(addr, &alias)?;
                swap.shared =
                    status_field(pid, "PPid:").map(|parent| (parent, addr, alias, given.clone()));
                Planned::Swapped(swap)
            }
        };
        self.pending.insert(tgid, planned);
        Ok(())
    }

    /// At the exec stop: sets back what the exec of kept copies changed, or checks that an
    /// exec nobody planned loaded the recorded executable.
    pub(crate) fn after_exec(
        &mut self,
        tracee: &mut Tracee,
        ev: &ExecEvent,
    ) -> Result<(), ReplayError> {
        let pid = tracee.pid();
        match self.pending.remove(&pid) {
            Some(Planned::AsRecorded) => Ok(()),
            Some(Planned::Swapped(swap)) => restore(tracee, swap),
            None => {
                let Some(image) = &ev.image else {
                    return Ok(());
                };
                let loaded = name_of_file(Path::new(&format!("/proc/{pid}/exe"))).ok();
                if loaded.as_deref() == Some(image.exe.stored_as.as_str()) {
                    return Ok(());
                }
                Err(ReplayError::Setup(format!(
                    "{} changed since it was recorded: its content is not the recorded one; replay needs the recorded program",
                    String::from_utf8_lossy(&ev.exe.path)
                )))
            }
        }
    }

    /// Compares the files the exec will read with the recorded ones; `None` when they all
    /// match, else the names to give the kernel instead.
    fn plan(
        &mut self,
        image: &ExecImage,
        given: &[u8],
        cwd: &Path,
    ) -> Result<Option<Swap>, ReplayError> {
        let mut steps = Vec::new();
        for (i, script) in image.scripts.iter().enumerate() {
            let path = if i == 0 {
                given.to_vec()
            } else {
                script.file.path.clone()
            };
            steps.push(self.step(script, path, Role::Script, cwd));
        }
        let exe_path = if image.scripts.is_empty() {
            given.to_vec()
        } else {
            image.exe.file.path.clone()
        };
        steps.push(self.step(&image.exe, exe_path, Role::Exe, cwd));
        if let Some(interp) = &image.interp {
            // The kernel opens what the executable's PT_INTERP names.
            let exe = &steps[steps.len() - 1];
            let source = if exe.same {
                resolve(cwd, &exe.path)
            } else {
                self.source(exe, cwd)?
            };
            let named = read_elf(&source)
                .ok()
                .and_then(|elf| elf.interp.map(|i| i.name))
                .unwrap_or_else(|| interp.file.path.clone());
            steps.push(self.step(interp, named, Role::Interp, cwd));
        }
        let Some(last) = steps.iter().rposition(|s| !s.same) else {
            return Ok(None);
        };
        let mut swap = Swap {
            names: Vec::new(),
            interp: None,
            shared: None,
            temporary: Vec::new(),
        };
        // From the last file to change back to the first: each one before it must name the
        // replacement of the next.
        let mut next: Option<(Vec<u8>, Vec<u8>)> = None;
        for step in steps[..=last].iter().rev() {
            let source = self.source(step, cwd)?;
            let target = match &next {
                None => self.executable(&source)?,
                Some((recorded, alias)) => {
                    self.patched(&source, step.role, recorded, alias, &mut swap)?
                }
            };
            let alias = self.alias(&step.path, &target, cwd, &mut swap)?;
            if step.role != Role::Interp {
                swap.names.push((alias.clone(), step.path.clone()));
            }
            next = Some((step.path.clone(), alias));
        }
        swap.names.reverse();
        Ok(Some(swap))
    }

    fn step<'a>(
        &mut self,
        kept: &'a FileMapping,
        path: Vec<u8>,
        role: Role,
        cwd: &Path,
    ) -> Step<'a> {
        let at = resolve(cwd, &path);
        let (same, now) = match std::fs::metadata(&at) {
            Err(_) => (false, "is gone".to_string()),
            Ok(meta) => {
                let id = (
                    meta.dev(),
                    meta.ino(),
                    meta.size(),
                    meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
                    meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
                );
                let name = match self.seen.get(&id) {
                    Some(n) => Some(n.clone()),
                    None => name_of_file(&at).ok().inspect(|n| {
                        self.seen.insert(id, n.clone());
                    }),
                };
                match name {
                    Some(n) if n == kept.stored_as => (true, String::new()),
                    Some(_) => (
                        false,
                        "changed since it was recorded (its content is not the recorded one)"
                            .to_string(),
                    ),
                    None => (false, "cannot be read".to_string()),
                }
            }
        };
        Step {
            kept,
            path,
            role,
            same,
            now,
        }
    }

    /// Where the recorded content of `step` is: its copy in the trace, or the file itself when
    /// it is unchanged and the trace has no good copy.
    fn source(&mut self, step: &Step, cwd: &Path) -> Result<PathBuf, ReplayError> {
        let name = &step.kept.stored_as;
        let copy = self.files.join(name);
        if self.checked.contains(name) {
            return Ok(copy);
        }
        let trace_dir = self.files.parent().unwrap_or(Path::new("."));
        match check_copy(trace_dir, name) {
            Ok(()) => {
                self.checked.insert(name.clone());
                Ok(copy)
            }
            Err(_) if step.same => Ok(resolve(cwd, &step.path)),
            Err(problem) => Err(ReplayError::Setup(refusal(step, &copy, &problem))),
        }
    }

    /// `source`, or a copy of it that can be exec'd (a trace copied without its modes, a
    /// filesystem mounted noexec).
    fn executable(&mut self, source: &Path) -> Result<PathBuf, ReplayError> {
        let c = std::ffi::CString::new(source.as_os_str().as_bytes()).unwrap_or_default();
        // SAFETY: access() reads a NUL-terminated path.
        if unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0 {
            return Ok(source.to_path_buf());
        }
        let bytes = std::fs::read(source).map_err(|e| io(source, "reading", e))?;
        self.scratch_file(&bytes)
    }

    /// A copy of `source` in which the name of the next file (`recorded`) becomes `alias`.
    fn patched(
        &mut self,
        source: &Path,
        role: Role,
        recorded: &[u8],
        alias: &[u8],
        swap: &mut Swap,
    ) -> Result<PathBuf, ReplayError> {
        let mut bytes = std::fs::read(source).map_err(|e| io(source, "reading", e))?;
        match role {
            Role::Script => {
                let line_end = bytes
                    .iter()
                    .position(|&b| b == b'\n')
                    .unwrap_or(bytes.len());
                let at = find(&bytes[..line_end], recorded).ok_or_else(|| {
                    ReplayError::Setup(format!(
                        "the kept copy {} does not name {} in its #! line",
                        source.display(),
                        String::from_utf8_lossy(recorded)
                    ))
                })?;
                bytes[at..at + alias.len()].copy_from_slice(alias);
            }
            Role::Exe => {
                let elf = read_elf(source)?;
                let interp = elf.interp.ok_or_else(|| {
                    ReplayError::Setup(format!("{} has no PT_INTERP", source.display()))
                })?;
                let (off, size) = (interp.offset as usize, interp.size as usize);
                if alias.len() >= size || off + size > bytes.len() {
                    return Err(ReplayError::Setup(format!(
                        "{}'s PT_INTERP has no room for {}",
                        source.display(),
                        String::from_utf8_lossy(alias)
                    )));
                }
                let original = bytes[off..off + size].to_vec();
                bytes[off..off + size].fill(0);
                bytes[off..off + alias.len()].copy_from_slice(alias);
                swap.interp = interp.mapped.then_some(InterpBytes {
                    vaddr: interp.vaddr,
                    phdr_vaddr: elf.phdr_vaddr,
                    original,
                });
            }
            Role::Interp => unreachable!("the interpreter names nothing"),
        }
        self.scratch_file(&bytes)
    }

    fn scratch(&mut self) -> Result<PathBuf, ReplayError> {
        if let Some(d) = &self.scratch {
            return Ok(d.clone());
        }
        for _ in 0..100 {
            let dir = PathBuf::from(format!("/tmp/ft{}", random_name(6)));
            match std::fs::create_dir(&dir) {
                Ok(()) => {
                    let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
                    self.scratch = Some(dir.clone());
                    return Ok(dir);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io(&dir, "creating", e)),
            }
        }
        Err(ReplayError::Setup(
            "no free name for a scratch directory in /tmp".into(),
        ))
    }

    fn scratch_file(&mut self, bytes: &[u8]) -> Result<PathBuf, ReplayError> {
        let dir = self.scratch()?;
        self.made += 1;
        let path = dir.join(format!("copy-{}", self.made));
        std::fs::write(&path, bytes).map_err(|e| io(&path, "writing", e))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| io(&path, "making executable", e))?;
        Ok(path)
    }

    /// A name of exactly `recorded`'s length that leads to `target`.
    fn alias(
        &mut self,
        recorded: &[u8],
        target: &Path,
        cwd: &Path,
        swap: &mut Swap,
    ) -> Result<Vec<u8>, ReplayError> {
        let len = recorded.len();
        let dir = self.scratch()?;
        self.made += 1;
        let leaf = format!("{:x}", self.made);
        let dir_bytes = dir.as_os_str().as_bytes();
        if len > dir_bytes.len() + leaf.len() {
            let link = dir.join(&leaf);
            std::os::unix::fs::symlink(target, &link).map_err(|e| io(&link, "creating", e))?;
            // "/tmp" + the padding slashes + "/ftXXXXXX" + "/" + leaf.
            let pad = len - (dir_bytes.len() + 1 + leaf.len());
            let mut alias = b"/tmp".to_vec();
            alias.extend(std::iter::repeat_n(b'/', pad));
            alias.extend_from_slice(&dir_bytes[4..]);
            alias.push(b'/');
            alias.extend_from_slice(leaf.as_bytes());
            return Ok(alias);
        }
        if len >= 6 {
            // Too short for the scratch directory: a name of its own in /tmp, for this exec.
            for _ in 0..1000 {
                let name = format!("/tmp/{}", random_name(len - 5));
                match std::os::unix::fs::symlink(target, &name) {
                    Ok(()) => {
                        swap.temporary.push(PathBuf::from(&name));
                        return Ok(name.into_bytes());
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(io(Path::new(&name), "creating", e)),
                }
            }
        }
        if !recorded.starts_with(b"/") && len > 0 {
            // A short relative name: one of the same length in the directory it is relative
            // to, for this exec.
            let prefix: &[u8] = if recorded.starts_with(b"./") && len > 2 {
                b"./"
            } else {
                b""
            };
            for _ in 0..1000 {
                let mut name = prefix.to_vec();
                let rest = len - prefix.len();
                if rest > 1 {
                    name.push(b'.');
                    name.extend_from_slice(random_name(rest - 1).as_bytes());
                } else {
                    name.extend_from_slice(random_name(rest).as_bytes());
                }
                let link = resolve(cwd, &name);
                match std::os::unix::fs::symlink(target, &link) {
                    Ok(()) => {
                        swap.temporary.push(link);
                        return Ok(name);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                    Err(_) => break,
                }
            }
        }
        Err(ReplayError::Setup(format!(
            "cannot start the kept copy {} in place of {}: its name is too short ({len} bytes) to be replaced by one of the same length",
            target.display(),
            String::from_utf8_lossy(recorded)
        )))
    }
}

fn refusal(step: &Step, copy: &Path, problem: &CopyProblem) -> String {
    let what = match step.role {
        Role::Script => "script",
        Role::Exe => "program",
        Role::Interp => "ELF interpreter",
    };
    format!(
        "{} {}, and the trace's copy of it ({}) {problem}; replay needs the recorded {what} (`ftrun pack` keeps a copy while the file is as recorded)",
        String::from_utf8_lossy(&step.path),
        step.now,
        copy.display(),
    )
}

/// Sets back what the exec of kept copies changed in the new image and in a vfork parent.
fn restore(tracee: &mut Tracee, swap: Swap) -> Result<(), ReplayError> {
    let pid = tracee.pid();
    for t in &swap.temporary {
        let _ = std::fs::remove_file(t);
    }
    // The strings at the top of the new stack: argv, envp, AT_EXECFN.
    let rsp = tracee.regs()?.rsp;
    let strings = tracee.read_u64(rsp + 8)?;
    let end = stack_end(pid).ok_or_else(|| {
        ReplayError::Setup(format!("no stack in /proc/{pid}/maps after the exec"))
    })?;
    if strings < end && end - strings <= 16 << 20 {
        let mut area = tracee.read_mem(strings, (end - strings) as usize)?;
        let mut changed = false;
        for (alias, recorded) in &swap.names {
            let mut from = 0;
            while let Some(at) = find(&area[from..], alias) {
                area[from + at..from + at + alias.len()].copy_from_slice(recorded);
                from += at + alias.len();
                changed = true;
            }
        }
        if changed {
            tracee.write_mem(strings, &area)?;
        }
    }
    if let Some(interp) = &swap.interp {
        if let Some(at_phdr) = auxv_value(pid, AT_PHDR) {
            let bias = at_phdr.wrapping_sub(interp.phdr_vaddr);
            tracee.write_mem(bias.wrapping_add(interp.vaddr), &interp.original)?;
        }
    }
    if let Some((parent, addr, alias, recorded)) = &swap.shared {
        // A vfork child's name was written into its parent's memory: put the recorded one back
        // (a forked child's memory is gone with the exec, and its parent's never had it).
        if let Ok(mem) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("/proc/{parent}/mem"))
        {
            let mut now = vec![0u8; alias.len()];
            if mem.read_exact_at(&mut now, *addr).is_ok() && now == *alias {
                let _ = mem.write_all_at(recorded, *addr);
            }
        }
    }
    Ok(())
}

fn io(path: &Path, what: &str, source: std::io::Error) -> ReplayError {
    ReplayError::Io {
        what: format!("{what} {}", path.display()),
        source,
    }
}

fn resolve(cwd: &Path, path: &[u8]) -> PathBuf {
    let p = Path::new(std::ffi::OsStr::from_bytes(path));
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn random_name(len: usize) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut seed = xxhash_rust::xxh3::xxh3_64(
        &[
            now.to_le_bytes(),
            u64::from(std::process::id()).to_le_bytes(),
            COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes(),
        ]
        .concat(),
    );
    (0..len)
        .map(|i| {
            if i % 10 == 9 {
                seed = xxhash_rust::xxh3::xxh3_64(&seed.to_le_bytes());
            }
            let c = ALPHABET[(seed % ALPHABET.len() as u64) as usize];
            seed /= ALPHABET.len() as u64;
            c as char
        })
        .collect()
}

fn read_c_string(tracee: &mut Tracee, addr: u64) -> Result<Vec<u8>, ReplayError> {
    let mut bytes = tracee.read_mem_partial(addr, 4096)?;
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    bytes.truncate(end);
    Ok(bytes)
}

fn status_field(pid: i32, field: &str) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().parse().ok())
}

fn stack_end(pid: i32) -> Option<u64> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    let line = maps.lines().find(|l| l.ends_with("[stack]"))?;
    let range = line.split(' ').next()?;
    u64::from_str_radix(range.split_once('-')?.1, 16).ok()
}

fn auxv_value(pid: i32, key: u64) -> Option<u64> {
    let auxv = std::fs::read(format!("/proc/{pid}/auxv")).ok()?;
    auxv.chunks_exact(16).find_map(|pair| {
        let k = u64::from_ne_bytes(pair[..8].try_into().ok()?);
        (k == key).then(|| u64::from_ne_bytes(pair[8..].try_into().unwrap_or_default()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_have_the_recorded_length() {
        let dir = std::env::temp_dir().join(format!("kept-alias-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("target");
        std::fs::write(&target, b"x").unwrap();
        let mut kept = Kept::new(&dir);
        let mut swap = Swap {
            names: Vec::new(),
            interp: None,
            shared: None,
            temporary: Vec::new(),
        };
        for recorded in [
            &b"/usr/bin/a-program-with-a-long-name"[..],
            b"/usr/bin/python3",
            b"/bin/sh",
            b"./prog",
        ] {
            let alias = kept.alias(recorded, &target, &dir, &mut swap).unwrap();
            assert_eq!(
                alias.len(),
                recorded.len(),
                "{}",
                String::from_utf8_lossy(&alias)
            );
            let read = std::fs::read(std::ffi::OsStr::from_bytes(&alias)).unwrap();
            assert_eq!(read, b"x");
        }
        assert!(kept.alias(b"/a", &target, &dir, &mut swap).is_err());
        // A short relative name gets one in the directory it is relative to.
        let alias = kept.alias(b"./a", &target, &dir, &mut swap).unwrap();
        assert_eq!(alias.len(), 3);
        assert_eq!(std::fs::read(resolve(&dir, &alias)).unwrap(), b"x");
        for t in swap.temporary {
            std::fs::remove_file(t).unwrap();
        }
        drop(kept);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

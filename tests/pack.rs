//! Traces that travel: the files a replay reads are kept by content (a store shared by the
//! traces in `$FTRUN_DIR`, hard-linked into each), a program that changed or went away replays
//! from its kept copy, and `ftrun pack` makes a trace self-contained and checked.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use common::*;

/// A scratch `$FTRUN_DIR` and the programs a test builds.
struct Env {
    tmp: TempDir,
}

impl Env {
    fn new(label: &str) -> Env {
        let env = Env {
            tmp: TempDir::new(label),
        };
        fs::create_dir_all(env.root()).unwrap();
        env
    }

    /// `$FTRUN_DIR`.
    fn root(&self) -> PathBuf {
        self.tmp.join("ftrun")
    }

    fn store(&self) -> PathBuf {
        self.root().join("store")
    }

    /// ftrun with `FTRUN_DIR` set to the scratch root.
    fn ftrun<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.ftrun_in(None, args)
    }

    fn ftrun_in<S: AsRef<OsStr>>(&self, cwd: Option<&Path>, args: &[S]) -> Output {
        let root = self.root();
        let out = spawn_ftrun_with(cwd, &[("FTRUN_DIR", root.as_os_str())], args).wait();
        assert_no_panic(&out, &format!("ftrun {:?}", os_args(args)));
        out
    }

    /// Records `prog args` into `trace` (in the root unless given a path elsewhere).
    fn record(&self, trace: &Path, prog: &Path, args: &[&OsStr]) -> Output {
        self.record_in(None, trace, prog, args)
    }

    fn record_in(&self, cwd: Option<&Path>, trace: &Path, prog: &Path, args: &[&OsStr]) -> Output {
        let mut a: Vec<OsString> = vec!["record".into(), "-o".into(), trace.into(), "--".into()];
        a.push(prog.into());
        a.extend(args.iter().map(|s| s.to_os_string()));
        let out = self.ftrun_in(cwd, &a);
        assert!(
            trace.join("events").is_file(),
            "no trace written\n{}",
            describe(&out)
        );
        out
    }

    fn replay(&self, trace: &Path) -> Output {
        self.ftrun(&[OsStr::new("replay"), trace.as_os_str()])
    }

    fn pack(&self, trace: &Path) -> Output {
        self.ftrun(&[OsStr::new("pack"), trace.as_os_str()])
    }

    /// Builds `testprogs/image_facts.c` as `VERSION` into `out`, with `extra` gcc flags.
    fn build_facts(&self, out: &Path, version: u32, extra: &[&str]) {
        build(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("testprogs/image_facts.c"),
            out,
            version,
            extra,
        );
    }
}

fn os_args<S: AsRef<OsStr>>(args: &[S]) -> Vec<String> {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect()
}

fn build(src: &Path, out: &Path, version: u32, extra: &[&str]) {
    fs::create_dir_all(out.parent().unwrap()).unwrap();
    let status = Command::new("gcc")
        .args(["-O1", "-g", "-Wall"])
        .arg(format!("-DVERSION={version}"))
        .args(extra)
        .arg("-o")
        .arg(out)
        .arg(src)
        .status()
        .expect("run gcc");
    assert!(status.success(), "gcc {} failed", src.display());
}

/// Every copy in a trace's `files/`: name -> (device, inode, link count, size).
fn copies(trace: &Path) -> BTreeMap<String, (u64, u64, u64, u64)> {
    fs::read_dir(trace.join("files"))
        .unwrap_or_else(|e| panic!("{}/files: {e}", trace.display()))
        .map(|e| e.unwrap())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| {
            let m = e.metadata().unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                (m.dev(), m.ino(), m.nlink(), m.len()),
            )
        })
        .collect()
}

/// The xxh3-128 name of a file's content, as ftrun names its copies.
fn content_name(path: &Path) -> String {
    schema::kept::content_name(&fs::read(path).unwrap())
}

/// Asserts that a replay ran the recording again, and that it was a replay: the recorded pid.
fn assert_replays(env: &Env, trace: &Path, recorded: &Output, context: &str) {
    let out = env.replay(trace);
    assert_same_run(recorded, &out, context);
}

/// Sets a file's mtime (to make a rebuilt program look like the recorded one by size and mtime).
fn set_mtime(path: &Path, t: SystemTime) {
    let f = fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_modified(t).unwrap();
}

/// Writes into a file that is read-only (a copy ftrun keeps), in place.
fn damage(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
    let mut bytes = fs::read(path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    // In place (the same inode), as a disk error or a stray write would.
    use std::io::{Seek, Write};
    let mut f = fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(std::io::SeekFrom::Start(at as u64)).unwrap();
    f.write_all(&bytes[at..at + 1]).unwrap();
}

fn python3() -> Option<PathBuf> {
    // The real interpreter (python3 on PATH may be a pyenv shim, a script).
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()?;
    let p = PathBuf::from(text(&out.stdout).trim());
    p.is_file().then_some(p)
}

#[test]
fn recording_python_twice_writes_the_library_copies_once() {
    let Some(python) = python3() else {
        eprintln!("skipped: no python3");
        return;
    };
    let env = Env::new("pack-twice");
    let (a, b) = (env.root().join("python-a"), env.root().join("python-b"));
    let first = env.record(&a, &python, &[OsStr::new("-c"), OsStr::new("pass")]);
    let second = env.record(&b, &python, &[OsStr::new("-c"), OsStr::new("pass")]);
    let (ca, cb) = (copies(&a), copies(&b));
    assert!(
        ca.len() > 5,
        "python maps libraries: {} copies in {}",
        ca.len(),
        a.display()
    );
    assert_eq!(
        ca.keys().collect::<Vec<_>>(),
        cb.keys().collect::<Vec<_>>(),
        "the same program maps the same content"
    );
    let store = env.store();
    for (name, &(dev, ino, nlink, _)) in &cb {
        let s = fs::metadata(store.join(name))
            .unwrap_or_else(|e| panic!("store/{name} for {}: {e}", b.display()));
        assert_eq!(
            (ca[name].0, ca[name].1),
            (dev, ino),
            "files/{name} of the second trace is not the first one's bytes"
        );
        assert_eq!(
            (s.dev(), s.ino()),
            (dev, ino),
            "files/{name} is not the store's"
        );
        assert_eq!(nlink, 3, "files/{name}: the store and two traces");
    }
    // On disk: the copies once, each trace only its own events.
    let copies_bytes: u64 = ca.values().map(|c| c.3).sum();
    let events_b = fs::metadata(b.join("events")).unwrap().len();
    eprintln!(
        "python3 -c pass: {} copies, {} KiB once in the store; the second trace adds {} KiB of events",
        ca.len(),
        copies_bytes / 1024,
        events_b / 1024
    );
    // A copy is named by its content.
    for name in ca.keys() {
        assert_eq!(&content_name(&a.join("files").join(name)), name);
    }
    assert_replays(&env, &a, &first, "first python trace");
    assert_replays(&env, &b, &second, "second python trace");
}

#[test]
fn removing_a_trace_leaves_the_others_whole_and_the_store_drops_what_no_trace_uses() {
    let env = Env::new("pack-remove");
    let prog = env.tmp.join("bin/facts");
    env.build_facts(&prog, 1, &[]);
    let (a, b) = (env.root().join("a"), env.root().join("b"));
    env.record(&a, &prog, &[]);
    let rec_b = env.record(&b, &prog, &[]);
    let names: BTreeSet<String> = copies(&b).into_keys().collect();
    fs::remove_dir_all(&a).unwrap();
    // The other trace keeps its links: it replays, and every copy is there.
    assert_replays(&env, &b, &rec_b, "after the other trace was removed");
    for (name, &(_, _, nlink, _)) in &copies(&b) {
        assert_eq!(nlink, 2, "files/{name}: the store's link and this trace's");
    }
    // Once no trace links an entry, the next recording removes it from the store.
    fs::remove_dir_all(&b).unwrap();
    let other = env.tmp.join("bin/other");
    build(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("testprogs/exit_code.c"),
        &other,
        1,
        &[],
    );
    let c = env.root().join("c");
    env.record(&c, &other, &[]);
    let left: BTreeSet<String> = fs::read_dir(env.store())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| schema::kept::is_content_name(n))
        .collect();
    let used: BTreeSet<String> = copies(&c).into_keys().collect();
    assert_eq!(left, used, "the store holds what the remaining trace uses");
    assert!(
        names.iter().any(|n| !left.contains(n)),
        "facts' own copy was pruned with its traces"
    );
}

#[test]
fn a_mapped_file_changed_on_disk_replays_from_the_kept_content() {
    let env = Env::new("pack-mapped");
    let data = env.tmp.join("data.txt");
    fs::write(&data, "the recorded content\n").unwrap();
    let old_mtime = fs::metadata(&data).unwrap().modified().unwrap();
    // Old enough that the store trusts its identity from now on (see recorder/src/store.rs).
    std::thread::sleep(Duration::from_millis(2500));
    let prog = testprog("mmap_file");
    let a = env.root().join("a");
    let first = env.record(&a, &prog, &[data.as_os_str()]);
    assert!(text(&first.stdout).contains("the recorded content"));

    // Changed in place: same inode, same size, even the same mtime; only ctime tells.
    fs::write(&data, "a changed content!!!\n").unwrap();
    set_mtime(&data, old_mtime);
    assert_replays(&env, &a, &first, "after the mapped file changed");
    let b = env.root().join("b");
    let second = env.record(&b, &prog, &[data.as_os_str()]);
    assert!(
        text(&second.stdout).contains("a changed content!!!"),
        "{}",
        describe(&second)
    );
    assert_replays(
        &env,
        &b,
        &second,
        "the second recording, of the changed file",
    );
    // Still the first trace's own content: the store holds copies, not the file.
    assert_replays(&env, &a, &first, "the first recording again");
}

#[test]
fn a_rebuilt_program_of_the_same_size_and_mtime_replays_from_its_kept_copy() {
    let env = Env::new("pack-rebuilt");
    let prog = env.tmp.join("bin/facts");
    env.build_facts(&prog, 1, &[]);
    let trace = env.root().join("facts");
    let recorded = env.record(&trace, &prog, &[]);
    assert!(text(&recorded.stdout).contains("version 1"));
    let meta = fs::metadata(&prog).unwrap();
    let v1 = content_name(&prog);
    assert!(copies(&trace).contains_key(&v1), "the program is kept");

    // Rebuilt: other bytes, and made to look the same by size and mtime.
    let rebuilt = env.tmp.join("bin/facts.new");
    env.build_facts(&rebuilt, 2, &[]);
    fs::rename(&rebuilt, &prog).unwrap();
    set_mtime(&prog, meta.modified().unwrap());
    let now = fs::metadata(&prog).unwrap();
    assert_eq!(
        now.len(),
        meta.len(),
        "the rebuilt program has the same size"
    );
    assert_eq!(now.modified().unwrap(), meta.modified().unwrap());
    assert_ne!(content_name(&prog), v1);
    assert_replays(&env, &trace, &recorded, "after a rebuild");

    // And with the program gone.
    fs::remove_file(&prog).unwrap();
    assert_replays(&env, &trace, &recorded, "with the program deleted");
}

#[test]
fn a_changed_program_without_its_copy_is_refused_naming_it() {
    let env = Env::new("pack-refused");
    let prog = env.tmp.join("bin/facts");
    env.build_facts(&prog, 1, &[]);
    let trace = env.tmp.join("elsewhere");
    env.record(&trace, &prog, &[]);
    // Its copy gone from the trace and the store (a trace from another machine's store):
    // only the program's identity and content name are left.
    let name = content_name(&prog);
    fs::remove_file(trace.join("files").join(&name)).unwrap();
    fs::remove_file(env.store().join(&name)).unwrap();
    env.build_facts(&prog, 2, &[]);
    let out = env.replay(&trace);
    assert_clean_failure(&out, "replay of a rebuilt program without its copy");
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "{} changed since it was recorded (its content is not the recorded one)",
            prog.display()
        )) && err.contains("is missing"),
        "{}",
        describe(&out)
    );
    fs::remove_file(&prog).unwrap();
    let out = env.replay(&trace);
    assert_clean_failure(&out, "replay of a deleted program without its copy");
    assert!(
        text(&out.stderr).contains(&format!("{} is gone", prog.display())),
        "{}",
        describe(&out)
    );
    // pack cannot invent it either.
    let out = env.pack(&trace);
    assert_clean_failure(&out, "pack of a trace whose program is gone");
    assert!(
        text(&out.stderr).contains(&format!("no copy of {}", prog.display())),
        "{}",
        describe(&out)
    );
}

#[test]
fn pack_makes_a_trace_self_contained_and_it_replays_without_store_program_loader_or_data() {
    let env = Env::new("pack-self-contained");
    // A private copy of the ELF interpreter stands for a machine's own loader: deleting it
    // later is what replaying on a machine without this one's files looks like.
    let loader = env.tmp.join("lib/ld-private.so");
    fs::create_dir_all(loader.parent().unwrap()).unwrap();
    fs::copy("/lib64/ld-linux-x86-64.so.2", &loader).unwrap();
    let prog = env.tmp.join("bin/facts");
    env.build_facts(
        &prog,
        1,
        &[&format!("-Wl,--dynamic-linker={}", loader.display())],
    );
    let data = env.tmp.join("data.txt");
    fs::write(&data, "mapped bytes\n").unwrap();

    for (label, trace) in [
        ("in $FTRUN_DIR", env.root().join("facts")),
        ("elsewhere", env.tmp.join("elsewhere")),
    ] {
        let recorded = env.record(&trace, &prog, &[data.as_os_str()]);
        assert!(
            text(&recorded.stdout).contains(&format!("interp {}", loader.display())),
            "{}",
            describe(&recorded)
        );
        let out = env.pack(&trace);
        assert_eq!(out.status.code(), Some(0), "{label}: {}", describe(&out));
        assert!(
            text(&out.stderr).contains("ftrun: packed"),
            "{}",
            describe(&out)
        );
        for (name, &(_, _, nlink, _)) in &copies(&trace) {
            assert_eq!(nlink, 1, "{label}: files/{name} still shares its bytes");
            assert_eq!(
                &content_name(&trace.join("files").join(name)),
                name,
                "{label}: files/{name} is checked by its name"
            );
        }
        // The program, its loader and the copies the store would hold are not needed.
        let saved = env.tmp.join("saved");
        fs::create_dir_all(&saved).unwrap();
        for f in [&prog, &loader, &data] {
            fs::rename(f, saved.join(f.file_name().unwrap())).unwrap();
        }
        let store_away = env.tmp.join("store-away");
        if env.store().exists() {
            fs::rename(env.store(), &store_away).unwrap();
        }
        assert!(
            Command::new(saved.join("facts"))
                .output()
                .map_or(true, |o| !o.status.success()),
            "the program cannot run natively without its loader"
        );
        assert_replays(&env, &trace, &recorded, label);
        for f in [&prog, &loader, &data] {
            fs::rename(saved.join(f.file_name().unwrap()), f).unwrap();
        }
        if store_away.exists() {
            fs::rename(&store_away, env.store()).unwrap();
        }
    }
}

#[test]
fn a_damaged_copy_is_named_at_replay_and_at_pack() {
    let env = Env::new("pack-damaged");
    let prog = env.tmp.join("bin/facts");
    env.build_facts(&prog, 1, &[]);
    let data = env.tmp.join("data.txt");
    fs::write(&data, "mapped bytes, to be damaged in the trace\n").unwrap();
    let trace = env.root().join("facts");
    env.record(&trace, &prog, &[data.as_os_str()]);
    assert_eq!(env.pack(&trace).status.code(), Some(0));
    let data_copy = trace.join("files").join(content_name(&data));
    let prog_copy = trace.join("files").join(content_name(&prog));
    assert!(data_copy.is_file() && prog_copy.is_file());

    damage(&data_copy);
    let out = env.replay(&trace);
    assert_clean_failure(&out, "replay with a damaged copy");
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("copy of {}", data.display()))
            && err.contains(&data_copy.display().to_string())
            && err.contains("is damaged"),
        "{}",
        describe(&out)
    );
    // pack takes it again from the file, which is unchanged, and says so.
    let out = env.pack(&trace);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("1 repaired"),
        "{}",
        describe(&out)
    );
    // Without the file and the store there is nothing to take it from.
    damage(&data_copy);
    fs::remove_file(&data).unwrap();
    fs::remove_dir_all(env.store()).unwrap();
    let out = env.pack(&trace);
    assert_clean_failure(&out, "pack with a damaged copy and no file");
    assert!(
        text(&out.stderr).contains(&format!("the copy of {}", data.display()))
            && text(&out.stderr).contains("is damaged"),
        "{}",
        describe(&out)
    );

    // The program's copy, damaged, with the program rebuilt: refused, naming both.
    let trace2 = env.root().join("facts2");
    fs::write(&data, "x\n").unwrap();
    env.record(&trace2, &prog, &[]);
    let prog_copy = trace2.join("files").join(content_name(&prog));
    damage(&prog_copy);
    env.build_facts(&prog, 2, &[]);
    let out = env.replay(&trace2);
    assert_clean_failure(&out, "replay of a rebuilt program whose copy is damaged");
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("{} changed since it was recorded", prog.display()))
            && err.contains(&prog_copy.display().to_string())
            && err.contains("is damaged"),
        "{}",
        describe(&out)
    );
}

#[test]
fn a_script_run_by_a_vfork_child_replays_after_script_and_interpreter_changed() {
    let env = Env::new("pack-script");
    let interp = env.tmp.join("bin/facts");
    env.build_facts(&interp, 1, &[]);
    let script = env.tmp.join("run-me.sh");
    fs::write(
        &script,
        format!("#!{} scriptarg\nnot read by anyone\n", interp.display()),
    )
    .unwrap();
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let trace = env.root().join("vfork");
    let recorded = env.record(
        &trace,
        &testprog("vfork_exec"),
        &[script.as_os_str(), OsStr::new("an-argument")],
    );
    let out = text(&recorded.stdout);
    assert!(
        out.contains(&format!("argv[0] {}", interp.display()))
            && out.contains(&format!("execfn {}", script.display()))
            && out.contains(&format!("the parent's buffer: {}", script.display())),
        "{}",
        describe(&recorded)
    );
    env.build_facts(&interp, 2, &[]);
    fs::remove_file(&script).unwrap();
    assert_replays(&env, &trace, &recorded, "script gone, interpreter rebuilt");
}

#[test]
fn a_short_relative_program_name_replays_from_its_kept_copy() {
    let env = Env::new("pack-short");
    let dir = env.tmp.join("work");
    let prog = dir.join("p");
    env.build_facts(&prog, 1, &[]);
    // `sh -c ./p`: the kernel is given a 3-byte name; its replacement is as long.
    let trace = env.root().join("short");
    let recorded = env.record_in(
        Some(&dir),
        &trace,
        Path::new("/bin/sh"),
        &[OsStr::new("-c"), OsStr::new("./p; echo $?")],
    );
    assert!(
        text(&recorded.stdout).contains("execfn ./p"),
        "{}",
        describe(&recorded)
    );
    env.build_facts(&prog, 2, &[]);
    assert_replays(&env, &trace, &recorded, "./p rebuilt");
    let left: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        vec![OsString::from("p")],
        "the name made for the exec is gone"
    );
}

#[test]
fn a_trace_in_ftrun_dir_on_another_filesystem_than_the_store_keeps_copies() {
    let env = Env::new("pack-other-fs");
    let shm = Path::new("/dev/shm");
    let same_fs = fs::metadata(shm)
        .map(|m| m.dev() == fs::metadata(env.root()).unwrap().dev())
        .unwrap_or(true);
    if same_fs {
        eprintln!("skipped: no /dev/shm on another filesystem");
        return;
    }
    let elsewhere = shm.join(format!("ftrun-pack-test-{}", std::process::id()));
    fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, env.store()).unwrap();
    let prog = env.tmp.join("bin/facts");
    env.build_facts(&prog, 1, &[]);
    let trace = env.root().join("facts");
    let recorded = env.record(&trace, &prog, &[]);
    for (name, &(_, _, nlink, _)) in &copies(&trace) {
        assert_eq!(nlink, 1, "files/{name} is a copy of its own");
        assert_eq!(&content_name(&trace.join("files").join(name)), name);
    }
    assert_replays(&env, &trace, &recorded, "a trace with copies of its own");
    let _ = fs::remove_dir_all(&elsewhere);
}

#[test]
fn a_trace_outside_ftrun_dir_links_its_copies_from_the_store_and_replays_a_rebuilt_program() {
    let env = Env::new("pack-elsewhere-linked");
    let prog = env.tmp.join("bin/facts");
    env.build_facts(&prog, 1, &[]);
    let trace = env.tmp.join("elsewhere");
    let recorded = env.record(&trace, &prog, &[]);
    let copies = copies(&trace);
    assert!(
        copies.contains_key(&content_name(&prog)),
        "the executable should be kept"
    );
    for (name, &(_, _, nlink, _)) in &copies {
        assert_eq!(nlink, 2, "files/{name}: the store's link and this trace's");
    }
    env.build_facts(&prog, 2, &[]);
    assert_replays(
        &env,
        &trace,
        &recorded,
        "a trace elsewhere, program rebuilt",
    );
}

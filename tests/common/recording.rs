//! A finished recording and the assertions made on it.

use super::*;

/// A finished recording: its scratch directory, trace directory and ftrun's output.
pub struct Recording {
    /// Holds the trace; removed on drop.
    pub tmp: TempDir,
    /// The trace directory (`tmp/trace`).
    pub dir: PathBuf,
    /// What `ftrun record` printed and how it ended.
    pub output: Output,
    /// The command line, for messages.
    pub what: String,
}

impl Recording {
    /// Wraps a recording made by hand (e.g. with `spawn_record`).
    pub fn from_parts(tmp: TempDir, dir: PathBuf, output: Output, what: String) -> Recording {
        assert_no_panic(&output, &what);
        assert!(
            dir.is_dir(),
            "{what}: ftrun record left no trace directory at {}\n{}",
            dir.display(),
            describe(&output)
        );
        Recording {
            tmp,
            dir,
            output,
            what,
        }
    }

    pub fn stdout(&self) -> String {
        text(&self.output.stdout)
    }

    /// The program's stderr as recorded, without ftrun's own lines.
    pub fn program_stderr(&self) -> String {
        text(&without_ftrun_lines(&self.output.stderr))
    }

    /// Asserts the recorded program ended as `expected`.
    pub fn assert_exit(&self, expected: Exit) -> &Self {
        assert_eq!(
            exit_of(&self.output.status),
            expected,
            "{}: ftrun record ended unexpectedly\n{}",
            self.what,
            describe(&self.output)
        );
        self
    }

    /// Asserts the recorded stdout contains each of `needles`.
    pub fn assert_stdout_contains(&self, needles: &[&str]) -> &Self {
        let out = self.stdout();
        for n in needles {
            assert!(
                out.contains(n),
                "{}: recorded stdout lacks {n:?}\n{}",
                self.what,
                describe(&self.output)
            );
        }
        self
    }

    /// Replays `times` times, each time checking the replay reproduces the recording.
    pub fn assert_replays(&self, times: usize) -> &Self {
        for i in 1..=times {
            let out = replay(&self.dir);
            assert_same_run(
                &self.output,
                &out,
                &format!("{} (replay {i} of {times})", self.what),
            );
        }
        self
    }
}

fn prog_label(prog: &OsStr) -> String {
    Path::new(prog)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "prog".to_owned())
}

/// Records `prog args` into a fresh trace directory. The program runs in a scratch working
/// directory (`tmp/cwd`), so replays, which run in the test's own directory, also show that the
/// working directory is part of the recording.
pub fn record_fresh<P, I, S>(prog: P, args: I) -> Recording
where
    P: AsRef<OsStr>,
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let prog = prog.as_ref();
    let args: Vec<OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let tmp = TempDir::new(&prog_label(prog));
    let cwd = tmp.join("cwd");
    fs::create_dir_all(&cwd).unwrap();
    let dir = tmp.join("trace");
    let what = format!(
        "record of {}{}",
        prog.to_string_lossy(),
        args.iter()
            .map(|a| format!(" {}", a.to_string_lossy()))
            .collect::<String>()
    );
    let output = record_in(&cwd, &dir, prog, &args);
    Recording::from_parts(tmp, dir, output, what)
}

/// Records `prog args`, then replays it `REPLAYS` times, asserting each replay prints the same
/// stdout and stderr (less `ftrun: ` lines) and ends the same way. Returns the recording for
/// further checks.
pub fn assert_replays_identically<P, I, S>(prog: P, args: I) -> Recording
where
    P: AsRef<OsStr>,
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let rec = record_fresh(prog, args);
    rec.assert_replays(REPLAYS);
    rec
}

/// Asserts two recordings of the same program printed different things, i.e. the program really
/// observes something nondeterministic and identical replays are not trivially identical.
pub fn assert_recordings_differ(a: &Recording, b: &Recording) {
    assert_ne!(
        a.output.stdout,
        b.output.stdout,
        "two recordings of the same program printed the same output, so the test proves \
         nothing (or the recorder made the program deterministic):\n{}",
        a.stdout()
    );
}

/// The file holding the event stream in a trace directory: the one whose name contains
/// "event", otherwise the largest regular file outside `files/`.
pub fn events_file(trace: &Path) -> PathBuf {
    fn walk(dir: &Path, top: bool, out: &mut Vec<(PathBuf, u64)>) {
        for e in fs::read_dir(dir).unwrap().flatten() {
            let ty = e.file_type().unwrap();
            if ty.is_dir() {
                if !(top && e.file_name() == "files") {
                    walk(&e.path(), false, out);
                }
            } else if ty.is_file() {
                out.push((e.path(), e.metadata().unwrap().len()));
            }
        }
    }
    let mut files = Vec::new();
    walk(trace, true, &mut files);
    files.sort();
    if let Some((p, _)) = files.iter().find(|(p, _)| {
        p.file_name()
            .map(|n| n.to_string_lossy().to_lowercase().contains("event"))
            .unwrap_or(false)
    }) {
        return p.clone();
    }
    files
        .into_iter()
        .max_by_key(|(_, len)| *len)
        .map(|(p, _)| p)
        .unwrap_or_else(|| panic!("trace {} holds no files", trace.display()))
}

/// Copies the trace at `from` to `to` (its `files/` too) with its events changed by `edit`,
/// which returns what the caller wants to know about the change.
pub fn edit_trace<T>(from: &Path, to: &Path, edit: impl FnOnce(&mut Vec<schema::Event>) -> T) -> T {
    let mut reader = schema::TraceReader::open(from).unwrap();
    let header = reader.header().clone();
    let mut events = Vec::new();
    while let Some(ev) = reader.next_event().unwrap() {
        events.push(ev);
    }
    let footer = reader.footer().cloned().expect("a finished trace");
    let out = edit(&mut events);
    let mut writer = schema::TraceWriter::create(to, &header).unwrap();
    for ev in events {
        writer.push(ev).unwrap();
    }
    writer.finish(&footer).unwrap();
    copy_dir(&from.join("files"), &to.join("files"));
    out
}

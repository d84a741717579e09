//! The primary's log (`STATE/primary-log/events`): a trace file, written as `TraceWriter`
//! writes one, that may begin with the history of earlier primaries. After a takeover the
//! new primary's log starts as a byte-for-byte copy of the log it replayed (every complete
//! frame), and its own events continue the numbering from there; a new follower is sent
//! this whole file and replays the program from its start. Every frame written is also
//! handed to a sink with the number of events in the file after it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use schema::chunk_buffer::ChunkBuffer;
use schema::codec::{self, ChunkItem};
use schema::frame::{encode_frame, encode_frame_at, file_start, FrameKind, LIVE_CHUNK_ZSTD_LEVEL};
use schema::{BufferedCalls, Event, Footer, Header, TraceError, EVENTS_FILE};

/// Receives each frame written and the number of events in the file after it.
pub type LogFrameSink = Box<dyn FnMut(&[u8], u64) + Send>;

pub struct LogWriter {
    path: PathBuf,
    file: File,
    /// The file start and header frame.
    prelude: Vec<u8>,
    /// Bytes in the file (complete frames only).
    len: u64,
    sink: Option<LogFrameSink>,
    buffer: ChunkBuffer,
    next_seq: u64,
    broken: bool,
}

fn io(path: &Path, op: &'static str) -> impl FnOnce(std::io::Error) -> TraceError {
    let path = path.to_path_buf();
    move |source| TraceError::Io { path, op, source }
}

fn refused(path: &Path, what: impl Into<String>) -> TraceError {
    TraceError::Refused {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

fn header_prelude(path: &Path, header: &Header) -> Result<Vec<u8>, TraceError> {
    let message = codec::encode_header(header)
        .map_err(|e| refused(path, format!("cannot encode the header: {e}")))?;
    let frame = encode_frame(FrameKind::Header, &message).map_err(|w| refused(path, w))?;
    let mut prelude = file_start(header.format_version).to_vec();
    prelude.extend_from_slice(&frame);
    Ok(prelude)
}

impl LogWriter {
    /// A new log in `dir` (created if needed; `dir/events` must not exist): the file start
    /// and the header.
    pub fn create(dir: &Path, header: &Header) -> Result<LogWriter, TraceError> {
        let path = dir.join(EVENTS_FILE);
        let prelude = header_prelude(&path, header)?;
        std::fs::create_dir_all(dir).map_err(io(dir, "create directory"))?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io(&path, "create"))?;
        file.write_all(&prelude).map_err(io(&path, "write"))?;
        Ok(LogWriter {
            len: prelude.len() as u64,
            path,
            file,
            prelude,
            sink: None,
            buffer: ChunkBuffer::default(),
            next_seq: 0,
            broken: false,
        })
    }

    /// A new log in `dir` that begins with the first `bytes` of the log in `history` (its
    /// file start, header and complete frames holding `events` events), copied as they are;
    /// the next event pushed has seq `events`.
    pub fn continuing(
        dir: &Path,
        history: &Path,
        bytes: u64,
        events: u64,
    ) -> Result<LogWriter, TraceError> {
        let path = dir.join(EVENTS_FILE);
        let from_path = history.join(EVENTS_FILE);
        // The reader stands just past the header once open: that is the prelude.
        let prelude_len = schema::TraceReader::open(history)?.offset();
        if bytes < prelude_len {
            return Err(refused(
                &path,
                format!("{} bytes of {} hold no header", bytes, from_path.display()),
            ));
        }
        std::fs::create_dir_all(dir).map_err(io(dir, "create directory"))?;
        let mut from = File::open(&from_path).map_err(io(&from_path, "open"))?;
        let mut prelude = vec![0u8; prelude_len as usize];
        from.read_exact(&mut prelude)
            .map_err(io(&from_path, "read"))?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io(&path, "create"))?;
        file.write_all(&prelude).map_err(io(&path, "write"))?;
        let copied = std::io::copy(&mut (&mut from).take(bytes - prelude_len), &mut file)
            .map_err(io(&path, "write"))?;
        if copied + prelude_len != bytes {
            return Err(refused(
                &path,
                format!("{} ends before byte {bytes}", from_path.display()),
            ));
        }
        file.sync_data().map_err(io(&path, "sync"))?;
        Ok(LogWriter {
            len: bytes,
            path,
            file,
            prelude,
            sink: None,
            buffer: ChunkBuffer::default(),
            next_seq: events,
            broken: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file start and header frame.
    pub fn prelude(&self) -> &[u8] {
        &self.prelude
    }

    /// Bytes of complete frames in the file.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len <= self.prelude.len() as u64
    }

    /// Events pushed so far, history included: the seq the next event must carry.
    pub fn events_written(&self) -> u64 {
        self.next_seq
    }

    /// Every frame written from now on also goes to `sink`.
    pub fn set_frame_sink(&mut self, sink: LogFrameSink) {
        self.sink = Some(sink);
    }

    pub fn push(&mut self, event: Event) -> Result<(), TraceError> {
        self.push_item(ChunkItem::Event(event))
    }

    /// Calls a thread ran in-process, packed: they count as `calls.count` events.
    pub fn push_buffered(&mut self, calls: BufferedCalls) -> Result<(), TraceError> {
        if calls.count == 0 {
            return Ok(());
        }
        self.push_item(ChunkItem::Calls(calls))
    }

    fn push_item(&mut self, item: ChunkItem) -> Result<(), TraceError> {
        self.check_usable()?;
        if item.seq() != self.next_seq {
            return Err(refused(
                &self.path,
                format!(
                    "event {} pushed where event {} was expected",
                    item.seq(),
                    self.next_seq
                ),
            ));
        }
        let events = item.events();
        if ChunkBuffer::needs_own_chunk(&item) {
            self.flush()?;
            self.next_seq += events;
            let frame = self.encode_chunk(std::slice::from_ref(&item))?;
            return self.write_frame(&frame);
        }
        let full = self.buffer.add(item);
        self.next_seq += events;
        if full {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the buffered events as one chunk frame now.
    pub fn flush(&mut self) -> Result<(), TraceError> {
        self.check_usable()?;
        if self.buffer.is_empty() {
            return Ok(());
        }
        let frame = match self.encode_chunk(self.buffer.items()) {
            Ok(f) => f,
            Err(e) => {
                self.broken = true;
                return Err(e);
            }
        };
        self.buffer.clear();
        self.write_frame(&frame)
    }

    /// The buffered events, the footer, and a sync to disk.
    pub fn finish(mut self, footer: &Footer) -> Result<(), TraceError> {
        self.check_usable()?;
        if footer.event_count != self.next_seq {
            return Err(refused(
                &self.path,
                format!(
                    "the footer counts {} events but {} were written",
                    footer.event_count, self.next_seq
                ),
            ));
        }
        self.flush()?;
        let message = codec::encode_footer(footer)
            .map_err(|e| refused(&self.path, format!("cannot encode the footer: {e}")))?;
        let frame =
            encode_frame(FrameKind::Footer, &message).map_err(|w| refused(&self.path, w))?;
        self.write_frame(&frame)?;
        self.file.sync_all().map_err(io(&self.path, "sync"))
    }

    fn encode_chunk(&self, items: &[ChunkItem]) -> Result<Vec<u8>, TraceError> {
        let first = items.first().map_or(self.next_seq, ChunkItem::seq);
        let message = codec::encode_items(first, items)
            .map_err(|e| refused(&self.path, format!("events from {first}: {e}")))?;
        // Written while the program runs and the follower waits for it: fast to make.
        encode_frame_at(FrameKind::Chunk, &message, LIVE_CHUNK_ZSTD_LEVEL)
            .map_err(|e| refused(&self.path, format!("events from {first}: {e}")))
    }

    fn write_frame(&mut self, frame: &[u8]) -> Result<(), TraceError> {
        if let Err(e) = self.file.write_all(frame) {
            self.broken = true;
            return Err(io(&self.path, "write")(e));
        }
        self.len += frame.len() as u64;
        let events = self.next_seq - self.buffer.events();
        if let Some(sink) = self.sink.as_mut() {
            sink(frame, events);
        }
        Ok(())
    }

    fn check_usable(&self) -> Result<(), TraceError> {
        if self.broken {
            return Err(refused(
                &self.path,
                "an earlier write failed, the file may end in a partial frame",
            ));
        }
        Ok(())
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        if !self.broken {
            let _ = self.flush();
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use schema::{EventKind, TraceReader};

    pub(crate) fn header() -> Header {
        Header {
            format_version: schema::FORMAT_VERSION,
            recorder_version: "test".into(),
            argv: vec![b"prog".to_vec()],
            env: vec![],
            cwd: b"/".to_vec(),
            exe: b"/bin/prog".to_vec(),
            kernel_release: String::new(),
            cpu_vendor: String::new(),
            cpu_model: String::new(),
            cpuid_signature: vec![],
            tick_source: schema::TickSource::None,
            tick_event: 0,
            rlimits: vec![],
            start_time_ns: 0,
            inherited: None,
        }
    }

    pub(crate) fn event(seq: u64) -> Event {
        Event {
            seq,
            tid: 7,
            kind: EventKind::Rdtsc(schema::RdtscEvent {
                value: seq * 10,
                aux: 0,
                is_rdtscp: false,
                rip: 0x1000,
            }),
        }
    }

    #[test]
    fn a_continued_log_reads_as_one_trace_from_its_first_event() {
        let dir = std::env::temp_dir().join(format!("ftlink-log-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (old, new) = (dir.join("old"), dir.join("new"));
        let mut w = LogWriter::create(&old, &header()).unwrap();
        for seq in 0..300 {
            w.push(event(seq)).unwrap();
        }
        w.flush().unwrap();
        let (bytes, events) = (w.len(), w.events_written());
        // A frame begun but never finished (the old primary died while writing it).
        w.file.write_all(&[1, 2, 3]).unwrap();
        drop(w);
        let mut w = LogWriter::continuing(&new, &old, bytes, events).unwrap();
        let counts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen_by_sink = counts.clone();
        w.set_frame_sink(Box::new(move |_, n| seen_by_sink.lock().unwrap().push(n)));
        for seq in 300..310 {
            w.push(event(seq)).unwrap();
        }
        w.finish(&Footer {
            finished_cleanly: true,
            event_count: 310,
            exit: None,
        })
        .unwrap();
        let mut r = TraceReader::open(&new).unwrap();
        let mut seen = 0;
        while let Some(ev) = r.next_event().unwrap() {
            assert_eq!(ev, event(seen));
            seen += 1;
        }
        assert_eq!(seen, 310);
        assert!(r.footer().is_some());
        // The chunk of the ten new events, then the footer.
        assert_eq!(*counts.lock().unwrap(), vec![310, 310]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

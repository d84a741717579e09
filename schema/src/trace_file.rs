//! The trace file `DIR/events`: [`TraceWriter`] appends frames to it as a recording goes,
//! [`TraceReader`] serves it back (also while it is still being written).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::chunk_buffer::ChunkBuffer;
use crate::codec::{self, ChunkItem};
use crate::error::TraceError;
use crate::frame::{encode_frame, file_start, FrameKind, FILE_START_LEN};
use crate::model::{BufferedCalls, Event, Footer, Header, FORMAT_VERSION};
use crate::stream::StreamDecoder;

/// Name of the event file inside a trace directory.
pub const EVENTS_FILE: &str = "events";
/// A chunk frame is written once this many events are buffered.
pub const CHUNK_EVENTS: usize = 256;
/// … or once the buffered events take about this many bytes (see `codec::estimated_size`).
pub const CHUNK_BYTES: usize = 1 << 20;

/// Receives a copy of every byte written to the trace file, frame by frame.
pub type FrameSink = Box<dyn FnMut(&[u8]) + Send>;

/// Writes `DIR/events`: the file start and header at creation, then chunks of events, then the
/// footer at [`finish`](Self::finish).
///
/// Dropping a writer without `finish` writes the buffered events (no footer), so the trace
/// reads as interrupted. After an I/O error the writer refuses all further work, since the
/// file may end in a partial frame.
pub struct TraceWriter {
    path: PathBuf,
    dir: PathBuf,
    file: File,
    /// File start and header frame, replayed to a sink when one is set.
    prelude: Vec<u8>,
    sink: Option<FrameSink>,
    buffer: ChunkBuffer,
    /// Seq of the next event to push (= events accepted so far).
    next_seq: u64,
    broken: bool,
    finished: bool,
}

impl std::fmt::Debug for TraceWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceWriter")
            .field("path", &self.path)
            .field("buffered", &self.buffer.len())
            .field("next_seq", &self.next_seq)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

impl TraceWriter {
    /// Creates `dir` (and its parents) if needed and `dir/events`, which must not exist yet,
    /// and writes the file start and the header frame.
    pub fn create(dir: &Path, header: &Header) -> Result<TraceWriter, TraceError> {
        let path = dir.join(EVENTS_FILE);
        if header.format_version != FORMAT_VERSION {
            return Err(TraceError::Refused {
                path,
                what: format!(
                    "the header says format version {}, but this writer writes version {}",
                    header.format_version, FORMAT_VERSION
                ),
            });
        }
        let message = codec::encode_header(header).map_err(|e| TraceError::Refused {
            path: path.clone(),
            what: format!("cannot encode the header: {e}"),
        })?;
        let frame =
            encode_frame(FrameKind::Header, &message).map_err(|what| TraceError::Refused {
                path: path.clone(),
                what,
            })?;
        fs::create_dir_all(dir).map_err(|e| TraceError::io(dir, "create directory", e))?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| TraceError::io(&path, "create", e))?;
        let mut prelude = Vec::with_capacity(16 + frame.len());
        prelude.extend_from_slice(&file_start(FORMAT_VERSION));
        prelude.extend_from_slice(&frame);
        file.write_all(&prelude)
            .map_err(|e| TraceError::io(&path, "write", e))?;
        Ok(TraceWriter {
            path,
            dir: dir.to_path_buf(),
            file,
            prelude,
            sink: None,
            buffer: ChunkBuffer::default(),
            next_seq: 0,
            broken: false,
            finished: false,
        })
    }

    /// The file being written (`DIR/events`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Events accepted by [`push`](Self::push) so far, buffered ones included: also the seq
    /// the next event must carry, and the `event_count` the footer must state.
    pub fn events_written(&self) -> u64 {
        self.next_seq
    }

    /// Adds an event, whose seq must be [`events_written`](Self::events_written). Buffers it
    /// and writes a chunk frame when `CHUNK_EVENTS` events or about `CHUNK_BYTES` bytes are
    /// buffered; an event of `CHUNK_BYTES` or more gets a chunk of its own.
    ///
    /// A refused event (wrong seq, too large for a frame) changes nothing: the error is
    /// `TraceError::Refused` and the writer stays usable.
    pub fn push(&mut self, event: Event) -> Result<(), TraceError> {
        self.push_item(ChunkItem::Event(event))
    }

    /// Adds calls packed by the recorder, whose first seq must be
    /// [`events_written`](Self::events_written); they count as `calls.count` events.
    pub fn push_buffered(&mut self, calls: BufferedCalls) -> Result<(), TraceError> {
        if calls.count == 0 {
            return Ok(());
        }
        self.push_item(ChunkItem::Calls(calls))
    }

    fn push_item(&mut self, item: ChunkItem) -> Result<(), TraceError> {
        self.check_usable()?;
        if item.seq() != self.next_seq {
            return Err(self.refused(format!(
                "event {} pushed where event {} was expected",
                item.seq(),
                self.next_seq
            )));
        }
        let events = item.events();
        if ChunkBuffer::needs_own_chunk(&item) {
            self.flush()?;
            // Encode the big item alone first so that a refusal leaves nothing behind.
            let frame = self.encode_chunk(std::slice::from_ref(&item))?;
            self.write_frame(&frame)?;
            self.next_seq += events;
            return Ok(());
        }
        let full = self.buffer.add(item);
        self.next_seq += events;
        if full {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the buffered events as one chunk frame now; does nothing when none are buffered.
    /// Each frame goes to the file in one `write_all`, so a concurrent reader sees whole frames
    /// (or, at worst, a frame's beginning, which it waits on).
    pub fn flush(&mut self) -> Result<(), TraceError> {
        self.check_usable()?;
        if self.buffer.is_empty() {
            return Ok(());
        }
        let frame = match self.encode_chunk(self.buffer.items()) {
            Ok(f) => f,
            Err(e) => {
                // Cannot happen with events below CHUNK_BYTES each; refuse further work
                // rather than lose events silently.
                self.broken = true;
                return Err(e);
            }
        };
        self.buffer.clear();
        self.write_frame(&frame)
    }

    /// Sends the bytes of the file start and header frame to `sink` at once, then a copy of
    /// every frame written from now on. Set it before events are flushed, or the sink's stream
    /// will lack the chunks written before. Replaces any earlier sink.
    pub fn set_frame_sink(&mut self, mut sink: FrameSink) {
        sink(&self.prelude);
        self.sink = Some(sink);
    }

    /// Writes the buffered events, the footer frame, and syncs the file (and directory) to
    /// disk. `footer.event_count` must equal [`events_written`](Self::events_written).
    pub fn finish(mut self, footer: &Footer) -> Result<(), TraceError> {
        self.check_usable()?;
        if footer.event_count != self.next_seq {
            return Err(self.refused(format!(
                "the footer counts {} events but {} were written",
                footer.event_count, self.next_seq
            )));
        }
        self.flush()?;
        let message = codec::encode_footer(footer)
            .map_err(|e| self.refused(format!("cannot encode the footer: {e}")))?;
        let frame = encode_frame(FrameKind::Footer, &message).map_err(|what| self.refused(what))?;
        self.write_frame(&frame)?;
        self.finished = true;
        self.file
            .sync_all()
            .map_err(|e| TraceError::io(&self.path, "sync", e))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| TraceError::io(&self.dir, "sync", e))
    }

    fn encode_chunk(&self, items: &[ChunkItem]) -> Result<Vec<u8>, TraceError> {
        let first = items.first().map_or(self.next_seq, ChunkItem::seq);
        let what = |e: String| {
            if items.len() == 1 && items[0].events() == 1 {
                format!("event {first} cannot be stored: {e}")
            } else {
                format!("events from {first} cannot be stored: {e}")
            }
        };
        let message =
            codec::encode_items(first, items).map_err(|e| self.refused(what(e.to_string())))?;
        encode_frame(FrameKind::Chunk, &message).map_err(|e| self.refused(what(e)))
    }

    fn write_frame(&mut self, frame: &[u8]) -> Result<(), TraceError> {
        if let Err(e) = self.file.write_all(frame) {
            self.broken = true;
            return Err(TraceError::io(&self.path, "write", e));
        }
        if let Some(sink) = self.sink.as_mut() {
            sink(frame);
        }
        Ok(())
    }

    fn check_usable(&self) -> Result<(), TraceError> {
        if self.broken {
            return Err(
                self.refused("an earlier write failed, the file may end in a partial frame")
            );
        }
        Ok(())
    }

    fn refused(&self, what: impl Into<String>) -> TraceError {
        TraceError::Refused {
            path: self.path.clone(),
            what: what.into(),
        }
    }
}

impl Drop for TraceWriter {
    fn drop(&mut self) {
        if !self.finished && !self.broken {
            // Best effort: keep what was recorded; the missing footer marks it interrupted.
            let _ = self.flush();
        }
    }
}

/// How a trace ended, as far as a reader has got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndState {
    /// The footer was read.
    Finished(Footer),
    /// No footer (yet): the recording was cut short, or is still going on. `events` were
    /// served, the last complete frame ends at `offset`, and `partial_bytes` follow it (the
    /// beginning of a frame never completed).
    Interrupted {
        events: u64,
        offset: u64,
        partial_bytes: u64,
    },
}

/// Reads `DIR/events`, event by event.
///
/// At the end of the file without a footer, [`next_event`](Self::next_event) returns
/// `Ok(None)`; calling it again reads on if the file has grown, so a trace still being
/// recorded can be followed.
#[derive(Debug)]
pub struct TraceReader {
    path: PathBuf,
    file: File,
    decoder: StreamDecoder,
    header: Header,
    buf: Vec<u8>,
    /// Bytes of the file read so far, and how many may be (see `stop_at_current_end`).
    read: u64,
    limit: u64,
}

const READ_BLOCK: usize = 256 << 10;

impl TraceReader {
    /// Opens `dir/events` and reads the file start and the header frame, checking the magic and
    /// the format version (in both).
    pub fn open(dir: &Path) -> Result<TraceReader, TraceError> {
        let path = dir.join(EVENTS_FILE);
        let mut file = File::open(&path).map_err(|e| TraceError::io(&path, "open", e))?;
        let mut decoder = StreamDecoder::new();
        let mut buf = Vec::new();
        loop {
            let polled = decoder.poll_header().map_err(|e| e.at(&path))?;
            if let Some(h) = polled {
                let header = h.clone();
                let read = decoder.offset() + decoder.buffered() as u64;
                return Ok(TraceReader {
                    path,
                    file,
                    decoder,
                    header,
                    buf,
                    read,
                    limit: u64::MAX,
                });
            }
            if fill(&path, &mut file, &mut decoder, &mut buf, u64::MAX)? == 0 {
                let got = decoder.offset() + decoder.buffered() as u64;
                let what = if got == 0 {
                    "the file is empty".to_string()
                } else if got < FILE_START_LEN as u64 {
                    format!("the file ends inside the file start ({got} of {FILE_START_LEN} bytes)")
                } else {
                    format!(
                        "the file ends inside the header frame ({} bytes of it)",
                        got - FILE_START_LEN as u64
                    )
                };
                return Err(TraceError::Corrupt {
                    path,
                    offset: decoder.offset(),
                    last_seq: None,
                    what,
                });
            }
        }
    }

    /// The file being read (`DIR/events`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The next event in seq order, or `Ok(None)` at the end: after the footer, or at the end
    /// of the file without one (every complete frame before a truncated one is still served).
    pub fn next_event(&mut self) -> Result<Option<Event>, TraceError> {
        loop {
            match self.decoder.next_event() {
                Err(e) => return Err(e.at(&self.path)),
                Ok(Some(event)) => return Ok(Some(event)),
                Ok(None) => {
                    // Finished or not, look for more bytes: after a footer any would be an
                    // error, without one they may continue a trace being written.
                    if self.fill()? == 0 {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Moves up to `max` next events to the end of `out`: how many (0 at the end of what
    /// is written, as `next_event`'s `None`).
    pub fn next_events(
        &mut self,
        out: &mut std::collections::VecDeque<Event>,
        max: usize,
    ) -> Result<usize, TraceError> {
        loop {
            match self.decoder.next_events(out, max) {
                Err(e) => return Err(e.at(&self.path)),
                Ok(0) if max > 0 => {
                    if self.fill()? == 0 {
                        return Ok(0);
                    }
                }
                Ok(n) => return Ok(n),
            }
        }
    }

    /// The footer, once it has been read.
    pub fn footer(&self) -> Option<&Footer> {
        self.decoder.footer()
    }

    /// How the trace ended; meaningful once `next_event` has returned `Ok(None)` (before that
    /// it describes what has been read so far as `Interrupted`).
    pub fn end_state(&self) -> EndState {
        match self.decoder.footer() {
            Some(f) => EndState::Finished(f.clone()),
            None => EndState::Interrupted {
                events: self.decoder.events_served(),
                offset: self.decoder.offset(),
                partial_bytes: self.decoder.buffered() as u64,
            },
        }
    }

    /// Byte offset of the next frame (just past the last complete frame read).
    pub fn offset(&self) -> u64 {
        self.decoder.offset()
    }

    /// Reads no further than the file's length now: a trace still being recorded is read
    /// as far as it was written when this was called, however fast its recorder goes on
    /// (otherwise a reader slower than the recorder would never reach the end).
    pub fn stop_at_current_end(&mut self) -> Result<(), TraceError> {
        let len = self
            .file
            .metadata()
            .map_err(|e| TraceError::io(&self.path, "stat", e))?
            .len();
        self.limit = len.max(self.read);
        Ok(())
    }

    fn fill(&mut self) -> Result<usize, TraceError> {
        let left = self.limit.saturating_sub(self.read);
        if left == 0 {
            return Ok(0);
        }
        let n = fill(
            &self.path,
            &mut self.file,
            &mut self.decoder,
            &mut self.buf,
            left,
        )?;
        self.read += n as u64;
        Ok(n)
    }
}

/// Reads one block (at most `left` bytes) from `file` into `decoder`; returns the bytes read
/// (0 at the end of the file).
fn fill(
    path: &Path,
    file: &mut File,
    decoder: &mut StreamDecoder,
    buf: &mut Vec<u8>,
    left: u64,
) -> Result<usize, TraceError> {
    // Read at least what the current frame still needs (up to 16 MiB at once).
    let want = decoder.needed().clamp(READ_BLOCK, 16 << 20);
    let want = want.min(usize::try_from(left).unwrap_or(usize::MAX));
    if buf.len() < want {
        // The old contents are not needed; a fresh zeroed buffer is cheaper than resizing.
        *buf = vec![0; want];
    }
    loop {
        match file.read(&mut buf[..want]) {
            Ok(n) => {
                decoder.push(&buf[..n]);
                return Ok(n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(TraceError::io(path, "read", e)),
        }
    }
}

//! The framing of a trace byte stream: the 16-byte file start, frame encoding, and
//! [`FrameDecoder`], which takes bytes in pieces of any size and pops whole, checked frames.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! file start: b"FTRUNTRC"  version:u32  reserved:u32 (0)
//! frame:      kind:u8 (1 Header, 2 Chunk, 3 Footer)  0u8 0u8 0u8
//!             payload_len:u32  raw_len:u32  crc32(payload):u32  payload
//! ```
//!
//! Header and Footer payloads are the capnp message itself (`raw_len == payload_len`); a Chunk
//! payload is the capnp message compressed with zstd, `raw_len` being its size uncompressed.

use crate::error::FormatError;
use crate::model::FORMAT_VERSION;

/// The first 8 bytes of every trace.
pub const MAGIC: [u8; 8] = *b"FTRUNTRC";
/// Length of the file start (magic, version, reserved).
pub const FILE_START_LEN: usize = 16;
/// Length of a frame's fixed part before its payload.
pub const FRAME_HEADER_LEN: usize = 16;
/// Largest payload a frame may carry; a larger `payload_len` is taken as corruption.
pub const MAX_PAYLOAD_LEN: usize = 64 << 20;
/// Largest message a frame may carry once decompressed.
pub const MAX_RAW_LEN: usize = 256 << 20;
/// The zstd level of chunk payloads.
pub const CHUNK_ZSTD_LEVEL: i32 = 1;
/// The zstd level of chunks written while a follower waits for them (fault tolerance's
/// log, a few kilobytes a frame): zstd's fastest kind, about twice as quick to make and
/// quicker to read back as level 1 for a third more bytes on a link that has the room.
pub const LIVE_CHUNK_ZSTD_LEVEL: i32 = -1;

/// What a frame holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    Header = 1,
    Chunk = 2,
    Footer = 3,
}

impl FrameKind {
    fn from_byte(b: u8) -> Option<FrameKind> {
        match b {
            1 => Some(FrameKind::Header),
            2 => Some(FrameKind::Chunk),
            3 => Some(FrameKind::Footer),
            _ => None,
        }
    }

    /// Lower-case name for messages ("header", "chunk", "footer").
    pub fn name(self) -> &'static str {
        match self {
            FrameKind::Header => "header",
            FrameKind::Chunk => "chunk",
            FrameKind::Footer => "footer",
        }
    }
}

/// The 16 bytes a trace starts with.
pub fn file_start(version: u32) -> [u8; FILE_START_LEN] {
    let mut out = [0u8; FILE_START_LEN];
    out[..8].copy_from_slice(&MAGIC);
    out[8..12].copy_from_slice(&version.to_le_bytes());
    out
}

/// Builds the bytes of one frame around a capnp `message` (compressing it for a chunk).
/// Fails, with a message for a person, when the frame would exceed the size limits.
pub fn encode_frame(kind: FrameKind, message: &[u8]) -> Result<Vec<u8>, String> {
    encode_frame_at(kind, message, CHUNK_ZSTD_LEVEL)
}

/// As [`encode_frame`], a chunk compressed at zstd level `level`.
pub fn encode_frame_at(kind: FrameKind, message: &[u8], level: i32) -> Result<Vec<u8>, String> {
    if message.len() > MAX_RAW_LEN {
        return Err(format!(
            "the {} message takes {} bytes, more than the {} MiB a frame may hold",
            kind.name(),
            message.len(),
            MAX_RAW_LEN >> 20
        ));
    }
    let compressed;
    let payload: &[u8] = match kind {
        FrameKind::Chunk => {
            compressed = compress_chunk(message, level)?;
            &compressed
        }
        FrameKind::Header | FrameKind::Footer => message,
    };
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(format!(
            "the {} payload takes {} bytes, more than the {} MiB a frame may hold",
            kind.name(),
            payload.len(),
            MAX_PAYLOAD_LEN >> 20
        ));
    }
    let mut out = Vec::with_capacity(FRAME_HEADER_LEN + payload.len());
    out.extend_from_slice(&[kind as u8, 0, 0, 0]);
    // Both lengths are below the limits checked above, so they fit in a u32.
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&(message.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// What [`check_whole_frames`] found in a run of frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WholeFrames {
    pub frames: usize,
    /// The last frame is the trace's footer.
    pub ends_with_footer: bool,
}

/// Checks that `bytes` are whole frames, one after another, each with a known kind, zero
/// padding, lengths within the limits and its crc32 — without decompressing or decoding
/// them (a follower storing frames it is told the event count of).
pub fn check_whole_frames(bytes: &[u8]) -> Result<WholeFrames, String> {
    let mut at = 0;
    let mut found = WholeFrames {
        frames: 0,
        ends_with_footer: false,
    };
    while at < bytes.len() {
        let head = bytes
            .get(at..at + FRAME_HEADER_LEN)
            .ok_or_else(|| format!("a frame header cut short at byte {at}"))?;
        let kind = FrameKind::from_byte(head[0])
            .ok_or_else(|| format!("unknown frame kind {} at byte {at}", head[0]))?;
        let (payload_len, raw_len) = (le32(&head[4..8]) as usize, le32(&head[8..12]) as usize);
        if head[1..4] != [0, 0, 0] || payload_len > MAX_PAYLOAD_LEN || raw_len > MAX_RAW_LEN {
            return Err(format!(
                "a damaged {} frame header at byte {at}",
                kind.name()
            ));
        }
        let payload = bytes
            .get(at + FRAME_HEADER_LEN..at + FRAME_HEADER_LEN + payload_len)
            .ok_or_else(|| format!("a {} frame cut short at byte {at}", kind.name()))?;
        if crc32fast::hash(payload) != le32(&head[12..16]) {
            return Err(format!(
                "a {} frame at byte {at} fails its crc32",
                kind.name()
            ));
        }
        found.frames += 1;
        found.ends_with_footer = kind == FrameKind::Footer;
        at += FRAME_HEADER_LEN + payload_len;
    }
    Ok(found)
}

/// One complete, checked frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: FrameKind,
    /// Stream offset of the frame's first byte.
    pub offset: u64,
    /// Length of the whole frame in the stream (fixed part and payload).
    pub len: u64,
    /// The capnp message (decompressed for a chunk).
    pub message: Vec<u8>,
}

/// Splits a trace byte stream into frames, whatever the sizes of the pieces it is given.
///
/// Checks the file start (magic, version), then for each frame its kind, zero padding, length
/// limits and crc32, and decompresses chunks. [`pop`](Self::pop) returns `Ok(None)` when the
/// buffered bytes do not yet hold a whole frame: push more and call it again. An error leaves
/// the decoder where it was: it reports the same error until dropped.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed.
    pos: usize,
    /// Stream offset of `buf[pos]`.
    offset: u64,
    started: bool,
}

impl FrameDecoder {
    /// A decoder expecting the stream from its first byte (the file start).
    pub fn new() -> FrameDecoder {
        FrameDecoder::default()
    }

    /// Appends bytes of the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Stream offset of the next frame (just past everything popped so far).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Bytes pushed but not yet part of a popped frame (or of the file start).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether the file start has been read and checked.
    pub fn started(&self) -> bool {
        self.started
    }

    /// How many more bytes the next frame needs at least, 0 when [`pop`](Self::pop) would
    /// return a frame or an error. A hint for readers sizing their reads.
    pub fn needed(&self) -> usize {
        let avail = &self.buf[self.pos..];
        if !self.started {
            return FILE_START_LEN.saturating_sub(avail.len());
        }
        if avail.len() < FRAME_HEADER_LEN {
            return FRAME_HEADER_LEN - avail.len();
        }
        let payload_len = le32(&avail[4..8]) as usize;
        if payload_len > MAX_PAYLOAD_LEN {
            return 0;
        }
        (FRAME_HEADER_LEN + payload_len).saturating_sub(avail.len())
    }

    /// Pops the next frame: `Ok(Some)` for a whole frame, `Ok(None)` when more bytes are
    /// needed, `Err` when the stream is not a trace or is damaged.
    pub fn pop(&mut self) -> Result<Option<Frame>, FormatError> {
        if !self.started && !self.read_file_start()? {
            return Ok(None);
        }
        let avail = &self.buf[self.pos..];
        if avail.len() < FRAME_HEADER_LEN {
            return Ok(None);
        }
        let at = self.offset;
        let kind = FrameKind::from_byte(avail[0])
            .ok_or_else(|| FormatError::corrupt(at, format!("unknown frame kind {}", avail[0])))?;
        if avail[1..4] != [0, 0, 0] {
            return Err(FormatError::corrupt(
                at,
                format!("{} frame has non-zero padding", kind.name()),
            ));
        }
        let payload_len = le32(&avail[4..8]) as usize;
        let raw_len = le32(&avail[8..12]) as usize;
        let crc = le32(&avail[12..16]);
        if payload_len > MAX_PAYLOAD_LEN {
            return Err(FormatError::corrupt(
                at,
                format!(
                    "{} frame claims a payload of {payload_len} bytes (the limit is {} MiB)",
                    kind.name(),
                    MAX_PAYLOAD_LEN >> 20
                ),
            ));
        }
        if raw_len > MAX_RAW_LEN {
            return Err(FormatError::corrupt(
                at,
                format!(
                    "{} frame claims a message of {raw_len} bytes (the limit is {} MiB)",
                    kind.name(),
                    MAX_RAW_LEN >> 20
                ),
            ));
        }
        if kind != FrameKind::Chunk && raw_len != payload_len {
            return Err(FormatError::corrupt(
                at,
                format!(
                    "{} frame has payload length {payload_len} but raw length {raw_len}",
                    kind.name()
                ),
            ));
        }
        let total = FRAME_HEADER_LEN + payload_len;
        if avail.len() < total {
            return Ok(None);
        }
        let payload = &avail[FRAME_HEADER_LEN..total];
        if crc32fast::hash(payload) != crc {
            return Err(FormatError::corrupt(
                at,
                format!("{} checksum mismatch", kind.name()),
            ));
        }
        let message = match kind {
            FrameKind::Chunk => {
                decompress(payload, raw_len).map_err(|what| FormatError::corrupt(at, what))?
            }
            FrameKind::Header | FrameKind::Footer => payload.to_vec(),
        };
        self.pos += total;
        self.offset += total as u64;
        Ok(Some(Frame {
            kind,
            offset: at,
            len: total as u64,
            message,
        }))
    }

    /// Checks and consumes the file start; `Ok(false)` when it is not all there yet.
    fn read_file_start(&mut self) -> Result<bool, FormatError> {
        let avail = &self.buf[self.pos..];
        let n = avail.len().min(MAGIC.len());
        if avail[..n] != MAGIC[..n] {
            return Err(FormatError::NotATrace);
        }
        if avail.len() < FILE_START_LEN {
            return Ok(false);
        }
        let found = le32(&avail[8..12]);
        if found != FORMAT_VERSION {
            return Err(FormatError::Version {
                found,
                expected: FORMAT_VERSION,
            });
        }
        if le32(&avail[12..16]) != 0 {
            return Err(FormatError::corrupt(
                self.offset + 12,
                "the reserved field of the file start is not zero",
            ));
        }
        self.pos += FILE_START_LEN;
        self.offset += FILE_START_LEN as u64;
        self.started = true;
        Ok(true)
    }
}

fn le32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

/// Decompresses a chunk payload that must be exactly one zstd frame of `raw_len` bytes.
fn decompress(payload: &[u8], raw_len: usize) -> Result<Vec<u8>, String> {
    use zstd::zstd_safe;
    match zstd_safe::find_frame_compressed_size(payload) {
        Ok(n) if n == payload.len() => {}
        _ => return Err("chunk payload is not a single zstd frame".to_string()),
    }
    // Check the size the zstd frame declares before allocating anything for it.
    match zstd_safe::get_frame_content_size(payload) {
        Ok(Some(n)) if n == raw_len as u64 => {}
        Ok(Some(n)) => {
            return Err(format!(
                "chunk decompresses to {n} bytes but its frame says {raw_len}"
            ))
        }
        _ => return Err("chunk payload does not declare its size".to_string()),
    }
    let out = decompress_chunk(payload, raw_len)?;
    if out.len() != raw_len {
        return Err(format!(
            "chunk decompresses to {} bytes but its frame says {raw_len}",
            out.len()
        ));
    }
    Ok(out)
}
/// Decompresses with one decompression context per thread: making a context costs more
/// than decompressing a chunk of small events (a follower decompresses one every few
/// requests of its primary's server).
fn decompress_chunk(payload: &[u8], raw_len: usize) -> Result<Vec<u8>, String> {
    thread_local! {
        static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    DECOMPRESSOR.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            *d = Some(
                zstd::bulk::Decompressor::new()
                    .map_err(|e| format!("cannot make a decompressor: {e}"))?,
            );
        }
        d.as_mut()
            .expect("just made")
            .decompress(payload, raw_len)
            .map_err(|e| format!("chunk does not decompress: {e}"))
    })
}

/// Compresses a chunk with one compression context per thread: making a context costs more
/// than compressing a chunk of small events.
fn compress_chunk(message: &[u8], level: i32) -> Result<Vec<u8>, String> {
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
            const { std::cell::RefCell::new(None) };
    }
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.as_ref().is_none_or(|(made_at, _)| *made_at != level) {
            let made = zstd::bulk::Compressor::new(level)
                .map_err(|e| format!("cannot make a compressor: {e}"))?;
            *c = Some((level, made));
        }
        c.as_mut()
            .expect("just made")
            .1
            .compress(message)
            .map_err(|e| format!("cannot compress the chunk: {e}"))
    })
}

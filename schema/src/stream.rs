//! [`StreamDecoder`]: turns a trace byte stream, pushed in pieces, into the header, the events
//! and the footer, checking the order of frames and that seq numbers run from 0 without gaps.
//! `TraceReader` uses it on a file; a follower can use it on bytes received from a recorder.

use std::collections::VecDeque;

use crate::codec;
use crate::error::FormatError;
use crate::frame::{Frame, FrameDecoder, FrameKind};
use crate::model::{Event, Footer, Header, FORMAT_VERSION};

/// Decodes a whole trace stream incrementally.
///
/// Push bytes with [`push`](Self::push); [`next_event`](Self::next_event) then serves the
/// events in order. `Ok(None)` from it means "nothing more for now": the stream is finished if
/// [`footer`](Self::footer) is `Some`, otherwise more bytes are needed. Errors are sticky: once
/// one is returned, every later call returns it again.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    frames: FrameDecoder,
    header: Option<Header>,
    footer: Option<Footer>,
    pending: VecDeque<Event>,
    /// An empty buffer kept for decoding a chunk while `pending` still holds events.
    spare: Vec<Event>,
    /// Seq the next decoded event must carry (= events decoded so far).
    next_seq: u64,
    /// Events handed out by `next_event`.
    served: u64,
    failed: Option<FormatError>,
}

impl StreamDecoder {
    pub fn new() -> StreamDecoder {
        StreamDecoder::default()
    }

    /// Appends bytes of the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.frames.push(bytes);
    }

    /// The header, once its frame has been decoded (see [`poll_header`](Self::poll_header)).
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// The footer, once its frame has been decoded.
    pub fn footer(&self) -> Option<&Footer> {
        self.footer.as_ref()
    }

    /// Decodes the header if its frame is complete: `Ok(None)` means more bytes are needed.
    pub fn poll_header(&mut self) -> Result<Option<&Header>, FormatError> {
        if self.header.is_none() {
            self.advance()?;
        }
        Ok(self.header.as_ref())
    }

    /// The next event, or `Ok(None)` when none is available now (finished, or more bytes
    /// needed: see [`footer`](Self::footer)).
    pub fn next_event(&mut self) -> Result<Option<Event>, FormatError> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                self.served += 1;
                return Ok(Some(e));
            }
            if !self.advance()? {
                return Ok(None);
            }
        }
    }

    /// Moves up to `max` events, in order, to the end of `out` (decoding a frame if none is
    /// waiting): how many, 0 when none is available now (as `next_event`'s `Ok(None)`).
    /// Each event is moved once, not handed back one at a time.
    pub fn next_events(
        &mut self,
        out: &mut VecDeque<Event>,
        max: usize,
    ) -> Result<usize, FormatError> {
        loop {
            if !self.pending.is_empty() || max == 0 {
                let n = max.min(self.pending.len());
                out.extend(self.pending.drain(..n));
                self.served += n as u64;
                return Ok(n);
            }
            if !self.advance()? {
                return Ok(0);
            }
        }
    }

    /// Events served by [`next_event`](Self::next_event) so far.
    pub fn events_served(&self) -> u64 {
        self.served
    }

    /// Events decoded from complete frames so far (served or not).
    pub fn events_decoded(&self) -> u64 {
        self.next_seq
    }

    /// Stream offset of the next frame, just past the last complete frame decoded.
    pub fn offset(&self) -> u64 {
        self.frames.offset()
    }

    /// Bytes pushed beyond the last complete frame (a frame not yet whole).
    pub fn buffered(&self) -> usize {
        self.frames.buffered()
    }

    /// A hint: how many more bytes the next frame needs at least.
    pub fn needed(&self) -> usize {
        self.frames.needed()
    }

    /// Decodes one more frame if there is a whole one; `Ok(false)` when there is not (or the
    /// footer has been read and nothing follows it).
    fn advance(&mut self) -> Result<bool, FormatError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.advance_inner();
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    fn advance_inner(&mut self) -> Result<bool, FormatError> {
        let last_seq = self.next_seq.checked_sub(1);
        if self.footer.is_some() {
            let extra = self.frames.buffered();
            if extra > 0 {
                return Err(self.corrupt(
                    self.frames.offset(),
                    format!("{extra} bytes follow the footer"),
                ));
            }
            return Ok(false);
        }
        let frame = match self.frames.pop() {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(false),
            Err(FormatError::Corrupt { offset, what, .. }) => {
                return Err(FormatError::Corrupt {
                    offset,
                    last_seq,
                    what,
                })
            }
            Err(e) => return Err(e),
        };
        self.take_frame(frame)?;
        Ok(true)
    }

    fn take_frame(&mut self, frame: Frame) -> Result<(), FormatError> {
        let at = frame.offset;
        match (frame.kind, self.header.is_some()) {
            (FrameKind::Header, false) => {
                let header = codec::decode_header(&frame.message)
                    .map_err(|e| self.corrupt(at, format!("undecodable header: {e}")))?;
                if header.format_version != FORMAT_VERSION {
                    return Err(FormatError::Version {
                        found: header.format_version,
                        expected: FORMAT_VERSION,
                    });
                }
                self.header = Some(header);
            }
            (FrameKind::Header, true) => {
                return Err(self.corrupt(at, "a second header frame"));
            }
            (kind, false) => {
                return Err(self.corrupt(
                    at,
                    format!("expected the header frame, found a {} frame", kind.name()),
                ));
            }
            (FrameKind::Chunk, true) => {
                // Into the served-out buffer of the chunk before (emptied), or a spare one
                // while events of that chunk wait: its memory is reused, not faulted in anew.
                let mut events = if self.pending.is_empty() {
                    Vec::from(std::mem::take(&mut self.pending))
                } else {
                    std::mem::take(&mut self.spare)
                };
                events.clear();
                let decoded = codec::decode_chunk_into(&frame.message, &mut events);
                let first_seq = match decoded {
                    Ok(first) => first,
                    Err(e) => {
                        events.clear();
                        self.spare = events;
                        return Err(self.corrupt(at, format!("undecodable chunk: {e}")));
                    }
                };
                if first_seq != self.next_seq {
                    return Err(self.corrupt(
                        at,
                        format!(
                            "chunk starts at event {first_seq}, expected event {}",
                            self.next_seq
                        ),
                    ));
                }
                for (expected, e) in (first_seq..).zip(&events) {
                    if e.seq != expected {
                        return Err(self.corrupt(
                            at,
                            format!(
                                "event {} found where event {expected} belongs in the chunk",
                                e.seq
                            ),
                        ));
                    }
                }
                self.next_seq += events.len() as u64;
                if self.pending.is_empty() {
                    // Takes the chunk's buffer as it is, without moving its events again.
                    self.pending = events.into();
                } else {
                    self.pending.extend(events.drain(..));
                    self.spare = events;
                }
            }
            (FrameKind::Footer, true) => {
                let footer = codec::decode_footer(&frame.message)
                    .map_err(|e| self.corrupt(at, format!("undecodable footer: {e}")))?;
                if footer.event_count != self.next_seq {
                    return Err(self.corrupt(
                        at,
                        format!(
                            "the footer counts {} events but the trace holds {}",
                            footer.event_count, self.next_seq
                        ),
                    ));
                }
                self.footer = Some(footer);
            }
        }
        Ok(())
    }

    fn corrupt(&self, offset: u64, what: impl Into<String>) -> FormatError {
        FormatError::Corrupt {
            offset,
            last_seq: self.next_seq.checked_sub(1),
            what: what.into(),
        }
    }
}

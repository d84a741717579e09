//! The ftrun trace format: the model (plain Rust values), its Cap'n Proto schema and generated
//! code, and the framed, checksummed, compressed file `DIR/events` that holds a recording.
//!
//! Layers, from the bottom:
//! - [`model`]: the values (`Header`, `Event`, `Footer` …), re-exported at the crate root;
//! - [`trace_capnp`]: code generated from `trace.capnp` by `regen.sh` (committed, never built
//!   at compile time);
//! - [`codec`]: model values <-> capnp messages; [`packed`]: in-process calls packed by
//!   the thousand into one item of a chunk;
//! - [`frame`]: the file start and frames, and [`FrameDecoder`] for bytes arriving in pieces;
//! - [`stream`]: [`StreamDecoder`], frames -> header, events in seq order, footer;
//! - [`TraceWriter`] and [`TraceReader`]: the file `DIR/events`;
//! - [`kept`]: the copies in `DIR/files/`, named by their content.

#![forbid(unsafe_code)]

pub mod chunk_buffer;
pub mod codec;
mod error;
pub mod frame;
pub mod kept;
pub mod model;
pub mod packed;
pub mod stream;
mod trace_file;

#[rustfmt::skip]
#[allow(clippy::all, clippy::pedantic, unused, missing_docs, unreachable_pub)]
pub mod trace_capnp;

pub use error::{FormatError, TraceError};
pub use frame::{Frame, FrameDecoder, FrameKind};
pub use model::*;
pub use stream::StreamDecoder;
pub use trace_file::{
    EndState, FrameSink, TraceReader, TraceWriter, CHUNK_BYTES, CHUNK_EVENTS, EVENTS_FILE,
};

//! Reading one capnp message from untrusted bytes: limits scaled to its size, nothing
//! allowed after its end; in place where the bytes are aligned for it.

use capnp::message::{self, ReaderOptions};
use capnp::serialize;

use super::{CodecError, Ctx};

/// Limits for reading a message of `len` bytes: a message that is decoded once reads each
/// word about once; twice its size plus some slack is plenty, and bounds what a forged
/// list of empty structs can cost.
fn reader_options(len: usize) -> ReaderOptions {
    let mut options = ReaderOptions::new();
    options
        .traversal_limit_in_words(Some((len / 8).saturating_mul(2).saturating_add(1024)))
        .nesting_limit(32);
    options
}

fn no_bytes_after(rest: &[u8]) -> Result<(), CodecError> {
    if !rest.is_empty() {
        return Err(CodecError::new(format!(
            "{} bytes after the end of the message",
            rest.len()
        )));
    }
    Ok(())
}

/// Reads one message that must span `bytes` exactly, with limits scaled to its size.
pub(super) fn read_message(
    bytes: &[u8],
) -> Result<message::Reader<serialize::OwnedSegments>, CodecError> {
    let mut rest = bytes;
    let msg = serialize::read_message(&mut rest, reader_options(bytes.len()))
        .ctx("undecodable message")?;
    no_bytes_after(rest)?;
    Ok(msg)
}

/// `read_message` where the bytes lie, without copying them into segments of its own
/// (capnp reads words in place only from 8-byte aligned memory).
pub(super) fn read_message_in_place(
    bytes: &[u8],
) -> Result<message::Reader<serialize::BufferSegments<&[u8]>>, CodecError> {
    let mut rest = bytes;
    let msg = serialize::read_message_from_flat_slice(&mut rest, reader_options(bytes.len()))
        .ctx("undecodable message")?;
    no_bytes_after(rest)?;
    Ok(msg)
}

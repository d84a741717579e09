//! Items waiting to be written as one chunk frame: what every trace writer gathers between
//! two frames (the recorder's `TraceWriter`, the fault-tolerant primary's log), and when the
//! gathering is full.

use crate::codec::ChunkItem;
use crate::trace_file::{CHUNK_BYTES, CHUNK_EVENTS};

#[derive(Debug, Default)]
pub struct ChunkBuffer {
    items: Vec<ChunkItem>,
    /// About the bytes they take once encoded (see `ChunkItem::estimated_size`).
    bytes: usize,
    /// Events they stand for (packed calls count as many).
    events: u64,
}

impl ChunkBuffer {
    /// Whether `item` is big enough to get a chunk of its own.
    pub fn needs_own_chunk(item: &ChunkItem) -> bool {
        item.estimated_size() >= CHUNK_BYTES
    }

    /// Adds `item`; true when the buffer is full and should be written now.
    pub fn add(&mut self, item: ChunkItem) -> bool {
        self.bytes += item.estimated_size();
        self.events += item.events();
        self.items.push(item);
        self.events >= CHUNK_EVENTS as u64 || self.bytes >= CHUNK_BYTES
    }

    pub fn items(&self) -> &[ChunkItem] {
        &self.items
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// The events the buffered items stand for.
    pub fn events(&self) -> u64 {
        self.events
    }

    pub fn clear(&mut self) {
        self.items.clear();
        self.bytes = 0;
        self.events = 0;
    }
}

//! The records taken from a process's ring at a stop, as raw bytes, and their packing into
//! the trace's `bufferedCalls` item. Taking them is one copy while the thread is stopped;
//! packing (checking each record, hashing what outputs sent) can then happen on the trace
//! writer's thread while the program runs on.

use schema::packed::Packer;
use schema::{BufferedCalls, Echo};
use syscalls::{rule_for, Rule};
use xxhash_rust::xxh3::xxh3_64;

use crate::RecordError;

/// The identities (device, inode) of ftrun's own stdout and stderr: bytes written to them
/// are echoed at replay.
#[derive(Debug, Clone, Copy, Default)]
pub struct EchoTargets {
    pub stdout: Option<(u64, u64)>,
    pub stderr: Option<(u64, u64)>,
}

impl EchoTargets {
    /// Where bytes written to `fd`, whose file has identity `id`, go at replay.
    pub fn echo_of(&self, fd: u64, id: Option<(u64, u64)>) -> Echo {
        if id.is_none() {
            return Echo::None;
        }
        let (out, err) = (id == self.stdout, id == self.stderr);
        match (fd, out, err) {
            (2, _, true) => Echo::Stderr,
            (_, true, _) => Echo::Stdout,
            (_, _, true) => Echo::Stderr,
            _ => Echo::None,
        }
    }
}

/// Records one thread's runtime appended between two of its stops.
pub struct RingRecords {
    /// The seq of the first; there are `count` (as the ring said).
    pub first_seq: u64,
    pub tid: u32,
    pub count: u32,
    pub bytes: Vec<u8>,
    pub echo: EchoTargets,
    /// The process, for messages.
    pub tgid: i32,
}

impl RingRecords {
    /// `count` records of thread `tid` of process `tgid` just taken from its ring (their
    /// seq is set when they are logged).
    pub fn taken(tid: u32, count: u32, bytes: Vec<u8>, echo: EchoTargets, tgid: i32) -> Self {
        RingRecords {
            first_seq: 0,
            tid,
            count,
            bytes,
            echo,
            tgid,
        }
    }
}

impl RingRecords {
    /// Checks the records and packs them; a corrupt record, or a count that is not the
    /// ring's, is an error naming the ring offset.
    pub fn pack(&self) -> Result<BufferedCalls, RecordError> {
        self.pack_counting_inputs().map(|(calls, _)| calls)
    }

    /// `pack`, and how many of the records, from the first, end with the last input among
    /// them (the rest are outputs the runtime's Output Rule gate let through).
    pub fn pack_counting_inputs(&self) -> Result<(BufferedCalls, u32), RecordError> {
        let mut packed = Packer::default();
        let mut inputs = 0;
        let bad =
            |e: fastpath::FastPathError| RecordError::Other(format!("process {}: {e}", self.tgid));
        for record in fastpath::records(&self.bytes) {
            let record = record.map_err(bad)?;
            if !record.gated_output {
                inputs = packed.count() + 1;
            }
            let (mut output_hash, mut echo) = (0, Echo::None);
            if let Rule::Output { fd, .. } = rule_for(u64::from(record.nr)) {
                if record.result > 0 {
                    output_hash = xxh3_64(record.sent);
                    // The runtime noted the descriptor's file when it wrote: by now the
                    // program may have closed it.
                    echo = self.echo.echo_of(record.args[fd], record.file);
                }
            }
            packed.call(record.nr, record.result, &record.args, output_hash, echo);
            for (addr, data) in record.writes() {
                packed.write(addr, data);
            }
        }
        if packed.count() != self.count {
            return Err(bad(fastpath::FastPathError::CorruptRecord {
                offset: 0,
                why: format!(
                    "the ring counts {} records but holds {}",
                    self.count,
                    packed.count()
                ),
            }));
        }
        Ok((packed.finish(self.first_seq, self.tid), inputs))
    }
}

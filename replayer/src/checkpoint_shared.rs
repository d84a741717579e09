//! The shared mappings of a checkpoint: a fork shares `MAP_SHARED` pages with its copy
//! instead of copying them, so what the replay writes there after the checkpoint would
//! show in every restore. Their bytes are saved when the copy is made and written back
//! into each restored process.

use tracee::Tracee;

use crate::ReplayError;

/// Most bytes of shared mappings a checkpoint keeps; past it the replay is not
/// checkpointed there.
const MOST_SHARED_BYTES: usize = 64 << 20;

/// Why a checkpoint is refused when its shared mappings are too large to keep.
pub const SHARED_TOO_LARGE: &str = "its shared mappings are too large to keep";

/// The bytes of the writable shared mappings, by address.
#[derive(Default)]
pub(crate) struct SharedBytes {
    ranges: Vec<(u64, Vec<u8>)>,
}

impl SharedBytes {
    /// The writable shared mappings of `process` as they are now (`Ok(None)`: too large).
    pub fn save(process: &mut Tracee) -> Result<Option<SharedBytes>, ReplayError> {
        let pid = process.pid();
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).map_err(|e| {
            ReplayError::Setup(format!("reading the mappings of checkpoint {pid}: {e}"))
        })?;
        let mut ranges = Vec::new();
        let mut total = 0;
        for (start, end) in maps.lines().filter_map(writable_shared) {
            total += (end - start) as usize;
            if total > MOST_SHARED_BYTES {
                return Ok(None);
            }
            let bytes = process.read_mem_partial(start, (end - start) as usize)?;
            ranges.push((start, bytes));
        }
        Ok(Some(SharedBytes { ranges }))
    }

    /// Writes the saved bytes back into `process`.
    pub fn write_back(&self, process: &mut Tracee) -> Result<(), ReplayError> {
        for (start, bytes) in &self.ranges {
            process.write_mem(*start, bytes)?;
        }
        Ok(())
    }
}

/// The range of a `/proc/PID/maps` line of a writable shared mapping.
fn writable_shared(line: &str) -> Option<(u64, u64)> {
    let mut fields = line.split_whitespace();
    let range = fields.next()?;
    let perms = fields.next()?.as_bytes();
    if perms.len() < 4 || perms[1] != b'w' || perms[3] != b's' {
        return None;
    }
    let (start, end) = range.split_once('-')?;
    Some((
        u64::from_str_radix(start, 16).ok()?,
        u64::from_str_radix(end, 16).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::writable_shared;

    #[test]
    fn only_writable_shared_mappings_are_kept() {
        let line = "7f00a000-7f00c000 rw-s 00000000 00:01 42 /dev/zero (deleted)";
        assert_eq!(writable_shared(line), Some((0x7f00a000, 0x7f00c000)));
        assert_eq!(writable_shared("7f00a000-7f00c000 rw-p 0 00:00 0"), None);
        assert_eq!(writable_shared("7f00a000-7f00c000 r--s 0 00:01 7 /f"), None);
        assert_eq!(writable_shared("garbage"), None);
    }
}

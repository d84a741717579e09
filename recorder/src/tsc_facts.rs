//! The counter reads found in a library's code, remembered across recordings.
//!
//! Finding them (`tsc_free`'s look) reads a mapping's whole code out of the tracee and
//! decodes every candidate: for `python3 -c pass` that is most of what the recorder itself
//! spends. Its outcome depends on the file's bytes alone (the code and, for function bounds,
//! the same file's unwind table), so it is kept in the store by the file range's identity
//! (`store/facts-tsc/KEY`, see `crate::store`) and read back by the next recording that maps
//! the same range of the same unchanged file.
//!
//! A fact is text: `none` when the range cannot be accounted for, otherwise one line per
//! counter read, its offset into the range in hexadecimal and `rdtsc` or `rdtscp`. A fact
//! that does not parse is ignored (the range is looked at again).

use std::time::SystemTime;

use tracee::rdtsc::TscInsn;

use crate::store::{FileKey, Store};

/// The kind of fact in the store; a new meaning of the text gets a new kind.
const KIND: &str = "tsc-v1";

/// What a look at one mapped range found: its counter reads as offsets into it, or `None`
/// when its code cannot be accounted for.
pub(crate) type Sites = Option<Vec<(u64, TscInsn)>>;

/// The identity of the file mapped at `start..end` in process `tgid`, if it had settled (a
/// file changed in the last moments may change again within one timestamp tick).
pub(crate) fn key_of(tgid: i32, start: u64, end: u64, inode: u64, offset: u64) -> Option<FileKey> {
    let meta = std::fs::metadata(format!("/proc/{tgid}/map_files/{start:x}-{end:x}")).ok()?;
    use std::os::unix::fs::MetadataExt;
    if meta.ino() != inode {
        return None;
    }
    let key = FileKey::of(&meta, offset, end - start);
    key.settled_at(SystemTime::now()).then_some(key)
}

/// The remembered look at `key`, if any.
pub(crate) fn recall(store: &Store, key: &FileKey) -> Option<Sites> {
    parse(&store.fact(KIND, key)?)
}

/// Remembers the look at `key`.
pub(crate) fn remember(store: &Store, key: &FileKey, sites: &Sites) {
    store.remember_fact(KIND, key, &format(sites));
}

fn format(sites: &Sites) -> String {
    let Some(sites) = sites else {
        return "none\n".into();
    };
    let mut text = String::from("sites\n");
    for (offset, insn) in sites {
        let name = match insn {
            TscInsn::Rdtsc => "rdtsc",
            TscInsn::Rdtscp => "rdtscp",
        };
        text.push_str(&format!("{offset:x} {name}\n"));
    }
    text
}

fn parse(text: &str) -> Option<Sites> {
    let mut lines = text.lines();
    match lines.next()? {
        "none" => return lines.next().is_none().then_some(None),
        "sites" => {}
        _ => return None,
    }
    let mut sites = Vec::new();
    for line in lines {
        let (offset, name) = line.split_once(' ')?;
        let insn = match name {
            "rdtsc" => TscInsn::Rdtsc,
            "rdtscp" => TscInsn::Rdtscp,
            _ => return None,
        };
        sites.push((u64::from_str_radix(offset, 16).ok()?, insn));
    }
    Some(Some(sites))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_look_reads_back_as_it_was_written() {
        for sites in [
            None,
            Some(vec![]),
            Some(vec![(0x1234, TscInsn::Rdtsc), (0xabcdef, TscInsn::Rdtscp)]),
        ] {
            assert_eq!(parse(&format(&sites)), Some(sites));
        }
    }

    #[test]
    fn damaged_facts_are_not_believed() {
        for text in [
            "",
            "sites\n12 rdtsx\n",
            "sites\nzz rdtsc\n",
            "none\n10 rdtsc\n",
            "x\n",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }
}

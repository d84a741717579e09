//! The arbiter: an atomic test-and-set per epoch, so that of two sides that lost each
//! other exactly one goes on. Two engines, one file each: `file:DIR`, exclusive creation of
//! `epoch-N` in a directory both sides can see (shared storage, the default), and
//! `etcd://HOST:PORT[/PREFIX]`, an etcd transaction per claim. Before a server starts, both
//! sides prove they use the same arbiter: the primary leaves a token in its arbiter and the
//! follower must read it back from its own.

mod etcd;
mod file;

use std::path::PathBuf;

pub use etcd::EtcdArbiter;
pub use file::FileArbiter;

use crate::LinkError;

/// Decides who may continue alone in an epoch.
pub trait Arbiter: Send + Sync {
    /// Tries to take `epoch`; true if this caller won it, false if someone else had it.
    fn claim(&self, epoch: u64, who: &str) -> Result<bool, LinkError>;
    /// The highest epoch anyone has claimed (0 if none).
    fn latest(&self) -> Result<u64, LinkError>;
    /// Leaves a token named `name` (see [`new_token_name`]) holding `content`.
    fn put_token(&self, name: &str, content: &str) -> Result<(), LinkError>;
    /// The content of token `name`, if this arbiter has it.
    fn read_token(&self, name: &str) -> Result<Option<String>, LinkError>;
    fn remove_token(&self, name: &str);
    fn describe(&self) -> String;
}

/// A fresh random token name: 32 hex digits from the kernel's random source.
pub fn new_token_name() -> Result<String, LinkError> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|source| LinkError::Io {
            what: "reading /dev/urandom for an arbiter token".into(),
            source,
        })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Token names come from the peer: only what [`new_token_name`] makes is accepted.
pub(crate) fn valid_token_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Claims a fresh epoch for a new primary, above every epoch claimed before (an arbiter
/// directory can outlive runs: a stale `epoch-2` must not decide the next run's failover).
pub fn claim_fresh(arbiter: &dyn Arbiter, who: &str) -> Result<u64, LinkError> {
    loop {
        let epoch = arbiter.latest()? + 1;
        if arbiter.claim(epoch, who)? {
            return Ok(epoch);
        }
    }
}

/// Parses `--arbiter file:DIR` or `--arbiter etcd://HOST:PORT[/PREFIX]`.
pub fn parse(spec: &str) -> Result<std::sync::Arc<dyn Arbiter>, LinkError> {
    if let Some(rest) = spec.strip_prefix("etcd://") {
        return Ok(std::sync::Arc::new(EtcdArbiter::new(rest)?));
    }
    match spec.split_once(':') {
        Some(("file", dir)) if !dir.is_empty() => {
            Ok(std::sync::Arc::new(FileArbiter::new(PathBuf::from(dir))))
        }
        _ => Err(LinkError::Other(format!(
            "unknown arbiter {spec:?}: use file:DIR (a directory both sides can see) or etcd://HOST:PORT[/PREFIX]"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_epoch_is_won_once() {
        let dir = std::env::temp_dir().join(format!("ftlink-arbiter-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let a = FileArbiter::new(dir.clone());
        assert!(a.claim(2, "primary").unwrap());
        assert!(!a.claim(2, "follower").unwrap());
        assert!(a.claim(3, "follower").unwrap());
        assert_eq!(a.latest().unwrap(), 3);
        assert_eq!(claim_fresh(&a, "next primary").unwrap(), 4);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_token_is_read_back_only_from_the_arbiter_it_was_left_in() {
        let base = std::env::temp_dir().join(format!("ftlink-token-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (a, b) = (
            FileArbiter::new(base.join("a")),
            FileArbiter::new(base.join("b")),
        );
        let name = new_token_name().unwrap();
        assert_eq!(name.len(), 32);
        a.put_token(&name, "epoch 1").unwrap();
        assert_eq!(a.read_token(&name).unwrap().as_deref(), Some("epoch 1"));
        assert_eq!(b.read_token(&name).unwrap(), None);
        assert_eq!(a.read_token("../a/token-x").unwrap(), None);
        assert_eq!(a.latest().unwrap(), 0, "a token is not an epoch");
        a.remove_token(&name);
        assert_eq!(a.read_token(&name).unwrap(), None);
        let _ = std::fs::remove_dir_all(&base);
    }
}

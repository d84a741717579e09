//! What a replay cost, for `FTRUN_REPLAY_STATS=1`: the ptrace stops the replay's threads
//! came back with, by kind, the ring loads and the calls the runtime replayed in-process
//! (handed back, and made again). Counted as the replay goes, printed to stderr at its end;
//! the counts are deterministic for a given trace.

use tracee::Stop;

#[derive(Debug, Default, Clone)]
pub struct ReplayStats {
    pub syscall_entries: u64,
    pub syscall_exits: u64,
    pub signals: u64,
    pub events: u64,
    pub ends: u64,
    /// Loads of a ring, and the calls they carried.
    pub ring_loads: u64,
    pub calls_loaded: u64,
    /// Calls the runtime handed back in-process, and of those, the ones it made again.
    pub in_process: u64,
    pub made_again: u64,
}

/// Whether `FTRUN_REPLAY_STATS` asks for the report.
pub fn wanted() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("FTRUN_REPLAY_STATS").is_some_and(|v| v != "0"))
}

impl ReplayStats {
    pub fn stopped(&mut self, stop: &Stop) {
        let count = match stop {
            Stop::SyscallEntry { .. } => &mut self.syscall_entries,
            Stop::SyscallExit { .. } => &mut self.syscall_exits,
            Stop::Signal { .. } => &mut self.signals,
            Stop::Event { .. } => &mut self.events,
            Stop::Exited { .. } | Stop::Killed { .. } => &mut self.ends,
        };
        *count += 1;
    }

    pub fn stops(&self) -> u64 {
        self.syscall_entries + self.syscall_exits + self.signals + self.events + self.ends
    }

    /// One line, `key=value` pairs.
    pub fn line(&self) -> String {
        format!(
            "ftrun: replay stats: stops={} syscall_entry={} syscall_exit={} signal={} event={} end={} ring_loads={} calls_loaded={} in_process={} made_again={}",
            self.stops(),
            self.syscall_entries,
            self.syscall_exits,
            self.signals,
            self.events,
            self.ends,
            self.ring_loads,
            self.calls_loaded,
            self.in_process,
            self.made_again,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_are_counted_by_kind() {
        let mut s = ReplayStats::default();
        s.stopped(&Stop::SyscallEntry { nr: 1 });
        s.stopped(&Stop::SyscallExit { ret: 0 });
        s.stopped(&Stop::SyscallExit { ret: 0 });
        s.stopped(&Stop::Exited { code: 0 });
        assert_eq!(s.stops(), 4);
        assert!(s.line().contains("syscall_exit=2 "), "{}", s.line());
    }
}

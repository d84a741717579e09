//! Serialized scheduling of threads: in each process, one thread at a time runs its own
//! code. The thread that may run holds its process's token; it gives the token up when it
//! enters a syscall (the kernel may block it there while the others run) or when it is
//! preempted in a spin, and a thread coming back from the kernel waits for the token.
//! Every hand-over is in the log (a `SyscallEntry` or `Sched` event, then the next
//! thread's event), so replay runs the threads in the same order.

use std::collections::{HashMap, HashSet, VecDeque};

/// The scheduling state of one process (thread group).
#[derive(Default)]
struct Group {
    /// Live threads, the leader included.
    threads: HashSet<i32>,
    /// The thread allowed to run its own code now.
    holder: Option<i32>,
    /// Threads stopped on their way back to their own code, first come first served.
    ready: VecDeque<i32>,
    /// The whole group is dying (exit_group or a fatal signal): deaths are not logged again.
    exiting: bool,
}

/// Every process's token.
#[derive(Default)]
pub(crate) struct Scheduler {
    groups: HashMap<i32, Group>,
}

impl Scheduler {
    /// A new thread (or the first thread of a new process).
    pub fn add_thread(&mut self, tgid: i32, tid: i32) {
        self.groups.entry(tgid).or_default().threads.insert(tid);
    }

    /// True when the process has more than one thread: its hand-overs must be logged.
    pub fn threaded(&self, tgid: i32) -> bool {
        self.groups.get(&tgid).is_some_and(|g| g.threads.len() > 1)
    }

    /// Takes the token for `tid` if it is free or already its own; otherwise queues `tid`.
    pub fn acquire(&mut self, tgid: i32, tid: i32) -> bool {
        let g = self.groups.entry(tgid).or_default();
        match g.holder {
            None => {
                g.holder = Some(tid);
                true
            }
            Some(h) if h == tid => true,
            Some(_) => {
                if !g.ready.contains(&tid) {
                    g.ready.push_back(tid);
                }
                false
            }
        }
    }

    /// `tid` waits for the token with a stop to handle once it has it.
    pub fn enqueue(&mut self, tgid: i32, tid: i32) {
        let g = self.groups.entry(tgid).or_default();
        if !g.ready.contains(&tid) {
            g.ready.push_back(tid);
        }
    }

    /// `tid` entered the kernel: the token is free for the next thread.
    pub fn release(&mut self, tgid: i32, tid: i32) {
        if let Some(g) = self.groups.get_mut(&tgid) {
            if g.holder == Some(tid) {
                g.holder = None;
            }
        }
    }

    /// `tid` was preempted: it gives up the token and waits behind the others.
    pub fn preempt(&mut self, tgid: i32, tid: i32) {
        if let Some(g) = self.groups.get_mut(&tgid) {
            if g.holder == Some(tid) {
                g.holder = None;
            }
            g.ready.push_back(tid);
        }
    }

    /// The thread to hand a free token to next (it becomes the holder), if any.
    pub fn next_grant(&mut self) -> Option<i32> {
        self.groups.values_mut().find_map(|g| {
            if g.holder.is_some() {
                return None;
            }
            let tid = g.ready.pop_front()?;
            g.holder = Some(tid);
            Some(tid)
        })
    }

    /// Holders that run their own code while other threads of their process wait.
    pub fn contended_holders(&self) -> Vec<i32> {
        self.groups
            .values()
            .filter(|g| !g.ready.is_empty())
            .filter_map(|g| g.holder)
            .collect()
    }

    /// The thread of `tgid` that holds the token.
    pub fn holder(&self, tgid: i32) -> Option<i32> {
        self.groups.get(&tgid).and_then(|g| g.holder)
    }

    pub fn holds(&self, tgid: i32, tid: i32) -> bool {
        self.groups
            .get(&tgid)
            .is_some_and(|g| g.holder == Some(tid))
    }

    pub fn others_ready(&self, tgid: i32) -> bool {
        self.groups.get(&tgid).is_some_and(|g| !g.ready.is_empty())
    }

    pub fn set_exiting(&mut self, tgid: i32) {
        if let Some(g) = self.groups.get_mut(&tgid) {
            g.exiting = true;
        }
    }

    pub fn exiting(&self, tgid: i32) -> bool {
        self.groups.get(&tgid).is_some_and(|g| g.exiting)
    }

    /// `tid` is gone: it no longer holds or waits for the token.
    pub fn remove(&mut self, tgid: i32, tid: i32) {
        if let Some(g) = self.groups.get_mut(&tgid) {
            g.threads.remove(&tid);
            g.ready.retain(|&t| t != tid);
            if g.holder == Some(tid) {
                g.holder = None;
            }
            if g.threads.is_empty() {
                self.groups.remove(&tgid);
            }
        }
    }

    /// True while any process has several threads (the preemption clock must tick).
    pub fn any_threaded(&self) -> bool {
        self.groups.values().any(|g| g.threads.len() > 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_first_come_first_served() {
        let mut s = Scheduler::default();
        for tid in [10, 11, 12] {
            s.add_thread(10, tid);
        }
        assert!(s.acquire(10, 10));
        assert!(!s.acquire(10, 11));
        assert!(!s.acquire(10, 12));
        assert_eq!(s.next_grant(), None, "the token is held");
        s.release(10, 10);
        assert_eq!(s.next_grant(), Some(11));
        assert!(s.holds(10, 11));
        s.preempt(10, 11);
        assert_eq!(s.next_grant(), Some(12));
        s.remove(10, 12);
        assert_eq!(s.next_grant(), Some(11));
    }

    #[test]
    fn processes_have_separate_tokens() {
        let mut s = Scheduler::default();
        s.add_thread(1, 1);
        s.add_thread(2, 2);
        assert!(s.acquire(1, 1));
        assert!(s.acquire(2, 2));
        assert!(!s.threaded(1));
    }
}

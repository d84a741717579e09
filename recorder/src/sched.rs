//! Serialized scheduling of threads: in each process, one thread at a time runs its own
//! code. The thread that may run holds its process's token; it gives the token up when it
//! enters a syscall (the kernel may block it there while the others run) or when it is
//! preempted in a spin, and a thread coming back from the kernel waits for the token.
//! Every hand-over is in the log (a `SyscallEntry` or `Sched` event, then the next
//! thread's event), so replay runs the threads in the same order.
//!
//! Processes that share memory (a child forked from a process with `MAP_SHARED` mappings)
//! share one token, a *domain*: their threads run one at a time as if they were threads of
//! one process, so that the log orders what they do to the memory they share.

use std::collections::{HashMap, HashSet, VecDeque};

/// The threads of one process (thread group).
#[derive(Default)]
struct Group {
    /// Live threads, the leader included.
    threads: HashSet<i32>,
    /// The whole group is dying (exit_group or a fatal signal): deaths are not logged again.
    exiting: bool,
}

/// One token: the processes whose threads take turns with it.
#[derive(Default)]
struct Token {
    /// The processes that share it.
    members: HashSet<i32>,
    /// The thread allowed to run its own code now.
    holder: Option<i32>,
    /// Threads stopped on their way back to their own code, first come first served.
    ready: VecDeque<i32>,
}

/// Every process's token.
#[derive(Default)]
pub(crate) struct Scheduler {
    groups: HashMap<i32, Group>,
    /// Tokens by the id of the process that first had them.
    tokens: HashMap<i32, Token>,
    /// The token of each process.
    domain: HashMap<i32, i32>,
}

impl Scheduler {
    /// A new thread (or the first thread of a new process, which gets a token of its own).
    pub fn add_thread(&mut self, tgid: i32, tid: i32) {
        self.groups.entry(tgid).or_default().threads.insert(tid);
        let d = *self.domain.entry(tgid).or_insert(tgid);
        self.tokens.entry(d).or_default().members.insert(tgid);
    }

    /// A new process `child` that shares memory with `parent` takes turns with it (called
    /// before any of the child's stops is handled).
    pub fn share_token(&mut self, child: i32, parent: i32) {
        let d = self.domain_of(parent);
        if let Some(old) = self.domain.insert(child, d) {
            if old != d {
                if let Some(t) = self.tokens.get_mut(&old) {
                    t.members.remove(&child);
                    if t.members.is_empty() {
                        self.tokens.remove(&old);
                    }
                }
            }
        }
        self.tokens.entry(d).or_default().members.insert(child);
    }

    /// Process `tgid` no longer shares memory with anyone (it exec'd): it takes a token of
    /// its own; `tid`, which held the shared one, holds the new one.
    pub fn leave_shared_token(&mut self, tgid: i32, tid: i32) {
        let d = self.domain_of(tgid);
        let Some(t) = self.tokens.get_mut(&d) else {
            return;
        };
        if t.members.len() < 2 {
            return;
        }
        let held = t.holder == Some(tid);
        if held {
            t.holder = None;
        }
        t.members.remove(&tgid);
        let threads = self
            .groups
            .get(&tgid)
            .map(|g| g.threads.clone())
            .unwrap_or_default();
        let mine: VecDeque<i32> = t
            .ready
            .iter()
            .copied()
            .filter(|x| threads.contains(x))
            .collect();
        t.ready.retain(|x| !threads.contains(x));
        // A fresh key: the old one may still name the shared token.
        let mut key = tgid;
        while self.tokens.contains_key(&key) {
            key = key.wrapping_add(1 << 22);
        }
        self.domain.insert(tgid, key);
        self.tokens.insert(
            key,
            Token {
                members: HashSet::from([tgid]),
                holder: held.then_some(tid),
                ready: mine,
            },
        );
    }

    fn domain_of(&self, tgid: i32) -> i32 {
        self.domain.get(&tgid).copied().unwrap_or(tgid)
    }

    fn token(&mut self, tgid: i32) -> &mut Token {
        let d = self.domain_of(tgid);
        let t = self.tokens.entry(d).or_default();
        t.members.insert(tgid);
        t
    }

    fn token_ref(&self, tgid: i32) -> Option<&Token> {
        self.tokens.get(&self.domain_of(tgid))
    }

    /// True when the process has more than one thread.
    pub fn threaded(&self, tgid: i32) -> bool {
        self.groups.get(&tgid).is_some_and(|g| g.threads.len() > 1)
    }

    /// True when the thread takes turns with others (threads of its process, or of
    /// processes it shares memory with): its hand-overs must be logged.
    pub fn shares_token(&self, tgid: i32) -> bool {
        self.token_ref(tgid).is_some_and(|t| {
            t.members
                .iter()
                .map(|m| self.groups.get(m).map_or(0, |g| g.threads.len()))
                .sum::<usize>()
                > 1
        })
    }

    /// Takes the token for `tid` if it is free or already its own; otherwise queues `tid`.
    pub fn acquire(&mut self, tgid: i32, tid: i32) -> bool {
        let g = self.token(tgid);
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
        let g = self.token(tgid);
        if !g.ready.contains(&tid) {
            g.ready.push_back(tid);
        }
    }

    /// `tid` entered the kernel: the token is free for the next thread.
    pub fn release(&mut self, tgid: i32, tid: i32) {
        let d = self.domain_of(tgid);
        if let Some(g) = self.tokens.get_mut(&d) {
            if g.holder == Some(tid) {
                g.holder = None;
            }
        }
    }

    /// `tid` was preempted: it gives up the token and waits behind the others.
    pub fn preempt(&mut self, tgid: i32, tid: i32) {
        let d = self.domain_of(tgid);
        if let Some(g) = self.tokens.get_mut(&d) {
            if g.holder == Some(tid) {
                g.holder = None;
            }
            g.ready.push_back(tid);
        }
    }

    /// The thread to hand a free token to next (it becomes the holder), if any.
    pub fn next_grant(&mut self) -> Option<i32> {
        self.tokens.values_mut().find_map(|g| {
            if g.holder.is_some() {
                return None;
            }
            let tid = g.ready.pop_front()?;
            g.holder = Some(tid);
            Some(tid)
        })
    }

    /// Holders that run their own code while other threads of their token wait.
    pub fn contended_holders(&self) -> Vec<i32> {
        self.tokens
            .values()
            .filter(|g| !g.ready.is_empty())
            .filter_map(|g| g.holder)
            .collect()
    }

    /// The thread that holds the token of `tgid`.
    pub fn holder(&self, tgid: i32) -> Option<i32> {
        self.token_ref(tgid).and_then(|g| g.holder)
    }

    pub fn holds(&self, tgid: i32, tid: i32) -> bool {
        self.token_ref(tgid).is_some_and(|g| g.holder == Some(tid))
    }

    pub fn others_ready(&self, tgid: i32) -> bool {
        self.token_ref(tgid).is_some_and(|g| !g.ready.is_empty())
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
        let d = self.domain_of(tgid);
        if let Some(g) = self.tokens.get_mut(&d) {
            g.ready.retain(|&t| t != tid);
            if g.holder == Some(tid) {
                g.holder = None;
            }
        }
        if let Some(g) = self.groups.get_mut(&tgid) {
            g.threads.remove(&tid);
            if g.threads.is_empty() {
                self.groups.remove(&tgid);
                self.domain.remove(&tgid);
                if let Some(t) = self.tokens.get_mut(&d) {
                    t.members.remove(&tgid);
                    if t.members.is_empty() {
                        self.tokens.remove(&d);
                    }
                }
            }
        }
    }

    /// Thread `from` of `tgid` is known as `to` from now on (an exec by a thread other
    /// than the leader: the leader, `to`, is gone and `from` has its id).
    pub fn rename_thread(&mut self, tgid: i32, from: i32, to: i32) {
        if let Some(g) = self.groups.get_mut(&tgid) {
            g.threads.remove(&from);
            g.threads.insert(to);
        }
        let d = self.domain_of(tgid);
        if let Some(t) = self.tokens.get_mut(&d) {
            t.ready.retain(|&r| r != to);
            for r in t.ready.iter_mut().filter(|r| **r == from) {
                *r = to;
            }
            if t.holder == Some(to) {
                t.holder = None;
            }
            if t.holder == Some(from) {
                t.holder = Some(to);
            }
        }
    }

    /// True while any token is shared by several threads (the preemption clock must tick).
    pub fn any_threaded(&self) -> bool {
        self.tokens.values().any(|t| {
            t.members
                .iter()
                .map(|m| self.groups.get(m).map_or(0, |g| g.threads.len()))
                .sum::<usize>()
                > 1
        })
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

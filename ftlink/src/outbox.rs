//! What the primary sends its follower, in log order. The recording thread writes a frame
//! to the link itself, without blocking, when nothing is queued before it (one thread
//! hand-over less between an input and its acknowledgement); everything else — a frame
//! the socket has no room for, mapped-file copies, a new follower to greet and catch up —
//! goes through a queue to the sender's thread, which also sends heartbeats when idle.
//! Whatever goes out, goes out under the sender's lock, after everything queued before it.

use std::collections::VecDeque;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use crate::join::{LogSender, Outgoing};
use crate::message::Message;

#[derive(Default)]
struct Queue {
    items: VecDeque<Outgoing>,
    /// No more items will come: the thread ends once the queue is empty.
    closed: bool,
}

pub(crate) struct Outbox {
    queue: Mutex<Queue>,
    ready: Condvar,
    sender: Mutex<LogSender>,
}

impl Outbox {
    pub(crate) fn new(sender: LogSender) -> Outbox {
        Outbox {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            sender: Mutex::new(sender),
        }
    }

    /// Queues an item for the sender's thread.
    pub(crate) fn push(&self, item: Outgoing) {
        self.queue.lock().expect("outbox").items.push_back(item);
        self.ready.notify_one();
    }

    /// After this, the sender's thread sends what is queued and ends.
    pub(crate) fn close(&self) {
        self.queue.lock().expect("outbox").closed = true;
        self.ready.notify_one();
    }

    /// A frame of the log, and the events the log holds after it: written to the link at
    /// once when the sender is free, nothing is queued before it and the socket takes it
    /// whole without waiting; otherwise (or for what the socket did not take) queued.
    pub(crate) fn frame(&self, bytes: &[u8], events: u64) {
        if let Ok(mut s) = self.sender.try_lock() {
            let mut q = self.queue.lock().expect("outbox");
            if q.items.is_empty() {
                s.drop_stale_link();
                s.offset += bytes.len() as u64;
                s.events = events;
                let Some((stream, gen)) = s.link.as_ref() else {
                    return;
                };
                let message = Message::frames_bytes(events, bytes);
                match send_without_waiting(stream, &message) {
                    // Sent whole: the sender's thread has nothing to do (waking it for
                    // nothing would cost a thread switch per frame on a busy machine).
                    Ok(n) if n == message.len() => s.last_sent = Instant::now(),
                    // The rest goes first, from the sender's thread (which may wait).
                    Ok(n) => {
                        q.items.push_front(Outgoing::Rest {
                            bytes: message[n..].to_vec(),
                            gen: *gen,
                        });
                        drop(q);
                        self.ready.notify_one();
                    }
                    // A broken link: the monitor decides what a silent follower means.
                    Err(_) => s.link = None,
                }
                return;
            }
        }
        self.push(Outgoing::Frame(bytes.to_vec(), events));
    }

    /// The sender's thread: sends what was queued, in order, batching frames; heartbeats
    /// when nothing went out for a heartbeat's time.
    pub(crate) fn send_loop(&self) {
        let heartbeat = self.sender.lock().expect("log sender").ctx.timing.heartbeat;
        loop {
            let (items, closed) = {
                let q = self.queue.lock().expect("outbox");
                let (q, _) = self
                    .ready
                    .wait_timeout_while(q, heartbeat, |q| q.items.is_empty() && !q.closed)
                    .expect("outbox");
                (q.items.len(), q.closed)
            };
            let mut s = self.sender.lock().expect("log sender");
            s.drop_stale_link();
            if items == 0 {
                if closed {
                    return;
                }
                if s.last_sent.elapsed() >= heartbeat {
                    s.send(&Message::Heartbeat);
                }
                continue;
            }
            let mut batch = Vec::new();
            while let Some(item) = self.queue.lock().expect("outbox").items.pop_front() {
                s.take(item, &mut batch);
            }
            s.send_frames(&mut batch);
        }
    }
}

/// Writes as much of `bytes` as the socket takes now; never waits.
fn send_without_waiting(stream: &TcpStream, bytes: &[u8]) -> std::io::Result<usize> {
    // SAFETY: a send from a live buffer of `bytes.len()` bytes on the stream's own socket;
    // MSG_DONTWAIT keeps it from blocking, MSG_NOSIGNAL from raising SIGPIPE.
    let n = unsafe {
        libc::send(
            stream.as_raw_fd(),
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if n >= 0 {
        return Ok(n as usize);
    }
    let e = std::io::Error::last_os_error();
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted => Ok(0),
        _ => Err(e),
    }
}

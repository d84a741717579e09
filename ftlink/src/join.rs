//! The primary's links to its followers, one after another: the greeting, the catch-up of
//! a follower that joins a log already under way (the takeover list, every mapped-file copy,
//! then the log file itself from its first event, then `Synced`), the stream of new frames
//! and heartbeats, and the recruiter that finds a new follower while the primary runs alone:
//! it connects to a follower's address again and again, or accepts `ftrun follow --join`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::message::{is_timeout, Hello, LinkError, Message, PROTOCOL_VERSION};
use crate::outbox::Outbox;
use crate::primary::Shared;
use crate::{Arbiter, Timing};

/// How a primary left alone finds a new follower.
pub enum Recruit {
    /// It does not: alone until it ends (a primary whose local follower died).
    Never,
    /// A follower listens at `addr` (`ftrun follow --listen`): connect to it, again after
    /// each follower lost when `again` (a follower restarted there rejoins).
    Connect { addr: String, again: bool },
    /// Followers join here (`ftrun follow --join`).
    Accept(TcpListener),
}

/// What goes to the follower, in log order.
pub(crate) enum Outgoing {
    /// A frame of the log, and the events in the log after it.
    Frame(Vec<u8>, u64),
    File {
        name: String,
        data: Vec<u8>,
    },
    /// A follower to greet and catch up (`gen` set: greeted already, link number `gen`).
    Link {
        stream: TcpStream,
        gen: Option<u64>,
    },
    /// The rest of a message the recording thread began to write on link `gen`.
    Rest {
        bytes: Vec<u8>,
        gen: u64,
    },
}

/// What the sender needs to bring a new follower up to date.
pub(crate) struct LinkCtx {
    pub shared: Arc<Shared>,
    pub arbiter: Arc<dyn Arbiter>,
    pub timing: Timing,
    /// The log file and its `files/`.
    pub log_path: PathBuf,
    pub files_dir: PathBuf,
    /// The log's file start and header frame (the hello's payload).
    pub prelude: Vec<u8>,
    /// The takeovers of the log, as their lines.
    pub takeovers: String,
}

/// Connects to one of the addresses `addr` resolves to (resolved again at each attempt: a
/// name may come to resolve while the follower starts).
pub(crate) fn connect_once(addr: &str) -> Result<TcpStream, std::io::Error> {
    let mut last = std::io::Error::new(
        std::io::ErrorKind::NotFound,
        "the name resolves to no address",
    );
    for a in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&a, Duration::from_millis(500)) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

pub(crate) fn connect_retrying(addr: &str, within: Duration) -> Result<TcpStream, LinkError> {
    let start = Instant::now();
    loop {
        match connect_once(addr) {
            Ok(s) => return Ok(s),
            Err(_) if start.elapsed() < within => thread::sleep(Duration::from_millis(50)),
            Err(source) => {
                return Err(LinkError::Io {
                    what: format!(
                        "cannot reach the follower at {addr} (tried for {} ms)",
                        within.as_millis()
                    ),
                    source,
                })
            }
        }
    }
}

/// Leaves a token in the arbiter, sends the hello and reads the follower's: it must be for
/// this epoch and carry the token as read from the follower's arbiter.
pub(crate) fn greet_follower(
    stream: &mut TcpStream,
    arbiter: &dyn Arbiter,
    timing: Timing,
    epoch: u64,
    trace_start: Vec<u8>,
) -> Result<Hello, LinkError> {
    let token = crate::arbiter::new_token_name()?;
    let proof = format!("{token} epoch {epoch} primary pid {}", std::process::id());
    arbiter.put_token(&token, &proof)?;
    let answer = exchange_hellos(stream, arbiter, timing, epoch, &token, trace_start);
    arbiter.remove_token(&token);
    let reply = answer?;
    if reply.proof != proof {
        return Err(LinkError::ArbiterNotShared {
            primary: arbiter.describe(),
            follower: reply.arbiter,
            token,
        });
    }
    let _ = stream.set_nodelay(true);
    Ok(reply)
}

fn exchange_hellos(
    stream: &mut TcpStream,
    arbiter: &dyn Arbiter,
    timing: Timing,
    epoch: u64,
    token: &str,
    trace_start: Vec<u8>,
) -> Result<Hello, LinkError> {
    Message::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        epoch,
        first_seq: 0,
        arbiter: arbiter.describe(),
        token: token.to_string(),
        proof: String::new(),
        trace_start,
    })
    .write_to(stream)?;
    // The follower may look for the token a while (shared storage can be slow to show it).
    let wait = timing.timeout.max(Duration::from_secs(4));
    stream
        .set_read_timeout(Some(wait))
        .map_err(|source| LinkError::Io {
            what: "configuring the link".into(),
            source,
        })?;
    let answer = Message::read_from(stream).map_err(|e| match e {
        LinkError::Io { source, .. }
            if matches!(
                source.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            LinkError::Other(format!(
                "the follower did not answer this primary's greeting within {} s",
                wait.as_secs()
            ))
        }
        // A follower refuses a greeting it cannot take (another link protocol version
        // among them) by closing: its own message says why.
        LinkError::Closed => LinkError::Other(format!(
            "the follower closed the connection instead of answering this primary's greeting (link protocol version {PROTOCOL_VERSION}); a follower of another ftrun version refuses it — its own message names the version it speaks"
        )),
        other => other,
    })?;
    match answer {
        Message::Hello(h) if h.epoch == epoch => Ok(h),
        Message::Hello(h) if h.epoch > epoch => Err(LinkError::Other(format!(
            "epoch {} was claimed at {} after this primary's epoch {epoch}: this primary is fenced off",
            h.epoch,
            arbiter.describe()
        ))),
        Message::Hello(h) => Err(LinkError::Other(format!(
            "the follower answered for epoch {}, not {epoch}",
            h.epoch
        ))),
        other => Err(LinkError::Garbage(format!(
            "expected the follower's hello, got {other:?}"
        ))),
    }
}

/// Ships the log in order to the follower of the moment; heartbeats when idle.
pub(crate) struct LogSender {
    pub(crate) ctx: LinkCtx,
    /// Bytes of the log file handled so far (sent, or written while no follower listened),
    /// and the events they hold.
    pub(crate) offset: u64,
    pub(crate) events: u64,
    pub(crate) link: Option<(TcpStream, u64)>,
    /// When a message last went out (heartbeats fill silences only).
    pub(crate) last_sent: Instant,
}

/// Larger batches of frames go out as several messages (a catch-up in pieces of this size).
const BATCH_BYTES: usize = 1 << 20;

impl LogSender {
    pub fn new(ctx: LinkCtx, offset: u64, events: u64) -> Self {
        LogSender {
            ctx,
            offset,
            events,
            link: None,
            last_sent: Instant::now(),
        }
    }

    pub(crate) fn send(&mut self, msg: &Message) {
        self.send_bytes(&msg.encode());
    }

    fn send_bytes(&mut self, bytes: &[u8]) {
        if let Some((stream, _)) = self.link.as_mut() {
            if stream.write_all(bytes).is_err() {
                // The monitor decides what a silent follower means.
                self.link = None;
            }
            self.last_sent = Instant::now();
        }
    }

    /// The frames batched since the last message, with the events the log holds after them.
    pub(crate) fn send_frames(&mut self, batch: &mut Vec<u8>) {
        if !batch.is_empty() {
            let bytes = std::mem::take(batch);
            self.send(&Message::Frames {
                events: self.events,
                bytes,
            });
        }
    }

    /// A link the monitor gave up on (or replaced) is closed.
    pub(crate) fn drop_stale_link(&mut self) {
        if let Some((stream, gen)) = &self.link {
            if self.ctx.shared.state.lock().expect("link state").link != *gen {
                let _ = stream.shutdown(std::net::Shutdown::Both);
                self.link = None;
            }
        }
    }

    /// Greets a follower that joined (unless greeted already) and sends it the log so far.
    fn attach(&mut self, mut stream: TcpStream, gen: Option<u64>) {
        let shared = self.ctx.shared.clone();
        let peer = stream
            .peer_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| "?".into());
        let gen = match gen {
            Some(g) => g,
            None => {
                let epoch = shared.state.lock().expect("link state").epoch;
                let greeted = greet_follower(
                    &mut stream,
                    self.ctx.arbiter.as_ref(),
                    self.ctx.timing,
                    epoch,
                    self.ctx.prelude.clone(),
                );
                if let Err(e) = greeted {
                    eprintln!("ftrun: a new follower at {peer} was refused: {e}");
                    shared.join_failed();
                    // A later epoch at the arbiter fences this primary off.
                    if let Ok(latest) = self.ctx.arbiter.latest() {
                        shared.fenced(latest, &self.ctx.arbiter.describe());
                    }
                    return;
                }
                match shared.start_link(&stream, self.ctx.timing) {
                    Ok(g) => g,
                    Err(e) => {
                        eprintln!("ftrun: a new follower at {peer}: {e}");
                        shared.join_failed();
                        return;
                    }
                }
            }
        };
        let started = Instant::now();
        self.link = Some((stream, gen));
        self.send(&Message::Takeovers(self.ctx.takeovers.clone()));
        let files = self.send_files();
        let bytes = self.send_history();
        self.send(&Message::Synced(self.events));
        if self.link.is_none() {
            eprintln!("ftrun: the new follower at {peer} went away while it was sent the log");
            shared.join_failed();
            return;
        }
        shared.synced(gen, &peer, self.events, bytes, files, started.elapsed());
    }

    /// Sends (or batches, for frames) one queued item.
    pub(crate) fn take(&mut self, item: Outgoing, batch: &mut Vec<u8>) {
        match item {
            Outgoing::Frame(bytes, events) => {
                self.offset += bytes.len() as u64;
                self.events = events;
                if self.link.is_some() {
                    batch.extend_from_slice(&bytes);
                    if batch.len() >= BATCH_BYTES {
                        self.send_frames(batch);
                    }
                }
            }
            Outgoing::Rest { bytes, gen } => {
                self.send_frames(batch);
                // Only on the link it began on: a new one starts with its own greeting.
                if self.link.as_ref().is_some_and(|(_, g)| *g == gen) {
                    self.send_bytes(&bytes);
                }
            }
            Outgoing::File { name, data } => {
                self.send_frames(batch);
                self.send(&Message::File { name, data });
            }
            Outgoing::Link { stream, gen } => {
                self.send_frames(batch);
                self.link = None;
                self.attach(stream, gen);
            }
        }
    }

    /// Every mapped-file copy of the log, in name order.
    fn send_files(&mut self) -> usize {
        let Ok(dir) = std::fs::read_dir(&self.ctx.files_dir) else {
            return 0;
        };
        let mut names: Vec<String> = dir
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        for name in &names {
            if let Ok(data) = std::fs::read(self.ctx.files_dir.join(name)) {
                self.send(&Message::File {
                    name: name.clone(),
                    data,
                });
            }
        }
        names.len()
    }

    /// The log file's frames so far, as written; returns their bytes.
    fn send_history(&mut self) -> u64 {
        let start = self.ctx.prelude.len() as u64;
        let total = self.offset.saturating_sub(start);
        if total == 0 {
            return 0;
        }
        let Ok(mut file) = File::open(&self.ctx.log_path) else {
            self.link = None;
            return 0;
        };
        if file.seek(SeekFrom::Start(start)).is_err() {
            self.link = None;
            return 0;
        }
        let mut left = total;
        let mut buf = vec![0u8; BATCH_BYTES];
        while left > 0 && self.link.is_some() {
            let n = (left as usize).min(BATCH_BYTES);
            if file.read_exact(&mut buf[..n]).is_err() {
                self.link = None;
                break;
            }
            self.send(&Message::Events(buf[..n].to_vec()));
            left -= n as u64;
        }
        total
    }
}

/// Acknowledgements and heartbeats of link `gen`; ends once that link is not the current one.
pub(crate) fn receive_loop(reader: &mut TcpStream, shared: &Shared, gen: u64) {
    loop {
        if shared.state.lock().expect("link state").link != gen {
            let _ = reader.shutdown(std::net::Shutdown::Both);
            return;
        }
        match Message::read_from(reader) {
            Ok(Message::Ack(seq)) => shared.acked(gen, seq),
            Ok(Message::Progress { lag_ms, .. }) => {
                shared.progress(gen, Duration::from_millis(lag_ms))
            }
            Ok(_) => shared.heard(gen),
            Err(e) if is_timeout(&e) => {}
            // A closed or broken connection is only a hint: silence decides.
            Err(_) => return,
        }
    }
}

/// Finds a new follower whenever this primary is alone and nobody is joining.
pub(crate) fn recruit_loop(shared: Arc<Shared>, recruit: Recruit, outbox: Arc<Outbox>) {
    match recruit {
        Recruit::Never => {}
        Recruit::Connect { addr, again } => {
            let mut tries = 0u32;
            loop {
                if !shared.wait_for_vacancy(again) {
                    return;
                }
                match connect_once(&addr) {
                    Ok(stream) => {
                        tries = 0;
                        shared.joining();
                        outbox.push(Outgoing::Link { stream, gen: None });
                    }
                    Err(_) => {
                        tries += 1;
                        if tries == 10 && !again {
                            eprintln!(
                                "ftrun: the new follower at {addr} cannot be reached; this primary runs alone (its outputs are not protected)"
                            );
                            shared.stop_holding();
                            return;
                        }
                        thread::sleep(Duration::from_millis(if again { 1000 } else { 200 }));
                    }
                }
            }
        }
        Recruit::Accept(listener) => {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                match shared.take_vacancy() {
                    Some(true) => outbox.push(Outgoing::Link { stream, gen: None }),
                    // It has a follower, or one is joining: the newcomer is turned away.
                    Some(false) => drop(stream),
                    None => return,
                }
            }
        }
    }
}

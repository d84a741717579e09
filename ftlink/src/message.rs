//! Wire messages: `[magic "FTLK"][type u8][3 zero bytes][length u32 LE][payload]`.
//! A peer that sends anything else is refused with a message saying what was wrong.

use std::io::{Read, Write};

/// 4: live frames go as `Frames`, with the events the log holds after them, so the
/// follower acknowledges them without decoding them.
pub const PROTOCOL_VERSION: u32 = 4;
const MAGIC: &[u8; 4] = b"FTLK";
/// Largest payload accepted (an Events batch of big chunks, a mapped file).
const MAX_PAYLOAD: usize = 512 << 20;

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the peer does not speak the ftrun link protocol: {0}")]
    Garbage(String),
    #[error("the peer speaks link protocol version {found}; this ftrun speaks version {expected}")]
    Version { found: u32, expected: u32 },
    #[error("the connection closed")]
    Closed,
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("the primary and the follower do not use the same arbiter: the primary's is {primary}, the follower's is {follower} (the follower cannot read back the token {token} the primary left in its arbiter); give both sides the same --arbiter, on storage both can see")]
    ArbiterNotShared {
        primary: String,
        follower: String,
        token: String,
    },
    #[error("{0}")]
    Other(String),
}

/// The first message each side sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub protocol: u32,
    pub epoch: u64,
    /// Sequence number of the first event that will follow.
    pub first_seq: u64,
    /// The sender's arbiter (`Arbiter::describe`), for messages.
    pub arbiter: String,
    /// The name of the token the primary left in its arbiter (echoed in the reply).
    pub token: String,
    /// Empty from the primary; in the follower's reply, the token's content as read from the
    /// follower's arbiter (empty if it found none): equal content proves one shared arbiter.
    pub proof: String,
    /// The trace's file start and header frame (empty in the follower's reply).
    pub trace_start: Vec<u8>,
}

fn put_str(p: &mut Vec<u8>, s: &str) {
    p.extend_from_slice(&(s.len() as u32).to_le_bytes());
    p.extend_from_slice(s.as_bytes());
}

/// A length-prefixed UTF-8 string at `*at`, advancing `*at`.
fn take_str(p: &[u8], at: &mut usize, what: &str) -> Result<String, LinkError> {
    let bad = || LinkError::Garbage(format!("a hello whose {what} is cut short or not UTF-8"));
    let len_bytes = p.get(*at..*at + 4).ok_or_else(bad)?;
    let len = u32::from_le_bytes(len_bytes.try_into().expect("4 bytes")) as usize;
    let bytes = p.get(*at + 4..*at + 4 + len).ok_or_else(bad)?;
    *at += 4 + len;
    String::from_utf8(bytes.to_vec()).map_err(|_| bad())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Hello(Hello),
    /// A piece of the primary's trace file, byte for byte (a catch-up sends the log in
    /// pieces that may end inside a frame): the follower decodes it to count its events.
    Events(Vec<u8>),
    /// Whole trace frames written to the primary's log since the last message, byte for
    /// byte, and the events the log holds after them: the follower stores them and
    /// acknowledges `events - 1` without decoding them.
    Frames {
        events: u64,
        bytes: Vec<u8>,
    },
    /// Highest sequence number received and written to the follower's disk, with no gap.
    Ack(u64),
    Heartbeat,
    /// A file the primary kept for a mapping (`files/NAME` in the trace), sent before the
    /// events that need it.
    File {
        name: String,
        data: Vec<u8>,
    },
    /// Right after the greeting: the takeovers of the log about to be sent (the lines of
    /// `replayer::takeover`; empty for a log of one primary).
    Takeovers(String),
    /// The log's history (every event before this link) has been sent: it holds this many
    /// events. A follower that has not had it cannot take over.
    Synced(u64),
    /// The follower's heartbeat: how many events its replay has been handed, and how long
    /// the oldest event it received and has not replayed yet has waited (0: caught up).
    Progress {
        replayed: u64,
        lag_ms: u64,
    },
}

impl Message {
    fn kind(&self) -> u8 {
        match self {
            Message::Hello(_) => 1,
            Message::Events(_) => 2,
            Message::Ack(_) => 3,
            Message::Heartbeat => 4,
            Message::File { .. } => 5,
            Message::Takeovers(_) => 6,
            Message::Synced(_) => 7,
            Message::Progress { .. } => 8,
            Message::Frames { .. } => 9,
        }
    }

    /// The payload in two parts: a small head it builds, and the bytes it carries, borrowed
    /// (so that `encode` copies a large batch of frames once).
    fn payload(&self) -> (Vec<u8>, &[u8]) {
        match self {
            Message::Hello(h) => {
                let mut p = Vec::with_capacity(20);
                p.extend_from_slice(&h.protocol.to_le_bytes());
                p.extend_from_slice(&h.epoch.to_le_bytes());
                p.extend_from_slice(&h.first_seq.to_le_bytes());
                put_str(&mut p, &h.arbiter);
                put_str(&mut p, &h.token);
                put_str(&mut p, &h.proof);
                (p, &h.trace_start)
            }
            Message::Events(b) => (Vec::new(), b),
            Message::Frames { events, bytes } => (events.to_le_bytes().to_vec(), bytes),
            Message::Ack(seq) => (seq.to_le_bytes().to_vec(), &[]),
            Message::Heartbeat => (Vec::new(), &[]),
            Message::File { name, data } => {
                let mut p = (name.len() as u32).to_le_bytes().to_vec();
                p.extend_from_slice(name.as_bytes());
                (p, data)
            }
            Message::Takeovers(text) => (Vec::new(), text.as_bytes()),
            Message::Synced(events) => (events.to_le_bytes().to_vec(), &[]),
            Message::Progress { replayed, lag_ms } => {
                let mut p = replayed.to_le_bytes().to_vec();
                p.extend_from_slice(&lag_ms.to_le_bytes());
                (p, &[])
            }
        }
    }

    /// The bytes on the wire of `Frames` with these frames (without copying them twice).
    pub fn frames_bytes(events: u64, frames: &[u8]) -> Vec<u8> {
        let len = 8 + frames.len();
        let mut out = Vec::with_capacity(12 + len);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[9, 0, 0, 0]);
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(&events.to_le_bytes());
        out.extend_from_slice(frames);
        out
    }

    /// The message as bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let (head, body) = self.payload();
        let len = head.len() + body.len();
        let mut out = Vec::with_capacity(12 + len);
        out.extend_from_slice(MAGIC);
        out.push(self.kind());
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&(len as u32).to_le_bytes());
        out.extend_from_slice(&head);
        out.extend_from_slice(body);
        out
    }

    pub fn write_to(&self, w: &mut impl Write) -> Result<(), LinkError> {
        w.write_all(&self.encode()).map_err(|source| LinkError::Io {
            what: "sending to the peer".into(),
            source,
        })
    }

    /// Reads one message; timeouts come back as `Io` errors of kind WouldBlock/TimedOut.
    pub fn read_from(r: &mut impl Read) -> Result<Message, LinkError> {
        let mut head = [0u8; 12];
        read_exact(r, &mut head)?;
        if &head[0..4] != MAGIC {
            return Err(LinkError::Garbage(format!(
                "bad magic {:02x?}",
                &head[0..4]
            )));
        }
        let len = u32::from_le_bytes(head[8..12].try_into().expect("4 bytes")) as usize;
        if len > MAX_PAYLOAD {
            return Err(LinkError::Garbage(format!("message of {len} bytes")));
        }
        let mut payload = vec![0u8; len];
        read_exact(r, &mut payload)?;
        Self::decode(head[4], payload)
    }

    fn decode(kind: u8, p: Vec<u8>) -> Result<Message, LinkError> {
        let u32_at = |o: usize| u32::from_le_bytes(p[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(p[o..o + 8].try_into().expect("8 bytes"));
        Ok(match kind {
            1 if p.len() >= 20 => {
                let protocol = u32_at(0);
                if protocol != PROTOCOL_VERSION {
                    return Err(LinkError::Version {
                        found: protocol,
                        expected: PROTOCOL_VERSION,
                    });
                }
                let mut at = 20;
                let arbiter = take_str(&p, &mut at, "arbiter")?;
                let token = take_str(&p, &mut at, "token")?;
                let proof = take_str(&p, &mut at, "proof")?;
                Message::Hello(Hello {
                    protocol,
                    epoch: u64_at(4),
                    first_seq: u64_at(12),
                    arbiter,
                    token,
                    proof,
                    trace_start: p[at..].to_vec(),
                })
            }
            2 => Message::Events(p),
            9 if p.len() >= 8 => {
                let events = u64_at(0);
                let mut bytes = p;
                bytes.drain(..8);
                Message::Frames { events, bytes }
            }
            3 if p.len() == 8 => Message::Ack(u64_at(0)),
            4 if p.is_empty() => Message::Heartbeat,
            8 if p.len() == 16 => Message::Progress {
                replayed: u64_at(0),
                lag_ms: u64_at(8),
            },
            5 if p.len() >= 4 && p.len() >= 4 + u32_at(0) as usize => {
                let n = u32_at(0) as usize;
                let name = String::from_utf8(p[4..4 + n].to_vec())
                    .map_err(|_| LinkError::Garbage("a file name that is not UTF-8".into()))?;
                if name.contains('/') || name.starts_with('.') {
                    return Err(LinkError::Garbage(format!("file name {name:?}")));
                }
                Message::File {
                    name,
                    data: p[4 + n..].to_vec(),
                }
            }
            6 => Message::Takeovers(
                String::from_utf8(p)
                    .map_err(|_| LinkError::Garbage("a takeover list that is not UTF-8".into()))?,
            ),
            7 if p.len() == 8 => Message::Synced(u64_at(0)),
            _ => {
                return Err(LinkError::Garbage(format!(
                    "message type {kind} with {} bytes",
                    p.len()
                )))
            }
        })
    }
}

fn read_exact(r: &mut impl Read, buf: &mut [u8]) -> Result<(), LinkError> {
    let mut done = 0;
    while done < buf.len() {
        match r.read(&mut buf[done..]) {
            Ok(0) => return Err(LinkError::Closed),
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e)
                if done > 0
                    && matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
            {
                continue
            }
            Err(source) => {
                return Err(LinkError::Io {
                    what: "reading from the peer".into(),
                    source,
                })
            }
        }
    }
    Ok(())
}

/// True for the error a read timeout gives (no message within the timeout).
pub fn is_timeout(e: &LinkError) -> bool {
    matches!(e, LinkError::Io { source, .. } if matches!(source.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let msgs = [
            Message::Hello(Hello {
                protocol: PROTOCOL_VERSION,
                epoch: 3,
                first_seq: 0,
                arbiter: "file:/shared/arbiter".into(),
                token: "0123abcd".into(),
                proof: "0123abcd epoch 3".into(),
                trace_start: vec![1, 2, 3],
            }),
            Message::Events(vec![9; 100]),
            Message::Frames {
                events: 41,
                bytes: vec![7; 50],
            },
            Message::Ack(77),
            Message::Heartbeat,
            Message::File {
                name: "abc".into(),
                data: vec![5; 10],
            },
            Message::Takeovers("takeover events=3 epoch=2 process=1:2 threads=1:2\n".into()),
            Message::Synced(12345),
            Message::Progress {
                replayed: 99,
                lag_ms: 12,
            },
        ];
        assert_eq!(
            Message::frames_bytes(41, &[7; 50]),
            Message::Frames {
                events: 41,
                bytes: vec![7; 50]
            }
            .encode()
        );
        for m in msgs {
            let bytes = m.encode();
            assert_eq!(Message::read_from(&mut bytes.as_slice()).unwrap(), m);
        }
    }

    #[test]
    fn garbage_and_other_versions_are_refused() {
        let err = Message::read_from(&mut &b"GET / HTTP/1.1\r\n\r\n"[..]).unwrap_err();
        assert!(matches!(err, LinkError::Garbage(_)), "{err}");
        let mut hello = Message::Hello(Hello {
            protocol: PROTOCOL_VERSION,
            epoch: 1,
            first_seq: 0,
            arbiter: String::new(),
            token: String::new(),
            proof: String::new(),
            trace_start: vec![],
        })
        .encode();
        hello[12] = 9; // protocol version field
        let err = Message::read_from(&mut hello.as_slice()).unwrap_err();
        assert!(matches!(err, LinkError::Version { found: 9, .. }), "{err}");
        // A hello of our version whose strings run past its end.
        let mut short = b"FTLK\x01\0\0\0\x18\0\0\0".to_vec();
        short.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
        short.extend_from_slice(&[0u8; 16]);
        short.extend_from_slice(&99u32.to_le_bytes());
        let err = Message::read_from(&mut short.as_slice()).unwrap_err();
        assert!(matches!(err, LinkError::Garbage(_)), "{err}");
        let err =
            Message::read_from(&mut &b"FTLK\x05\0\0\0\x08\0\0\0\xff\0\0\0abcd"[..]).unwrap_err();
        assert!(matches!(err, LinkError::Garbage(_)), "{err}");
    }
}

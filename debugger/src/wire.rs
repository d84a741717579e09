//! The connection to gdb, between the socket and gdbstub: it takes out the packets gdbstub
//! does not know (thread-local storage addresses, the siginfo object) so that the debugger
//! answers them itself, and adds those to the features gdbstub announces in its reply to
//! `qSupported`.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpStream;

use gdbstub::conn::{Connection, ConnectionExt};

/// Features the debugger serves beyond gdbstub's, added to its `qSupported` reply.
const OWN_FEATURES: &str = ";qXfer:siginfo:read+";

/// A packet from gdb that the debugger answers itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnPacket {
    /// `qGetTLSAddr:THREAD,OFFSET,LM`.
    TlsAddr { tid: u32, offset: u64, lm: u64 },
    /// `qXfer:siginfo:read::OFFSET,LENGTH`.
    Siginfo { offset: u64, length: u64 },
}

/// What comes next from gdb.
pub enum Incoming {
    /// A byte for gdbstub.
    Byte(u8),
    /// A packet of ours (already acknowledged if gdb wants acknowledgements).
    Own(OwnPacket),
}

pub struct Wire {
    stream: TcpStream,
    /// The packet being read (from its `$`), until it is known whose it is.
    packet: Vec<u8>,
    /// Bytes of a packet that turned out to be gdbstub's, to hand on.
    for_stub: VecDeque<u8>,
    /// gdb asked for `QStartNoAckMode` (gdbstub always accepts it).
    no_ack: bool,
    /// The thread gdb named with `Hg` (0: any, the one of the stop).
    pub general_thread: u32,
    /// gdbstub's next packet is its `qSupported` reply, which gets our features.
    amend_next: bool,
    /// That reply as it is written, until its checksum.
    outgoing: Option<Vec<u8>>,
}

impl Wire {
    pub fn new(stream: TcpStream) -> Wire {
        Wire {
            stream,
            packet: Vec::new(),
            for_stub: VecDeque::new(),
            no_ack: false,
            general_thread: 0,
            amend_next: false,
            outgoing: None,
        }
    }

    /// The next byte for gdbstub or the next packet of ours.
    pub fn next_incoming(&mut self) -> std::io::Result<Incoming> {
        loop {
            if let Some(b) = self.for_stub.pop_front() {
                return Ok(Incoming::Byte(b));
            }
            let b = read_byte(&mut self.stream)?;
            if self.packet.is_empty() && b != b'$' {
                return Ok(Incoming::Byte(b));
            }
            self.packet.push(b);
            let n = self.packet.len();
            if n < 4 || self.packet[n - 3] != b'#' {
                continue;
            }
            let packet = std::mem::take(&mut self.packet);
            let body = &packet[1..n - 3];
            self.note(body);
            if let Some(own) = parse_own(body) {
                if !self.no_ack {
                    Write::write_all(&mut self.stream, b"+")?;
                }
                return Ok(Incoming::Own(own));
            }
            if body.starts_with(b"vKill") {
                // gdbstub (without extended mode) ends the session on it without the `OK`
                // gdb waits for, and gdb then reports the closed connection as an error.
                if !self.no_ack {
                    Write::write_all(&mut self.stream, b"+")?;
                }
                self.reply(b"OK")?;
            }
            self.for_stub.extend(packet);
        }
    }

    /// What the debugger keeps of a packet gdbstub answers.
    fn note(&mut self, body: &[u8]) {
        if body == b"QStartNoAckMode" {
            self.no_ack = true;
        } else if body.starts_with(b"qSupported") {
            self.amend_next = true;
        } else if let Some(id) = body.strip_prefix(b"Hg") {
            self.general_thread = std::str::from_utf8(id)
                .ok()
                .and_then(parse_thread)
                .unwrap_or(0);
        }
    }

    /// Sends the reply to one of our packets.
    pub fn reply(&mut self, data: &[u8]) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(data.len() + 4);
        out.push(b'$');
        for &b in data {
            if matches!(b, b'$' | b'#' | b'}' | b'*') {
                out.extend([b'}', b ^ 0x20]);
            } else {
                out.push(b);
            }
        }
        let sum = checksum(&out[1..]);
        out.extend(format!("#{sum:02x}").bytes());
        Write::write_all(&mut self.stream, &out)?;
        Write::flush(&mut self.stream)
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b))
}

fn read_byte(stream: &mut TcpStream) -> std::io::Result<u8> {
    stream.set_nonblocking(false)?;
    let mut buf = [0u8];
    stream.read_exact(&mut buf)?;
    Ok(buf[0])
}

/// A thread id as gdb writes it: `TID`, `pPID.TID` (hex), `-1` or `0` (any: 0 here).
fn parse_thread(s: &str) -> Option<u32> {
    let tid = match s.strip_prefix('p') {
        Some(rest) => rest.split_once('.').map_or(rest, |(_, t)| t),
        None => s,
    };
    if tid == "-1" {
        return Some(0);
    }
    u32::from_str_radix(tid, 16).ok()
}

fn parse_own(body: &[u8]) -> Option<OwnPacket> {
    let body = std::str::from_utf8(body).ok()?;
    if let Some(args) = body.strip_prefix("qGetTLSAddr:") {
        let mut parts = args.split(',');
        let tid = parse_thread(parts.next()?)?;
        let offset = u64::from_str_radix(parts.next()?, 16).ok()?;
        let lm = u64::from_str_radix(parts.next()?, 16).ok()?;
        return Some(OwnPacket::TlsAddr { tid, offset, lm });
    }
    if let Some(args) = body.strip_prefix("qXfer:siginfo:read::") {
        let (offset, length) = args.split_once(',')?;
        return Some(OwnPacket::Siginfo {
            offset: u64::from_str_radix(offset, 16).ok()?,
            length: u64::from_str_radix(length, 16).ok()?,
        });
    }
    None
}

impl Connection for Wire {
    type Error = std::io::Error;

    fn write(&mut self, byte: u8) -> Result<(), Self::Error> {
        self.write_all(&[byte])
    }

    fn write_all(&mut self, buf: &[u8]) -> Result<(), Self::Error> {
        if !self.amend_next && self.outgoing.is_none() {
            return Write::write_all(&mut self.stream, buf);
        }
        for &b in buf {
            match self.outgoing.as_mut() {
                None if b == b'$' => {
                    self.amend_next = false;
                    self.outgoing = Some(vec![b]);
                }
                None => Write::write_all(&mut self.stream, &[b])?,
                Some(out) => {
                    out.push(b);
                    let n = out.len();
                    if n >= 4 && out[n - 3] == b'#' {
                        let mut body = out[1..n - 3].to_vec();
                        body.extend(OWN_FEATURES.bytes());
                        let sum = checksum(&body);
                        let mut packet = vec![b'$'];
                        packet.extend(body);
                        packet.extend(format!("#{sum:02x}").bytes());
                        self.outgoing = None;
                        Write::write_all(&mut self.stream, &packet)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Write::flush(&mut self.stream)
    }

    fn on_session_start(&mut self) -> Result<(), Self::Error> {
        self.stream.set_nodelay(true)
    }
}

impl ConnectionExt for Wire {
    fn read(&mut self) -> Result<u8, Self::Error> {
        // Only bytes for gdbstub come this way (`next_incoming` is read while gdb is
        // served; this while the replay runs, for a Ctrl-C).
        if let Some(b) = self.for_stub.pop_front() {
            return Ok(b);
        }
        read_byte(&mut self.stream)
    }

    fn peek(&mut self) -> Result<Option<u8>, Self::Error> {
        if let Some(&b) = self.for_stub.front() {
            return Ok(Some(b));
        }
        self.stream.set_nonblocking(true)?;
        let mut buf = [0u8];
        let got = self.stream.peek(&mut buf);
        self.stream.set_nonblocking(false)?;
        match got {
            Ok(0) => Ok(None),
            Ok(_) => Ok(Some(buf[0])),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_packets_are_recognised() {
        assert_eq!(
            parse_own(b"qGetTLSAddr:p1.11fd,10,7ffff7fb7000"),
            Some(OwnPacket::TlsAddr {
                tid: 0x11fd,
                offset: 0x10,
                lm: 0x7ffff7fb7000
            })
        );
        assert_eq!(
            parse_own(b"qXfer:siginfo:read::0,fff"),
            Some(OwnPacket::Siginfo {
                offset: 0,
                length: 0xfff
            })
        );
        assert_eq!(parse_own(b"qXfer:auxv:read::0,fff"), None);
        assert_eq!(parse_thread("p1.-1"), Some(0));
        assert_eq!(parse_thread("2a"), Some(0x2a));
    }

    fn packet(body: &str) -> Vec<u8> {
        format!("${body}#{:02x}", checksum(body.as_bytes())).into_bytes()
    }

    #[test]
    fn packets_are_split_between_gdbstub_and_us() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut gdb = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let mut wire = Wire::new(listener.accept().unwrap().0);
        let mut sent = packet("qSupported:multiprocess+");
        sent.extend(packet("qGetTLSAddr:p1.2a,10,1000"));
        sent.extend(packet("vKill;1"));
        Write::write_all(&mut gdb, &sent).unwrap();
        let mut stub = Vec::new();
        let mut own = Vec::new();
        while stub.len() < packet("qSupported:multiprocess+").len() + packet("vKill;1").len() {
            match wire.next_incoming().unwrap() {
                Incoming::Byte(b) => stub.push(b),
                Incoming::Own(p) => own.push(p),
            }
        }
        let mut expected = packet("qSupported:multiprocess+");
        expected.extend(packet("vKill;1"));
        assert_eq!(stub, expected);
        assert_eq!(
            own,
            [OwnPacket::TlsAddr {
                tid: 0x2a,
                offset: 0x10,
                lm: 0x1000
            }]
        );
        // gdbstub's reply to qSupported gets our features.
        Connection::write_all(&mut wire, b"+").unwrap();
        Connection::write_all(&mut wire, &packet("PacketSize=1000")).unwrap();
        Connection::flush(&mut wire).unwrap();
        drop(wire);
        let mut got = Vec::new();
        gdb.read_to_end(&mut got).unwrap();
        let mut replies = b"+".to_vec(); // the acknowledgement of qGetTLSAddr
        replies.extend(b"+"); // and of vKill, answered for gdbstub
        replies.extend(packet("OK"));
        replies.extend(b"+");
        replies.extend(packet(&format!("PacketSize=1000{OWN_FEATURES}")));
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&replies)
        );
    }

    #[test]
    fn checksums_are_mod_256() {
        assert_eq!(checksum(b"OK"), 0x9a);
    }
}

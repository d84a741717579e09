//! Just enough HTTP/1.1 to talk to etcd's JSON gateway: one POST of a JSON body per
//! connection (`Connection: close`), the reply read to its end, chunked or not; and the
//! base64 the gateway uses for keys and values.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde_json::Value;

use crate::LinkError;

/// How long one request may take to connect, and then to be answered.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(3);

fn io(what: String) -> impl FnOnce(std::io::Error) -> LinkError {
    move |source| LinkError::Io { what, source }
}

/// POSTs `body` to `http://HOST_PORT/PATH` and returns the JSON reply. An HTTP status
/// other than 200, or a reply with an `error` field, is an error naming the server.
pub fn post_json(host_port: &str, path: &str, body: &Value) -> Result<Value, LinkError> {
    let what = || format!("asking etcd at {host_port} ({path})");
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    let mut stream = None;
    for addr in host_port.to_socket_addrs().map_err(io(what()))? {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e,
        }
    }
    let mut stream = stream.ok_or_else(|| LinkError::Io {
        what: what(),
        source: last,
    })?;
    stream
        .set_read_timeout(Some(REPLY_TIMEOUT))
        .and_then(|_| stream.set_write_timeout(Some(REPLY_TIMEOUT)))
        .map_err(io(what()))?;
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host_port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).map_err(io(what()))?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).map_err(io(what()))?;
    let bad = |why: &str| LinkError::Other(format!("{}: {why}", what()));
    let split = find(&reply, b"\r\n\r\n").ok_or_else(|| bad("a reply without a header"))?;
    let head = String::from_utf8_lossy(&reply[..split]).to_string();
    let mut raw = reply[split + 4..].to_vec();
    let status = head.split_whitespace().nth(1).unwrap_or("");
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        raw = dechunk(&raw).ok_or_else(|| bad("a chunked reply cut short"))?;
    }
    let json: Value = serde_json::from_slice(&raw).map_err(|_| {
        bad(&format!(
            "HTTP status {status}, not JSON: {:?}",
            String::from_utf8_lossy(&raw)
        ))
    })?;
    // A streamed gateway reply wraps each message in `result`.
    let json = match json.get("result") {
        Some(inner) => inner.clone(),
        None => json,
    };
    if let Some(err) = json.get("error").or_else(|| json.get("message")) {
        return Err(bad(&format!("etcd says {err}")));
    }
    if status != "200" {
        return Err(bad(&format!("HTTP status {status}")));
    }
    Ok(json)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = find(raw, b"\r\n")?;
        let size_text = std::str::from_utf8(&raw[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn unbase64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut n, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = B64.iter().position(|b| *b == c)? as u32;
        n = n << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((n >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for s in ["", "f", "fo", "foo", "foob", "ftrun/epoch-12"] {
            assert_eq!(unbase64(&base64(s.as_bytes())).unwrap(), s.as_bytes());
        }
        assert_eq!(base64(b"p/epoch-1"), "cC9lcG9jaC0x");
        assert!(unbase64("!").is_none());
    }

    #[test]
    fn chunked_replies_are_joined() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap(),
            b"abcde"
        );
        assert!(dechunk(b"5\r\nab").is_none());
    }
}

//! The follower's receiving thread: it stores what the primary sends in the log copy and
//! only then acknowledges it. Live frames come with the count of events after them and are
//! acknowledged without being decoded (the replay decodes them from the log copy); the
//! pieces of a history sent to a joining follower are decoded to count their events.

use std::fs::File;
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use schema::StreamDecoder;

use super::{AckMode, Shared};
use crate::message::{is_timeout, LinkError, Message};

/// Bytes of a received piece of the log decoded before its events are acknowledged.
const ACK_SLICE: usize = 128 << 10;

/// Appends received frames to the log copy (and syncs them, when acknowledgements are
/// durable), and acknowledges complete events.
pub(super) fn receive_loop(
    reader: &mut TcpStream,
    mut log: File,
    log_dir: &Path,
    mut decoder: StreamDecoder,
    writer: &Mutex<TcpStream>,
    shared: &Shared,
    ack: AckMode,
) {
    // Live frames have come (`Frames`): the decoder, which counts the pieces of a
    // history, has not seen them.
    let mut live_frames = false;
    loop {
        let message = Message::read_from(reader);
        if message.is_ok() {
            // The primary spoke: however long this message takes to digest, it is alive.
            shared.state.lock().expect("follow state").last_heard = Instant::now();
        }
        match message {
            Ok(Message::Frames { events, bytes }) => {
                // Whole frames, with the count of events after them: stored, then
                // acknowledged at once. The replay decodes them from the log copy.
                live_frames = true;
                let finished = match schema::frame::check_whole_frames(&bytes) {
                    Ok(found) => found.ends_with_footer,
                    Err(e) => {
                        eprintln!("ftrun: the primary sent damaged frames ({e}); no more acknowledgements");
                        return;
                    }
                };
                if !store(&mut log, &bytes, ack, log_dir)
                    || !arrived(shared, writer, events, finished)
                {
                    return;
                }
            }
            Ok(Message::Events(bytes)) => {
                if live_frames {
                    // Pieces of the history come before any live frame on a link.
                    eprintln!("ftrun: the primary sent a piece of its history after live frames; no more acknowledgements");
                    return;
                }
                if !store(&mut log, &bytes, ack, log_dir) {
                    return;
                }
                // A long piece (a joining follower's catch-up) is counted and acknowledged
                // a slice at a time, so that acknowledgements keep coming while it is read.
                for slice in bytes.chunks(ACK_SLICE) {
                    decoder.push(slice);
                    while let Ok(Some(_)) = decoder.next_event() {}
                    let finished = decoder.footer().is_some();
                    if !arrived(shared, writer, decoder.events_decoded(), finished) {
                        return;
                    }
                }
            }
            Ok(Message::File { name, data }) => {
                let tmp = log_dir.join("files").join(format!(".{name}.partial"));
                let ok = std::fs::write(&tmp, &data)
                    .and_then(|_| std::fs::rename(&tmp, log_dir.join("files").join(&name)));
                if ok.is_err() {
                    eprintln!("ftrun: cannot store {name} in {}", log_dir.display());
                }
                shared.state.lock().expect("follow state").last_heard = Instant::now();
            }
            Ok(Message::Synced(events)) => {
                let mut st = shared.state.lock().expect("follow state");
                st.last_heard = Instant::now();
                if st.received >= events {
                    st.synced = true;
                    shared.decided();
                } else {
                    eprintln!(
                        "ftrun: the primary says it sent {events} events, but {} arrived; this follower cannot take over",
                        st.received
                    );
                }
            }
            Ok(_) => shared.state.lock().expect("follow state").last_heard = Instant::now(),
            Err(e) if is_timeout(&e) => {}
            Err(LinkError::Closed) => return,
            Err(e) => {
                eprintln!("ftrun: the link to the primary broke: {e}");
                return;
            }
        }
    }
}

/// Appends received frames to the log copy (and syncs them, when acknowledgements are
/// durable) before anything is acknowledged; false once the log copy cannot be written.
fn store(log: &mut File, bytes: &[u8], ack: AckMode, log_dir: &Path) -> bool {
    let stored = log.write_all(bytes).and_then(|_| match ack {
        AckMode::Durable => log.sync_data(),
        AckMode::Received => Ok(()),
    });
    if stored.is_err() {
        eprintln!(
            "ftrun: cannot write the log copy in {}; no more acknowledgements",
            log_dir.display()
        );
    }
    stored.is_ok()
}

/// The log copy holds `received` events (stored already): acknowledges them, unless this
/// follower has decided. False once it acknowledges nothing more.
fn arrived(shared: &Shared, writer: &Mutex<TcpStream>, received: u64, finished: bool) -> bool {
    {
        let mut st = shared.state.lock().expect("follow state");
        // Decided (taking over, or lost): acknowledge nothing more. What was acknowledged
        // is on disk before the decision, so the takeover replays it; anything later must
        // not let the primary release an output.
        if st.takeover.is_some() || st.lost.is_some() {
            return false;
        }
        let progress = received > st.received;
        let received = st.received.max(received);
        st.received = received;
        st.arrivals.arrived(received, Instant::now());
        st.last_heard = Instant::now();
        st.finished |= finished;
        if finished {
            shared.decided();
        }
        if !progress {
            return true;
        }
        shared.events_arrived();
    }
    let _ = Message::Ack(received - 1).write_to(&mut *writer.lock().expect("link"));
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::tests::{event, header};
    use crate::log::LogWriter;
    use std::io::Read;
    use std::net::TcpListener;
    use std::path::PathBuf;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// The frames a log of `n` events is made of (its prelude apart), and its prelude.
    fn frames_of(dir: &Path, n: u64) -> (Vec<u8>, Vec<u8>) {
        let mut w = LogWriter::create(dir, &header()).unwrap();
        let frames = Arc::new(Mutex::new(Vec::new()));
        let sink = frames.clone();
        w.set_frame_sink(Box::new(move |b, _| {
            sink.lock().unwrap().extend_from_slice(b)
        }));
        for seq in 0..n {
            w.push(event(seq)).unwrap();
        }
        w.flush().unwrap();
        let prelude = w.prelude().to_vec();
        let bytes = frames.lock().unwrap().clone();
        (prelude, bytes)
    }

    /// A receiving thread on a fresh log copy; the primary's end of its link.
    struct Receiver {
        primary: TcpStream,
        log_path: PathBuf,
        thread: std::thread::JoinHandle<()>,
        dir: PathBuf,
    }

    fn receiver(name: &str, ack: AckMode, prelude: &[u8]) -> Receiver {
        let dir = std::env::temp_dir().join(format!("ftlink-recv-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log_path = dir.join("events");
        let mut log = File::create(&log_path).unwrap();
        log.write_all(prelude).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let primary = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (follower, _) = listener.accept().unwrap();
        let mut reader = follower.try_clone().unwrap();
        reader
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut decoder = StreamDecoder::new();
        decoder.push(prelude);
        let (log_dir, shared) = (dir.clone(), Shared::new(1));
        let thread = std::thread::spawn(move || {
            let writer = Mutex::new(follower);
            receive_loop(&mut reader, log, &log_dir, decoder, &writer, &shared, ack)
        });
        Receiver {
            primary,
            log_path,
            thread,
            dir,
        }
    }

    impl Receiver {
        /// The next acknowledgement, and the log copy's length when it came.
        fn next_ack(&mut self) -> (u64, u64) {
            loop {
                match Message::read_from(&mut self.primary).unwrap() {
                    Message::Ack(seq) => {
                        return (seq, std::fs::metadata(&self.log_path).unwrap().len())
                    }
                    _ => continue,
                }
            }
        }

        fn close(self) {
            let _ = self.primary.shutdown(std::net::Shutdown::Both);
            self.thread.join().unwrap();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn live_frames_are_acknowledged_with_their_count_once_stored_in_both_modes() {
        let dir = std::env::temp_dir().join(format!("ftlink-recv-src-{}", std::process::id()));
        let (prelude, frames) = frames_of(&dir, 40);
        for (name, mode) in [
            ("received", AckMode::Received),
            ("durable", AckMode::Durable),
        ] {
            let mut r = receiver(name, mode, &prelude);
            let (head, tail) = frames.split_at(frames.len() / 2);
            assert!(
                schema::frame::check_whole_frames(head).is_err(),
                "a cut frame"
            );
            Message::Frames {
                events: 40,
                bytes: frames.clone(),
            }
            .write_to(&mut r.primary)
            .unwrap();
            // When the acknowledgement comes, every byte it covers is in the log copy.
            let (seq, len) = r.next_ack();
            assert_eq!(seq, 39);
            assert_eq!(len, (prelude.len() + frames.len()) as u64);
            let stored = std::fs::read(&r.log_path).unwrap();
            assert_eq!(&stored[prelude.len()..], &frames[..]);
            assert!(!tail.is_empty());
            r.close();
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn damaged_frames_are_neither_stored_nor_acknowledged() {
        let dir = std::env::temp_dir().join(format!("ftlink-recv-bad-{}", std::process::id()));
        let (prelude, mut frames) = frames_of(&dir, 10);
        let last = frames.len() - 1;
        frames[last] ^= 0xff; // the payload no longer matches its crc32
        let mut r = receiver("bad", AckMode::Received, &prelude);
        Message::Frames {
            events: 10,
            bytes: frames,
        }
        .write_to(&mut r.primary)
        .unwrap();
        // The receiving thread stops: the link closes without an acknowledgement.
        r.primary
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut rest = Vec::new();
        let _ = r.primary.read_to_end(&mut rest);
        assert!(rest.is_empty(), "{rest:?}");
        assert_eq!(
            std::fs::metadata(&r.log_path).unwrap().len(),
            prelude.len() as u64
        );
        r.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_history_piece_is_counted_by_decoding_it_and_acknowledged_once_stored() {
        let dir = std::env::temp_dir().join(format!("ftlink-recv-hist-{}", std::process::id()));
        let (prelude, frames) = frames_of(&dir, 25);
        let mut r = receiver("hist", AckMode::Received, &prelude);
        // A piece that ends inside a frame acknowledges nothing; the rest completes it.
        let (head, tail) = frames.split_at(frames.len() - 3);
        Message::Events(head.to_vec())
            .write_to(&mut r.primary)
            .unwrap();
        Message::Events(tail.to_vec())
            .write_to(&mut r.primary)
            .unwrap();
        let (seq, len) = r.next_ack();
        assert_eq!(seq, 24);
        assert_eq!(len, (prelude.len() + frames.len()) as u64);
        r.close();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

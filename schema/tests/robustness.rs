//! Damaged and unfinished traces: truncation at every byte, random byte flips, wrong versions,
//! seq gaps, data after the footer, and reading a trace while it is being written.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use schema::codec::{encode_chunk, encode_footer, encode_header};
use schema::frame::{encode_frame, file_start};
use schema::*;

fn events_path(dir: &Path) -> std::path::PathBuf {
    dir.join("events")
}

/// Events served before the end or the error, and the outcome.
fn read_prefix(dir: &Path) -> (Vec<Event>, Result<EndState, TraceError>) {
    let mut r = match TraceReader::open(dir) {
        Ok(r) => r,
        Err(e) => return (Vec::new(), Err(e)),
    };
    let mut out = Vec::new();
    loop {
        match r.next_event() {
            Ok(Some(e)) => out.push(e),
            Ok(None) => return (out, Ok(r.end_state())),
            Err(e) => return (out, Err(e)),
        }
    }
}

#[test]
fn truncation_at_every_byte_serves_the_complete_prefix() {
    let src = tempfile::tempdir().unwrap();
    let events = varied_events(24, &mut Rng::new(99));
    let ends = write_trace(src.path(), &events, 5, Some(&footer_for(24)));
    let full = fs::read(events_path(src.path())).unwrap();
    // Events in the complete frames up to ends[i]: 0 after the prelude, then 5, 10, … 24.
    let events_after = |frame_end: usize| -> usize {
        ends.iter().position(|&e| e as usize == frame_end).unwrap() * 5
    };

    let dir = tempfile::tempdir().unwrap();
    for cut in 0..=full.len() {
        fs::write(events_path(dir.path()), &full[..cut]).unwrap();
        let (got, outcome) = read_prefix(dir.path());
        let prelude = ends[0] as usize;
        if cut < prelude {
            let err = outcome.unwrap_err();
            assert!(
                matches!(err, TraceError::Corrupt { .. }),
                "cut {cut}: {err}"
            );
            continue;
        }
        let last_end = ends
            .iter()
            .rev()
            .map(|&e| e as usize)
            .find(|&e| e <= cut)
            .unwrap();
        let expected = events_after(last_end).min(events.len());
        assert_eq!(got, events[..expected], "cut {cut}");
        match outcome.unwrap() {
            EndState::Finished(f) => {
                assert_eq!(cut, full.len());
                assert_eq!(f, footer_for(24));
            }
            EndState::Interrupted {
                events: n,
                offset,
                partial_bytes,
            } => {
                assert!(cut < full.len());
                assert_eq!(n, expected as u64, "cut {cut}");
                assert_eq!(offset, last_end as u64, "cut {cut}");
                assert_eq!(partial_bytes, (cut - last_end) as u64, "cut {cut}");
            }
        }
    }
}

#[test]
fn random_byte_flips_never_panic_and_serve_a_consistent_prefix() {
    let src = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(0x5eed);
    let events = varied_events(120, &mut rng);
    write_trace(src.path(), &events, 17, Some(&footer_for(120)));
    let full = fs::read(events_path(src.path())).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (mut errors, mut prefixes) = (0, 0);
    for _ in 0..3000 {
        let mut bytes = full.clone();
        for _ in 0..1 + rng.below(4) {
            // Bias towards the fixed parts: the first bytes and frame headers matter most.
            let at = if rng.below(4) == 0 {
                rng.below(64)
            } else {
                rng.below(bytes.len() as u64)
            } as usize;
            bytes[at] ^= 1 + rng.below(255) as u8;
        }
        if rng.below(8) == 0 {
            let cut = rng.below(bytes.len() as u64) as usize;
            bytes.truncate(cut);
        }
        fs::write(events_path(dir.path()), &bytes).unwrap();
        let (got, outcome) = read_prefix(dir.path());
        assert!(got.len() <= events.len());
        assert_eq!(got, events[..got.len()]);
        match outcome {
            Ok(EndState::Finished(f)) => {
                assert_eq!(got.len(), events.len());
                assert_eq!(f, footer_for(120));
            }
            Ok(EndState::Interrupted { .. }) => prefixes += 1,
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
                errors += 1;
            }
        }
    }
    assert!(errors > 1000, "{errors} errors, {prefixes} prefixes");
}

#[test]
fn damaged_messages_with_valid_checksums_never_panic() {
    // The crc keeps random damage away from the capnp decoder; re-frame damaged messages
    // with good checksums to exercise the decoder itself.
    let mut rng = Rng::new(42);
    let events = varied_events(40, &mut rng);
    let header = encode_header(&sample_header()).unwrap();
    let chunk = encode_chunk(0, &events).unwrap();
    let footer = encode_footer(&footer_for(40)).unwrap();
    let mut outcomes = [0usize; 2];
    for i in 0..3000 {
        let (mut h, mut c, mut f) = (header.clone(), chunk.clone(), footer.clone());
        let target = match i % 3 {
            0 => &mut h,
            1 => &mut c,
            _ => &mut f,
        };
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(target.len() as u64) as usize;
            target[at] ^= 1 + rng.below(255) as u8;
        }
        let mut stream = file_start(FORMAT_VERSION).to_vec();
        stream.extend(encode_frame(FrameKind::Header, &h).unwrap());
        stream.extend(encode_frame(FrameKind::Chunk, &c).unwrap());
        stream.extend(encode_frame(FrameKind::Footer, &f).unwrap());
        let mut dec = StreamDecoder::new();
        dec.push(&stream);
        let mut n = 0;
        let ok = loop {
            match dec.next_event() {
                Ok(Some(_)) => n += 1,
                Ok(None) => break true,
                Err(e) => {
                    assert!(
                        matches!(e, FormatError::Corrupt { .. } | FormatError::Version { .. }),
                        "{e}"
                    );
                    break false;
                }
            }
        };
        assert!(n <= 40);
        outcomes[ok as usize] += 1;
    }
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
}

#[test]
fn wrong_version_in_file_start_or_header() {
    let dir = tempfile::tempdir().unwrap();
    let header = encode_header(&sample_header()).unwrap();

    let mut bytes = file_start(FORMAT_VERSION + 1).to_vec();
    bytes.extend(encode_frame(FrameKind::Header, &header).unwrap());
    fs::write(events_path(dir.path()), &bytes).unwrap();
    let err = TraceReader::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, TraceError::Version { found, expected, .. } if found == FORMAT_VERSION + 1 && expected == FORMAT_VERSION),
        "{err}"
    );
    assert!(err.to_string().contains("events"), "{err}");

    let mut h = sample_header();
    h.format_version = 7;
    let mut bytes = file_start(FORMAT_VERSION).to_vec();
    bytes.extend(encode_frame(FrameKind::Header, &encode_header(&h).unwrap()).unwrap());
    fs::write(events_path(dir.path()), &bytes).unwrap();
    let err = TraceReader::open(dir.path()).unwrap_err();
    assert!(matches!(err, TraceError::Version { found: 7, .. }), "{err}");
}

#[test]
fn not_a_trace_and_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(events_path(dir.path()), b"#!/bin/sh\necho hello\n").unwrap();
    let err = TraceReader::open(dir.path()).unwrap_err();
    assert!(matches!(err, TraceError::NotATrace { .. }), "{err}");
    assert!(err.to_string().contains("is not an ftrun trace"), "{err}");

    let empty = tempfile::tempdir().unwrap();
    let err = TraceReader::open(empty.path()).unwrap_err();
    assert!(matches!(err, TraceError::Io { op: "open", .. }), "{err}");
}

#[test]
fn seq_gap_is_corruption_with_offset_and_last_event() {
    let dir = tempfile::tempdir().unwrap();
    let events = every_kind(0);
    let mut bytes = file_start(FORMAT_VERSION).to_vec();
    bytes.extend(
        encode_frame(FrameKind::Header, &encode_header(&sample_header()).unwrap()).unwrap(),
    );
    bytes.extend(encode_frame(FrameKind::Chunk, &encode_chunk(0, &events[..3]).unwrap()).unwrap());
    let gap_at = bytes.len();
    bytes.extend(encode_frame(FrameKind::Chunk, &encode_chunk(4, &events[4..6]).unwrap()).unwrap());
    fs::write(events_path(dir.path()), &bytes).unwrap();

    let mut r = TraceReader::open(dir.path()).unwrap();
    for e in &events[..3] {
        assert_eq!(r.next_event().unwrap().as_ref(), Some(e));
    }
    let err = r.next_event().unwrap_err();
    match &err {
        TraceError::Corrupt {
            offset, last_seq, ..
        } => {
            assert_eq!(*offset, gap_at as u64);
            assert_eq!(*last_seq, Some(2));
        }
        other => panic!("unexpected {other}"),
    }
    let msg = err.to_string();
    let expected = format!(
        "trace {} is corrupt at byte {gap_at} (after event 2): chunk starts at event 4, expected event 3",
        events_path(dir.path()).display()
    );
    assert_eq!(msg, expected);
    // The error sticks.
    assert_eq!(r.next_event().unwrap_err().to_string(), expected);

    // A repeated seq inside a chunk.
    let mut dup = events[..3].to_vec();
    dup[2].seq = 1;
    let mut bytes = file_start(FORMAT_VERSION).to_vec();
    bytes.extend(
        encode_frame(FrameKind::Header, &encode_header(&sample_header()).unwrap()).unwrap(),
    );
    bytes.extend(encode_frame(FrameKind::Chunk, &encode_chunk(0, &dup).unwrap()).unwrap());
    fs::write(events_path(dir.path()), &bytes).unwrap();
    let err = read_all(dir.path()).unwrap_err();
    assert!(
        err.to_string()
            .contains("event 1 found where event 2 belongs"),
        "{err}"
    );
}

#[test]
fn checksum_mismatch_message() {
    let dir = tempfile::tempdir().unwrap();
    let events = varied_events(30, &mut Rng::new(5));
    let ends = write_trace(dir.path(), &events, 10, None);
    let mut bytes = fs::read(events_path(dir.path())).unwrap();
    // Damage the payload of the second chunk.
    let second = ends[1] as usize;
    bytes[second + 20] ^= 0x40;
    fs::write(events_path(dir.path()), &bytes).unwrap();
    let mut r = TraceReader::open(dir.path()).unwrap();
    for e in &events[..10] {
        assert_eq!(r.next_event().unwrap().as_ref(), Some(e));
    }
    let msg = r.next_event().unwrap_err().to_string();
    assert_eq!(
        msg,
        format!(
            "trace {} is corrupt at byte {second} (after event 9): chunk checksum mismatch",
            events_path(dir.path()).display()
        )
    );
}

#[test]
fn data_after_the_footer_and_frames_out_of_place() {
    let dir = tempfile::tempdir().unwrap();
    let events = every_kind(0);
    write_trace(
        dir.path(),
        &events,
        100,
        Some(&footer_for(events.len() as u64)),
    );
    let mut bytes = fs::read(events_path(dir.path())).unwrap();
    bytes.extend_from_slice(b"junk");
    fs::write(events_path(dir.path()), &bytes).unwrap();
    let err = read_all(dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("4 bytes follow the footer"),
        "{err}"
    );

    // A chunk before the header.
    let mut bytes = file_start(FORMAT_VERSION).to_vec();
    bytes.extend(encode_frame(FrameKind::Chunk, &encode_chunk(0, &events).unwrap()).unwrap());
    fs::write(events_path(dir.path()), &bytes).unwrap();
    let err = TraceReader::open(dir.path()).unwrap_err();
    assert!(
        err.to_string()
            .contains("expected the header frame, found a chunk frame"),
        "{err}"
    );

    // A footer that miscounts.
    let mut bytes = file_start(FORMAT_VERSION).to_vec();
    bytes.extend(
        encode_frame(FrameKind::Header, &encode_header(&sample_header()).unwrap()).unwrap(),
    );
    bytes.extend(encode_frame(FrameKind::Footer, &encode_footer(&footer_for(3)).unwrap()).unwrap());
    fs::write(events_path(dir.path()), &bytes).unwrap();
    let err = read_all(dir.path()).unwrap_err();
    assert!(
        err.to_string()
            .contains("the footer counts 3 events but the trace holds 0"),
        "{err}"
    );
}

#[test]
fn oversized_lengths_are_corruption_not_allocations() {
    let mut frame = vec![2, 0, 0, 0];
    frame.extend_from_slice(&u32::MAX.to_le_bytes());
    frame.extend_from_slice(&16u32.to_le_bytes());
    frame.extend_from_slice(&0u32.to_le_bytes());
    let mut dec = FrameDecoder::new();
    dec.push(&file_start(FORMAT_VERSION));
    dec.push(&frame);
    let err = dec.pop().unwrap_err();
    assert!(err.to_string().contains("corrupt at byte 16"), "{err}");
    assert!(err.to_string().contains("the limit is 64 MiB"), "{err}");

    let mut frame = vec![2, 0, 0, 0];
    frame.extend_from_slice(&16u32.to_le_bytes());
    frame.extend_from_slice(&((256u32 << 20) + 1).to_le_bytes());
    let mut dec = FrameDecoder::new();
    dec.push(&file_start(FORMAT_VERSION));
    dec.push(&frame);
    dec.push(&[0; 4]);
    assert!(dec
        .pop()
        .unwrap_err()
        .to_string()
        .contains("the limit is 256 MiB"));
}

#[test]
fn frame_decoder_separates_need_more_from_corruption() {
    let mut dec = FrameDecoder::new();
    assert_eq!(dec.pop(), Ok(None));
    dec.push(b"FTRU");
    assert_eq!(dec.pop(), Ok(None));
    assert_eq!(dec.needed(), 12);
    let mut dec2 = FrameDecoder::new();
    dec2.push(b"FTRX");
    assert_eq!(dec2.pop(), Err(FormatError::NotATrace));

    let frame = encode_frame(FrameKind::Footer, &encode_footer(&footer_for(0)).unwrap()).unwrap();
    dec.push(&file_start(FORMAT_VERSION)[4..]);
    assert_eq!(dec.pop(), Ok(None));
    assert!(dec.started());
    dec.push(&frame[..frame.len() - 1]);
    assert_eq!(dec.pop(), Ok(None));
    assert_eq!(dec.needed(), 1);
    dec.push(&frame[frame.len() - 1..]);
    let f = dec.pop().unwrap().unwrap();
    assert_eq!(
        (f.kind, f.offset, f.len),
        (FrameKind::Footer, 16, frame.len() as u64)
    );
    assert_eq!(dec.offset(), 16 + frame.len() as u64);
    assert_eq!(dec.buffered(), 0);

    dec.push(&[9, 0, 0, 0]);
    dec.push(&[0; 12]);
    assert!(dec
        .pop()
        .unwrap_err()
        .to_string()
        .contains("unknown frame kind 9"));
}

#[test]
fn reading_while_writing_sees_complete_frames_only() {
    let dir = tempfile::tempdir().unwrap();
    let events = varied_events(40, &mut Rng::new(8));
    let mut w = TraceWriter::create(dir.path(), &sample_header()).unwrap();
    let mut r = TraceReader::open(dir.path()).unwrap();
    assert_eq!(r.header(), &sample_header());
    assert_eq!(r.next_event().unwrap(), None);
    assert!(matches!(
        r.end_state(),
        EndState::Interrupted {
            events: 0,
            partial_bytes: 0,
            ..
        }
    ));

    // Buffered events are invisible until flushed.
    for e in &events[..10] {
        w.push(e.clone()).unwrap();
    }
    assert_eq!(r.next_event().unwrap(), None);
    w.flush().unwrap();
    for e in &events[..10] {
        assert_eq!(r.next_event().unwrap().as_ref(), Some(e));
    }
    assert_eq!(r.next_event().unwrap(), None);

    // A frame half on disk: nothing is served, the partial bytes are reported.
    let path = events_path(dir.path());
    let before = fs::metadata(&path).unwrap().len();
    for e in &events[10..20] {
        w.push(e.clone()).unwrap();
    }
    w.flush().unwrap();
    let whole = fs::read(&path).unwrap();
    let frame = whole[before as usize..].to_vec();
    fs::write(&path, &whole[..before as usize + frame.len() / 2]).unwrap();
    assert_eq!(r.next_event().unwrap(), None);
    assert_eq!(
        r.end_state(),
        EndState::Interrupted {
            events: 10,
            offset: before,
            partial_bytes: (frame.len() / 2) as u64
        }
    );
    // The rest of the frame arrives; the writer's own handle is still at the frame's end.
    let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut f, &frame[frame.len() / 2..]).unwrap();
    for e in &events[10..20] {
        assert_eq!(r.next_event().unwrap().as_ref(), Some(e));
    }

    for e in &events[20..] {
        w.push(e.clone()).unwrap();
    }
    w.finish(&footer_for(40)).unwrap();
    for e in &events[20..] {
        assert_eq!(r.next_event().unwrap().as_ref(), Some(e));
    }
    assert_eq!(r.next_event().unwrap(), None);
    assert_eq!(r.end_state(), EndState::Finished(footer_for(40)));
}

#[test]
fn concurrent_reader_follows_a_writer_thread() {
    let dir = tempfile::tempdir().unwrap();
    let events = varied_events(3000, &mut Rng::new(21));
    let w = TraceWriter::create(dir.path(), &sample_header()).unwrap();
    let to_write = events.clone();
    let writer = std::thread::spawn(move || {
        let mut w = w;
        for (i, e) in to_write.into_iter().enumerate() {
            w.push(e).unwrap();
            if i % 37 == 0 {
                w.flush().unwrap();
            }
        }
        w.finish(&footer_for(3000)).unwrap();
    });
    let mut r = TraceReader::open(dir.path()).unwrap();
    let mut got = 0usize;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match r.next_event().unwrap() {
            Some(e) => {
                assert_eq!(e, events[got]);
                got += 1;
            }
            None if r.footer().is_some() => break,
            None => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "reader stalled at {got}"
                );
                std::thread::yield_now();
            }
        }
    }
    writer.join().unwrap();
    assert_eq!(got, 3000);
    assert_eq!(r.end_state(), EndState::Finished(footer_for(3000)));
}

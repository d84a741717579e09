//! Round trips: every event kind through the codec and through a trace file, chunking, the
//! frame sink, and what the writer refuses.

mod common;

use common::*;
use schema::*;

#[test]
fn codec_round_trips_every_kind() {
    let header = sample_header();
    let bytes = schema::codec::encode_header(&header).unwrap();
    assert_eq!(schema::codec::decode_header(&bytes).unwrap(), header);

    let events = every_kind(40);
    let bytes = schema::codec::encode_chunk(40, &events).unwrap();
    let (first, decoded) = schema::codec::decode_chunk(&bytes).unwrap();
    assert_eq!(first, 40);
    assert_eq!(decoded, events);

    for exit in [
        None,
        Some(ExitStatus::Exited(3)),
        Some(ExitStatus::Killed {
            signo: 6,
            core_dumped: true,
        }),
    ] {
        let footer = Footer {
            finished_cleanly: exit.is_some(),
            event_count: 77,
            exit,
        };
        let bytes = schema::codec::encode_footer(&footer).unwrap();
        assert_eq!(schema::codec::decode_footer(&bytes).unwrap(), footer);
    }
}

#[test]
fn a_chunk_decodes_the_same_in_place_and_copied_and_refuses_trailing_bytes_both_ways() {
    // Read in place from 8-byte aligned memory, copied into segments from anywhere else.
    let events = every_kind(7);
    let bytes = schema::codec::encode_chunk(7, &events).unwrap();
    let mut raw = vec![0u8; bytes.len() + 32];
    let aligned = raw.as_ptr().align_offset(8);
    for at in [aligned, aligned + 1, aligned + 8] {
        raw[at..at + bytes.len()].copy_from_slice(&bytes);
        let placed = &raw[at..at + bytes.len()];
        assert_eq!(placed.as_ptr().align_offset(8) == 0, at != aligned + 1);
        let (first, decoded) = schema::codec::decode_chunk(placed).unwrap();
        assert_eq!((first, &decoded), (7, &events), "at offset {at}");
        let longer = &raw[at..at + bytes.len() + 8];
        let err = schema::codec::decode_chunk(longer).unwrap_err();
        assert!(err.what.contains("after the end"), "at offset {at}: {err}");
    }
}

#[test]
fn codec_rejects_trailing_bytes_and_garbage() {
    let mut bytes = schema::codec::encode_footer(&footer_for(1)).unwrap();
    bytes.extend_from_slice(&[0; 8]);
    let err = schema::codec::decode_footer(&bytes).unwrap_err();
    assert!(err.what.contains("after the end"), "{err}");
    assert!(schema::codec::decode_header(&[]).is_err());
    assert!(schema::codec::decode_chunk(&[0xff; 64]).is_err());
}

#[test]
fn file_round_trips_every_kind() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("nested/trace");
    let events = every_kind(0);
    let footer = Footer {
        finished_cleanly: true,
        event_count: events.len() as u64,
        exit: Some(ExitStatus::Killed {
            signo: 15,
            core_dumped: false,
        }),
    };
    let mut w = TraceWriter::create(&trace, &sample_header()).unwrap();
    for e in &events {
        w.push(e.clone()).unwrap();
    }
    assert_eq!(w.events_written(), events.len() as u64);
    w.finish(&footer).unwrap();

    let (read, r) = read_all(&trace).unwrap();
    assert_eq!(r.header(), &sample_header());
    assert_eq!(read, events);
    assert_eq!(r.footer(), Some(&footer));
    assert_eq!(r.end_state(), EndState::Finished(footer));
    assert_eq!(
        r.offset(),
        std::fs::metadata(trace.join("events")).unwrap().len()
    );
}

#[test]
fn empty_trace_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let w = TraceWriter::create(dir.path(), &sample_header()).unwrap();
    let footer = Footer {
        finished_cleanly: false,
        event_count: 0,
        exit: None,
    };
    w.finish(&footer).unwrap();
    let (read, r) = read_all(dir.path()).unwrap();
    assert!(read.is_empty());
    assert_eq!(r.end_state(), EndState::Finished(footer));
}

#[test]
fn chunks_hold_at_most_256_events_and_big_events_get_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(7);
    let mut events = varied_events(600, &mut rng);
    // A 2 MiB memory write in the middle.
    if let EventKind::Syscall(s) = &mut events[300].kind {
        s.writes.push(MemWrite {
            addr: 1,
            data: (rng.bytes(2 << 20)).into(),
        });
    } else {
        events[300].kind = EventKind::Syscall(SyscallEvent {
            number: 0,
            args: [0; 6],
            result: 0,
            mode: SyscallMode::Emulated,
            writes: smallvec::smallvec![MemWrite {
                addr: 1,
                data: (rng.bytes(2 << 20)).into(),
            }],
            rip: 0,
            regs_hash: 0,
            output_hash: 0,
            echo: Echo::None,
            mapping: None,
        });
    }
    let mut w = TraceWriter::create(dir.path(), &sample_header()).unwrap();
    let captured = capture(&mut w);
    for e in &events {
        w.push(e.clone()).unwrap();
    }
    w.finish(&footer_for(600)).unwrap();

    // Decode the sink's copy frame by frame and look at chunk sizes.
    let mut dec = FrameDecoder::new();
    for piece in captured.lock().unwrap().iter() {
        dec.push(piece);
    }
    let mut chunk_sizes = Vec::new();
    while let Some(frame) = dec.pop().unwrap() {
        if frame.kind == FrameKind::Chunk {
            let (_, evs) = schema::codec::decode_chunk(&frame.message).unwrap();
            chunk_sizes.push(evs.len());
        }
    }
    assert_eq!(chunk_sizes.iter().sum::<usize>(), 600);
    assert!(
        chunk_sizes.iter().all(|&n| n <= CHUNK_EVENTS),
        "{chunk_sizes:?}"
    );
    assert!(
        chunk_sizes.contains(&1),
        "the big event is alone: {chunk_sizes:?}"
    );
    assert_eq!(chunk_sizes[0], 256);

    let (read, _) = read_all(dir.path()).unwrap();
    assert_eq!(read, events);
}

#[test]
fn sink_sees_the_same_bytes_as_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let events = varied_events(50, &mut Rng::new(3));
    let ends = write_trace(dir.path(), &events, 7, Some(&footer_for(50)));
    let file = std::fs::read(dir.path().join("events")).unwrap();
    assert_eq!(*ends.last().unwrap(), file.len() as u64);
    // One call for the prelude, then one per frame: 8 chunks (7 full flushes + rest) and the footer.
    assert_eq!(ends.len(), 1 + 8 + 1);

    // The stream decodes when fed one byte at a time.
    let mut dec = StreamDecoder::new();
    for b in &file {
        dec.push(std::slice::from_ref(b));
        assert!(dec.poll_header().is_ok());
    }
    let mut n = 0;
    while let Some(e) = dec.next_event().unwrap() {
        assert_eq!(e, events[n]);
        n += 1;
    }
    assert_eq!(n, 50);
    assert_eq!(dec.footer(), Some(&footer_for(50)));
}

#[test]
fn writer_refuses_out_of_order_events_and_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let events = every_kind(0);
    let mut w = TraceWriter::create(dir.path(), &sample_header()).unwrap();
    w.push(events[0].clone()).unwrap();
    let err = w.push(events[2].clone()).unwrap_err();
    assert!(matches!(err, TraceError::Refused { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("event 2 pushed where event 1 was expected"),
        "{err}"
    );
    let err = w.push(events[0].clone()).unwrap_err();
    assert!(matches!(err, TraceError::Refused { .. }), "{err}");
    w.push(events[1].clone()).unwrap();
    let err = w.finish(&footer_for(5)).unwrap_err();
    assert!(
        err.to_string()
            .contains("the footer counts 5 events but 2 were written"),
        "{err}"
    );
    // The failed finish dropped the writer, which flushed: the trace reads as interrupted.
    let (read, r) = read_all(dir.path()).unwrap();
    assert_eq!(read, events[..2]);
    assert!(matches!(
        r.end_state(),
        EndState::Interrupted {
            events: 2,
            partial_bytes: 0,
            ..
        }
    ));
}

#[test]
fn writer_refuses_existing_trace_and_wrong_header_version() {
    let dir = tempfile::tempdir().unwrap();
    TraceWriter::create(dir.path(), &sample_header()).unwrap();
    let err = TraceWriter::create(dir.path(), &sample_header()).unwrap_err();
    match &err {
        TraceError::Io { op, source, .. } => {
            assert_eq!(*op, "create");
            assert_eq!(source.kind(), std::io::ErrorKind::AlreadyExists);
        }
        other => panic!("unexpected {other}"),
    }
    assert!(err
        .to_string()
        .contains(&dir.path().join("events").display().to_string()));

    let other = tempfile::tempdir().unwrap();
    let mut header = sample_header();
    header.format_version = FORMAT_VERSION + 1;
    let err = TraceWriter::create(other.path(), &header).unwrap_err();
    assert!(matches!(err, TraceError::Refused { .. }), "{err}");
    assert!(!other.path().join("events").exists());
}

#[test]
fn dropping_a_writer_keeps_buffered_events() {
    let dir = tempfile::tempdir().unwrap();
    let events = varied_events(10, &mut Rng::new(11));
    {
        let mut w = TraceWriter::create(dir.path(), &sample_header()).unwrap();
        for e in &events {
            w.push(e.clone()).unwrap();
        }
    }
    let (read, r) = read_all(dir.path()).unwrap();
    assert_eq!(read, events);
    assert!(r.footer().is_none());
    let len = std::fs::metadata(dir.path().join("events")).unwrap().len();
    assert_eq!(
        r.end_state(),
        EndState::Interrupted {
            events: 10,
            offset: len,
            partial_bytes: 0
        }
    );
}

#[test]
fn writer_refuses_events_too_large_for_a_frame_and_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = TraceWriter::create(dir.path(), &sample_header()).unwrap();
    let events = every_kind(0);
    w.push(events[0].clone()).unwrap();
    let big = |data: Vec<u8>| Event {
        seq: 1,
        tid: 1,
        kind: EventKind::Syscall(SyscallEvent {
            number: 0,
            args: [0; 6],
            result: data.len() as i64,
            mode: SyscallMode::Emulated,
            writes: smallvec::smallvec![MemWrite {
                addr: 0x1000,
                data: data.into()
            }],
            rip: 0,
            regs_hash: 0,
            output_hash: 0,
            echo: Echo::None,
            mapping: None,
        }),
    };
    // Over the per-field limit: refused before encoding.
    let err = w.push(big(vec![0; (256 << 20) + 1])).unwrap_err();
    assert!(matches!(err, TraceError::Refused { .. }), "{err}");
    assert!(
        err.to_string().contains("event 1 cannot be stored"),
        "{err}"
    );
    // Incompressible and over the 64 MiB payload limit once compressed.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..(65usize << 20) / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect();
    let err = w.push(big(noise)).unwrap_err();
    assert!(err.to_string().contains("64 MiB"), "{err}");
    assert_eq!(w.events_written(), 1);
    // A big event that fits is written in a chunk of its own.
    w.push(big(vec![7; 8 << 20])).unwrap();
    w.push(Event {
        seq: 2,
        ..events[1].clone()
    })
    .unwrap();
    w.finish(&footer_for(3)).unwrap();
    let (read, r) = read_all(dir.path()).unwrap();
    assert_eq!(read.len(), 3);
    assert_eq!(read[1], big(vec![7; 8 << 20]));
    assert_eq!(r.end_state(), EndState::Finished(footer_for(3)));
}

#[test]
fn packed_in_process_calls_are_read_back_as_events_in_seq_order() {
    use schema::packed::Packer;
    let dir = tempfile::tempdir().unwrap();
    let mut w = TraceWriter::create(dir.path(), &sample_header()).unwrap();
    let before = every_kind(0);
    for e in &before {
        w.push(e.clone()).unwrap();
    }
    let mut p = Packer::default();
    for i in 0..1000u64 {
        p.call(228, 0, &[1, 0x7000 + i, 0, 0, 0, 0], 0, Echo::None);
        p.write(0x7000 + i, &i.to_le_bytes());
    }
    let first = w.events_written();
    w.push_buffered(p.finish(first, 7)).unwrap();
    assert_eq!(w.events_written(), first + 1000);
    let after = every_kind(first + 1000);
    for e in &after {
        w.push(e.clone()).unwrap();
    }
    // A batch whose seq is not the next one is refused like any event.
    let mut stale = Packer::default();
    stale.call(39, 1, &[0; 6], 0, Echo::None);
    assert!(w.push_buffered(stale.finish(first, 7)).is_err());
    let total = w.events_written();
    w.finish(&footer_for(total)).unwrap();

    let (events, _) = read_all(dir.path()).unwrap();
    assert_eq!(events.len() as u64, first + 1000 + after.len() as u64);
    assert_eq!(&events[..before.len()], &before[..]);
    assert_eq!(&events[events.len() - after.len()..], &after[..]);
    for (i, e) in events[before.len()..before.len() + 1000].iter().enumerate() {
        assert_eq!((e.seq, e.tid), (first + i as u64, 7));
        let EventKind::Syscall(s) = &e.kind else {
            panic!("event {} is not a syscall", e.seq)
        };
        assert_eq!((s.number, s.mode), (228, SyscallMode::Buffered));
        assert_eq!(s.writes[0].data.as_slice(), (i as u64).to_le_bytes());
    }
}

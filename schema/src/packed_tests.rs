use super::*;

fn syscall(e: &Event) -> &SyscallEvent {
    match &e.kind {
        EventKind::Syscall(s) => s,
        other => panic!("not a syscall: {other:?}"),
    }
}

#[test]
fn calls_unpack_to_the_events_they_were_packed_from() {
    let mut p = Packer::default();
    p.call(110, 42, &[1, 2, 3, 4, 5, 6], 0, Echo::None);
    p.call(0, 3, &[3, 0x1000, 16, 0, 0, 0], 0, Echo::None);
    p.write(0x1000, b"abc");
    p.call(1, 5, &[1, 0x2000, 5, 0, 0, 0], 0xfeed, Echo::Stdout);
    let calls = p.finish(7, 99);
    let events = unpack(&calls).unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!((events[0].seq, events[2].seq, events[1].tid), (7, 9, 99));
    assert_eq!(syscall(&events[0]).args, [1, 2, 3, 4, 5, 6]);
    let read = syscall(&events[1]);
    assert_eq!(
        (read.number, read.result, read.mode),
        (0, 3, SyscallMode::Buffered)
    );
    assert_eq!(
        read.writes.as_slice(),
        [MemWrite {
            addr: 0x1000,
            data: WriteBytes::from_slice(b"abc")
        }]
    );
    let write = syscall(&events[2]);
    assert_eq!((write.output_hash, write.echo), (0xfeed, Echo::Stdout));
}

/// A small deterministic generator, so that the mixes below are the same every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 11
    }
}

/// Calls like a server's: a few numbers again and again (some sharing a slot), arguments
/// and results that repeat or change, writes of repeated and changing shapes.
/// One call as the packer is given it: number, result, arguments, output hash, echo,
/// memory writes.
type Call = (u32, i64, [u64; 6], u64, Echo, Vec<(u64, Vec<u8>)>);

fn mixed_calls(n: usize, seed: u64) -> Vec<Call> {
    let mut rng = Lcg(seed);
    let numbers = [0u32, 1, 7, 96, 228, 232, 16 + 7, 318, 0x4000_0000];
    (0..n)
        .map(|_| {
            let nr = numbers[rng.next() as usize % numbers.len()];
            let mut args = [0x7ffd_0000_1000, 0, 16, 0, 0, 0];
            if rng.next().is_multiple_of(3) {
                args[1] = rng.next();
            }
            if rng.next().is_multiple_of(5) {
                args[5] = u64::MAX - rng.next() % 7;
            }
            let result = match rng.next() % 4 {
                0 => -11,
                1 => 0,
                _ => (rng.next() % 5000) as i64,
            };
            let hash = if rng.next().is_multiple_of(4) {
                rng.next()
            } else {
                0
            };
            let echo = [Echo::None, Echo::Stdout, Echo::Stderr][rng.next() as usize % 3];
            let writes = (0..rng.next() % 4)
                .map(|w| {
                    let addr = if rng.next().is_multiple_of(2) {
                        0x7ffd_0000_2000 + w * 64
                    } else {
                        rng.next()
                    };
                    let len = [0usize, 8, 16, 17, 300][rng.next() as usize % 5];
                    let data = (0..len).map(|_| rng.next() as u8).collect();
                    (addr, data)
                })
                .collect();
            (nr, result, args, hash, echo, writes)
        })
        .collect()
}

#[test]
fn mixes_of_repeated_and_changing_calls_unpack_exactly() {
    for seed in 1..20 {
        let calls = mixed_calls(500, seed);
        let mut p = Packer::default();
        for (nr, result, args, hash, echo, writes) in &calls {
            p.call(*nr, *result, args, *hash, *echo);
            for (addr, data) in writes {
                p.write(*addr, data);
            }
        }
        let events = unpack(&p.finish(100, 5)).unwrap();
        assert_eq!(events.len(), calls.len());
        for (e, (nr, result, args, hash, echo, writes)) in events.iter().zip(&calls) {
            let s = syscall(e);
            assert_eq!(s.number, u64::from(*nr), "seed {seed} event {}", e.seq);
            assert_eq!(
                (s.result, s.args, s.output_hash, s.echo),
                (*result, *args, *hash, *echo)
            );
            let got: Vec<(u64, Vec<u8>)> =
                s.writes.iter().map(|w| (w.addr, w.data.to_vec())).collect();
            assert_eq!(&got, writes, "seed {seed} event {}", e.seq);
        }
    }
}

#[test]
fn a_clock_read_again_and_again_takes_a_few_bytes_a_call() {
    let mut p = Packer::default();
    for i in 0..1000u64 {
        p.call(96, 0, &[0x7ffd_1234_5670, 0, 0, 0, 0, 0], 0, Echo::None);
        let (sec, usec) = (1_700_000_000 + i / 400, (i * 2_500) % 1_000_000);
        let mut tv = sec.to_le_bytes().to_vec();
        tv.extend_from_slice(&usec.to_le_bytes());
        p.write(0x7ffd_1234_5670, &tv);
    }
    let calls = p.finish(0, 1);
    // number (1), flags (2), write shape (1), the seconds' difference (1) and the
    // microseconds' (2500, or the wrap back: 2 or 3): at most 8 bytes a call (it was 104).
    assert!(
        calls.packed.len() <= 1000 * 8 + 64,
        "{}",
        calls.packed.len()
    );
    let events = unpack(&calls).unwrap();
    let last = syscall(&events[999]);
    assert_eq!(
        last.writes[0].data[..8],
        (1_700_000_000u64 + 2).to_le_bytes()
    );
}

#[test]
fn packed_calls_that_do_not_match_their_count_are_refused() {
    let mut p = Packer::default();
    p.call(0, 3, &[0; 6], 0, Echo::None);
    p.write(0x1000, b"abc");
    let mut calls = p.finish(0, 1);
    calls.count = 2;
    assert!(unpack(&calls).unwrap_err().contains("end inside a call"));
    calls.count = 1;
    // The write's length (after number, flags, the result and the shape byte, address)
    // claims more bytes than there are.
    let len_at = calls.packed.len() - 4;
    calls.packed[len_at] = 0x7f;
    assert!(unpack(&calls).unwrap_err().contains("memory write"));
    calls.packed[len_at] = 3;
    calls.packed.push(0);
    assert!(unpack(&calls).unwrap_err().contains("follow the last"));
}

#[test]
fn damaged_packed_calls_are_errors_never_panics() {
    let calls = mixed_calls(60, 7);
    let mut p = Packer::default();
    for (nr, result, args, hash, echo, writes) in &calls {
        p.call(*nr, *result, args, *hash, *echo);
        for (addr, data) in writes {
            p.write(*addr, data);
        }
    }
    let good = p.finish(0, 1);
    let mut rng = Lcg(99);
    for cut in 0..good.packed.len() {
        let mut bad = good.clone();
        bad.packed.truncate(cut);
        assert!(unpack(&bad).is_err(), "cut at {cut}");
    }
    for _ in 0..2000 {
        let mut bad = good.clone();
        let at = rng.next() as usize % bad.packed.len();
        bad.packed[at] ^= 1 << (rng.next() % 8);
        // A flipped bit may still decode (as other values): it must not panic.
        let _ = unpack(&bad);
    }
    let mut long = good.clone();
    long.packed = vec![0xff; 40];
    assert!(unpack(&long).unwrap_err().contains("64 bits"));
}

#[test]
fn unpacked_calls_follow_the_events_before_them_and_bad_ones_add_none() {
    let mut p = Packer::default();
    p.call(39, 1, &[0; 6], 0, Echo::None);
    p.call(110, 2, &[0; 6], 0, Echo::None);
    let calls = p.finish(5, 8);
    let mut events = unpack(&calls).unwrap();
    events.truncate(1);
    unpack_into(&calls, &mut events).unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![5, 5, 6]);
    // A count past the bytes: an error, and the events already there stay alone.
    let mut bad = calls.clone();
    bad.count = 3;
    assert!(unpack_into(&bad, &mut events).is_err());
    assert_eq!(events.len(), 3);
}

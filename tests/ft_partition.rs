//! A partition between two network namespaces: the primary in one, the follower in the
//! other, the arbiter on storage both see. Cutting the link must leave exactly one side
//! serving; the other must stop its server and exit non-zero.

mod common;
mod ft_support;

use std::time::{Duration, Instant};

use common::*;
use ft_support::netns::*;
use ft_support::*;

#[test]
fn a_partition_leaves_exactly_one_side_serving() {
    if !can_make_namespaces() {
        return;
    }
    let net = Net::new().expect("creating the network namespaces");
    let tmp = TempDir::new("ft-partition");
    let arbiter = format!("file:{}", tmp.join("arbiter").display());
    let (mut follower, mut primary, sport) = start_kv_pair(&net, tmp.path(), &arbiter, &[]);
    let logs = || {
        format!(
            "primary:\n{}\nfollower:\n{}",
            std::fs::read_to_string(tmp.join("primary.log")).unwrap_or_default(),
            std::fs::read_to_string(tmp.join("follower.log")).unwrap_or_default()
        )
    };
    assert!(
        wait_for_server(&net.a, sport),
        "the primary's server never answered\n{}",
        logs()
    );
    assert!(set_twenty_in_ns(&net.a, sport), "{}", logs());

    net.cut();
    // Both sides notice the silence after 500 ms and race for epoch 2; give them time.
    let start = Instant::now();
    let (mut p_exit, mut f_exit) = (None, None);
    while start.elapsed() < Duration::from_secs(10) && p_exit.is_none() && f_exit.is_none() {
        p_exit = primary.try_wait().unwrap();
        f_exit = follower.try_wait().unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    p_exit = p_exit.or_else(|| primary.try_wait().unwrap());
    f_exit = f_exit.or_else(|| follower.try_wait().unwrap());
    let winner = std::fs::read_to_string(tmp.join("arbiter/epoch-2")).unwrap_or_default();
    let survivor = match (p_exit, f_exit) {
        (Some(p), None) => {
            assert!(!p.success(), "the losing primary exited 0\n{}", logs());
            assert!(
                winner.contains("follower"),
                "the follower survived without holding epoch 2 ({winner})"
            );
            assert!(logs().contains("lost epoch 2"), "{}", logs());
            &net.b
        }
        (None, Some(f)) => {
            assert!(!f.success(), "the losing follower exited 0\n{}", logs());
            assert!(
                winner.contains("primary"),
                "the primary survived without holding epoch 2 ({winner})"
            );
            assert!(logs().contains("lost epoch 2"), "{}", logs());
            &net.a
        }
        other => panic!(
            "expected exactly one side to stop, got {other:?}\n{}",
            logs()
        ),
    };
    assert!(
        wait_for_server(survivor, sport),
        "the surviving side does not serve\n{}",
        logs()
    );
    let gets: Vec<String> = (0..20).map(|i| format!("GET k{i}")).collect();
    let replies = kv_in_ns(survivor, sport, &gets);
    for (i, r) in replies.iter().enumerate() {
        assert_eq!(
            r,
            &format!("VALUE v{i}"),
            "key k{i} lost on the surviving side\n{}",
            logs()
        );
    }
    eprintln!(
        "the side holding epoch 2 ({}) serves all 20 keys; the other exited",
        winner.trim()
    );
    let _ = primary.kill();
    let _ = follower.kill();
    for p in pids_matching(&format!("kv_server {sport}")) {
        kill9(p);
    }
}

//! The etcd arbiter (`--arbiter etcd://HOST:PORT/PREFIX`) against a local etcd started for
//! each test: a takeover, many claimants of one epoch, tokens, and partitions in which only
//! one side reaches etcd (the follower, then the primary).

mod common;
mod ft_support;

use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::*;
use ft_support::etcd::*;
use ft_support::netns::*;
use ft_support::*;
use ftlink::{Arbiter, EtcdArbiter};

#[test]
fn a_takeover_with_the_etcd_arbiter_loses_no_acknowledged_write() {
    if !etcd_installed() {
        return;
    }
    let tmp = TempDir::new("ft-etcd-etcd");
    let etcd = Etcd::start(tmp.path(), None, "127.0.0.1");
    let arbiter = format!("etcd://{}/takeover", etcd.endpoint);
    let ft = FtServer::start("ft-etcd", &["--arbiter", &arbiter]);
    let mut kv = ft.client();
    let acked: Vec<(String, String)> = (0..50)
        .map(|i| (format!("k{i}"), format!("v{i}")))
        .filter(|(k, v)| kv.set(k, v))
        .collect();
    assert_eq!(
        acked.len(),
        50,
        "writes failed before any kill\n{}",
        ft.log_text()
    );
    assert_eq!(etcd.keys("takeover/epoch-"), ["takeover/epoch-1"]);
    kill9(ft.primary_pid());
    let mut kv = Kv::connect(ft.port, Duration::from_secs(20))
        .unwrap_or_else(|| panic!("no server after the primary died\n{}", ft.log_text()));
    for (k, v) in &acked {
        assert_eq!(
            kv.get(k).as_deref(),
            Some(format!("VALUE {v}").as_str()),
            "acknowledged write {k} lost\n{}",
            ft.log_text()
        );
    }
    let log = ft.log_text();
    assert!(log.contains("live as epoch 2"), "{log}");
    assert!(log.contains(&arbiter), "the arbiter is not named\n{log}");
    let holder = etcd.value("takeover/epoch-2").unwrap_or_default();
    assert!(holder.contains("follower"), "epoch 2 is held by {holder:?}");
    // The live side keeps its liveness key under a lease it renews: still there after
    // several lease lifetimes; the killed primary's went with its lease.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10)
        && etcd.value("takeover/alive/epoch-1").is_some()
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        etcd.value("takeover/alive/epoch-1"),
        None,
        "a dead primary's lease lives on"
    );
    assert!(
        etcd.value("takeover/alive/epoch-2").is_some(),
        "the live follower's lease was not kept alive"
    );
    assert!(
        etcd.keys("takeover/token-").is_empty(),
        "a token was left behind"
    );
}

#[test]
fn of_many_sides_claiming_one_epoch_exactly_one_wins() {
    if !etcd_installed() {
        return;
    }
    let tmp = TempDir::new("ft-etcd-claims");
    let etcd = Etcd::start(tmp.path(), None, "127.0.0.1");
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let (barrier, endpoint) = (barrier.clone(), etcd.endpoint.clone());
            std::thread::spawn(move || {
                let a = EtcdArbiter::new(&format!("{endpoint}/race")).unwrap();
                barrier.wait();
                a.claim(5, &format!("side {i}")).unwrap()
            })
        })
        .collect();
    let wins = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|won| *won)
        .count();
    assert_eq!(wins, 1, "{wins} sides won epoch 5");
    let a = EtcdArbiter::new(&format!("{}/race", etcd.endpoint)).unwrap();
    assert!(!a.claim(5, "late").unwrap(), "epoch 5 was won twice");
    assert_eq!(a.latest().unwrap(), 5);
    assert!(a.claim(12, "next").unwrap());
    assert_eq!(a.latest().unwrap(), 12, "epochs compare as numbers");
    assert_eq!(ftlink::arbiter::claim_fresh(&a, "fresh").unwrap(), 13);
    let other = EtcdArbiter::new(&format!("{}/elsewhere", etcd.endpoint)).unwrap();
    assert_eq!(other.latest().unwrap(), 0, "prefixes are separate arbiters");

    // The shared-arbiter proof: a token is read back only under the prefix it was left in.
    let name = ftlink::arbiter::new_token_name().unwrap();
    a.put_token(&name, "epoch 13 primary").unwrap();
    assert_eq!(
        a.read_token(&name).unwrap().as_deref(),
        Some("epoch 13 primary")
    );
    assert_eq!(other.read_token(&name).unwrap(), None);
    a.remove_token(&name);
    assert_eq!(a.read_token(&name).unwrap(), None);
}

#[test]
fn sides_given_different_etcd_prefixes_both_refuse() {
    if !etcd_installed() {
        return;
    }
    let tmp = TempDir::new("ft-etcd-unshared");
    let etcd = Etcd::start(tmp.path(), None, "127.0.0.1");
    let (fport, sport) = (free_port(), free_port());
    let (parb, farb) = (
        format!("etcd://{}/one", etcd.endpoint),
        format!("etcd://{}/two", etcd.endpoint),
    );
    let mut follower = Command::new(ftrun_bin())
        .args(["follow", "--listen", &format!("127.0.0.1:{fport}")])
        .arg("--state-dir")
        .arg(tmp.join("f"))
        .args(["--arbiter", &farb])
        .stderr(std::fs::File::create(tmp.join("f.log")).unwrap())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let primary = Command::new(ftrun_bin())
        .args(["--follower", &format!("127.0.0.1:{fport}")])
        .arg("--state-dir")
        .arg(tmp.join("p"))
        .args(["--arbiter", &parb, "--"])
        .arg(testprog("kv_server"))
        .arg(sport.to_string())
        .stderr(std::fs::File::create(tmp.join("p.log")).unwrap())
        .status()
        .unwrap();
    let f_status = follower.wait().unwrap();
    let read = |log: &str| std::fs::read_to_string(tmp.join(log)).unwrap_or_default();
    assert!(!primary.success(), "{}", read("p.log"));
    assert!(!f_status.success(), "{}", read("f.log"));
    for log in [read("p.log"), read("f.log")] {
        assert!(
            log.contains("do not use the same arbiter")
                && log.contains(&parb)
                && log.contains(&farb),
            "{log}"
        );
    }
    assert!(
        pids_matching(&format!("kv_server {sport}")).is_empty(),
        "the server ran"
    );
}

/// etcd runs in the follower's namespace: when the link is cut, the primary reaches neither
/// its follower nor the arbiter and must stop; the follower wins epoch 2 and serves.
#[test]
fn a_primary_cut_off_from_etcd_stops_and_the_follower_serves() {
    if !can_make_namespaces() || !etcd_installed() {
        return;
    }
    let net = Net::new().expect("creating the network namespaces");
    let tmp = TempDir::new("ft-etcd-partition");
    let etcd = Etcd::start(tmp.path(), Some(&net.b), &net.addr_b);
    let arbiter = format!("etcd://{}/cut", etcd.endpoint);
    let (mut follower, mut primary, sport) = start_kv_pair(&net, tmp.path(), &arbiter, &[]);
    let logs = || {
        format!(
            "primary:\n{}\nfollower:\n{}",
            std::fs::read_to_string(tmp.join("primary.log")).unwrap_or_default(),
            std::fs::read_to_string(tmp.join("follower.log")).unwrap_or_default()
        )
    };
    let cleanup = |primary: &mut std::process::Child, follower: &mut std::process::Child| {
        let _ = primary.kill();
        let _ = follower.kill();
        for p in pids_matching(&format!("kv_server {sport}")) {
            kill9(p);
        }
    };
    assert!(wait_for_server(&net.a, sport), "no server\n{}", logs());
    assert!(set_twenty_in_ns(&net.a, sport), "{}", logs());

    net.cut();
    let start = Instant::now();
    let mut p_exit = None;
    while start.elapsed() < Duration::from_secs(20) && p_exit.is_none() {
        p_exit = primary.try_wait().unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let Some(p_exit) = p_exit else {
        cleanup(&mut primary, &mut follower);
        panic!("the primary cut off from etcd goes on\n{}", logs());
    };
    assert!(!p_exit.success(), "{}", logs());
    assert!(logs().contains("lost epoch 2"), "{}", logs());
    assert!(
        follower.try_wait().unwrap().is_none(),
        "the follower stopped\n{}",
        logs()
    );
    assert!(
        wait_for_server(&net.b, sport),
        "the follower does not serve\n{}",
        logs()
    );
    let gets: Vec<String> = (0..20).map(|i| format!("GET k{i}")).collect();
    let replies = kv_in_ns(&net.b, sport, &gets);
    for i in 0..20 {
        assert_eq!(
            replies.get(i).map(String::as_str),
            Some(format!("VALUE v{i}").as_str()),
            "acknowledged key k{i} lost\n{}",
            logs()
        );
    }
    let holder = etcd.value("cut/epoch-2").unwrap_or_default();
    assert!(holder.contains("follower"), "epoch 2 is held by {holder:?}");
    cleanup(&mut primary, &mut follower);
}

/// etcd runs in the primary's namespace: when the link is cut, the follower reaches neither
/// its primary nor the arbiter. It must not go live (its claim cannot be made, which counts
/// as lost); the primary wins epoch 2 and goes on serving alone.
#[test]
fn a_follower_cut_off_from_etcd_does_not_go_live_and_the_primary_serves() {
    if !can_make_namespaces() || !etcd_installed() {
        return;
    }
    let net = Net::new().expect("creating the network namespaces");
    let tmp = TempDir::new("ft-etcd-partition-follower");
    let etcd = Etcd::start(tmp.path(), Some(&net.a), &net.addr_a);
    let arbiter = format!("etcd://{}/cutf", etcd.endpoint);
    let (follower, primary, sport) = start_kv_pair(&net, tmp.path(), &arbiter, &[]);
    // Both sides and their servers go at the end, whether the test passes or not.
    let mut sides = Sides(primary, follower, sport);
    let logs = || {
        format!(
            "primary:\n{}\nfollower:\n{}",
            std::fs::read_to_string(tmp.join("primary.log")).unwrap_or_default(),
            std::fs::read_to_string(tmp.join("follower.log")).unwrap_or_default()
        )
    };
    assert!(wait_for_server(&net.a, sport), "no server\n{}", logs());
    assert!(set_twenty_in_ns(&net.a, sport), "{}", logs());

    net.cut();
    let start = Instant::now();
    let mut f_exit = None;
    while start.elapsed() < Duration::from_secs(20) && f_exit.is_none() {
        f_exit = sides.1.try_wait().unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let Some(f_exit) = f_exit else {
        panic!("the follower cut off from etcd goes on\n{}", logs());
    };
    assert!(!f_exit.success(), "{}", logs());
    assert!(
        logs().contains("the arbiter could not be asked")
            && logs().contains("this follower does not go on alone"),
        "{}",
        logs()
    );
    assert!(!logs().contains("live as epoch"), "{}", logs());
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !logs().contains("goes on alone\n") {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        sides.0.try_wait().unwrap().is_none(),
        "the primary stopped\n{}",
        logs()
    );
    let holder = etcd.value("cutf/epoch-2").unwrap_or_default();
    assert!(holder.contains("primary"), "epoch 2 is held by {holder:?}");
    // Still serving, with every acknowledged write, and taking new ones.
    let mut gets: Vec<String> = (0..20).map(|i| format!("GET k{i}")).collect();
    gets.push("SET after-cut yes".into());
    let replies = kv_in_ns(&net.a, sport, &gets);
    for i in 0..20 {
        assert_eq!(
            replies.get(i).map(String::as_str),
            Some(format!("VALUE v{i}").as_str()),
            "acknowledged key k{i} lost\n{}",
            logs()
        );
    }
    assert_eq!(
        replies.get(20).map(String::as_str),
        Some("OK"),
        "{}",
        logs()
    );
}

/// The primary, the follower and the server's port: all killed on drop.
struct Sides(std::process::Child, std::process::Child, u16);

impl Drop for Sides {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.1.kill();
        let _ = self.0.wait();
        let _ = self.1.wait();
        for p in pids_matching(&format!("kv_server {}", self.2)) {
            kill9(p);
        }
    }
}

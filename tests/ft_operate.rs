//! Fault tolerance as an operator meets it: a state directory in use is locked, `status`
//! tells stale entries from live ones and whether the server is protected, host names work
//! in addresses, and a server killed from outside ends both sides plainly.

mod common;
mod ft_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use ft_support::*;

fn ftrun_output(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(ftrun_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn a_second_run_on_a_state_dir_in_use_is_refused_and_the_first_stays_protected() {
    let ft = FtServer::start("ft-lock", &[]);
    let mut kv = ft.client();
    assert!(kv.set("a", "1"));
    let follower = ft.follower_pid().expect("follower.pid");

    let other_port = free_port().to_string();
    let second = ftrun_output(&[
        "--state-dir".as_ref(),
        ft.state.as_os_str(),
        "--".as_ref(),
        testprog("kv_server").as_os_str(),
        other_port.as_ref(),
    ]);
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "a second primary ran: {err}");
    assert!(
        err.contains("is in use") && err.contains(&format!("ftrun pid {}", ft.primary_pid())),
        "the refusal does not name the primary: {err}"
    );
    let second_follower = ftrun_output(&[
        "follow".as_ref(),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--state-dir".as_ref(),
        ft.state.as_os_str(),
    ]);
    let err = String::from_utf8_lossy(&second_follower.stderr);
    assert!(
        !second_follower.status.success(),
        "a second follower ran: {err}"
    );
    assert!(
        err.contains("is in use") && err.contains(&format!("ftrun pid {follower}")),
        "the refusal does not name the follower: {err}"
    );

    // The first run is untouched: its follower still acknowledges (no decision was taken
    // alone, even after a timeout's worth of waiting), and still takes over with everything.
    assert!(kv.set("b", "2"));
    std::thread::sleep(Duration::from_millis(1000));
    assert!(kv.set("c", "3"));
    let log = ft.log_text();
    assert!(!log.contains("goes on alone"), "{log}");
    assert_eq!(ft.follower_pid(), Some(follower));
    kill9(ft.primary_pid());
    let mut kv = Kv::connect(ft.port, Duration::from_secs(20))
        .unwrap_or_else(|| panic!("no takeover\n{}", ft.log_text()));
    for (k, v) in [("a", "1"), ("b", "2"), ("c", "3")] {
        assert_eq!(kv.get(k), Some(format!("VALUE {v}")), "{}", ft.log_text());
    }
    assert!(
        ft.log_text().contains("live as epoch 2"),
        "{}",
        ft.log_text()
    );

    // The follower now runs the server live and still holds the directory: a new run with a
    // local follower is refused, naming it.
    let third = ftrun_output(&[
        "--state-dir".as_ref(),
        ft.state.as_os_str(),
        "--".as_ref(),
        testprog("kv_server").as_os_str(),
        other_port.as_ref(),
    ]);
    let err = String::from_utf8_lossy(&third.stderr);
    assert!(!third.status.success(), "{err}");
    assert!(
        err.contains("its follower is") && err.contains(&format!("ftrun pid {follower}")),
        "{err}"
    );
}

//! `ftrun follow (--listen HOST:PORT | --join HOST:PORT) [--state-dir DIR]
//! [--arbiter file:DIR|etcd://HOST:PORT[/PREFIX]] [--heartbeat-ms N] [--timeout-ms N]
//! [--ack received|durable] [--addr-file FILE]`

use std::path::PathBuf;

use anyhow::Context;
use ftlink::follower::{follow, FollowOutcome, FollowerConfig};
use ftlink::lock::Side;

use crate::cmd::ft::{absolute, run_after_takeover, LinkArgs, NextFollower};
use crate::exit;

#[derive(clap::Args)]
pub struct FollowArgs {
    /// Address to listen on for the primary (a host name or an IP address); after this
    /// follower has taken over, new followers join it there (`ftrun follow --join`).
    #[arg(long, value_name = "HOST:PORT", required_unless_present = "join")]
    listen: Option<String>,
    /// Join a primary that runs without a follower (one that took over, at the address it
    /// listened on as a follower) instead of waiting for a primary: it sends the whole log.
    #[arg(long, value_name = "HOST:PORT")]
    join: Option<String>,
    /// Write the address actually listened on to this file (useful with port 0).
    #[arg(long, value_name = "FILE")]
    addr_file: Option<PathBuf>,
    /// The local follower of `ftrun -- PROG`: after a takeover it starts a new local one.
    #[arg(long, hide = true)]
    embedded: bool,
    #[command(flatten)]
    link: LinkArgs,
}

pub fn run(args: FollowArgs) -> anyhow::Result<i32> {
    let state = absolute(&args.link.state_dir());
    std::fs::create_dir_all(&state).with_context(|| format!("creating {}", state.display()))?;
    // Held until this process ends or becomes the primary.
    let lock = match ftlink::lock::acquire(&state, Side::Follower)? {
        Ok(lock) => lock,
        Err(holder) => anyhow::bail!("{}", holder.refusal(&state)),
    };
    let cfg = FollowerConfig {
        listen: args.listen.clone(),
        join: args.join.clone(),
        state_dir: state,
        timing: args.link.timing(),
        arbiter: ftlink::arbiter::parse(&args.link.arbiter_spec())?,
        addr_file: args.addr_file,
        ack: args.link.ack.mode(),
    };
    match follow(cfg)? {
        FollowOutcome::Finished(status) => {
            if let Some(msg) = exit::killed_message(
                status,
                "its replay here ended the same way, and this follower ends too",
            ) {
                eprintln!("ftrun: {msg}");
            }
            Ok(exit::exit_like(status))
        }
        // The server is live and still traced: this process goes on as its primary.
        FollowOutcome::Live(server) => run_after_takeover(
            server,
            &args.link,
            NextFollower {
                embedded: args.embedded,
                listen: args.listen.filter(|_| !args.embedded),
                follower_lock: lock,
            },
        ),
    }
}

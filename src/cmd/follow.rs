//! `ftrun follow --listen HOST:PORT [--state-dir DIR] [--arbiter file:DIR|etcd://HOST:PORT[/PREFIX]]
//! [--heartbeat-ms N] [--timeout-ms N] [--addr-file FILE]`

use std::path::PathBuf;

use anyhow::Context;
use ftlink::follower::{follow, FollowOutcome, FollowerConfig};
use ftlink::lock::Side;

use crate::cmd::ft::{absolute, LinkArgs};
use crate::{exit, forward};

#[derive(clap::Args)]
pub struct FollowArgs {
    /// Address to listen on for the primary (a host name or an IP address).
    #[arg(long, value_name = "HOST:PORT")]
    listen: String,
    /// Write the address actually listened on to this file (useful with port 0).
    #[arg(long, value_name = "FILE")]
    addr_file: Option<PathBuf>,
    #[command(flatten)]
    link: LinkArgs,
}

pub fn run(args: FollowArgs) -> anyhow::Result<i32> {
    let state = absolute(&args.link.state_dir());
    std::fs::create_dir_all(&state).with_context(|| format!("creating {}", state.display()))?;
    // Held until this process ends (also while it runs the server live).
    let _lock = match ftlink::lock::acquire(&state, Side::Follower)? {
        Ok(lock) => lock,
        Err(holder) => anyhow::bail!("{}", holder.refusal(&state)),
    };
    let cfg = FollowerConfig {
        listen: args.listen,
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
        FollowOutcome::Live { pid, .. } => {
            // The server now runs natively; stay its parent and end the way it ends.
            forward::forward_to(pid);
            loop {
                match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None) {
                    Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => return Ok(code),
                    Ok(nix::sys::wait::WaitStatus::Signaled(_, sig, core)) => {
                        return Ok(exit::exit_like(schema::ExitStatus::Killed {
                            signo: sig as i32,
                            core_dumped: core,
                        }))
                    }
                    Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => anyhow::bail!("waiting for the live server: {e}"),
                }
            }
        }
    }
}

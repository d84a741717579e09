//! `ftrun status [--state-dir DIR] [--json]`

use std::path::PathBuf;

use anyhow::bail;

#[derive(clap::Args)]
pub struct StatusArgs {
    /// The state directory of the run (default ./.ftrun).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Print status.json as it is.
    #[arg(long)]
    json: bool,
}

fn alive(pid: i64) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    pid > 0 && unsafe { libc::kill(pid as i32, 0) } == 0
}

pub fn run(args: StatusArgs) -> anyhow::Result<i32> {
    let dir = args.state_dir.unwrap_or_else(|| PathBuf::from(".ftrun"));
    let Some(doc) = ftlink::status::read(&dir) else {
        bail!(
            "no status in {} (is a fault-tolerant run using it? see --state-dir)",
            dir.display()
        );
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(0);
    }
    for side in ["primary", "follower"] {
        let Some(s) = doc.get(side) else { continue };
        let pid = s["pid"].as_i64().unwrap_or(0);
        let opt = |k: &str| s[k].as_u64().map_or("-".to_string(), |v| v.to_string());
        println!(
            "{side:<9} role {:<8} epoch {:<3} pid {pid} ({}) last seq {} acked {} lag {}",
            s["role"].as_str().unwrap_or("?"),
            s["epoch"].as_u64().unwrap_or(0),
            if alive(pid) { "running" } else { "gone" },
            opt("last_seq"),
            opt("acked_seq"),
            opt("lag"),
        );
    }
    Ok(0)
}

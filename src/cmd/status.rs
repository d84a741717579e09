//! `ftrun status [--state-dir DIR] [--json]`

use std::path::PathBuf;

use anyhow::bail;
use serde_json::Value;

#[derive(clap::Args)]
pub struct StatusArgs {
    /// The state directory of the run (default ./.ftrun).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Print status.json with what `status` judged: `stale` and `server_running` in each
    /// section, `protected` and `server_pid` at the top.
    #[arg(long)]
    json: bool,
}

fn describe(side: &str, s: &Value) -> String {
    let opt = |k: &str| s[k].as_u64().map_or("-".to_string(), |v| v.to_string());
    let server = match s["server_pid"].as_i64() {
        Some(pid) if pid > 0 => format!(
            "server pid {pid} ({})",
            if s["server_running"] == true {
                "running"
            } else {
                "gone"
            }
        ),
        _ => "no server".to_string(),
    };
    let state = match s["stale"].as_str() {
        Some(why) => format!("stale: {why}"),
        None => "running".to_string(),
    };
    // A follower's replay: how many events of the log it has replayed (a new follower
    // replays the whole history before it is ready to take over quickly).
    let replayed = match s["replayed"].as_u64() {
        Some(n) => format!(", replayed {n}"),
        None => String::new(),
    };
    // How long the oldest event received and not yet replayed has waited (for a primary:
    // what its follower last said).
    let replayed = match s["lag_ms"].as_u64() {
        Some(ms) => format!("{replayed}, replay {ms} ms behind"),
        None => replayed,
    };
    format!(
        "{side:<9} role {:<8} epoch {:<3} ftrun pid {} ({state}), {server}; last seq {} acked {} lag {}{replayed}",
        s["role"].as_str().unwrap_or("?"),
        s["epoch"].as_u64().unwrap_or(0),
        s["pid"].as_i64().unwrap_or(0),
        opt("last_seq"),
        opt("acked_seq"),
        opt("lag"),
    )
}

pub fn run(args: StatusArgs) -> anyhow::Result<i32> {
    let dir = args.state_dir.unwrap_or_else(|| PathBuf::from(".ftrun"));
    let Some(doc) = ftlink::status::read(&dir) else {
        bail!(
            "no status in {} (is a fault-tolerant run using it? see --state-dir)",
            dir.display()
        );
    };
    let doc = ftlink::status::assess(doc);
    let text = if args.json {
        format!("{}\n", serde_json::to_string_pretty(&doc)?)
    } else {
        report(&doc)
    };
    print_all(&text)
}

/// The sections and the verdict, one line each.
fn report(doc: &Value) -> String {
    let mut text = String::new();
    for side in ["primary", "follower"] {
        if let Some(s) = doc.get(side) {
            text += &describe(side, s);
            text.push('\n');
        }
    }
    text += if doc["protected"] == true {
        "protected: yes (a follower is connected and acknowledging)\n"
    } else if doc.get("primary").is_none() {
        // A remote follower's own directory: only the primary knows whether its outputs
        // are acknowledged.
        "protected: not known here (no primary in this state directory: ask the primary's)\n"
    } else {
        "protected: no (no follower is connected and acknowledging)\n"
    };
    text
}

/// Writes to stdout; a reader that has gone (`ftrun status | grep -q`, `| head`) has what it
/// wanted, which is no error.
fn print_all(text: &str) -> anyhow::Result<i32> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(0),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(anyhow::anyhow!("writing the status to stdout: {e}")),
    }
}

//! `ftrun check [--json]`: can this machine record, and with which features.

use recorder::probe::{can_record, probe_machine};
use serde_json::json;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: CheckArgs) -> anyhow::Result<i32> {
    let probes = probe_machine();
    let ok = can_record(&probes);
    let pmu = probes
        .iter()
        .any(|p| p.name == "PMU tick counter" && p.available);
    if args.json {
        let list: Vec<_> = probes
            .iter()
            .map(|p| json!({"name": p.name, "available": p.available, "required": p.required, "detail": p.detail}))
            .collect();
        println!("{}", json!({"can_record": ok, "pmu": pmu, "probes": list}));
    } else {
        for p in &probes {
            let mark = if p.available { "yes" } else { "no " };
            let req = if p.required { " (required)" } else { "" };
            println!("{mark}  {}{req}: {}", p.name, p.detail);
        }
        if ok {
            println!("ftrun can record on this machine");
            if !pmu {
                println!("without a PMU: signals that arrive while a program computes are delivered at its next syscall or at a spin-loop landmark; a long syscall-free loop that waits for a signal replays slowly");
            }
        } else {
            let missing: Vec<_> = probes
                .iter()
                .filter(|p| p.required && !p.available)
                .map(|p| p.name)
                .collect();
            println!("ftrun cannot record here: missing {}", missing.join(", "));
        }
    }
    Ok(if ok { 0 } else { 1 })
}

//! The committed generated code must match trace.capnp: checked by hash always, and by
//! regenerating when the Cap'n Proto tools are installed.

use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

fn schema_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false)
}

#[test]
fn committed_code_matches_schema() {
    let dir = schema_dir();
    let schema = std::fs::read(dir.join("trace.capnp")).expect("read schema/trace.capnp");
    let actual = format!("{:x}", Sha256::digest(&schema));
    let recorded = std::fs::read_to_string(dir.join("trace.capnp.sha256"))
        .expect("read schema/trace.capnp.sha256 (run schema/regen.sh)");
    let recorded = recorded.split_whitespace().next().unwrap_or("");
    assert_eq!(
        recorded, actual,
        "schema/trace.capnp changed since the code was generated: run schema/regen.sh"
    );

    if !(on_path("capnp") && on_path("capnpc-rust")) {
        eprintln!("capnp or capnpc-rust not on PATH: generated code compared by hash only");
        return;
    }
    let out = tempfile::tempdir().expect("temp dir");
    // Same invocation as regen.sh (from the schema directory, bare file name).
    let status = Command::new("capnp")
        .current_dir(dir)
        .arg("compile")
        .arg(format!("-orust:{}", out.path().display()))
        .arg("trace.capnp")
        .status()
        .expect("run capnp compile");
    assert!(status.success(), "capnp compile failed");
    let fresh = std::fs::read(out.path().join("trace_capnp.rs")).expect("generated file");
    let committed = std::fs::read(dir.join("src/trace_capnp.rs")).expect("read src/trace_capnp.rs");
    assert!(
        fresh == committed,
        "schema/src/trace_capnp.rs differs from what trace.capnp generates: run schema/regen.sh \
         (with capnpc-rust from capnpc 0.19, matching capnp = \"0.19\")"
    );
}

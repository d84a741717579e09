#!/bin/sh
# Regenerates schema/src/trace_capnp.rs from schema/trace.capnp and records the
# schema's sha256 in schema/trace.capnp.sha256 (checked by the test
# committed_code_matches_schema). Run it after every edit of trace.capnp and
# commit all three files.
#
# Needs the Cap'n Proto compiler and the Rust plugin matching capnp = "0.19":
#   apt-get install -y capnproto
#   cargo install capnpc --version "~0.19" --locked
set -eu
cd "$(dirname "$0")"

for tool in capnp capnpc-rust; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "regen.sh: $tool not found on PATH (see the comment at the top of this script)" >&2
        exit 1
    fi
done

# Run from this directory with the bare file name: the generated code embeds the
# schema's display name, and the test regenerates the same way to compare.
capnp compile -orust:src trace.capnp
sha256sum trace.capnp > trace.capnp.sha256
echo "regenerated src/trace_capnp.rs and trace.capnp.sha256"

#!/usr/bin/env bash
# The test server's load benchmark (crates/mtproto-core/examples/server_load.rs):
# builds the server and the load client in release, raises the soft limit on
# open files to the hard limit (each connection takes a descriptor in the
# client and one in the server), and runs the load. Arguments go to
# server_load, e.g. `bash scripts/server-load.sh --connections 10000 --handshakes 500`.
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n "$(ulimit -Hn)"
echo "open files limit: $(ulimit -n)" >&2
cargo build --release --quiet -p mtproto-core --example server --example server_load
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/release/examples/server_load" "$@"

#!/usr/bin/env bash
# The whole test suite: unit, property, vector, handshake, simulation and
# interop tests. Installs what the interop tests need (a Python venv under
# target/) on first use, and runs the grammers-mtproto / ferogram-mtproto
# interop harness
# (tests/interop/grammers: a project of its own, pinned by its Cargo.lock,
# built into target/interop-grammers). MTPROTO_SKIP_INTEROP=1 skips both.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${MTPROTO_SKIP_INTEROP:-}" ]; then
    bash scripts/setup-interop.sh
fi
cargo test --workspace --locked "$@"
# The `tracing` feature (off in the workspace build): its spans and events,
# and that none of them shows a secret.
cargo test -p mtproto-core --features tracing --test tracing --locked "$@"
if [ -z "${MTPROTO_SKIP_INTEROP:-}" ]; then
    CARGO_TARGET_DIR="$(pwd)/target/interop-grammers" \
        cargo run --locked --quiet --manifest-path tests/interop/grammers/Cargo.toml
fi

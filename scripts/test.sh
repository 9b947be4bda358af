#!/usr/bin/env bash
# The whole test suite: unit, property, vector, handshake, simulation and
# interop tests. Installs what the interop tests need (a Python venv under
# target/) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${MTPROTO_SKIP_INTEROP:-}" ]; then
    bash scripts/setup-interop.sh
fi
cargo test --workspace --locked "$@"

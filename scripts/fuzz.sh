#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 20 s each). Installs
# cargo-fuzz (pinned) when missing; cargo-fuzz uses the stable toolchain
# through RUSTC_BOOTSTRAP=1. A crash fails the run. New inputs go to
# target/fuzz-corpus, never into the checked-in seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
if ! cargo fuzz --version >/dev/null 2>&1; then
    if ! cargo install --locked cargo-fuzz --version 0.13.2; then
        echo "cargo-fuzz is not installable on this machine: fuzzing skipped"
        exit 0
    fi
fi
export RUSTC_BOOTSTRAP=1
root=$(pwd)
cd fuzz
cargo fuzz build -O
for t in $(cargo fuzz list); do
    out="$root/target/fuzz-corpus/$t"
    mkdir -p "$out"
    log="$root/target/fuzz-$t.log"
    if ! cargo fuzz run -O "$t" "$out" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -max_len=4096 >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz target $t FAILED (crash input under fuzz/artifacts/$t)"
        exit 1
    fi
    echo "fuzz $t: $(grep -E 'Done [0-9]+ runs' "$log" | tail -n 1)"
done

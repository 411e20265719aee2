#!/usr/bin/env bash
# Does the server hold a fleet of N agents? cmdb-bench-fleet enrolls N simulated agents, sends
# their first inventories, then loads the server open loop at the fleet's own pace for a while
# (a heartbeat every 300 s, a metric batch every 60 s, a full inventory every 6 h, each agent
# at its own phase, a new TLS connection per request) and reports latency per kind from when
# each request was due. Exits non-zero unless p99 < 250 ms with no failures and no growing
# backlog. Release builds. Options go to cmdb-bench-fleet:
#   --agents N (20000)  --secs S (300)  --heartbeat-secs / --metrics-secs / --full-secs
#   --churn-pct P (10)  --max-in-flight N (2000)  --check-targets 0|1 (1)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cmdb-target}"
# As the systemd unit runs the server (see bench.sh).
unset RUST_BACKTRACE RUST_LIB_BACKTRACE
cargo build --release -p cmdb-server --bin cmdb-server </dev/null
cargo build --release -p cmdb-tests --bin cmdb-bench-fleet </dev/null
"$CARGO_TARGET_DIR/release/cmdb-bench-fleet" "$@"

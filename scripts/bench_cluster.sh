#!/usr/bin/env bash
# Several instances on one database: upstream's `surreal` server (in memory) and three
# cmdb-server instances on it; prints how long a write on one instance takes to be seen by
# another (a relationship in impact answers, its deletion, a token revocation): p50, p99, max.
# Exits non-zero when a p99 passes 2 s. Debug builds (the ones the tests use): the figure is
# the follow interval (cluster.follow_ms, 500 ms) plus a request, not CPU-bound.
# Then the throughput of three instances against one (full inventories, heartbeats).
# Options go to cmdb-bench-cluster: --writes N (100), --agents N (50), --rounds N (2),
# --heartbeats N (3600), --concurrency N (32). CI runs a small smoke (scripts/bench_smoke.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cmdb-target}"
cargo build --workspace --bins --features cmdb-graph/testing </dev/null
(cd tools/surreal && cargo build --locked </dev/null)
"$CARGO_TARGET_DIR/debug/cmdb-bench-cluster" "$@"

#!/usr/bin/env bash
# Web UI page times (cmdb-bench-ui): a release cmdb-server on embedded SurrealKV is given a
# synthetic data centre of about 10,000 CIs and 50,000 relationships through its API, 1,000 of
# them agent hosts with 90 days of capacity values (compacted to daily rollups) and 30 days of
# heartbeats, and 20 changes; then every UI page is fetched as a signed-in browser fetches it.
# Prints the table the README quotes; exits non-zero when a page misses its target (100 ms,
# 300 ms for the impact page of a core switch). Options go to cmdb-bench-ui:
#   --cis N (10000)  --hosts N (1000)  --runs N (20)  --check-targets 0|1 (1)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cmdb-target}"
# As the systemd unit runs the server (see bench.sh).
unset RUST_BACKTRACE RUST_LIB_BACKTRACE
# Built apart, so the load generator's test-support features do not reach the server.
cargo build --release -p cmdb-server --bin cmdb-server </dev/null
cargo build --release -p cmdb-tests --bin cmdb-bench-ui </dev/null
"$CARGO_TARGET_DIR/release/cmdb-bench-ui" "$@"

#!/usr/bin/env bash
# Benchmarks: the agent's CPU time and memory (inventory, then metrics ticks), the server's
# ingestion throughput and latency under simulated agents, then metric ingest, stored size and
# the availability and capacity reports (cmdb-bench-series), whether the server holds a
# 20,000-agent fleet at its own pace (scripts/bench_fleet.sh), then the web UI's page times
# (scripts/bench_ui.sh), then how fast instances sharing a database see each other's writes
# (scripts/bench_cluster.sh). Prints the figures the README
# quotes. Options after the script name go to cmdb-bench (--agents N --concurrency C
# --heartbeats N); cmdb-bench-series takes its own from SERIES_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cmdb-target}"
# The servers run as the systemd unit runs them: with RUST_BACKTRACE set, every error SurrealDB
# creates internally on its record-write path captures a stack trace.
unset RUST_BACKTRACE RUST_LIB_BACKTRACE
# GNU time measures peak RSS without counting the launcher's own memory (a Python parent's
# pre-exec high-water mark would be included in its rusage).
command -v /usr/bin/time >/dev/null || { apt-get update -qq </dev/null && apt-get install -y -qq time </dev/null; }
# The agent as it ships (size-optimised profile, built alone so no server feature leaks in).
cargo build --profile agent -p cmdb-agent </dev/null
# Built apart, so the load generators' test-support features do not reach the server.
cargo build --release -p cmdb-server --bin cmdb-server </dev/null
cargo build --release -p cmdb-tests --bin cmdb-bench --bin cmdb-bench-series </dev/null
# Every benchmark runs even when one misses its target; the script fails at the end if any did.
missed=()
run() { "$@" || missed+=("$*"); }
run python3 scripts/bench_agent.py "$CARGO_TARGET_DIR/agent/cmdb-agent" "$CARGO_TARGET_DIR/release/cmdb-server"
run "$CARGO_TARGET_DIR/release/cmdb-bench" "$@"
run ./scripts/bench_fleet.sh
run ./scripts/bench_agent_metrics.sh
# shellcheck disable=SC2086
run "$CARGO_TARGET_DIR/release/cmdb-bench-series" ${SERIES_ARGS:-}
run ./scripts/bench_ui.sh
run ./scripts/bench_cluster.sh
run ./scripts/bench_estate.sh
if [ ${#missed[@]} -gt 0 ]; then
  printf 'missed a target or failed: %s\n' "${missed[@]}" >&2
  exit 1
fi

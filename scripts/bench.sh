#!/usr/bin/env bash
# Benchmarks (release builds): the agent's CPU time and memory, then the server's ingestion
# throughput and latency under simulated agents. Prints the figures the README quotes.
# Options after the script name go to cmdb-bench (--agents N --concurrency C --heartbeats N).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cmdb-target}"
cargo build --release -p cmdb-agent -p cmdb-server -p cmdb-tests \
  --bin cmdb-agent --bin cmdb-server --bin cmdb-bench </dev/null
python3 scripts/bench_agent.py "$CARGO_TARGET_DIR/release"
"$CARGO_TARGET_DIR/release/cmdb-bench" "$@"

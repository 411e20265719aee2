#!/usr/bin/env bash
# Impact analysis benchmark of the graph index (crate cmdb-graph): a synthetic data centre of
# about 1,000,000 CIs and 5,000,000 relationships, load time, memory, and impact() latency next to
# a plain breadth-first search. Prints the table the README quotes; exits non-zero on a FAIL.
# Scale down with CMDB_BENCH_CIS (default 1000000); runs per query with CMDB_BENCH_RUNS_SMALL
# (default 200) and CMDB_BENCH_RUNS_BIG (default 20, results over 100,000 CIs).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cmdb-target}"
# The bench needs the crate's test-support modules (synth), behind the feature `testing`.
cargo bench -p cmdb-graph --bench impact --features testing </dev/null

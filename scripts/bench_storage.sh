#!/usr/bin/env bash
# SurrealDB storage facts the server's design rests on (docs/architecture.md, "Measured storage
# facts"): inserts/s of 6 KB documents one per transaction and batched, RELATE edges/s, a
# recursive traversal of a ~46,000-node dependency tree against a BFS over in-memory arrays,
# one record per metric sample (rate and bytes on disk), and the behaviour checks (query() vs
# .check(), {..+collect} on cycles and past 256 hops, UNIQUE under concurrent writers).
# Embedded SurrealKV in a temporary directory, fsync per commit. About a minute on 2 cores.
#
# Profile: `dev` by default (dependencies, SurrealDB included, at opt-level 1; this bench's own
# code at 0), because a cold optimised build of SurrealDB takes about 40 minutes on 2 cores.
# CMDB_BENCH_PROFILE=release measures with optimised builds instead.
# Sizes: BENCH_DOCS, BENCH_BATCH_DOCS, BENCH_TREE_NODES, BENCH_FANOUT, BENCH_SAMPLES,
# BENCH_WRITERS (see server/benches/storage_facts.rs for the defaults).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cmdb-target}"
cargo bench -p cmdb-server --bench storage_facts --profile "${CMDB_BENCH_PROFILE:-dev}" </dev/null

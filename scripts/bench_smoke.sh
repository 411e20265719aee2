#!/usr/bin/env bash
# A small-scale run of each benchmark, so none of them rots: the same programs and paths as
# the full runs (real servers, real TLS, real peers), at a size that takes minutes, on the
# debug builds the tests use. Figures from these runs mean little (debug builds, tiny
# sizes), so the server benchmarks' targets are not checked here; the programs must run to
# the end. The SNMP smoke keeps its one ratio check (against snmpd, 0.65-0.8 even with a
# debug agent, under a 1.0 target); the estate smoke checks what holds at any size on any
# build: the start time, the memory after the restart and the data surviving it (the restart
# is a SIGKILL, so the start replays the write-ahead log).
# scripts/test.sh calls this after building the binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cmdb-target}"
bin="$CARGO_TARGET_DIR/debug"
started=$(date +%s)
step() { echo "== bench smoke: $* ($(( $(date +%s) - started )) s)"; }

step "the agent's real cycle beside FusionInventory (bench_agent.py --smoke)"
python3 scripts/bench_agent.py --smoke "$bin/cmdb-agent" "$bin/cmdb-server" </dev/null
step "server ingestion (cmdb-bench)"
"$bin/cmdb-bench" --agents 20 --concurrency 8 --heartbeats 200 --rounds 2 --check-targets 0 </dev/null
step "a fleet at its own pace (cmdb-bench-fleet)"
"$bin/cmdb-bench-fleet" --agents 100 --secs 15 --check-targets 0 </dev/null
step "several instances (cmdb-bench-cluster)"
"$bin/cmdb-bench-cluster" --writes 5 --agents 10 --rounds 1 --heartbeats 200 </dev/null
step "SNMP against Net-SNMP and FusionInventory, snmpd v2c and v3 (bench_snmp.sh --smoke)"
AGENT="$bin/cmdb-agent" scripts/bench_snmp.sh --smoke </dev/null
step "a large estate through the API, killed and started again (cmdb-bench-estate --smoke --crash)"
"$bin/cmdb-bench-estate" --smoke --crash </dev/null
step "done"

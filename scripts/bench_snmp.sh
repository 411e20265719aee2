#!/usr/bin/env bash
# SNMP poller benchmarks: inventory time against snmpbulkwalk on the snmpsim recordings and
# snmpd, a full SNMPv3 inventory of snmpd, and 200 targets polled concurrently (wall time,
# peak RSS). Prints the figures the README quotes. Builds the agent as shipped (profile
# `agent`, a few minutes the first time); installs snmpsim and Net-SNMP when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cmdb-target}"

scripts/snmpsim/setup.sh </dev/null >&2
cargo build --profile agent -p cmdb-agent </dev/null >&2
AGENT="$CARGO_TARGET_DIR/agent/cmdb-agent"

SIM_PORT="${SIM_PORT:-11661}"
WORK="${TMPDIR:-/tmp}/cmdb-bench-snmp"
mkdir -p "$WORK"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
# A persistent work dir keeps snmpsim's index: only the first run indexes the recordings.
pids+=("$(scripts/snmpsim/start.sh "$SIM_PORT" "$WORK/snmpsim")")
snmpd_ports=()
for i in 0 1 2 3; do
  port=$((SIM_PORT + 10 + i))
  pids+=("$(SNMPD_COMMUNITY=cmdb-bench scripts/snmpsim/snmpd.sh "$port" "$WORK/snmpd-$i")")
  snmpd_ports+=("$port")
done
python3 scripts/bench_snmp.py "$AGENT" "$SIM_PORT" "${snmpd_ports[@]}"

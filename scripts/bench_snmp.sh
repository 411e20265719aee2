#!/usr/bin/env bash
# SNMP poller benchmarks (scripts/bench_snmp.py says what is measured): one device's
# inventory by cmdb-agent, by Net-SNMP walking exactly the same OIDs in one process, and by
# FusionInventory's netinventory, on the snmpsim recordings and snmpd, every tool through
# the same counting UDP proxy (requests, round-trips, values, time); a full SNMPv3 inventory
# of snmpd; 200 targets polled concurrently (wall time, peak RSS). Prints the figures the
# README quotes; exits 1 when a target is missed.
#
#   scripts/bench_snmp.sh           full run: 9 recordings + snmpd v2c and v3, median of 9
#                                   runs; ~5 min once the agent is built and snmpsim has
#                                   indexed (~15 s)
#   scripts/bench_snmp.sh --smoke   for CI: snmpd v2c and v3 only (no snmpsim: there the
#                                   agent and Net-SNMP per column are within noise of each
#                                   other), parts 2 and 3 left out; ~15 s once built
#
# Both build the agent as shipped (profile `agent`: ~4 min cold, ~40 s after a change to
# the agent). A debug agent (PROFILE=dev, or AGENT=.../debug/cmdb-agent) spends 2-4x the
# shipped one's own time per answer: its ratios are not the README's.
# Environment: AGENT=path (use this cmdb-agent, build nothing), PROFILE (cargo profile to
# build, default agent), CARGO_TARGET_DIR, SIM_PORT (default 11661; snmpd on
# SIM_PORT+10..13), RUNS (default 9).
# Installs what is missing: snmpsim and Net-SNMP (scripts/snmpsim/setup.sh), and the
# Debian packages fusioninventory-agent-task-network, libsnmp-perl (Net-SNMP's SNMP.pm) and
# libcrypt-rijndael-perl (AES for FusionInventory's SNMPv3).
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=()
case "${1:-}" in
  --smoke) SMOKE=(--smoke) ;;
  "") ;;
  *) echo "usage: $0 [--smoke]" >&2; exit 2 ;;
esac
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cmdb-target}"

scripts/snmpsim/setup.sh </dev/null >&2
need=()
command -v fusioninventory-netinventory >/dev/null 2>&1 ||
  need+=(fusioninventory-agent-task-network)
perl -MSNMP -e1 >/dev/null 2>&1 || need+=(libsnmp-perl)
perl -MCrypt::Rijndael -e1 >/dev/null 2>&1 || need+=(libcrypt-rijndael-perl)
if [ ${#need[@]} -gt 0 ]; then
  echo "[bench_snmp] apt-get install ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
  $SUDO apt-get update -qq </dev/null >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null >/dev/null
fi

if [ -z "${AGENT:-}" ]; then
  profile="${PROFILE:-agent}"
  nice -n 10 cargo build --profile "$profile" -p cmdb-agent </dev/null >&2
  dir="$profile"; [ "$profile" = dev ] && dir=debug
  AGENT="$CARGO_TARGET_DIR/$dir/cmdb-agent"
fi

SIM_PORT="${SIM_PORT:-11661}"
WORK="${TMPDIR:-/tmp}/cmdb-bench-snmp"
mkdir -p "$WORK"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
if [ ${#SMOKE[@]} -eq 0 ]; then
  # A persistent work dir keeps snmpsim's index: only the first run indexes the recordings.
  pids+=("$(scripts/snmpsim/start.sh "$SIM_PORT" "$WORK/snmpsim")")
  sim=("$SIM_PORT")
  instances=4
else
  sim=()
  instances=1
fi
snmpd_ports=()
for ((i = 0; i < instances; i++)); do
  port=$((SIM_PORT + 10 + i))
  pids+=("$(SNMPD_COMMUNITY=cmdb-bench scripts/snmpsim/snmpd.sh "$port" "$WORK/snmpd-$i")")
  snmpd_ports+=("$port")
done
python3 scripts/bench_snmp.py "${SMOKE[@]}" "$AGENT" "${sim[@]}" "${snmpd_ports[@]}"

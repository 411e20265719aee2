#!/usr/bin/env bash
# Start snmpsim on 127.0.0.1:PORT serving only the recordings the tests need.
#
# Usage: scripts/snmpsim/start.sh PORT [WORKDIR]
#
#   WORKDIR (default /tmp/cmdb-snmpsim-PORT, or $SNMPSIM_WORKDIR) gets
#     data/<name>.snmprec   recordings copied (decompressed) from snmpsim-data
#     cache/                snmpsim's index (kept between runs: a warm start
#                           takes ~2 s, a cold one ~20 s)
#     snmpsim.log           simulator log
#     snmpsim.pid           PID of the simulator
#   Prints the PID on stdout (and nothing else) once the simulator answers.
#   Stop it with: kill "$(cat WORKDIR/snmpsim.pid)"   (or stop.sh PORT)
#
# SNMP v1/v2c: community = recording name (see README.md), e.g. cisco-c3560.
# SNMPv3: user $SNMPSIM_V3_USER (default cmdb-v3), authPriv SHA + AES128,
#   auth key $SNMPSIM_V3_AUTH (default cmdb-auth-pass),
#   priv key $SNMPSIM_V3_PRIV (default cmdb-priv-pass),
#   context name (-n) = recording name.
#
# Environment: CMDB_SNMPSIM_VENV (default /opt/cmdb-snmpsim),
#   SNMPSIM_RECORDINGS space-separated recording names to serve (default: all
#     of RECORDINGS below); a test that needs two small recordings then does
#     not index the 1.4 M OIDs of the big Juniper ones,
#   SNMPSIM_START_TIMEOUT seconds to wait for the first answer (default 300),
#   SNMPSIM_LOG_LEVEL debug|info|error (default error).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PORT="${1:?usage: start.sh PORT [WORKDIR]}"
WORKDIR="${2:-${SNMPSIM_WORKDIR:-/tmp/cmdb-snmpsim-$PORT}}"
VENV="${CMDB_SNMPSIM_VENV:-/opt/cmdb-snmpsim}"
V3_USER="${SNMPSIM_V3_USER:-cmdb-v3}"
V3_AUTH="${SNMPSIM_V3_AUTH:-cmdb-auth-pass}"
V3_PRIV="${SNMPSIM_V3_PRIV:-cmdb-priv-pass}"
TIMEOUT="${SNMPSIM_START_TIMEOUT:-300}"
# "info" logs every request (a full walk of the big Juniper recordings writes
# ~700 MB), so the default is "error".
LOG_LEVEL="${SNMPSIM_LOG_LEVEL:-error}"

log() { echo "[snmpsim-start] $*" >&2; }

# name (= community = v3 context) -> path inside snmpsim-data's data dir
RECORDINGS=(
  "cisco-c3560=network/switch/cisco-c3560"
  "juniper-mx960-12-3r6-6=network/router/juniper-mx960-12-3r6-6"
  "juniper-mx960-13-3r9-13=network/router/juniper-mx960-13-3r9-13"
  "juniper-mx960-16-1r6-7-a=network/router/juniper-mx960-16-1r6-7-a"
  "juniper-mx960-16-1r6-7-b=network/router/juniper-mx960-16-1r6-7-b"
  "cisco-n5000=network/switch/cisco-n5000"
  "hpe-procurve-516733-b21=network/switch/hpe-procurve-516733-b21"
  "bdcom-s5612=network/switch/bdcom-s5612"
  "linux-unknown-006=os/linux/unknown-006"
)
if [ -n "${SNMPSIM_RECORDINGS:-}" ]; then
  selected=()
  for want in $SNMPSIM_RECORDINGS; do
    found=""
    for entry in "${RECORDINGS[@]}"; do
      if [ "${entry%%=*}" = "$want" ]; then found="$entry"; break; fi
    done
    if [ -z "$found" ]; then
      log "SNMPSIM_RECORDINGS: unknown recording $want (known: ${RECORDINGS[*]%%=*})"
      exit 2
    fi
    selected+=("$found")
  done
  RECORDINGS=("${selected[@]}")
fi
PROBE_COMMUNITY="${RECORDINGS[0]%%=*}"

case "$PORT" in ''|*[!0-9]*) log "PORT must be a number"; exit 2;; esac

if [ ! -x "$VENV/bin/snmpsim-command-responder" ] || ! command -v snmpget >/dev/null 2>&1; then
  log "snmpsim not installed, running setup.sh"
  "$HERE/setup.sh" </dev/null
fi

probe() {
  snmpget -v2c -c "$PROBE_COMMUNITY" -On -Oqv -t 1 -r 0 "127.0.0.1:$PORT" \
    1.3.6.1.2.1.1.2.0 >/dev/null 2>&1
}

if probe; then
  log "something already answers on 127.0.0.1:$PORT"; exit 1
fi
if [ -f "$WORKDIR/snmpsim.pid" ] && kill -0 "$(cat "$WORKDIR/snmpsim.pid")" 2>/dev/null; then
  log "simulator from $WORKDIR/snmpsim.pid still running"; exit 1
fi

# ---- data dir: only the recordings we need --------------------------------
SRC="$("$VENV/bin/python" -c 'import os, snmpsim_data; print(os.path.join(os.path.dirname(snmpsim_data.__file__), "data"))')"
DATA="$WORKDIR/data"
CACHE="$WORKDIR/cache"
# snmpsim keeps index files made by whichever dbm module Python has; an index
# made by another module (e.g. gdbm, after python3-gdbm was removed) makes every
# request fail, so drop the cache when the dbm module or snmpsim version changes.
STAMP="$("$VENV/bin/python" -c 'import dbm, importlib, importlib.metadata as md
def ok(m):
    try: importlib.import_module(m); return True
    except ImportError: return False
print(next(m for m in dbm._names if ok(m)), md.version("snmpsim"))')"
if [ "$(cat "$WORKDIR/cache.stamp" 2>/dev/null)" != "$STAMP" ]; then
  rm -rf "$CACHE"
fi
mkdir -p "$DATA" "$CACHE"
echo "$STAMP" > "$WORKDIR/cache.stamp"
chmod 755 "$WORKDIR" "$DATA"

wanted=" "
for entry in "${RECORDINGS[@]}"; do
  name="${entry%%=*}"; rel="${entry#*=}"
  wanted+="$name.snmprec "
  dst="$DATA/$name.snmprec"
  [ -s "$dst" ] && continue            # keep mtime => index stays valid
  if [ -f "$SRC/$rel.snmprec.bz2" ]; then
    bzcat "$SRC/$rel.snmprec.bz2" > "$dst.tmp"
  elif [ -f "$SRC/$rel.snmprec" ]; then
    cp "$SRC/$rel.snmprec" "$dst.tmp"
  else
    log "recording $rel not found in $SRC"; exit 1
  fi
  chmod 644 "$dst.tmp"
  mv "$dst.tmp" "$dst"
done
for f in "$DATA"/*; do                 # drop anything else (snmpsim serves all)
  [ -e "$f" ] || continue
  case "$wanted" in *" $(basename "$f") "*) ;; *) rm -rf "$f";; esac
done

# ---- run as an unprivileged user ------------------------------------------
priv_args=()
if [ "$(id -u)" -eq 0 ]; then
  run_user=nobody
  run_group="$(id -gn nobody)"
  chown -R "$run_user:$run_group" "$CACHE"
  priv_args=(--process-user="$run_user" --process-group="$run_group")
fi

LOG="$WORKDIR/snmpsim.log"
start_ts=$(date +%s)
# Option order matters: everything after --v3-engine-id belongs to that engine.
# Run from WORKDIR: snmpsim also scans ./ for variation modules and data.
(
  cd "$WORKDIR"
  exec setsid "$VENV/bin/snmpsim-command-responder" \
    --v3-engine-id=auto \
    --data-dir="$DATA" \
    --cache-dir="$CACHE" \
    --agent-udpv4-endpoint="127.0.0.1:$PORT" \
    --v3-user="$V3_USER" \
    --v3-auth-key="$V3_AUTH" --v3-auth-proto=SHA \
    --v3-priv-key="$V3_PRIV" --v3-priv-proto=AES128 \
    "${priv_args[@]}" \
    --logging-method=stdout --log-level="$LOG_LEVEL" \
    </dev/null >"$LOG" 2>&1
) &
PID=$!
echo "$PID" > "$WORKDIR/snmpsim.pid"

while ! probe; do
  if ! kill -0 "$PID" 2>/dev/null; then
    log "simulator died; last log lines:"; tail -n 20 "$LOG" >&2; exit 1
  fi
  if grep -q '^Traceback' "$LOG"; then
    log "simulator raised an exception; killing $PID"; kill "$PID" 2>/dev/null || true
    tail -n 20 "$LOG" >&2; exit 1
  fi
  if [ $(( $(date +%s) - start_ts )) -ge "$TIMEOUT" ]; then
    log "no answer after ${TIMEOUT}s; killing $PID"; kill "$PID" 2>/dev/null || true
    tail -n 20 "$LOG" >&2; exit 1
  fi
  sleep 0.5
done
if ! tr '\0' ' ' < "/proc/$PID/cmdline" 2>/dev/null | grep -q snmpsim-command-responder; then
  log "pid $PID is not the simulator"; exit 1
fi
log "ready on 127.0.0.1:$PORT after $(( $(date +%s) - start_ts ))s (pid $PID, log $LOG)"
echo "$PID"

#!/usr/bin/env bash
# Stop a simulator started by start.sh.  Usage: stop.sh PORT [WORKDIR]
set -euo pipefail
PORT="${1:?usage: stop.sh PORT [WORKDIR]}"
WORKDIR="${2:-${SNMPSIM_WORKDIR:-/tmp/cmdb-snmpsim-$PORT}}"
PIDFILE="$WORKDIR/snmpsim.pid"
[ -f "$PIDFILE" ] || { echo "[snmpsim-stop] no $PIDFILE" >&2; exit 0; }
PID="$(cat "$PIDFILE")"
if kill -0 "$PID" 2>/dev/null; then
  kill "$PID"
  for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$PID" 2>/dev/null && kill -9 "$PID" 2>/dev/null || true
fi
rm -f "$PIDFILE"

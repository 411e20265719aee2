#!/usr/bin/env bash
# Agent metrics cost: CPU time per metrics tick, and the daemon's idle RSS with metrics on.
#
# - CPU per tick: `cmdb-agent bench-metrics --ticks N` runs N ticks of the daemon's metrics
#   code in one process (sample this host, build the batch, JSON, zstd, spool with fsync,
#   then remove the file as an acknowledgement would) and divides its getrusage user+sys
#   time by N, so process start-up is not counted. Probes are left out (they wait on the
#   network, not the CPU).
# - Idle RSS: `cmdb-agent run` against a stand-in server (a few lines of Python that
#   acknowledge every POST with 200), enrolled by writing its credential file, with metrics
#   ticking every second so many ticks have run; VmRSS/VmHWM are read from /proc after
#   IDLE_SECS. Once with metrics off (the baseline), once on, once on with a TCP and an HTTP
#   probe of the stand-in server.
#
# Builds the agent as shipped (profile `agent`, a few minutes the first time).
# Environment: TICKS (default 2000), IDLE_SECS (default 30), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cmdb-target}"
TICKS="${TICKS:-2000}"
IDLE_SECS="${IDLE_SECS:-30}"

cargo build --profile agent -p cmdb-agent </dev/null >&2
AGENT="$CARGO_TARGET_DIR/agent/cmdb-agent"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/cmdb-bench-metrics.XXXXXX")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "cmdb-agent $(stat -c %s "$AGENT" | awk '{printf "%.2f MB", $1 / 1e6}') binary, $(nproc) CPUs, $(uname -r)"

# 1. CPU per metrics tick.
printf 'state_dir = "%s/bench-state"\n' "$WORK" >"$WORK/bench.toml"
"$AGENT" --config "$WORK/bench.toml" bench-metrics --ticks "$TICKS" </dev/null

# 2. Idle RSS of the daemon.
cat >"$WORK/server.py" <<'EOF'
import http.server, sys, threading
counts = {}
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        counts[self.path] = counts.get(self.path, 0) + 1
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
        with open(sys.argv[1], "w") as f:
            f.write(" ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    def do_GET(self):
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
EOF

idle_rss() { # name, extra config (its probes may use $PORT)
  local name="$1" extra="$2" dir="$WORK/$1"
  mkdir -p "$dir/state"
  # A stand-in server per run, so its counts are this run's.
  python3 "$WORK/server.py" "$dir/counts" >"$dir/port" 2>"$dir/server.log" &
  local server=$!
  pids+=("$server")
  for _ in $(seq 50); do [ -s "$dir/port" ] && break; sleep 0.1; done
  PORT="$(head -1 "$dir/port")"
  extra="${extra//\$PORT/$PORT}"
  printf '{"server":"http://127.0.0.1:%s","agent_id":"bench","token":"bench"}\n' "$PORT" >"$dir/state/credential.json"
  chmod 600 "$dir/state/credential.json"
  printf 'state_dir = "%s/state"\n%s\n' "$dir" "$extra" >"$dir/agent.toml"
  CMDB_LOG=warn "$AGENT" --config "$dir/agent.toml" run </dev/null >"$dir/log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  sleep "$IDLE_SECS"
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "daemon ($name) exited: $(cat "$dir/log")" >&2
    exit 1
  fi
  local rss hwm
  rss="$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")"
  hwm="$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")"
  kill "$pid" "$server"
  wait "$pid" "$server" 2>/dev/null || true
  printf '  %-28s VmRSS %5.1f MB   VmHWM %5.1f MB   (server got: %s)\n' \
    "$name" "$(echo "$rss / 1024" | bc -l)" "$(echo "$hwm / 1024" | bc -l)" "$(cat "$dir/counts" 2>/dev/null || echo nothing)"
}

echo "daemon after ${IDLE_SECS} s (inventory at start; metrics tick every second when on):"
idle_rss "metrics off" $'[metrics]\nenabled = false'
idle_rss "metrics on" $'[metrics]\ninterval_secs = 1'
idle_rss "metrics on, tcp + http probes" '[metrics]
interval_secs = 1
[[probes]]
name = "tcp"
kind = "tcp"
target = "127.0.0.1:$PORT"
ci = "bench"
timeout_ms = 500
[[probes]]
name = "http"
kind = "http"
target = "http://127.0.0.1:$PORT/"
ci = "bench"
timeout_ms = 500'


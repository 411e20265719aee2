#!/usr/bin/env bash
# Start a private, unprivileged Net-SNMP snmpd on 127.0.0.1:PORT with an
# SNMPv3 authPriv user (SHA + AES-128), plus USER-sha256 (SHA-256 + AES-256) and
# USER-md5 (MD5 + DES) with the same pass phrases, USER-auth (authNoPriv, SHA) and
# USER-none (noAuthNoPriv).  No system-wide changes: only
# DIR is written (config, persistent state, log, pid); the system snmpd
# config (/etc/snmp) and /var/lib/snmp are not read or written.
#
# Usage: scripts/snmpsim/snmpd.sh PORT DIR
#   Prints the PID on stdout once snmpd answers an authPriv GET.
#   Runs setup.sh first if snmpd or Net-SNMP's tools are missing.
#   Stop it with: kill "$(cat DIR/snmpd.pid)"
#
# Environment (defaults in brackets):
#   SNMPD_V3_USER [cmdb-v3]  SNMPD_V3_AUTH [cmdb-auth-pass]
#   SNMPD_V3_PRIV [cmdb-priv-pass]   (pass phrases must be >= 8 chars)
#   SNMPD_COMMUNITY  optional read-only v2c community (unset = v3 only)
#   SNMPD_START_TIMEOUT [20] seconds
set -euo pipefail

PORT="${1:?usage: snmpd.sh PORT DIR}"
DIR="${2:?usage: snmpd.sh PORT DIR}"
V3_USER="${SNMPD_V3_USER:-cmdb-v3}"
V3_AUTH="${SNMPD_V3_AUTH:-cmdb-auth-pass}"
V3_PRIV="${SNMPD_V3_PRIV:-cmdb-priv-pass}"
TIMEOUT="${SNMPD_START_TIMEOUT:-20}"
SNMPD=/usr/sbin/snmpd

log() { echo "[snmpd.sh] $*" >&2; }
case "$PORT" in ''|*[!0-9]*) log "PORT must be a number"; exit 2;; esac
if [ ! -x "$SNMPD" ] || ! command -v snmpget >/dev/null 2>&1 || ! command -v setpriv >/dev/null 2>&1; then
  log "snmpd/snmpget missing, running setup.sh"
  "$(dirname "${BASH_SOURCE[0]}")/setup.sh" </dev/null
fi

mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
if [ -f "$DIR/snmpd.pid" ] && kill -0 "$(cat "$DIR/snmpd.pid")" 2>/dev/null; then
  log "snmpd from $DIR/snmpd.pid still running"; exit 1
fi
rm -rf "$DIR/persist"            # fresh engine state and user table each start
mkdir -p "$DIR/persist"
rm -f "$DIR/snmpd.log" "$DIR/snmpd.pid"

{
  echo "[snmp] persistentDir $DIR/persist"
  echo "[snmp] mibs :"            # numeric OIDs only; no MIB files needed
  echo "agentAddress udp:127.0.0.1:$PORT"
  echo "createUser $V3_USER SHA \"$V3_AUTH\" AES \"$V3_PRIV\""
  echo "rouser $V3_USER priv"
  # Users for the other protocol families (same pass phrases): SHA-2 with AES-256
  # (Blumenthal key extension, net-snmp's AES-256), and the old MD5 with DES.
  echo "createUser $V3_USER-sha256 SHA-256 \"$V3_AUTH\" AES-256 \"$V3_PRIV\""
  echo "rouser $V3_USER-sha256 priv"
  echo "createUser $V3_USER-md5 MD5 \"$V3_AUTH\" DES \"$V3_PRIV\""
  echo "rouser $V3_USER-md5 priv"
  # And the lower security levels: authNoPriv (SHA) and noAuthNoPriv.
  echo "createUser $V3_USER-auth SHA \"$V3_AUTH\""
  echo "rouser $V3_USER-auth auth"
  echo "createUser $V3_USER-none"
  echo "rouser $V3_USER-none noauth"
  if [ -n "${SNMPD_COMMUNITY:-}" ]; then
    echo "rocommunity $SNMPD_COMMUNITY 127.0.0.1"
  fi
  echo "dontLogTCPWrappersConnects yes"
  echo "sysName cmdb-test-snmpd"
  echo "sysLocation test"
  echo "sysContact test"
} > "$DIR/snmpd.conf"
chmod 600 "$DIR/snmpd.conf"

run=()
if [ "$(id -u)" -eq 0 ]; then
  grp="$(id -gn nobody)"
  chown -R "nobody:$grp" "$DIR"
  run=(setpriv --reuid=nobody --regid="$grp" --clear-groups)
fi

# -f: stay in foreground (we background it and know its PID)
# -C -c: read only our config file;  -I -smux: no SMUX (needs port 199)
"${run[@]}" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$DIR" \
  SNMP_PERSISTENT_DIR="$DIR/persist" MIBS= \
  setsid "$SNMPD" -f -C -c "$DIR/snmpd.conf" -I -smux -Lf "$DIR/snmpd.log" \
  </dev/null >/dev/null 2>&1 &
PID=$!
echo "$PID" > "$DIR/snmpd.pid"

start_ts=$(date +%s)
until snmpget -v3 -l authPriv -u "$V3_USER" -a SHA -A "$V3_AUTH" -x AES -X "$V3_PRIV" \
        -On -Oqv -t 1 -r 0 "127.0.0.1:$PORT" 1.3.6.1.2.1.1.1.0 >/dev/null 2>&1; do
  if ! kill -0 "$PID" 2>/dev/null; then
    log "snmpd died; log:"; cat "$DIR/snmpd.log" >&2 || true; exit 1
  fi
  if [ $(( $(date +%s) - start_ts )) -ge "$TIMEOUT" ]; then
    log "no answer after ${TIMEOUT}s"; kill "$PID" 2>/dev/null || true
    cat "$DIR/snmpd.log" >&2 || true; exit 1
  fi
  sleep 0.2
done
log "ready on 127.0.0.1:$PORT (pid $PID, user $V3_USER, SHA/AES, log $DIR/snmpd.log)"
echo "$PID"

#!/usr/bin/env bash
# Install everything the SNMP simulator tests need.  Idempotent and
# non-interactive (safe on a fresh CI machine with no stdin).
#
#   * Debian packages: snmp (snmpget/snmpwalk/snmpbulkwalk), snmpd,
#     python3-venv (Debian's python3 has dbm.ndbm, which snmpsim uses for its
#     index; python3-gdbm is only installed if neither ndbm nor gdbm exists,
#     as it indexes ~40% slower than ndbm; dbm.dumb would take many minutes)
#   * a Python venv in a world-readable place (default /opt/cmdb-snmpsim,
#     override with CMDB_SNMPSIM_VENV) holding snmpsim + snmpsim-data.
#     It is built from Debian's /usr/bin/python3, never from a pyenv/venv
#     under /root, because snmpsim drops privileges to `nobody`.
#
# Usage: scripts/snmpsim/setup.sh
set -euo pipefail

VENV="${CMDB_SNMPSIM_VENV:-/opt/cmdb-snmpsim}"
# Versions this setup was tested with.
PIP_PKGS=(
  "snmpsim==1.2.2"
  "snmpsim-data==1.0.1"
  "pysnmp==7.1.30"
  "pyasn1==0.6.5"
  "cryptography==50.0.2"   # needed by pysnmp for AES/DES privacy
)

log() { echo "[snmpsim-setup] $*" >&2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    log "not root and no sudo: cannot install packages"; exit 1; fi
fi

# ---- Debian packages -------------------------------------------------------
need_apt=()
command -v snmpbulkwalk >/dev/null 2>&1 || need_apt+=(snmp)
[ -x /usr/sbin/snmpd ] || need_apt+=(snmpd)
[ -x /usr/bin/python3 ] || need_apt+=(python3)
/usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_apt+=(python3-venv)
/usr/bin/python3 -c 'import dbm.ndbm' >/dev/null 2>&1 ||
  /usr/bin/python3 -c 'import dbm.gnu' >/dev/null 2>&1 || need_apt+=(python3-gdbm)
command -v bzcat >/dev/null 2>&1 || need_apt+=(bzip2)
command -v setpriv >/dev/null 2>&1 || need_apt+=(util-linux)

if [ ${#need_apt[@]} -gt 0 ]; then
  log "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq </dev/null
  $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" </dev/null >/dev/null
  # Debian's snmpd package enables a system snmpd on 127.0.0.1:161; our
  # tests never use it (snmpd.sh starts a private one on its own port).
else
  log "Debian packages already installed"
fi

# ---- Python venv with snmpsim ---------------------------------------------
venv_ok() {
  [ -x "$VENV/bin/snmpsim-command-responder" ] || return 1
  "$VENV/bin/python" - "${PIP_PKGS[@]}" <<'EOF' >/dev/null 2>&1
import sys
from importlib.metadata import version
for spec in sys.argv[1:]:
    name, want = spec.split("==")
    if version(name) != want:
        sys.exit(1)
import dbm, snmpsim_data  # noqa: F401
try:
    import dbm.ndbm  # noqa: F401
except ImportError:
    import dbm.gnu  # noqa: F401
from cryptography.hazmat.decrepit.ciphers.modes import CFB  # noqa: F401
EOF
}

if venv_ok; then
  log "venv $VENV already up to date"
else
  log "creating venv $VENV"
  $SUDO rm -rf "$VENV"
  $SUDO /usr/bin/python3 -m venv "$VENV"
  $SUDO "$VENV/bin/pip" install -q --disable-pip-version-check \
    --no-input "${PIP_PKGS[@]}" </dev/null
  $SUDO chmod -R a+rX "$VENV"
  venv_ok || { log "venv check failed after install"; exit 1; }
fi

log "ok: $("$VENV/bin/snmpsim-command-responder" --version 2>&1 | head -1 || true)"

#!/usr/bin/env bash
# Everything the test suite and the benchmark smokes need besides the Rust toolchain, installed
# once and idempotently on a machine of this kind (Debian, root or passwordless sudo): Debian
# packages, cargo-nextest, snmpsim's venv and Schemathesis's venv.
#
# scripts/test.sh runs this in the background while the compiler checks and builds: the
# installs wait on the network, the builds on the CPU, and on a new machine they took 6½–15
# minutes before any compiling started. Nothing here compiles the project, and nothing in the
# build needs these tools. The scripts that use each tool still install it when it is
# missing, so each also runs alone.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cmdb-target}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi

# Debian packages, in one apt-get (package names, not commands).
missing=()
# System tools the tests compare the inventory against.
command -v ip >/dev/null || missing+=(iproute2)
command -v findmnt >/dev/null || missing+=(util-linux)
command -v dpkg-query >/dev/null || missing+=(dpkg)
command -v curl >/dev/null || missing+=(curl)
# Headless Chromium and its WebDriver server, for the web UI's browser tests
# (tests/tests/system/browser.rs), which fail rather than skip without them.
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
# HAProxy, the TCP load balancer of the reference cluster (packaging/cluster/haproxy.cfg),
# in front of three server instances in tests/tests/system/cluster.rs.
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
# The peers and measuring tools of the benchmark smokes (bench_agent.py, bench_snmp.sh).
[ -x /usr/bin/time ] || missing+=(time)
command -v fusioninventory-inventory >/dev/null || missing+=(fusioninventory-agent)
command -v fusioninventory-netinventory >/dev/null || missing+=(fusioninventory-agent-task-network)
perl -MSNMP -e1 >/dev/null 2>&1 || missing+=(libsnmp-perl)
perl -MCrypt::Rijndael -e1 >/dev/null 2>&1 || missing+=(libcrypt-rijndael-perl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq </dev/null
  $SUDO apt-get install -y -qq "${missing[@]}" </dev/null
fi

# snmpsim (recordings of real devices) and Net-SNMP's snmpd and tools, for the SNMP tests.
scripts/snmpsim/setup.sh </dev/null
# Schemathesis's venv.
scripts/schemathesis.sh --install-only </dev/null

if ! command -v cargo-nextest >/dev/null; then
  # Its own target directory: the suite's is locked by the build running beside this.
  CARGO_TARGET_DIR="$CARGO_TARGET_DIR/nextest-install" cargo install --locked cargo-nextest </dev/null
fi
echo "test tools installed"

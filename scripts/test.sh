#!/usr/bin/env bash
# The whole test suite, from a fresh clone on a fresh machine of this kind:
# installs what the tests need, builds the binaries the system tests start, runs everything.
# Ends with the test runner's own summary.
set -euo pipefail
cd "$(dirname "$0")/.."

# A target dir outside the clone survives between runs on the same machine.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cmdb-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# System tools the tests compare the inventory against (Debian package names).
missing=()
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
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq </dev/null
  apt-get install -y -qq "${missing[@]}" </dev/null
fi
if ! command -v cargo-nextest >/dev/null; then
  cargo install --locked cargo-nextest </dev/null
fi
# snmpsim (recordings of real devices) and Net-SNMP's snmpd and tools, for the SNMP tests.
scripts/snmpsim/setup.sh </dev/null

# Hygiene first, so "fmt and clippy clean" cannot rot silently: a formatting or lint failure
# fails the run before any test.
cargo fmt --all -- --check </dev/null
cargo clippy --workspace --all-targets --locked -- -D warnings </dev/null

# The system tests start the real binaries: build them first, and a real SurrealDB server
# (upstream's, from crates.io) for the remote-storage tests.
# They are built together with the test targets, so that cargo resolves the features of every
# dependency once, with the dev-dependencies' (which also turn on cmdb-graph's `testing`):
# built with `--bins` alone, the features differed and nextest compiled the whole SurrealDB
# stack a second time (10 minutes of a cold run).
cargo build --workspace --bins --tests </dev/null
(cd tools/surreal && cargo build --locked </dev/null)
# Schemathesis over the OpenAPI document against a real server, once per role (short mode,
# SCHEMATHESIS_SECONDS per role): no 5xx, every status documented, every body as documented.
scripts/schemathesis.sh </dev/null
# A small run of each benchmark program, so none rots (targets are checked by the full runs).
scripts/bench_smoke.sh </dev/null
exec cargo nextest run --workspace --no-fail-fast </dev/null

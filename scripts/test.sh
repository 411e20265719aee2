#!/usr/bin/env bash
# The whole test suite, from a fresh clone on a fresh machine of this kind:
# installs what the tests need, builds the binaries the system tests start, runs everything.
# Ends with the test runner's own summary.
set -euo pipefail
cd "$(dirname "$0")/.."

# A target dir outside the clone survives between runs on the same machine.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cmdb-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# The tools the tests need (Debian packages, cargo-nextest, snmpsim, Schemathesis) install in
# the background while the compiler works: the installs wait on the network, the builds on the
# CPU. Their output goes to a log, printed once they are done; a failed install fails the run.
# Should the run fail before then, it still waits for them, so no apt-get is cut off midway.
installs_log=$(mktemp)
scripts/install_test_tools.sh >"$installs_log" 2>&1 </dev/null &
installs=$!
trap 'wait "$installs" 2>/dev/null || true' EXIT

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
if ! wait "$installs"; then
  cat "$installs_log"
  echo "installing the test tools failed (scripts/install_test_tools.sh)" >&2
  exit 1
fi
cat "$installs_log"
# Schemathesis over the OpenAPI document against a real server, once per role (short mode,
# SCHEMATHESIS_SECONDS per role): no 5xx, every status documented, every body as documented.
scripts/schemathesis.sh </dev/null
# A small run of each benchmark program, so none rots (targets are checked by the full runs).
scripts/bench_smoke.sh </dev/null
exec cargo nextest run --workspace --no-fail-fast </dev/null

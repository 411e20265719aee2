#!/usr/bin/env bash
# A large estate through the server (cmdb-bench-estate): a release cmdb-server on embedded
# SurrealKV is given a synthetic data centre of 1,000,000 CIs and about 5,000,000
# relationships through POST /api/v1/import (by class and name, 10,000 items a request, one
# importer), is restarted on that data, then answers impact questions (a core switch, a ToR
# switch, both core switches) and CI list and search pages. Prints the figures against their
# targets (relationships imported ≥ 20,000/s, start ≤ 60 s, peak RSS after the start
# ≤ 2 GiB, core switch impact p50 ≤ 500 ms, CI list and search p50 ≤ 50 ms); exits non-zero
# when one is missed. Options go to cmdb-bench-estate:
#   --cis N (1000000)  --chunk N (10000)  --parallel N (1)  --runs N (20)  --check-targets 0|1 (1)
#   --crash (restart by SIGKILL: the start replays the write-ahead log)
#   --keep-in DIR (keep the server's directory) / --reuse PATH (measure a kept one, no import)
# --smoke: 20,000 CIs and 5 runs on the debug builds the tests use, in minutes; checks only
# the start time, the memory peak and the data surviving the restart.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cmdb-target}"
# As the systemd unit runs the server (see bench.sh).
unset RUST_BACKTRACE RUST_LIB_BACKTRACE
profile=release
for arg in "$@"; do
  if [ "$arg" = --smoke ]; then profile=debug; fi
done
if [ "$profile" = release ]; then
  # Built apart, so the load generator's test-support features do not reach the server.
  cargo build --release -p cmdb-server --bin cmdb-server </dev/null
  cargo build --release -p cmdb-tests --bin cmdb-bench-estate </dev/null
else
  cargo build -p cmdb-server --bin cmdb-server </dev/null
  cargo build -p cmdb-tests --bin cmdb-bench-estate </dev/null
fi
exec "$CARGO_TARGET_DIR/$profile/cmdb-bench-estate" "$@"

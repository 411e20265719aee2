#!/usr/bin/env bash
# The main job: build release binaries, start cmdb-server on embedded SurrealKV (data in
# ./cmdb-data), enroll and run a local agent, print the URL and an admin token.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cmdb-target}"
cargo build --release -p cmdb-server -p cmdb-agent --bin cmdb-server --bin cmdb-agent
exec "$CARGO_TARGET_DIR/release/cmdb-server" quickstart --data-dir cmdb-data "$@"

#!/usr/bin/env bash
# Where cmdb-server's heap goes through a large import: heaptrack (Debian) records every
# allocation of a release cmdb-server built with the system allocator (heaptrack hooks malloc
# and cannot see mimalloc's), while cmdb-bench-estate imports a synthetic estate, restarts the
# server on it and asks its questions. Prints, for each server process, its peak heap and the
# largest consumers at that peak (what allocated them, and through which part of the server
# or of SurrealKV).
#
# Slow, and not the real timing: the server runs about ten times slower under heaptrack, so
# SurrealKV's flushes keep up with the import better than they do at full speed (the memtables
# waiting for their flush, up to 4 × storage.memtable_mib, are mostly absent here). Heap only:
# the allocator's own overhead, thread stacks and the binary are not in it.
# Options go to cmdb-bench-estate; defaults here: --cis 50000 --runs 3 --check-targets 0.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/cmdb-target}"
unset RUST_BACKTRACE RUST_LIB_BACKTRACE
if ! command -v heaptrack_print >/dev/null || [ ! -e /usr/lib/heaptrack/libheaptrack_preload.so ]; then
  SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO="sudo -n"; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get update -qq </dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq heaptrack </dev/null
fi
out=$(mktemp -d /tmp/cmdb-heap.XXXXXX)
echo "traces in $out" >&2
cargo build --release -p cmdb-server --bin cmdb-server --features system-allocator </dev/null
cp "$CARGO_TARGET_DIR/release/cmdb-server" "$out/cmdb-server-system-alloc"
# The shipped build again, so release/cmdb-server is not left with the system allocator.
cargo build --release -p cmdb-server --bin cmdb-server </dev/null
cargo build --release -p cmdb-tests --bin cmdb-bench-estate </dev/null
# The benchmark starts `cmdb-server` from its own directory: there, a wrapper that runs the
# profiled build under heaptrack's preload library, one trace per process.
mkdir "$out/bin"
cp "$CARGO_TARGET_DIR/release/cmdb-bench-estate" "$out/bin/"
cat >"$out/bin/cmdb-server" <<WRAPPER
#!/usr/bin/env bash
n=\$(date +%s%N)
fifo="$out/pipe.\$n"
mkfifo "\$fifo"
( /usr/lib/heaptrack/libexec/heaptrack_interpret <"\$fifo" | gzip -1 >"$out/trace.\$n.gz"; rm -f "\$fifo" ) &
exec env LD_PRELOAD=/usr/lib/heaptrack/libheaptrack_preload.so DUMP_HEAPTRACK_OUTPUT="\$fifo" \
  "$out/cmdb-server-system-alloc" "\$@"
WRAPPER
chmod +x "$out/bin/cmdb-server"
args=(--cis 50000 --runs 3 --check-targets 0)
"$out/bin/cmdb-bench-estate" "${args[@]}" "$@"
# The interpreters finish writing once their server has exited.
while ls "$out"/pipe.* >/dev/null 2>&1 || pgrep -f libexec/heaptrack_interpret >/dev/null; do
  sleep 1
done
for t in "$out"/trace.*.gz; do
  heaptrack_print -f "$t" --print-peaks 1 --print-allocators 0 --print-temporary 0 \
    --print-leaks 0 --peak-limit 12 --sub-peak-limit 3 >"${t%.gz}.txt" 2>/dev/null || true
  python3 scripts/heap_summary.py "${t%.gz}.txt"
done

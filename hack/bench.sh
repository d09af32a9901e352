#!/usr/bin/env bash
# make bench: a fresh local API server, then benches/signer.rs (release build).
# BENCH_RUNS (default 1000) and BENCH_PRESENT (default 10000) size it.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
if [ -z "${BENCH_KUBECONFIG:-}" ]; then
  dir="$here/target/bench-cluster"
  bash hack/cluster.sh down "$dir" >/dev/null 2>&1 || true
  trap 'bash hack/cluster.sh down "$dir" >/dev/null 2>&1 || true' EXIT
  bash hack/cluster.sh up "$dir" >/dev/null
  export BENCH_KUBECONFIG="$dir/kubeconfig"
fi
cargo bench --bench signer

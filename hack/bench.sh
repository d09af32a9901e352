#!/usr/bin/env bash
# make bench: a fresh local API server and registry, then benches/signer.rs
# and benches/oci.rs (release build). BENCH_RUNS (default 1000), BENCH_PRESENT
# (default 10000) and BENCH_OCI_RUNS (default 300) size them; BENCH_ONLY=signer
# or BENCH_ONLY=oci runs one of the two.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
dir="" rdir=""
cleanup() {
  if [ -n "$dir" ]; then bash hack/cluster.sh down "$dir" >/dev/null 2>&1 || true; fi
  if [ -n "$rdir" ]; then bash hack/registry.sh down "$rdir" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
if [ -z "${BENCH_KUBECONFIG:-}" ]; then
  dir="$here/target/bench-cluster"
  bash hack/cluster.sh down "$dir" >/dev/null 2>&1 || true
  bash hack/cluster.sh up "$dir" >/dev/null
  export BENCH_KUBECONFIG="$dir/kubeconfig"
fi
if [ -z "${BENCH_REGISTRY_ENV:-}" ]; then
  rdir="$here/target/bench-registry"
  bash hack/registry.sh down "$rdir" >/dev/null 2>&1 || true
  bash hack/registry.sh up "$rdir" >/dev/null
  export BENCH_REGISTRY_ENV="$rdir/env"
fi
case "${BENCH_ONLY:-}" in
  signer) cargo bench --bench signer ;;
  oci) cargo bench --bench oci ;;
  "") cargo bench --bench signer; cargo bench --bench oci ;;
  *) echo "BENCH_ONLY must be signer or oci" >&2; exit 2 ;;
esac

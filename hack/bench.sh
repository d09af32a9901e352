#!/usr/bin/env bash
# make bench: a fresh local API server, registry and Rekor, then
# benches/signer.rs, benches/oci.rs, benches/transparency.rs and
# benches/keys.rs (release build). BENCH_RUNS (default 1000), BENCH_PRESENT
# (default 10000), BENCH_OCI_RUNS (default 300), BENCH_REKOR_RUNS (default
# 200) and BENCH_KEY_RUNS (default 200) size them;
# BENCH_ONLY=signer|oci|transparency|keys runs one of them.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
dir="" rdir="" kdir=""
cleanup() {
  if [ -n "$dir" ]; then bash hack/cluster.sh down "$dir" >/dev/null 2>&1 || true; fi
  if [ -n "$rdir" ]; then bash hack/registry.sh down "$rdir" >/dev/null 2>&1 || true; fi
  if [ -n "$kdir" ]; then bash hack/rekor.sh down "$kdir" >/dev/null 2>&1 || true; fi
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
rekor() {
  if [ -z "${BENCH_REKOR_ENV:-}" ]; then
    kdir="$here/target/bench-rekor"
    bash hack/rekor.sh down "$kdir" >/dev/null 2>&1 || true
    bash hack/rekor.sh up "$kdir" >/dev/null
    export BENCH_REKOR_ENV="$kdir/env"
  fi
}
case "${BENCH_ONLY:-}" in
  signer) cargo bench --bench signer ;;
  oci) cargo bench --bench oci ;;
  transparency) rekor; cargo bench --bench transparency ;;
  keys) cargo bench --bench keys ;;
  "") rekor; cargo bench --bench signer; cargo bench --bench oci; cargo bench --bench transparency; cargo bench --bench keys ;;
  *) echo "BENCH_ONLY must be signer, oci, transparency or keys" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# make bench: a fresh local API server, registry and Rekor, then
# benches/signer.rs, benches/oci.rs, benches/transparency.rs and
# benches/keys.rs (release build). BENCH_RUNS (default 1000), BENCH_PRESENT
# (default 10000), BENCH_OCI_RUNS (default 300), BENCH_REKOR_RUNS (default
# 200) and BENCH_KEY_RUNS (default 200) size them;
# benches/identities.rs (local key vs Vault Transit vs AWS KMS vs Fulcio;
# BENCH_IDENTITY_RUNS, default 300) starts Vault, local-kms and Fulcio too.
# benches/storage.rs (tekton vs gcs storage; BENCH_STORAGE_RUNS, default
# 300) starts fake-gcs-server too.
# BENCH_ONLY=signer|oci|transparency|keys|identities|storage runs one of them.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
dir="" rdir="" kdir="" vdir="" adir="" fdir="" gdir=""
cleanup() {
  if [ -n "$dir" ]; then bash hack/cluster.sh down "$dir" >/dev/null 2>&1 || true; fi
  if [ -n "$rdir" ]; then bash hack/registry.sh down "$rdir" >/dev/null 2>&1 || true; fi
  if [ -n "$kdir" ]; then bash hack/rekor.sh down "$kdir" >/dev/null 2>&1 || true; fi
  if [ -n "$vdir" ]; then bash hack/vault.sh down "$vdir" >/dev/null 2>&1 || true; fi
  if [ -n "$adir" ]; then bash hack/localkms.sh down "$adir" >/dev/null 2>&1 || true; fi
  if [ -n "$fdir" ]; then bash hack/fulcio.sh down "$fdir" >/dev/null 2>&1 || true; fi
  if [ -n "$gdir" ]; then bash hack/gcs.sh down "$gdir" >/dev/null 2>&1 || true; fi
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
# Vault, local-kms and Fulcio (whose OIDC issuer is the bench cluster's API server).
identities() {
  if [ -z "${BENCH_VAULT_ENV:-}" ]; then
    vdir="$here/target/bench-vault"; bash hack/vault.sh down "$vdir" >/dev/null 2>&1 || true
    bash hack/vault.sh up "$vdir" >/dev/null; export BENCH_VAULT_ENV="$vdir/env"
  fi
  if [ -z "${BENCH_LOCAL_KMS_ENV:-}" ]; then
    adir="$here/target/bench-local-kms"; bash hack/localkms.sh down "$adir" >/dev/null 2>&1 || true
    bash hack/localkms.sh up "$adir" >/dev/null; export BENCH_LOCAL_KMS_ENV="$adir/env"
  fi
  set -a
  # shellcheck disable=SC1090
  . "$BENCH_LOCAL_KMS_ENV"
  set +a
  if [ -z "${BENCH_FULCIO_ENV:-}" ]; then
    [ -n "$dir" ] || { echo "Fulcio needs the bench cluster (unset BENCH_KUBECONFIG) or BENCH_FULCIO_ENV" >&2; exit 2; }
    fdir="$here/target/bench-fulcio"; bash hack/fulcio.sh down "$fdir" >/dev/null 2>&1 || true
    bash hack/fulcio.sh up "$fdir" "$dir" >/dev/null; export BENCH_FULCIO_ENV="$fdir/env"
  fi
  cargo bench --bench identities
}
# fake-gcs-server (BENCH_GCS_ENV, else started here).
storage() {
  if [ -z "${BENCH_GCS_ENV:-}" ]; then
    gdir="$here/target/bench-gcs"; bash hack/gcs.sh down "$gdir" >/dev/null 2>&1 || true
    bash hack/gcs.sh up "$gdir" >/dev/null; export BENCH_GCS_ENV="$gdir/env"
  fi
  # The signers find it through STORAGE_EMULATOR_HOST, as Google's clients do.
  set -a
  # shellcheck disable=SC1090
  . "$BENCH_GCS_ENV"
  set +a
  cargo bench --bench storage
}
case "${BENCH_ONLY:-}" in
  signer) cargo bench --bench signer ;;
  oci) cargo bench --bench oci ;;
  transparency) rekor; cargo bench --bench transparency ;;
  keys) cargo bench --bench keys ;;
  identities) identities ;;
  storage) storage ;;
  "") rekor; cargo bench --bench signer; cargo bench --bench oci; cargo bench --bench transparency; cargo bench --bench keys; identities; storage ;;
  *) echo "BENCH_ONLY must be signer, oci, transparency, keys, identities or storage" >&2; exit 2 ;;
esac

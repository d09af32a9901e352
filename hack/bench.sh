#!/usr/bin/env bash
# make bench: a fresh local API server, registry and Rekor, then
# benches/signer.rs, benches/oci.rs, benches/transparency.rs and
# benches/keys.rs (release build). BENCH_RUNS (default 1000), BENCH_PRESENT
# (default 10000), BENCH_OCI_RUNS (default 300), BENCH_REKOR_RUNS (default
# 200) and BENCH_KEY_RUNS (default 200) size them;
# benches/identities.rs (local key vs Vault Transit vs AWS KMS vs Fulcio;
# BENCH_IDENTITY_RUNS, default 300) starts Vault, local-kms and Fulcio too.
# benches/storage.rs (tekton vs gcs vs docdb on mongo and dynamodb;
# BENCH_STORAGE_RUNS, default 300) starts fake-gcs-server, FerretDB, moto and
# (where installed) the Firestore emulator too.
# benches/scale.rs (1, 2 and 3 signer replicas sharing 10 buckets:
# runs/s, CPU per replica, API writes per run, bucket handover;
# BENCH_SCALE_RUNS, default 2000) needs only the cluster.
# BENCH_ONLY=signer|oci|transparency|keys|identities|storage|scale runs one of them.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
# shellcheck source=hack/lib.sh
. hack/lib.sh
component_prefix=bench
trap stop_started EXIT
# source_env VAR: export the KEY=VALUE lines of the file VAR names.
source_env() {
  set -a
  # shellcheck disable=SC1090
  . "${!1}"
  set +a
}
cluster_dir=""
[ -n "${BENCH_KUBECONFIG:-}" ] || cluster_dir="$here/target/bench-cluster"
component BENCH_KUBECONFIG cluster cluster kubeconfig
component BENCH_REGISTRY_ENV registry registry env
rekor() { component BENCH_REKOR_ENV rekor rekor env; }
# Vault, local-kms and Fulcio (whose OIDC issuer is the bench cluster's API server).
identities() {
  component BENCH_VAULT_ENV vault vault env
  component BENCH_LOCAL_KMS_ENV localkms local-kms env
  source_env BENCH_LOCAL_KMS_ENV
  if [ -z "${BENCH_FULCIO_ENV:-}" ] && [ -z "$cluster_dir" ]; then
    echo "Fulcio needs the bench cluster (unset BENCH_KUBECONFIG) or BENCH_FULCIO_ENV" >&2; exit 2
  fi
  component BENCH_FULCIO_ENV fulcio fulcio env "$cluster_dir"
  cargo bench --bench identities
}
# fake-gcs-server (the signers find it through STORAGE_EMULATOR_HOST, as
# Google's clients do), FerretDB and moto (test AWS credentials), the
# Firestore emulator, Grafeas (GRAFEAS_SERVER), Archivista and a Kafka
# broker (topic chains-bench).
storage() {
  component BENCH_GCS_ENV gcs gcs env
  source_env BENCH_GCS_ENV
  component BENCH_DOCDB_ENV docdb docdb env
  component BENCH_FIRESTORE_ENV firestore firestore env
  source_env BENCH_FIRESTORE_ENV
  component BENCH_GRAFEAS_ENV grafeas grafeas env
  source_env BENCH_GRAFEAS_ENV
  component BENCH_ARCHIVISTA_ENV archivista archivista env
  component BENCH_KAFKA_ENV kafka kafka env
  bash hack/kafka.sh topic "$(dirname "$BENCH_KAFKA_ENV")" chains-bench 3
  export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-testing} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-testing}
  cargo bench --bench storage
}
case "${BENCH_ONLY:-}" in
  signer) cargo bench --bench signer ;;
  oci) cargo bench --bench oci ;;
  transparency) rekor; cargo bench --bench transparency ;;
  keys) cargo bench --bench keys ;;
  identities) identities ;;
  storage) storage ;;
  scale) cargo bench --bench scale ;;
  "") rekor; cargo bench --bench signer; cargo bench --bench oci; cargo bench --bench transparency; cargo bench --bench keys; identities; storage; cargo bench --bench scale ;;
  *) echo "BENCH_ONLY must be signer, oci, transparency, keys, identities, storage or scale" >&2; exit 2 ;;
esac

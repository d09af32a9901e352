#!/usr/bin/env bash
# Runs the integration tests against real components:
# - TEST_KUBECONFIG (an existing cluster) when set, else a fresh local
#   kube-apiserver + etcd started here and stopped afterwards;
# - the real cosign (COSIGN_BIN, built once by hack/tools.sh), and cosign v3
#   (COSIGN3_BIN) for the sigstore bundle format;
# - two real OCI registries (TEST_REGISTRY_ENV, else started here by
#   hack/registry.sh: one open, one behind TLS + htpasswd);
# - a real token-auth (Bearer) registry, Gitea's (TEST_GITEA_ENV, else
#   started here by hack/gitea.sh);
# - a real Rekor v1 (TEST_REKOR_ENV, else started here by hack/rekor.sh:
#   rekor-server, Trillian, MariaDB);
# - a real Vault with the Transit engine (TEST_VAULT_ENV, else started here
#   by hack/vault.sh), for hashivault:// KMS signing;
# - a real AWS KMS API server, local-kms (TEST_LOCAL_KMS_ENV, else started
#   here by hack/localkms.sh), for awskms:// KMS signing;
# - a real GCS JSON API server, fake-gcs-server (TEST_GCS_ENV, else started
#   here by hack/gcs.sh), for gcs storage;
# - real document stores, FerretDB (MongoDB wire protocol) and moto
#   (DynamoDB) (TEST_DOCDB_ENV, else started here by hack/docdb.sh), for
#   docdb storage; Google's Firestore emulator where the gcloud SDK has it
#   (TEST_FIRESTORE_ENV, else started here by hack/firestore.sh; tests skip
#   without one), for docdb firestore://;
# - a Grafeas v1 API server, Grafeas's own go/v1/api served in memory by
#   hack/grafeas (TEST_GRAFEAS_ENV, else started here by hack/grafeas.sh),
#   for grafeas storage;
# - a real Archivista (in-toto/archivista, MySQL on MariaDB, file blobs)
#   (TEST_ARCHIVISTA_ENV, else started here by hack/archivista.sh), for
#   archivista storage;
# - a real Apache Kafka broker (one KRaft node, jars from Maven Central)
#   (TEST_KAFKA_ENV, else started here by hack/kafka.sh), for kafka storage;
# - a real SPIRE server + agent + OIDC discovery provider (TEST_SPIRE_ENV,
#   else started here by hack/spire.sh), for keyless signing with a SPIFFE
#   JWT-SVID (signers.x509.fulcio.provider: spiffe);
# - a real Fulcio (TEST_FULCIO_ENV, else started here by hack/fulcio.sh when
#   the cluster is one started here: the API server is its OIDC issuer, and
#   SPIRE's discovery provider its `spiffe` issuer), for keyless signing.
# Then, on a cluster started here, tests/rbac_audit.rs checks the API
# server's audit log of the whole suite: no request of the operator's or a
# signer's ServiceAccount was denied, and every rule they hold was used.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

export COSIGN_BIN="${COSIGN_BIN:-$(bash hack/tools.sh cosign)}"
export COSIGN3_BIN="${COSIGN3_BIN:-$(bash hack/tools.sh cosign3)}"
# shellcheck source=hack/lib.sh
. hack/lib.sh
component_prefix=test
trap stop_started EXIT
cluster_dir=""
[ -n "${TEST_KUBECONFIG:-}" ] || cluster_dir="$here/target/test-cluster"
component TEST_KUBECONFIG cluster cluster kubeconfig
[ -z "$cluster_dir" ] || export TEST_AUDIT_LOG="$cluster_dir/audit.log"
component TEST_REGISTRY_ENV registry registry env
component TEST_GITEA_ENV gitea gitea env
component TEST_REKOR_ENV rekor rekor env
component TEST_VAULT_ENV vault vault env
component TEST_LOCAL_KMS_ENV localkms local-kms env
component TEST_GCS_ENV gcs gcs env
component TEST_DOCDB_ENV docdb docdb env
component TEST_FIRESTORE_ENV firestore firestore env
component TEST_GRAFEAS_ENV grafeas grafeas env
component TEST_ARCHIVISTA_ENV archivista archivista env
component TEST_KAFKA_ENV kafka kafka env
component TEST_SPIRE_ENV spire spire env
# Fulcio's OIDC issuers are the cluster started here and SPIRE's.
[ -z "$cluster_dir" ] || component TEST_FULCIO_ENV fulcio fulcio env "$cluster_dir" "$(dirname "$TEST_SPIRE_ENV")"
# The signers under test, and cosign, find local-kms through the standard AWS
# environment (test credentials; local-kms does not check them).
set -a
# shellcheck disable=SC1090
. "$TEST_LOCAL_KMS_ENV"
set +a
echo "[test-integration] Rekor: $(grep REKOR_URL "$TEST_REKOR_ENV")"
echo "[test-integration] Vault: $(grep VAULT_ADDR "$TEST_VAULT_ENV")"
echo "[test-integration] AWS KMS (local-kms): $AWS_ENDPOINT_URL_KMS"
echo "[test-integration] GCS (fake-gcs-server): $(grep STORAGE_EMULATOR_HOST "$TEST_GCS_ENV")"
echo "[test-integration] docdb: $(tr '\n' ' ' <"$TEST_DOCDB_ENV")"
echo "[test-integration] Firestore: $(cat "$TEST_FIRESTORE_ENV")"
echo "[test-integration] Grafeas: $(cat "$TEST_GRAFEAS_ENV")"
echo "[test-integration] Archivista: $(cat "$TEST_ARCHIVISTA_ENV")"
echo "[test-integration] Kafka: $(grep KAFKA_BOOTSTRAP "$TEST_KAFKA_ENV")"
echo "[test-integration] SPIRE: $(grep SPIRE_ISSUER "$TEST_SPIRE_ENV")"
echo "[test-integration] Fulcio: $(grep FULCIO_URL "${TEST_FULCIO_ENV:-/dev/null}" || echo 'none (an external cluster: keyless tests skip)')"
echo "[test-integration] registries: $(grep -E 'REGISTRY_(OPEN|AUTH)=' "$TEST_REGISTRY_ENV" | tr '\n' ' ')"
echo "[test-integration] API server: $(grep server: "$TEST_KUBECONFIG" | awk '{print $2}'), cosign: $COSIGN_BIN"
cargo test --no-fail-fast --test '*'
# After everything else (it reads what the whole suite did); without
# TEST_AUDIT_LOG (an external cluster) it says it is skipped.
cargo test --test rbac_audit -- --ignored --nocapture

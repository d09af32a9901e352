#!/usr/bin/env bash
# Runs the integration tests against real components:
# - TEST_KUBECONFIG (an existing cluster) when set, else a fresh local
#   kube-apiserver + etcd started here and stopped afterwards;
# - the real cosign (COSIGN_BIN, built once by hack/tools.sh);
# - two real OCI registries (TEST_REGISTRY_ENV, else started here by
#   hack/registry.sh: one open, one behind TLS + htpasswd);
# - a real Rekor v1 (TEST_REKOR_ENV, else started here by hack/rekor.sh:
#   rekor-server, Trillian, MariaDB);
# - a real Vault with the Transit engine (TEST_VAULT_ENV, else started here
#   by hack/vault.sh), for hashivault:// KMS signing;
# - a real AWS KMS API server, local-kms (TEST_LOCAL_KMS_ENV, else started
#   here by hack/localkms.sh), for awskms:// KMS signing;
# - a real GCS JSON API server, fake-gcs-server (TEST_GCS_ENV, else started
#   here by hack/gcs.sh), for gcs storage;
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
dir="" rdir="" kdir="" vdir="" adir="" sdir="" fdir="" gdir=""
cleanup() {
  if [ -n "$dir" ]; then bash hack/cluster.sh down "$dir" >/dev/null 2>&1 || true; fi
  if [ -n "$rdir" ]; then bash hack/registry.sh down "$rdir" >/dev/null 2>&1 || true; fi
  if [ -n "$kdir" ]; then bash hack/rekor.sh down "$kdir" >/dev/null 2>&1 || true; fi
  if [ -n "$vdir" ]; then bash hack/vault.sh down "$vdir" >/dev/null 2>&1 || true; fi
  if [ -n "$adir" ]; then bash hack/localkms.sh down "$adir" >/dev/null 2>&1 || true; fi
  if [ -n "$fdir" ]; then bash hack/fulcio.sh down "$fdir" >/dev/null 2>&1 || true; fi
  if [ -n "$sdir" ]; then bash hack/spire.sh down "$sdir" >/dev/null 2>&1 || true; fi
  if [ -n "$gdir" ]; then bash hack/gcs.sh down "$gdir" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
if [ -z "${TEST_KUBECONFIG:-}" ]; then
  dir="$here/target/test-cluster"
  bash hack/cluster.sh down "$dir" >/dev/null 2>&1 || true
  bash hack/cluster.sh up "$dir" >/dev/null
  export TEST_KUBECONFIG="$dir/kubeconfig"
  export TEST_AUDIT_LOG="$dir/audit.log"
fi
if [ -z "${TEST_REGISTRY_ENV:-}" ]; then
  rdir="$here/target/test-registry"
  bash hack/registry.sh down "$rdir" >/dev/null 2>&1 || true
  bash hack/registry.sh up "$rdir" >/dev/null
  export TEST_REGISTRY_ENV="$rdir/env"
fi
if [ -z "${TEST_REKOR_ENV:-}" ]; then
  kdir="$here/target/test-rekor"
  bash hack/rekor.sh down "$kdir" >/dev/null 2>&1 || true
  bash hack/rekor.sh up "$kdir" >/dev/null
  export TEST_REKOR_ENV="$kdir/env"
fi
if [ -z "${TEST_VAULT_ENV:-}" ]; then
  vdir="$here/target/test-vault"
  bash hack/vault.sh down "$vdir" >/dev/null 2>&1 || true
  bash hack/vault.sh up "$vdir" >/dev/null
  export TEST_VAULT_ENV="$vdir/env"
fi
if [ -z "${TEST_LOCAL_KMS_ENV:-}" ]; then
  adir="$here/target/test-local-kms"
  bash hack/localkms.sh down "$adir" >/dev/null 2>&1 || true
  bash hack/localkms.sh up "$adir" >/dev/null
  export TEST_LOCAL_KMS_ENV="$adir/env"
fi
if [ -z "${TEST_GCS_ENV:-}" ]; then
  gdir="$here/target/test-gcs"
  bash hack/gcs.sh down "$gdir" >/dev/null 2>&1 || true
  bash hack/gcs.sh up "$gdir" >/dev/null
  export TEST_GCS_ENV="$gdir/env"
fi
if [ -z "${TEST_SPIRE_ENV:-}" ]; then
  sdir="$here/target/test-spire"
  bash hack/spire.sh down "$sdir" >/dev/null 2>&1 || true
  bash hack/spire.sh up "$sdir" >/dev/null
  export TEST_SPIRE_ENV="$sdir/env"
fi
if [ -z "${TEST_FULCIO_ENV:-}" ] && [ -n "$dir" ]; then
  fdir="$here/target/test-fulcio"
  bash hack/fulcio.sh down "$fdir" >/dev/null 2>&1 || true
  bash hack/fulcio.sh up "$fdir" "$dir" "$(dirname "$TEST_SPIRE_ENV")" >/dev/null
  export TEST_FULCIO_ENV="$fdir/env"
fi
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
echo "[test-integration] SPIRE: $(grep SPIRE_ISSUER "$TEST_SPIRE_ENV")"
echo "[test-integration] Fulcio: $(grep FULCIO_URL "${TEST_FULCIO_ENV:-/dev/null}" || echo 'none (an external cluster: keyless tests skip)')"
echo "[test-integration] registries: $(grep -E 'REGISTRY_(OPEN|AUTH)=' "$TEST_REGISTRY_ENV" | tr '\n' ' ')"
echo "[test-integration] API server: $(grep server: "$TEST_KUBECONFIG" | awk '{print $2}'), cosign: $COSIGN_BIN"
cargo test --no-fail-fast --test '*'
# After everything else (it reads what the whole suite did); without
# TEST_AUDIT_LOG (an external cluster) it says it is skipped.
cargo test --test rbac_audit -- --ignored --nocapture

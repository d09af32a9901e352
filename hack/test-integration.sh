#!/usr/bin/env bash
# Runs the integration tests against real components:
# - TEST_KUBECONFIG (an existing cluster) when set, else a fresh local
#   kube-apiserver + etcd started here and stopped afterwards;
# - the real cosign (COSIGN_BIN, built once by hack/tools.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

export COSIGN_BIN="${COSIGN_BIN:-$(bash hack/tools.sh cosign)}"
if [ -z "${TEST_KUBECONFIG:-}" ]; then
  dir="$here/target/test-cluster"
  bash hack/cluster.sh down "$dir" >/dev/null 2>&1 || true
  trap 'bash hack/cluster.sh down "$dir" >/dev/null 2>&1 || true' EXIT
  bash hack/cluster.sh up "$dir" >/dev/null
  export TEST_KUBECONFIG="$dir/kubeconfig"
fi
echo "[test-integration] API server: $(grep server: "$TEST_KUBECONFIG" | awk '{print $2}'), cosign: $COSIGN_BIN"
cargo test --test '*'

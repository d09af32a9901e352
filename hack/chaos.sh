#!/usr/bin/env bash
# make chaos: a fault-injection run that prints figures (not a timed test,
# not part of make test). Builds benches/chaos.rs (release) first, then
# starts a fresh local API server, registry and Rekor under target/chaos-*
# and runs it: the signer signs a burst of TaskRuns while it is SIGKILLed and
# the API server, the registry and Rekor go away for a few seconds.
# CHAOS_RUNS (default 300), CHAOS_KILLS (10), CHAOS_SEED (random; printed),
# CHAOS_SETTLE_SECS (300) and CHAOS_BURST_SECS (45) shape it. Signer logs
# and the faults log stay in target/chaos-logs (the components' logs in
# target/chaos-logs/components).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export CHAOS_CLUSTER_DIR="$here/target/chaos-cluster"
export CHAOS_REGISTRY_DIR="$here/target/chaos-registry"
export CHAOS_REKOR_DIR="$here/target/chaos-rekor"
export CHAOS_LOG_DIR="$here/target/chaos-logs"
started=""
cleanup() {
  [ -n "$started" ] || return 0
  # Keep the components' own logs next to the signers' for a post-mortem.
  mkdir -p "$CHAOS_LOG_DIR/components"
  cp "$CHAOS_CLUSTER_DIR/kube-apiserver.log" "$CHAOS_REGISTRY_DIR/open.log" \
    "$CHAOS_REKOR_DIR/rekor.log" "$CHAOS_REKOR_DIR/logserver.log" "$CHAOS_LOG_DIR/components/" 2>/dev/null || true
  bash hack/cluster.sh down "$CHAOS_CLUSTER_DIR" >/dev/null 2>&1 || true
  bash hack/registry.sh down "$CHAOS_REGISTRY_DIR" >/dev/null 2>&1 || true
  bash hack/rekor.sh down "$CHAOS_REKOR_DIR" >/dev/null 2>&1 || true
}
trap cleanup EXIT
# Build before anything runs, so compiling does not share the cores with the run.
cargo bench --bench chaos --no-run
started=1
rm -rf "$CHAOS_LOG_DIR"
mkdir -p "$CHAOS_LOG_DIR"
bash hack/cluster.sh down "$CHAOS_CLUSTER_DIR" >/dev/null 2>&1 || true
bash hack/cluster.sh up "$CHAOS_CLUSTER_DIR" >/dev/null
bash hack/registry.sh down "$CHAOS_REGISTRY_DIR" >/dev/null 2>&1 || true
bash hack/registry.sh up "$CHAOS_REGISTRY_DIR" >/dev/null
bash hack/rekor.sh down "$CHAOS_REKOR_DIR" >/dev/null 2>&1 || true
bash hack/rekor.sh up "$CHAOS_REKOR_DIR" >/dev/null
cargo bench --bench chaos

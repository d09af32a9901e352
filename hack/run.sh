#!/usr/bin/env bash
# `make run`: see it sign and verify something, with one command.
#
#   hack/run.sh up     bring everything up, sign a sample build, verify it,
#                      print what happened; leave it all running
#   hack/run.sh down   stop everything `up` started (`make run-down`)
#
# - KUBECONFIG set (and reachable): that cluster; else a local control plane
#   (real kube-apiserver + etcd, hack/cluster.sh), Tekton's CRDs added;
# - a local registry (hack/registry.sh) and a local Rekor v1 (hack/rekor.sh);
# - the CRDs, then this operator with its embedded signer (`run`) as a
#   process on this machine;
# - config/samples/tektonconfig.yaml (in-toto, oci storage, Rekor,
#   generateSigningSecret: true), pointed at the local Rekor;
# - a small image pushed to the local registry, and a TaskRun that reports
#   it (IMAGE_URL / IMAGE_DIGEST), finished as the Pipelines controller would.
#
# SIGNER picks who signs: `key` (default: the generated cosign key pair),
# `kms` (a local Vault with Transit, hack/vault.sh: hashivault://chains-p256)
# or `keyless` (a local Fulcio whose OIDC issuer is the local API server,
# hack/fulcio.sh; the signer's ServiceAccount token gets the certificate).
#
# CI=true: non-interactive smoke test; exits 0 only when the sample was
# signed and verified, and stops everything afterwards. RUN_DIR (default
# .run) holds the state; SYSTEM_NAMESPACE (default openshift-pipelines).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
# shellcheck source=hack/lib.sh
. "$here/hack/lib.sh"
cmd=${1:-up}
state_dir "${RUN_DIR:-$here/.run}"
run_dir=$dir
ns=${SYSTEM_NAMESPACE:-openshift-pipelines}
demo_ns=chains-demo
ci=${CI:-false}
signer=${SIGNER:-key}
case "$signer" in key | kms | keyless) ;; *) echo "SIGNER=$signer: allowed: key, kms, keyless" >&2; exit 2 ;; esac

step() { echo "[run $(date +%H:%M:%S)] $*" >&2; }
die() { echo "[run] FAILED: $*" >&2; exit 1; }

down() {
  if [ -f "$run_dir/operator.pid" ]; then
    local pid; pid=$(cat "$run_dir/operator.pid")
    kill "$pid" 2>/dev/null || true
    # A graceful shutdown waits for reconciles in flight; not forever.
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$run_dir/operator.pid"
  fi
  bash hack/rekor.sh down "$run_dir/rekor" >/dev/null 2>&1 || true
  bash hack/vault.sh down "$run_dir/vault" >/dev/null 2>&1 || true
  bash hack/fulcio.sh down "$run_dir/fulcio" >/dev/null 2>&1 || true
  bash hack/registry.sh down "$run_dir/registry" >/dev/null 2>&1 || true
  bash hack/cluster.sh down "$run_dir/cluster" >/dev/null 2>&1 || true
  rm -rf "$run_dir"
}

if [ "$cmd" = down ]; then down; step "stopped; $run_dir removed"; exit 0; fi
[ "$cmd" = up ] || { echo "usage: $0 up|down" >&2; exit 2; }
if [ "$ci" = true ]; then trap down EXIT; fi

step "tools (first time: Go builds, then cached)"
cosign=$(bash hack/tools.sh cosign)
crane=$(bash hack/tools.sh crane)
kubectl=$(bash hack/tools.sh kubectl)
k() { "$kubectl" "$@"; }

if [ -n "${KUBECONFIG:-}" ] && k version --request-timeout=5s >/dev/null 2>&1; then
  step "cluster: using KUBECONFIG=$KUBECONFIG"
  own_cluster=false
elif [ "$signer" = keyless ] && [ -n "${KUBECONFIG:-}" ]; then
  die "SIGNER=keyless needs the local cluster (its API server is Fulcio's OIDC issuer): unset KUBECONFIG"
else
  step "cluster: starting a local kube-apiserver + etcd (no kubelet)"
  bash hack/cluster.sh up "$run_dir/cluster" >/dev/null
  export KUBECONFIG="$run_dir/cluster/kubeconfig"
  own_cluster=true
fi
step "registry and Rekor v1 on loopback"
bash hack/registry.sh up "$run_dir/registry" >/dev/null
bash hack/rekor.sh up "$run_dir/rekor" >/dev/null
registry=$(sed -n 's/^REGISTRY_OPEN=//p' "$run_dir/registry/env")
rekor_url=$(sed -n 's/^REKOR_URL=//p' "$run_dir/rekor/env")
rekor_key=$(sed -n 's/^REKOR_PUBLIC_KEY=//p' "$run_dir/rekor/env")
chain_extra=""
case "$signer" in
  kms)
    step "Vault (dev mode) with the Transit engine on loopback"
    bash hack/vault.sh up "$run_dir/vault" >/dev/null
    vault_addr=$(sed -n 's/^VAULT_ADDR=//p' "$run_dir/vault/env")
    vault_token=$(sed -n 's/^VAULT_TOKEN=//p' "$run_dir/vault/env")
    kmsref=hashivault://chains-p256
    # The dev root token, test-only: a real setup uses oidc.role or token-path.
    chain_extra=",\"artifacts.taskrun.signer\":\"kms\",\"artifacts.oci.signer\":\"kms\",\"signers.kms.kmsref\":\"$kmsref\",\"signers.kms.auth.address\":\"$vault_addr\",\"signers.kms.auth.token\":\"$vault_token\""
    ;;
  keyless)
    step "Fulcio on loopback (ephemeral CA), trusting the API server as OIDC issuer"
    bash hack/fulcio.sh up "$run_dir/fulcio" "$run_dir/cluster" >/dev/null
    fulcio_url=$(sed -n 's/^FULCIO_URL=//p' "$run_dir/fulcio/env")
    fulcio_root=$(sed -n 's/^FULCIO_ROOT=//p' "$run_dir/fulcio/env")
    issuer=$(sed -n 's/^FULCIO_ISSUER=//p' "$run_dir/fulcio/env")
    token_file="$run_dir/oidc-token"
    chain_extra=",\"signers.x509.fulcio.enabled\":\"true\",\"signers.x509.fulcio.address\":\"$fulcio_url\",\"signers.x509.identity.token.file\":\"$token_file\""
    ;;
esac

step "CRDs"
k apply --server-side --force-conflicts -f crds/crds.yaml >/dev/null
if ! k get crd taskruns.tekton.dev >/dev/null 2>&1; then
  k apply --server-side -f tests/fixtures/tekton-crds.yaml >/dev/null
fi
k wait --for condition=established --timeout=60s crd/tektonconfigs.operator.tekton.dev crd/taskruns.tekton.dev >/dev/null

step "building the operator (cargo build)"
cargo build -q --bin tekton-chains-operator
bin="${CARGO_TARGET_DIR:-$here/target}/debug/tekton-chains-operator"
keys="$run_dir/signing-secrets"
mkdir -p "$keys"
metrics_port=$(free_port)
step "starting the operator with its embedded signer (log: $run_dir/operator.log)"
if [ -f "$run_dir/operator.pid" ]; then kill "$(cat "$run_dir/operator.pid")" 2>/dev/null || true; fi
# Without a kubelet, the signing-secrets Secret is "mounted" by this script (below).
"$bin" run --system-namespace "$ns" --default-target-namespace "$ns" --leader-election=false \
  --signing-secrets-dir "$keys" --retry-backoff 1s \
  --metrics-addr "127.0.0.1:$metrics_port" --probes-addr "127.0.0.1:$metrics_port" >"$run_dir/operator.log" 2>&1 &
echo $! >"$run_dir/operator.pid"

# The operator creates TektonConfig config at start, as OpenShift Pipelines
# does; the sample is then applied over it (server-side: it was not made by
# kubectl apply).
for _ in $(seq 150); do k get tektonconfig config >/dev/null 2>&1 && break; sleep 0.2; done
step "applying config/samples/tektonconfig.yaml over the TektonConfig the operator created, with targetNamespace=$ns, transparency.url=$rekor_url"
k apply --server-side --force-conflicts -f config/samples/tektonconfig.yaml >/dev/null
k patch tektonconfig config --type merge \
  -p "{\"spec\":{\"targetNamespace\":\"$ns\",\"chain\":{\"transparency.url\":\"$rekor_url\"$chain_extra}}}" >/dev/null

# wait_until WHAT CMD...: polls CMD for up to 90 s.
wait_until() {
  local what=$1; shift
  for _ in $(seq 450); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    kill -0 "$(cat "$run_dir/operator.pid")" 2>/dev/null || { tail -20 "$run_dir/operator.log" >&2; die "the operator exited"; }
    sleep 0.2
  done
  tail -20 "$run_dir/operator.log" >&2
  die "timed out waiting for $what"
}
config_ready() { k -n "$ns" get configmap chains-config -o jsonpath='{.data.transparency\.url}' | grep -qx "$rekor_url"; }
wait_until "chains-config with the local Rekor" config_ready
# The operator creates the Secret with a generated key pair (generateSigningSecret: true).
key_generated() { [ -n "$(k -n "$ns" get secret signing-secrets -o jsonpath='{.data.cosign\.password}')" ]; }
wait_until "the generated signing-secrets" key_generated
for f in cosign.key cosign.password cosign.pub; do
  k -n "$ns" get secret signing-secrets -o jsonpath="{.data.${f//./\\.}}" | base64 -d >"$keys/$f"
done
cp "$keys/cosign.pub" "$run_dir/cosign.pub"
step "signing-secrets generated by the operator (cosign key pair); public key: $run_dir/cosign.pub"
if [ "$signer" = keyless ]; then
  # What the projected volume would hold without a kubelet: the signer's own
  # ServiceAccount token, audience sigstore (TokenRequest).
  sa=tekton-chains-controller
  sa_exists() { k -n "$ns" get serviceaccount "$sa"; }
  wait_until "the signer's ServiceAccount" sa_exists
  k -n "$ns" create token "$sa" --audience sigstore --duration 1h >"$token_file"
  step "identity token of $ns/$sa (audience sigstore) written to $token_file"
fi

step "building a small image and pushing it to $registry"
work=$(mktemp -d)
echo "hello from tekton-chains-operator, $(date -u +%FT%TZ)" >"$work/hello.txt"
tar -C "$work" -cf "$work/layer.tar" hello.txt
image="$registry/demo/hello"
"$crane" append -f "$work/layer.tar" -t "$image:v1" >/dev/null 2>&1
digest=$("$crane" digest "$image:v1")
rm -rf "$work"

step "TaskRun $demo_ns/build-hello reports $image@$digest, then finishes"
k create namespace "$demo_ns" >/dev/null 2>&1 || true
k -n "$demo_ns" delete taskrun build-hello --ignore-not-found >/dev/null
k -n "$demo_ns" apply -f - >/dev/null <<YAML
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: build-hello
spec:
  taskRef: { name: buildah }
YAML
now=$(date -u +%FT%TZ)
k -n "$demo_ns" patch taskrun build-hello --subresource=status --type merge -p "$(cat <<JSON
{"status": {"conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
  "startTime": "$now", "completionTime": "$now",
  "taskSpec": {"steps": [{"name": "build", "image": "quay.io/buildah/stable:v1"}]},
  "results": [{"name": "IMAGE_URL", "type": "string", "value": "$image:v1"},
              {"name": "IMAGE_DIGEST", "type": "string", "value": "$digest"}]}}
JSON
)" >/dev/null

annotation() { k -n "$demo_ns" get taskrun build-hello -o jsonpath="{.metadata.annotations.chains\.tekton\.dev/$1}"; }
signed_or_failed() { [ -n "$(annotation signed)" ]; }
wait_until "the TaskRun to be signed" signed_or_failed
[ "$(annotation signed)" = true ] || { k -n "$demo_ns" get events >&2; die "chains.tekton.dev/signed=$(annotation signed)"; }
transparency=$(annotation transparency)

step "verifying with cosign ($signer)"
export SIGSTORE_REKOR_PUBLIC_KEY="$rekor_key"
case "$signer" in
  key) who=(--key "$run_dir/cosign.pub"); how="key $run_dir/cosign.pub" ;;
  kms) who=(--key "$kmsref"); how="key $kmsref, through Vault"; export VAULT_ADDR="$vault_addr" VAULT_TOKEN="$vault_token" ;;
  keyless)
    identity="https://kubernetes.io/namespaces/$ns/serviceaccounts/$sa"
    who=(--certificate-identity "$identity" --certificate-oidc-issuer "$issuer" --insecure-ignore-sct)
    how="certificate for $identity from $fulcio_url"
    export SIGSTORE_ROOT_FILE="$fulcio_root"
    ;;
esac
verify_out=$("$cosign" verify "${who[@]}" --rekor-url "$rekor_url" "$image@$digest" 2>&1) ||
  { echo "$verify_out" >&2; die "cosign verify"; }
att_out=$("$cosign" verify-attestation "${who[@]}" --rekor-url "$rekor_url" \
  --type slsaprovenance "$image@$digest" 2>/dev/null) || die "cosign verify-attestation"
subjects=$(echo "$att_out" | head -1 | jq -r '.payload' | base64 -d | jq -c '[.subject[] | "\(.name)@sha256:\(.digest.sha256)"]')
tags=$("$crane" ls "$image" | tr '\n' ' ')

cat <<EOF

  TaskRun $demo_ns/build-hello: chains.tekton.dev/signed=true
  image signature    -> $image:${digest/:/-}.sig   (simplesigning, cosign layout)
  attestation        -> $image:${digest/:/-}.att   (in-toto SLSA v0.2 in DSSE)
  registry tags      -> $tags
  attestation subjects: $subjects
  cosign verify              : OK ($how, Rekor bundle checked)
  cosign verify-attestation  : OK (--type slsaprovenance)
  Rekor entry        -> $transparency

EOF
if [ "$ci" = true ]; then
  step "smoke test passed; stopping everything"
  exit 0
fi
cat <<EOF
Everything is still running. Look around:

  export KUBECONFIG=$KUBECONFIG
  kubectl get tektonconfig,tektonchain
  kubectl -n $ns get configmap chains-config -o yaml
  kubectl -n $demo_ns get taskrun build-hello -o jsonpath='{.metadata.annotations}' | jq
  export SIGSTORE_REKOR_PUBLIC_KEY=$rekor_key
  $(env | grep -E '^(VAULT_ADDR|VAULT_TOKEN|SIGSTORE_ROOT_FILE)=' | sed 's/^/export /' | tr '\n' ' ')
  $cosign verify ${who[*]} --rekor-url $rekor_url $image@$digest
  $cosign verify-attestation ${who[*]} --rekor-url $rekor_url --type slsaprovenance $image@$digest
  $(sed -n 's/^REKOR_CLI=//p' "$run_dir/rekor/env") search --rekor_server $rekor_url --sha $digest
  tail -f $run_dir/operator.log

Stop it all with: make run-down
EOF
$own_cluster || echo "(the cluster is yours: make run-down leaves it, and removes only what this started)"

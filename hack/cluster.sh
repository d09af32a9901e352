#!/usr/bin/env bash
# A local control plane for tests and people: real etcd + kube-apiserver on
# loopback, no kubelet. Binaries come from hack/tools.sh (or KUBEBUILDER_ASSETS).
#
#   hack/cluster.sh up   [DIR]   start (idempotent), write DIR/kubeconfig; the
#                                requests of ServiceAccounts go to DIR/audit.log
#   hack/cluster.sh down [DIR]   stop and remove state
#                                ServiceAccount tokens are issued by the API
#                                server itself, https://127.0.0.1:PORT (DIR/issuer),
#                                whose OIDC discovery and JWKS anyone may read
#   hack/cluster.sh env  [DIR]   print `export KUBECONFIG=...`
#   hack/cluster.sh restart-apiserver [DIR]   stop kube-apiserver and start it
#                                again (same flags, port and certs; etcd and
#                                its data stay), then wait until it is ready
#
# DIR defaults to $CLUSTER_DIR or .cluster in the repo.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/lib.sh
. "$here/hack/lib.sh"
cmd=${1:-}
state_dir "${2:-${CLUSTER_DIR:-$here/.cluster}}"

log() { echo "[cluster] $*" >&2; }


stop() {
  for p in kube-apiserver etcd; do
    if alive "$p"; then kill "$(cat "$dir/$p.pid")" 2>/dev/null || true; fi
  done
  for p in kube-apiserver etcd; do
    for _ in $(seq 50); do alive "$p" || break; sleep 0.1; done
    if alive "$p"; then kill -9 "$(cat "$dir/$p.pid")" 2>/dev/null || true; fi
    rm -f "$dir/$p.pid"
  done
}

certs() {
  local c="$dir/pki"
  [ -f "$c/admin.crt" ] && return
  # A half-made folder is made again whole.
  rm -f "$c/server.crt"
  loopback_certs "$c" kube-apiserver ",DNS:kubernetes.default.svc,IP:10.0.0.1"
  (
    cd "$c"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout admin.key -out admin.csr \
      -subj "/CN=admin/O=system:masters" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n' >admin.ext
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile admin.ext -out admin.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  )
}

# start_apiserver [>|>>]: kube-apiserver on $api_port against etcd on
# $etcd_port (log truncated, or appended to with >>).
start_apiserver() {
  local log_file="$dir/kube-apiserver.log"
  [ "${1:-}" = ">>" ] || : >"$log_file"
  log "starting kube-apiserver on https://127.0.0.1:$api_port"
  "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
    --tls-cert-file "$dir/pki/server.crt" --tls-private-key-file "$dir/pki/server.key" \
    --client-ca-file "$dir/pki/ca.crt" \
    --service-account-issuer "https://127.0.0.1:$api_port" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$dir/pki/sa.pub" --service-account-signing-key-file "$dir/pki/sa.key" \
    --service-cluster-ip-range 10.0.0.0/24 --authorization-mode RBAC --allow-privileged=true \
    --disable-admission-plugins ServiceAccount \
    --enable-admission-plugins OwnerReferencesPermissionEnforcement \
    --audit-policy-file "$dir/audit-policy.yaml" --audit-log-path "$dir/audit.log" \
    --audit-log-maxsize 100000 --audit-log-maxbackup 0 \
    --cert-dir "$dir/pki" \
    >>"$log_file" 2>&1 &
  echo $! >"$dir/kube-apiserver.pid"
}

# public_discovery: lets anyone read the OIDC discovery document and JWKS
# (what a cloud cluster publishes), so Fulcio and Vault can check the
# ServiceAccount tokens this API server issues (issuer: DIR/issuer).
public_discovery() {
  curl -sf --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" --key "$dir/pki/admin.key" \
    -X POST -H 'Content-Type: application/json' \
    "https://127.0.0.1:$api_port/apis/rbac.authorization.k8s.io/v1/clusterrolebindings" -d '{
      "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
      "metadata": {"name": "service-account-issuer-discovery-public"},
      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                  "name": "system:service-account-issuer-discovery"},
      "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:unauthenticated"}]
    }' >/dev/null 2>&1 || true
}

# ready: polls /readyz for up to 120 s; false when it never answers.
ready() {
  for _ in $(seq 120); do
    if curl -sf --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" --key "$dir/pki/admin.key" \
      "https://127.0.0.1:$api_port/readyz" >/dev/null 2>&1; then
      return 0
    fi
    if ! alive kube-apiserver || ! alive etcd; then return 1; fi
    sleep 1
  done
  return 1
}

restart_apiserver() {
  if [ ! -f "$dir/ports" ] || ! alive etcd; then
    log "no running cluster with a ports file in $dir (start one with: $0 up $dir)"
    exit 1
  fi
  # shellcheck disable=SC1091
  . "$dir/ports"
  bin=$("$here/hack/tools.sh" kube)
  log "stopping kube-apiserver"
  stop_one kube-apiserver
  start_apiserver ">>"
  if ready; then
    log "ready again on https://127.0.0.1:$api_port"
    return
  fi
  log "the API server did not become ready again; log: $dir/kube-apiserver.log"
  tail -20 "$dir/kube-apiserver.log" >&2 || true
  exit 1
}

up() {
  if alive kube-apiserver && alive etcd && [ -f "$dir/kubeconfig" ]; then
    log "already running; KUBECONFIG=$dir/kubeconfig"
    echo "export KUBECONFIG=$dir/kubeconfig"
    return
  fi
  stop
  local bin
  bin=$("$here/hack/tools.sh" kube)
  certs
  local etcd_port peer_port api_port
  etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port)
  rm -rf "$dir/etcd-data" "$dir/audit.log"
  # ServiceAccounts' requests (the operator's and the signers' identities in
  # the tests) at Metadata level: who, verb, object, the authorizer's
  # decision. Nothing else is logged, so it stays cheap. tests/rbac_audit.rs reads it.
  cat >"$dir/audit-policy.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    userGroups: ["system:serviceaccounts"]
  - level: None
EOF
  log "starting etcd on 127.0.0.1:$etcd_port"
  "$bin/etcd" --data-dir "$dir/etcd-data" --unsafe-no-fsync \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "default=http://127.0.0.1:$peer_port" --log-level warn \
    >"$dir/etcd.log" 2>&1 &
  echo $! >"$dir/etcd.pid"
  printf 'etcd_port=%s\napi_port=%s\n' "$etcd_port" "$api_port" >"$dir/ports"
  echo "https://127.0.0.1:$api_port" >"$dir/issuer"
  start_apiserver
  cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority: $dir/pki/ca.crt
users:
- name: admin
  user:
    client-certificate: $dir/pki/admin.crt
    client-key: $dir/pki/admin.key
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
EOF
  log "waiting for the API server to be ready"
  for _ in $(seq 120); do
    if curl -sf --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" --key "$dir/pki/admin.key" \
      "https://127.0.0.1:$api_port/readyz" >/dev/null 2>&1; then
      public_discovery
      log "ready. Use it with:"
      echo "export KUBECONFIG=$dir/kubeconfig"
      return
    fi
    if ! alive kube-apiserver || ! alive etcd; then break; fi
    sleep 1
  done
  log "the API server did not become ready; logs: $dir/kube-apiserver.log $dir/etcd.log"
  tail -20 "$dir/kube-apiserver.log" >&2 || true
  stop
  exit 1
}

case "$cmd" in
  up) up ;;
  down) stop; rm -rf "$dir/etcd-data" "$dir/kubeconfig" "$dir/ports" "$dir/issuer"; log "stopped" ;;
  env) echo "export KUBECONFIG=$dir/kubeconfig" ;;
  restart-apiserver) restart_apiserver ;;
  *) echo "usage: $0 up|down|env|restart-apiserver [DIR]" >&2; exit 2 ;;
esac

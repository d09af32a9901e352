#!/usr/bin/env bash
# A real Fulcio on loopback (ephemeral CA, in memory; no CT log) that trusts
# the local API server as an OIDC issuer, so a ServiceAccount token with
# audience `sigstore` gets a signing certificate: for keyless signing tests
# and `make run SIGNER=keyless`.
#
#   hack/fulcio.sh up   [DIR] [CLUSTER_DIR] [SPIRE_DIR]  start (idempotent), write DIR/env
#   hack/fulcio.sh down [DIR]                 stop and remove state
#   hack/fulcio.sh stop [DIR]                 stop it, keeping the env (an outage)
#
# CLUSTER_DIR is a hack/cluster.sh folder (default $CLUSTER_DIR or .cluster):
# its `issuer` file and CA. DIR/env holds FULCIO_URL, FULCIO_ROOT (the CA's
# root certificate, for SIGSTORE_ROOT_FILE) and FULCIO_ISSUER.
# SPIRE_DIR (default $SPIRE_STATE_DIR), a hack/spire.sh folder, adds its
# issuer as a `spiffe` one (trust domain chains.test), written to DIR/env as
# FULCIO_SPIFFE_ISSUER.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/lib.sh
. "$here/hack/lib.sh"
cmd=${1:-}
cluster=${3:-${CLUSTER_DIR:-$here/.cluster}}
spire=${4:-${SPIRE_STATE_DIR:-}}
state_dir "${2:-${FULCIO_DIR:-$here/.fulcio}}"

log() { echo "[fulcio] $*" >&2; }

up() {
  if alive fulcio && [ -f "$dir/env" ]; then
    log "already running: $(grep FULCIO_URL "$dir/env")"
    return
  fi
  stop_one fulcio
  [ -f "$cluster/issuer" ] || { log "no $cluster/issuer: start the cluster with hack/cluster.sh up $cluster"; exit 1; }
  local bin port grpc metrics issuer url
  bin=$("$here/hack/tools.sh" fulcio)
  issuer=$(cat "$cluster/issuer")
  port=$(free_port)
  grpc=$(free_port)
  metrics=$(free_port)
  url="http://127.0.0.1:$port"
  local spiffe="" extra=""
  if [ -n "$spire" ]; then
    [ -f "$spire/issuer" ] || { log "no $spire/issuer: start SPIRE with hack/spire.sh up $spire"; exit 1; }
    spiffe=$(cat "$spire/issuer")
    extra=", \"$spiffe\": {\"IssuerURL\": \"$spiffe\", \"ClientID\": \"sigstore\", \"Type\": \"spiffe\", \"SPIFFETrustDomain\": \"chains.test\"}"
  fi
  cat >"$dir/config.json" <<JSON
{"OIDCIssuers": {"$issuer": {"IssuerURL": "$issuer", "ClientID": "sigstore", "Type": "kubernetes"}$extra}}
JSON
  log "starting Fulcio on $url (ephemeral CA, no CT log), trusting the issuer $issuer${spiffe:+ and the SPIRE issuer $spiffe}"
  rm -f "$dir/legacy-grpc.sock" # left by a Fulcio that was killed
  # The issuer serves its discovery over TLS with the cluster's test CA.
  SSL_CERT_FILE="$cluster/pki/ca.crt" "$bin" serve --ca ephemeralca --ct-log-url "" \
    --host 127.0.0.1 --port "$port" --grpc-host 127.0.0.1 --grpc-port "$grpc" \
    --metrics-port "$metrics" --legacy-unix-domain-socket "$dir/legacy-grpc.sock" \
    --config-path "$dir/config.json" >"$dir/fulcio.log" 2>&1 &
  echo $! >"$dir/fulcio.pid"
  wait_ready fulcio 10 curl -sf -o "$dir/root.pem" "$url/api/v1/rootCert" || exit 1
  cat >"$dir/env" <<ENV
FULCIO_URL=$url
FULCIO_ROOT=$dir/root.pem
FULCIO_ISSUER=$issuer
FULCIO_SPIFFE_ISSUER=$spiffe
ENV
  log "ready: FULCIO_URL=$url, root certificate $dir/root.pem"
}

case "$cmd" in
  up) up ;;
  stop) stop_one fulcio; log "stopped" ;;
  down) stop_one fulcio; rm -f "$dir/env" "$dir/root.pem" "$dir/legacy-grpc.sock"; log "stopped" ;;
  *) echo "usage: $0 up|down|stop [DIR] [CLUSTER_DIR] [SPIRE_DIR]" >&2; exit 2 ;;
esac

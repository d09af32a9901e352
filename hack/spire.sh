#!/usr/bin/env bash
# A real SPIRE on loopback: a server (trust domain chains.test, in-memory
# keys, SQLite), an agent attested with a join token, and SPIRE's OIDC
# discovery provider, so Fulcio can trust the server's JWT-SVIDs. One
# registration entry gives every process of this user (unix:uid) the SPIFFE
# ID of the chains signer: for the keyless `spiffe` token provider's tests.
#
#   hack/spire.sh up   [DIR]   start (idempotent), write DIR/env
#   hack/spire.sh down [DIR]   stop and remove state
#
# DIR/env holds SPIFFE_ENDPOINT_SOCKET (the agent's Workload API, a unix://
# URI), SPIRE_ISSUER (the JWT-SVIDs' issuer, http on loopback),
# SPIRE_TRUST_DOMAIN and SPIRE_ID (the SPIFFE ID the entry gives).
# The `issuer` file holds SPIRE_ISSUER alone (read by hack/fulcio.sh).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/lib.sh
. "$here/hack/lib.sh"
cmd=${1:-}
state_dir "${2:-${SPIRE_STATE_DIR:-$here/.spire}}"

log() { echo "[spire] $*" >&2; }

TD=chains.test
ID="spiffe://$TD/ns/tekton-chains/sa/tekton-chains-controller"

stop_all() { for p in oidc agent server; do stop_one "$p"; done; }

up() {
  if alive server && alive agent && alive oidc && [ -f "$dir/env" ]; then
    log "already running: $(grep SPIFFE_ENDPOINT_SOCKET "$dir/env")"
    return
  fi
  stop_all
  local bins port oidc token issuer
  bins=$("$here/hack/tools.sh" spire)
  port=$(free_port)
  oidc=$(free_port)
  issuer="http://127.0.0.1:$oidc"
  rm -rf "$dir/server" "$dir/agent" "$dir"/*.sock
  mkdir -p "$dir/server" "$dir/agent"
  cat >"$dir/server.conf" <<EOF
server {
  bind_address = "127.0.0.1"
  bind_port = "$port"
  socket_path = "$dir/server.sock"
  trust_domain = "$TD"
  data_dir = "$dir/server"
  log_level = "INFO"
  jwt_issuer = "$issuer"
}
plugins {
  DataStore "sql" {
    plugin_data {
      database_type = "sqlite3"
      connection_string = "$dir/server/datastore.sqlite3"
    }
  }
  NodeAttestor "join_token" { plugin_data {} }
  KeyManager "memory" { plugin_data {} }
}
EOF
  cat >"$dir/agent.conf" <<EOF
agent {
  data_dir = "$dir/agent"
  log_level = "INFO"
  server_address = "127.0.0.1"
  server_port = "$port"
  socket_path = "$dir/agent.sock"
  trust_domain = "$TD"
  insecure_bootstrap = true
}
plugins {
  NodeAttestor "join_token" { plugin_data {} }
  KeyManager "memory" { plugin_data {} }
  WorkloadAttestor "unix" { plugin_data {} }
}
EOF
  cat >"$dir/oidc.conf" <<EOF
log_level = "INFO"
domains = ["127.0.0.1"]
allow_insecure_scheme = true
insecure_addr = "127.0.0.1:$oidc"
server_api { address = "unix://$dir/server.sock" }
EOF
  log "starting spire-server on 127.0.0.1:$port (trust domain $TD)"
  "$bins/spire-server" run -config "$dir/server.conf" >"$dir/server.log" 2>&1 &
  echo $! >"$dir/server.pid"
  wait_ready server 30 "$bins/spire-server" healthcheck -socketPath "$dir/server.sock" || exit 1
  token=$("$bins/spire-server" token generate -socketPath "$dir/server.sock" -spiffeID "spiffe://$TD/agent" | awk '{print $2}')
  "$bins/spire-server" entry create -socketPath "$dir/server.sock" -parentID "spiffe://$TD/agent" \
    -spiffeID "$ID" -selector "unix:uid:$(id -u)" >/dev/null
  log "starting spire-agent (join token) and the OIDC discovery provider on $issuer"
  "$bins/spire-agent" run -config "$dir/agent.conf" -joinToken "$token" >"$dir/agent.log" 2>&1 &
  echo $! >"$dir/agent.pid"
  "$bins/oidc-discovery-provider" -config "$dir/oidc.conf" >"$dir/oidc.log" 2>&1 &
  echo $! >"$dir/oidc.pid"
  # Ready when this user gets a JWT-SVID (the agent syncs entries every 5 s)
  # and the discovery document names the issuer.
  local ok=""
  for _ in $(seq 300); do
    if "$bins/spire-agent" api fetch jwt -audience sigstore -socketPath "$dir/agent.sock" >/dev/null 2>&1 &&
      curl -sf "$issuer/.well-known/openid-configuration" | grep -q "\"$issuer\""; then
      ok=1
      break
    fi
    for p in server agent oidc; do
      alive "$p" || { log "$p exited; log: $dir/$p.log"; tail -5 "$dir/$p.log" >&2; exit 1; }
    done
    sleep 0.1
  done
  [ -n "$ok" ] || { log "no JWT-SVID after 30 s; logs in $dir"; exit 1; }
  echo "$issuer" >"$dir/issuer"
  cat >"$dir/env" <<ENV
SPIFFE_ENDPOINT_SOCKET=unix://$dir/agent.sock
SPIRE_ISSUER=$issuer
SPIRE_TRUST_DOMAIN=$TD
SPIRE_ID=$ID
ENV
  log "ready: SPIFFE_ENDPOINT_SOCKET=unix://$dir/agent.sock, issuer $issuer, $ID for uid $(id -u)"
}

case "$cmd" in
  up) up ;;
  down) stop_all; rm -rf "$dir/env" "$dir/issuer" "$dir/server" "$dir/agent" "$dir"/*.sock; log "stopped" ;;
  *) echo "usage: $0 up|down [DIR]" >&2; exit 2 ;;
esac

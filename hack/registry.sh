#!/usr/bin/env bash
# Two real OCI registries (distribution) on loopback, for tests and people:
# - "open": plain http, no auth;
# - "auth": TLS with a self-signed CA, htpasswd basic auth (user `chains`,
#   password `chains-test-pw`: test-only credentials).
#
#   hack/registry.sh up   [DIR]   start (idempotent), write DIR/env
#   hack/registry.sh down [DIR]   stop and remove state
#   hack/registry.sh stop  [DIR]  stop both, keeping data, ports and certs (outage tests)
#   hack/registry.sh start [DIR]  start them again: same ports, config and data
#
# DIR/env holds REGISTRY_OPEN, REGISTRY_AUTH (host:port), REGISTRY_CA (PEM),
# REGISTRY_USER and REGISTRY_PASSWORD. The binary comes from hack/tools.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/lib.sh
. "$here/hack/lib.sh"
cmd=${1:-}
state_dir "${2:-${REGISTRY_DIR:-$here/.registry}}"

log() { echo "[registry] $*" >&2; }

# Both get SIGTERM at once, then up to 3 s together before SIGKILL (this
# distribution build does not always exit on SIGTERM).
stop() {
  for r in open auth; do
    if alive "$r"; then kill "$(cat "$dir/$r.pid")" 2>/dev/null || true; fi
  done
  for _ in $(seq 30); do
    alive open || alive auth || break
    sleep 0.1
  done
  for r in open auth; do
    if alive "$r"; then kill -9 "$(cat "$dir/$r.pid")" 2>/dev/null || true; fi
    for _ in $(seq 20); do alive "$r" || break; sleep 0.05; done
    rm -f "$dir/$r.pid"
  done
}

# answering OPEN_HOST AUTH_HOST: waits up to 10 s until the open registry
# answers /v2/ and the auth one asks for credentials (401); false when either
# dies or the time runs out.
answering() {
  for _ in $(seq 100); do
    if curl -sf "http://$1/v2/" >/dev/null 2>&1 &&
      [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$dir/pki/ca.crt" "https://$2/v2/")" = 401 ]; then
      return 0
    fi
    if ! alive open || ! alive auth; then return 1; fi
    sleep 0.1
  done
  return 1
}

certs() { loopback_certs "$dir/pki" registry; }

# start NAME PORT EXTRA_YAML
start() {
  local name=$1 port=$2 extra=$3
  mkdir -p "$dir/$name-data"
  cat >"$dir/$name.yml" <<YAML
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/$name-data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
$extra
YAML
  "$bin" serve "$dir/$name.yml" >"$dir/$name.log" 2>&1 &
  echo $! >"$dir/$name.pid"
}

up() {
  if alive open && alive auth && [ -f "$dir/env" ]; then
    log "already running: $(tr '\n' ' ' <"$dir/env")"
    return
  fi
  stop
  bin=$("$here/hack/tools.sh" registry)
  certs
  # bcrypt of the test-only password `chains-test-pw`.
  echo 'chains:$2b$05$XdJXCC3XAFM0lOGw5Nk7ZelwyoNCDQbNroxywt7JlhQ6YyitvvBf.' >"$dir/htpasswd"
  local open_port auth_port
  open_port=$(free_port); auth_port=$(free_port)
  rm -rf "$dir/open-data" "$dir/auth-data"
  log "starting the open registry on http://127.0.0.1:$open_port"
  start open "$open_port" ""
  log "starting the auth registry on https://127.0.0.1:$auth_port (htpasswd, CA $dir/pki/ca.crt)"
  start auth "$auth_port" "  tls:
    certificate: $dir/pki/server.crt
    key: $dir/pki/server.key
auth:
  htpasswd:
    realm: chains-test
    path: $dir/htpasswd"
  if answering "127.0.0.1:$open_port" "127.0.0.1:$auth_port"; then
    cat >"$dir/env" <<ENV
REGISTRY_OPEN=127.0.0.1:$open_port
REGISTRY_AUTH=127.0.0.1:$auth_port
REGISTRY_CA=$dir/pki/ca.crt
REGISTRY_USER=chains
REGISTRY_PASSWORD=chains-test-pw
ENV
    log "ready: $(tr '\n' ' ' <"$dir/env")"
    return
  fi
  log "the registries did not start; logs: $dir/open.log $dir/auth.log"
  tail -5 "$dir/open.log" "$dir/auth.log" >&2 || true
  stop
  exit 1
}

# Starts the registries of an earlier `up` again from their config files
# (same ports, certs and data; logs appended), and waits until both answer.
start_again() {
  if [ ! -f "$dir/env" ] || [ ! -f "$dir/open.yml" ] || [ ! -f "$dir/auth.yml" ]; then
    log "no registries set up in $dir (start them with: $0 up $dir)"
    exit 1
  fi
  bin=$("$here/hack/tools.sh" registry)
  for r in open auth; do
    if ! alive "$r"; then
      "$bin" serve "$dir/$r.yml" >>"$dir/$r.log" 2>&1 &
      echo $! >"$dir/$r.pid"
    fi
  done
  if answering "$(sed -n 's/^REGISTRY_OPEN=//p' "$dir/env")" "$(sed -n 's/^REGISTRY_AUTH=//p' "$dir/env")"; then
    log "ready again: $(tr '\n' ' ' <"$dir/env")"
    return
  fi
  log "the registries did not start again; logs: $dir/open.log $dir/auth.log"
  tail -5 "$dir/open.log" "$dir/auth.log" >&2 || true
  exit 1
}

case "$cmd" in
  up) up ;;
  stop) stop; log "stopped (data kept; start again with: $0 start $dir)" ;;
  start) start_again ;;
  down) stop; rm -rf "$dir/open-data" "$dir/auth-data" "$dir/env"; log "stopped" ;;
  *) echo "usage: $0 up|down|stop|start [DIR]" >&2; exit 2 ;;
esac

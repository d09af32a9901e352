#!/usr/bin/env bash
# A real Vault server on loopback, dev mode (in memory), with the Transit
# engine and one signing key per type chains can sign with, for hashivault://
# KMS tests and `make run SIGNER=kms`.
#
#   hack/vault.sh up   [DIR]   start (idempotent), write DIR/env
#   hack/vault.sh down [DIR]   stop and remove state
#   hack/vault.sh stop [DIR]   stop it, keeping the env (an outage; dev mode forgets its keys)
#
# DIR/env holds VAULT_ADDR, VAULT_TOKEN (the dev root token: test-only),
# VAULT_BIN and VAULT_KEYS (the Transit keys: chains-p256, chains-p384,
# chains-ed25519, chains-rsa). The binary comes from hack/tools.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/lib.sh
. "$here/hack/lib.sh"
cmd=${1:-}
state_dir "${2:-${VAULT_DIR:-$here/.vault}}"

log() { echo "[vault] $*" >&2; }

TOKEN=chains-test-root
KEYS="chains-p256:ecdsa-p256 chains-p384:ecdsa-p384 chains-ed25519:ed25519 chains-rsa:rsa-2048"

up() {
  if alive vault && [ -f "$dir/env" ]; then
    log "already running: $(grep VAULT_ADDR "$dir/env")"
    return
  fi
  stop_one vault
  local bin port addr
  bin=$("$here/hack/tools.sh" vault)
  port=$(free_port)
  addr="http://127.0.0.1:$port"
  log "starting $("$bin" version | head -1) on $addr (dev mode)"
  "$bin" server -dev -dev-root-token-id="$TOKEN" -dev-listen-address="127.0.0.1:$port" >"$dir/vault.log" 2>&1 &
  echo $! >"$dir/vault.pid"
  wait_ready vault 10 curl -sf "$addr/v1/sys/health" || exit 1
  export VAULT_ADDR=$addr VAULT_TOKEN=$TOKEN
  "$bin" secrets enable transit >/dev/null
  local names=()
  for kt in $KEYS; do
    "$bin" write -f "transit/keys/${kt%%:*}" type="${kt#*:}" >/dev/null
    names+=("${kt%%:*}")
  done
  cat >"$dir/env" <<ENV
VAULT_ADDR=$addr
VAULT_TOKEN=$TOKEN
VAULT_BIN=$bin
VAULT_KEYS="${names[*]}"
ENV
  log "ready: VAULT_ADDR=$addr, Transit keys ${names[*]}"
}

case "$cmd" in
  up) up ;;
  stop) stop_one vault; log "stopped" ;;
  down) stop_one vault; rm -f "$dir/env"; log "stopped" ;;
  *) echo "usage: $0 up|down|stop [DIR]" >&2; exit 2 ;;
esac

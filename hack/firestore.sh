#!/usr/bin/env bash
# Google's Cloud Firestore emulator on loopback (the one the gcloud SDK
# ships, Java; in memory), for docdb firestore:// storage tests. It is not
# on any registry this machine reaches, so it is used where installed:
# FIRESTORE_EMULATOR_BIN, else the gcloud SDK's
# platform/cloud-firestore-emulator/cloud_firestore_emulator.
#
#   hack/firestore.sh up   [DIR]   start (idempotent), write DIR/env
#   hack/firestore.sh down [DIR]   stop and remove state
#
# FIRESTORE_PORT picks its port (default: a free one). DIR/env holds
# FIRESTORE_EMULATOR_HOST (host:port, as Google's client libraries and the
# signer read it), or FIRESTORE_MISSING (why there is none: tests skip).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/lib.sh
. "$here/hack/lib.sh"
cmd=${1:-}
state_dir "${2:-${FIRESTORE_DIR:-$here/.firestore}}"

log() { echo "[firestore] $*" >&2; }

find_emulator() {
  if [ -n "${FIRESTORE_EMULATOR_BIN:-}" ]; then echo "$FIRESTORE_EMULATOR_BIN"; return; fi
  local sdk
  sdk=$(gcloud info --format='value(installation.sdk_root)' 2>/dev/null || true)
  for root in "$sdk" /usr/lib/google-cloud-sdk /usr/share/google-cloud-sdk /opt/google-cloud-sdk; do
    local bin="$root/platform/cloud-firestore-emulator/cloud_firestore_emulator"
    if [ -n "$root" ] && [ -x "$bin" ]; then echo "$bin"; return; fi
  done
}

up() {
  if alive firestore && [ -f "$dir/env" ]; then
    log "already running: $(cat "$dir/env")"
    return
  fi
  stop_one firestore
  local bin port t0
  bin=$(find_emulator)
  if [ -z "$bin" ] || ! command -v "${JAVA:-java}" >/dev/null 2>&1; then
    local why="no Firestore emulator (install google-cloud-cli-firestore-emulator, or set FIRESTORE_EMULATOR_BIN) or no java"
    log "$why: firestore tests skip"
    echo "FIRESTORE_MISSING=\"$why\"" >"$dir/env"
    return
  fi
  # A free port can be taken before the JVM binds it (CI once met
  # BindException): then another port, three tries in all.
  local try
  for try in 1 2 3; do
    port=${FIRESTORE_PORT:-$(free_port)}
    t0=$(date +%s%N)
    log "starting the Firestore emulator ($bin) on 127.0.0.1:$port"
    "$bin" start --host=127.0.0.1 --port="$port" >"$dir/firestore.log" 2>&1 &
    echo $! >"$dir/firestore.pid"
    wait_ready firestore 60 curl -sf -o /dev/null "http://127.0.0.1:$port/" && break
    stop_one firestore
    if [ "$try" = 3 ] || [ -n "${FIRESTORE_PORT:-}" ] || ! grep -q BindException "$dir/firestore.log"; then exit 1; fi
    log "port $port was taken meanwhile; another"
  done
  echo "FIRESTORE_EMULATOR_HOST=127.0.0.1:$port" >"$dir/env"
  log "ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms: FIRESTORE_EMULATOR_HOST=127.0.0.1:$port"
}

case "$cmd" in
  up) up ;;
  down) stop_one firestore; rm -f "$dir/env"; log "stopped" ;;
  *) echo "usage: $0 up|down [DIR]" >&2; exit 2 ;;
esac

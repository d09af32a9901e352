#!/usr/bin/env bash
# A real GCS JSON API server on loopback (fsouza/fake-gcs-server, in
# memory, plain HTTP) with one bucket, for gcs storage tests.
#
#   hack/gcs.sh up   [DIR]   start (idempotent), write DIR/env
#   hack/gcs.sh down [DIR]   stop and remove state
#   hack/gcs.sh stop [DIR]   stop it, keeping the env (an outage)
#
# GCS_PORT picks its port (default: a free one).
# DIR/env holds STORAGE_EMULATOR_HOST (host:port, as Google's client
# libraries and the signer read it) and GCS_BUCKET (the bucket made here).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/lib.sh
. "$here/hack/lib.sh"
cmd=${1:-}
state_dir "${2:-${GCS_DIR:-$here/.gcs}}"

log() { echo "[gcs] $*" >&2; }

BUCKET=chains-signatures

up() {
  if alive fake-gcs-server && [ -f "$dir/env" ]; then
    log "already running: $(grep STORAGE_EMULATOR_HOST "$dir/env")"
    return
  fi
  stop_one fake-gcs-server
  local bin port addr t0
  bin=$("$here/hack/tools.sh" fake-gcs-server)
  port=${GCS_PORT:-$(free_port)}
  addr="127.0.0.1:$port"
  t0=$(date +%s%N)
  log "starting fake-gcs-server on http://$addr (in memory)"
  # The bucket is preloaded (a folder under -data), so it exists from the
  # server's first request: a signer retrying against a restarted server
  # never sees a bucketless 404.
  rm -rf "$dir/data"; mkdir -p "$dir/data/$BUCKET"
  "$bin" -scheme http -host 127.0.0.1 -port "$port" -public-host "$addr" -backend memory \
    -data "$dir/data" -log-level warn >"$dir/fake-gcs-server.log" 2>&1 &
  echo $! >"$dir/fake-gcs-server.pid"
  wait_ready fake-gcs-server 20 curl -sf -o /dev/null "http://$addr/storage/v1/b" || exit 1
  cat >"$dir/env" <<ENV
STORAGE_EMULATOR_HOST=$addr
GCS_BUCKET=$BUCKET
ENV
  log "ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms: STORAGE_EMULATOR_HOST=$addr, bucket $BUCKET"
}

case "$cmd" in
  up) up ;;
  stop) stop_one fake-gcs-server; log "stopped" ;;
  down) stop_one fake-gcs-server; rm -f "$dir/env"; log "stopped" ;;
  *) echo "usage: $0 up|down|stop [DIR]" >&2; exit 2 ;;
esac

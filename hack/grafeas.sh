#!/usr/bin/env bash
# A Grafeas v1 API server on loopback (Grafeas's own go/v1/api, served by
# hack/grafeas in memory over its REST gateway, plain HTTP), for grafeas
# storage tests.
#
#   hack/grafeas.sh up   [DIR]   start (idempotent), write DIR/env
#   hack/grafeas.sh down [DIR]   stop and remove state
#   hack/grafeas.sh stop [DIR]   stop it, keeping the env (an outage)
#
# GRAFEAS_PORT picks its port (default: a free one).
# DIR/env holds GRAFEAS_SERVER (host:port, as the signer reads it).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/lib.sh
. "$here/hack/lib.sh"
cmd=${1:-}
state_dir "${2:-${GRAFEAS_DIR:-$here/.grafeas}}"

log() { echo "[grafeas] $*" >&2; }

up() {
  if alive grafeas && [ -f "$dir/env" ]; then
    log "already running: $(cat "$dir/env")"
    return
  fi
  stop_one grafeas
  local bin port addr t0
  bin=$("$here/hack/tools.sh" grafeas)
  port=${GRAFEAS_PORT:-$(free_port)}
  addr="127.0.0.1:$port"
  t0=$(date +%s%N)
  log "starting the Grafeas v1 API on http://$addr (in memory)"
  "$bin" -addr "$addr" >"$dir/grafeas.log" 2>&1 &
  echo $! >"$dir/grafeas.pid"
  wait_ready grafeas 20 curl -sf -o /dev/null "http://$addr/v1/projects/ready/notes" || exit 1
  echo "GRAFEAS_SERVER=$addr" >"$dir/env"
  log "ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms: GRAFEAS_SERVER=$addr"
}

case "$cmd" in
  up) up ;;
  stop) stop_one grafeas; log "stopped" ;;
  down) stop_one grafeas; rm -f "$dir/env"; log "stopped" ;;
  *) echo "usage: $0 up|down|stop [DIR]" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# A real token-auth (Bearer) OCI registry on loopback: Gitea's container
# registry (code.gitea.io/gitea, built by hack/tools.sh), over TLS with a
# self-signed CA. `GET /v2/` answers 401 with
# `Www-Authenticate: Bearer realm="https://…/v2/token",service="container_registry"`;
# its token endpoint takes Basic credentials and gives a JWT (24 h).
#
#   hack/gitea.sh up     [DIR]   start (idempotent), write DIR/env
#   hack/gitea.sh down   [DIR]   stop and remove state
#   hack/gitea.sh rotate [DIR]   restart with a new token signing secret:
#                                every token given so far is refused (401)
#                                from then on, as an expired one is
#
# DIR/env holds GITEA_REGISTRY (host:port), GITEA_CA (PEM), GITEA_USER and
# GITEA_PASSWORD (test-only: the owner `chains`, pushes and pulls its
# packages), and GITEA_READ_TOKEN (an access token of that user scoped
# `read:package`: its registry tokens pull but never push).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/lib.sh
. "$here/hack/lib.sh"
cmd=${1:-}
state_dir "${2:-${GITEA_DIR:-$here/.gitea}}"

log() { echo "[gitea] $*" >&2; }

certs() { loopback_certs "$dir/pki" gitea; }

# secret: 32 random bytes, base64url without padding (what Gitea's JWT_SECRET is).
secret() { head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'; }

# config PORT: app.ini (sqlite, packages on, TLS, no mail, no sign-up).
config() {
  local port=$1
  mkdir -p "$dir/data" "$dir/custom/conf" "$dir/log"
  cat >"$dir/custom/conf/app.ini" <<INI
APP_NAME = chains-test
RUN_MODE = prod
WORK_PATH = $dir/data

[server]
PROTOCOL = https
HTTP_ADDR = 127.0.0.1
HTTP_PORT = $port
DOMAIN = 127.0.0.1
ROOT_URL = https://127.0.0.1:$port/
CERT_FILE = $dir/pki/server.crt
KEY_FILE = $dir/pki/server.key
STATIC_ROOT_PATH = $static
APP_DATA_PATH = $dir/data
DISABLE_SSH = true
OFFLINE_MODE = true

[database]
DB_TYPE = sqlite3
PATH = $dir/data/gitea.db

[security]
INSTALL_LOCK = true
SECRET_KEY = $(secret)
INTERNAL_TOKEN = $(secret)$(secret)

[oauth2]
JWT_SECRET = $(secret)

[service]
DISABLE_REGISTRATION = true

[packages]
ENABLED = true

[log]
ROOT_PATH = $dir/log
MODE = file
LEVEL = Warn

[mailer]
ENABLED = false
INI
}

run_gitea() {
  GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT=true GITEA_WORK_DIR="$dir/data" GITEA_CUSTOM="$dir/custom" \
    "$bin" --config "$dir/custom/conf/app.ini" "$@"
}

# Not through run_gitea: $! must be gitea's own pid.
start() {
  GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT=true GITEA_WORK_DIR="$dir/data" GITEA_CUSTOM="$dir/custom" \
    "$bin" --config "$dir/custom/conf/app.ini" web >>"$dir/gitea.log" 2>&1 &
  echo $! >"$dir/gitea.pid"
}

# answering PORT: waits up to 30 s until /v2/ asks for a Bearer token.
answering() {
  for _ in $(seq 300); do
    if curl -s -D - -o /dev/null --cacert "$dir/pki/ca.crt" "https://127.0.0.1:$1/v2/" 2>/dev/null |
      grep -qi '^www-authenticate: bearer'; then
      return 0
    fi
    alive gitea || return 1
    sleep 0.1
  done
  return 1
}

stop() {
  if alive gitea; then kill "$(cat "$dir/gitea.pid")" 2>/dev/null || true; fi
  for _ in $(seq 50); do alive gitea || break; sleep 0.1; done
  if alive gitea; then kill -9 "$(cat "$dir/gitea.pid")" 2>/dev/null || true; fi
  rm -f "$dir/gitea.pid"
}

up() {
  if alive gitea && [ -f "$dir/env" ]; then
    log "already running: $(grep -v PASSWORD "$dir/env" | grep -v TOKEN | tr '\n' ' ')"
    return
  fi
  stop
  bin=$("$here/hack/tools.sh" gitea)
  static=$(dirname "$bin")
  rm -rf "$dir/data" "$dir/custom" "$dir/log"
  certs
  local port
  port=$(free_port)
  config "$port"
  log "migrating the database"
  run_gitea migrate >>"$dir/gitea.log" 2>&1
  # Test-only credentials.
  run_gitea admin user create --username chains --password chains-test-pw --email chains@example.com \
    --admin --must-change-password=false >>"$dir/gitea.log" 2>&1
  local read_token
  read_token=$(run_gitea admin user generate-access-token --username chains --token-name pull-only \
    --scopes read:package --raw 2>>"$dir/gitea.log" | tail -1)
  log "starting on https://127.0.0.1:$port (token auth, CA $dir/pki/ca.crt)"
  start
  if answering "$port"; then
    cat >"$dir/env" <<ENV
GITEA_REGISTRY=127.0.0.1:$port
GITEA_CA=$dir/pki/ca.crt
GITEA_USER=chains
GITEA_PASSWORD=chains-test-pw
GITEA_READ_TOKEN=$read_token
ENV
    log "ready: GITEA_REGISTRY=127.0.0.1:$port"
    return
  fi
  log "gitea did not start; log: $dir/gitea.log"
  tail -20 "$dir/gitea.log" >&2 || true
  stop
  exit 1
}

rotate() {
  [ -f "$dir/env" ] || { log "not set up in $dir (start it with: $0 up $dir)"; exit 1; }
  bin=$("$here/hack/tools.sh" gitea)
  stop
  sed -i "s|^JWT_SECRET = .*|JWT_SECRET = $(secret)|" "$dir/custom/conf/app.ini"
  start
  local port
  port=$(sed -n 's/^GITEA_REGISTRY=127.0.0.1://p' "$dir/env")
  answering "$port" || { log "gitea did not come back; log: $dir/gitea.log"; exit 1; }
  log "restarted with a new token signing secret: earlier tokens are refused"
}

case "$cmd" in
  up) up ;;
  down) stop; rm -rf "$dir" ;;
  rotate) rotate ;;
  *) echo "usage: $0 up|down|rotate [DIR]" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# A real Rekor v1 transparency log on loopback, as Rekor's own docker-compose
# runs it, without docker:
# - MariaDB (Debian) for Trillian's storage and Rekor's search index;
# - Trillian trillian_log_server + trillian_log_signer --force_master;
# - rekor-server with a file signer key and attestation storage in DIR.
#
#   hack/rekor.sh up    [DIR]   start (idempotent), write DIR/env
#   hack/rekor.sh down  [DIR]   stop and remove state
#   hack/rekor.sh stop-server  [DIR]   stop rekor-server only (outage tests)
#   hack/rekor.sh start-server [DIR]   start it again: same URL, key and log
#
# DIR/env holds REKOR_URL, REKOR_PUBLIC_KEY (PEM file, for
# SIGSTORE_REKOR_PUBLIC_KEY) and REKOR_CLI. Binaries come from hack/tools.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/lib.sh
. "$here/hack/lib.sh"
cmd=${1:-}
state_dir "${2:-${REKOR_DIR:-$here/.rekor}}"

log() { echo "[rekor] $*" >&2; }

PROCS="rekor signer logserver mariadb"


stop() { for p in $PROCS; do stop_one "$p" 100; done; }

sql() { "$maria/usr/bin/mariadb" --no-defaults --socket="$dir/mysql.sock" -uroot "$@"; }

start_mariadb() {
  export LD_LIBRARY_PATH="$maria/usr/lib/x86_64-linux-gnu:$maria/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  if [ ! -d "$dir/mysql-data/mysql" ]; then
    log "MariaDB: initialising $dir/mysql-data"
    rm -rf "$dir/mysql-data"
    "$maria/usr/bin/mariadb-install-db" --no-defaults --basedir="$maria/usr" --datadir="$dir/mysql-data" \
      --user="$(id -un)" --auth-root-authentication-method=normal --skip-test-db >"$dir/mariadb-install.log" 2>&1
  fi
  "$maria/usr/sbin/mariadbd" --no-defaults --basedir="$maria/usr" --datadir="$dir/mysql-data" \
    --lc-messages-dir="$maria/usr/share/mysql" --user="$(id -un)" \
    --socket="$dir/mysql.sock" --bind-address=127.0.0.1 --port="$db_port" \
    --pid-file="$dir/mariadbd.pid" --skip-log-bin --innodb-buffer-pool-size=64M \
    --innodb-flush-log-at-trx-commit=2 --max-connections=500 >"$dir/mariadb.log" 2>&1 &
  echo $! >"$dir/mariadb.pid"
  wait_ready mariadb 60 sql -e 'SELECT 1'
  sql <<SQL
CREATE DATABASE IF NOT EXISTS trillian;
CREATE DATABASE IF NOT EXISTS rekor;
CREATE USER IF NOT EXISTS 'rekor'@'127.0.0.1' IDENTIFIED BY 'rekor-test-pw';
GRANT ALL ON trillian.* TO 'rekor'@'127.0.0.1';
GRANT ALL ON rekor.* TO 'rekor'@'127.0.0.1';
SQL
  sql trillian <"$bins/trillian.sql"
}

start_trillian() {
  local uri="rekor:rekor-test-pw@tcp(127.0.0.1:$db_port)/trillian"
  "$bins/trillian_log_server" --storage_system=mysql --mysql_uri="$uri" \
    --rpc_endpoint="127.0.0.1:$log_port" --http_endpoint="" --alsologtostderr >"$dir/logserver.log" 2>&1 &
  echo $! >"$dir/logserver.pid"
  "$bins/trillian_log_signer" --storage_system=mysql --mysql_uri="$uri" --force_master \
    --rpc_endpoint="127.0.0.1:$(free_port)" --http_endpoint="" --alsologtostderr >"$dir/signer.log" 2>&1 &
  echo $! >"$dir/signer.pid"
  wait_ready logserver 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$log_port"
}

# Starts rekor-server on $rekor_port; the first start creates the tree and
# saves its id, so later starts (start-server) serve the same log.
start_rekor() {
  local tree=0
  [ -f "$dir/tree-id" ] && tree=$(cat "$dir/tree-id")
  mkdir -p "$dir/attestations"
  "$bins/rekor-server" serve --rekor_server.address=127.0.0.1 --port="$rekor_port" \
    --trillian_log_server.address=127.0.0.1 --trillian_log_server.port="$log_port" \
    --trillian_log_server.tlog_id="$tree" \
    --rekor_server.signer="$dir/signer.pem" \
    --enable_attestation_storage --attestation_storage_bucket="file://$dir/attestations" \
    --search_index.storage_provider=mysql \
    --search_index.mysql.dsn="rekor:rekor-test-pw@tcp(127.0.0.1:$db_port)/rekor" \
    --log_type=prod >>"$dir/rekor.log" 2>&1 &
  echo $! >"$dir/rekor.pid"
  wait_ready rekor 60 curl -sf "http://127.0.0.1:$rekor_port/api/v1/log"
  if [ ! -f "$dir/tree-id" ]; then
    curl -sf "http://127.0.0.1:$rekor_port/api/v1/log" | jq -r .treeID >"$dir/tree-id"
  fi
}

up() {
  if alive rekor && alive mariadb && [ -f "$dir/env" ]; then
    log "already running: $(tr '\n' ' ' <"$dir/env")"
    return
  fi
  stop
  bins=$("$here/hack/tools.sh" rekor)
  maria=$("$here/hack/tools.sh" mariadb)
  rm -rf "$dir/mysql-data" "$dir/attestations" "$dir/tree-id"
  [ -f "$dir/signer.pem" ] || openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null |
    openssl pkcs8 -topk8 -nocrypt -out "$dir/signer.pem"
  db_port=$(free_port); log_port=$(free_port); rekor_port=$(free_port)
  printf 'bins=%s\nmaria=%s\ndb_port=%s\nlog_port=%s\nrekor_port=%s\n' \
    "$bins" "$maria" "$db_port" "$log_port" "$rekor_port" >"$dir/ports"
  log "MariaDB on 127.0.0.1:$db_port"
  start_mariadb
  log "Trillian log server on 127.0.0.1:$log_port, signer (--force_master)"
  start_trillian
  log "rekor-server on 127.0.0.1:$rekor_port"
  start_rekor
  curl -sf "http://127.0.0.1:$rekor_port/api/v1/log/publicKey" >"$dir/rekor.pub"
  cat >"$dir/env" <<ENV
REKOR_URL=http://127.0.0.1:$rekor_port
REKOR_PUBLIC_KEY=$dir/rekor.pub
REKOR_CLI=$bins/rekor-cli
ENV
  log "ready: $(tr '\n' ' ' <"$dir/env")"
}

case "$cmd" in
  up) up ;;
  down) stop; rm -rf "$dir" ;;
  stop-server) stop_one rekor 100 ;;
  start-server)
    # shellcheck disable=SC1091
    . "$dir/ports"
    alive rekor || start_rekor
    ;;
  *) echo "usage: $0 up|down|stop-server|start-server [DIR]" >&2; exit 2 ;;
esac

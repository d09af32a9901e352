#!/usr/bin/env bash
# A real Archivista server on loopback (in-toto/archivista, plain HTTP) with
# its MySQL metadata store on a MariaDB of its own and its blobs in files,
# for archivista storage tests.
#
#   hack/archivista.sh up   [DIR]   start (idempotent), write DIR/env
#   hack/archivista.sh down [DIR]   stop and remove state
#   hack/archivista.sh stop [DIR]   stop Archivista only, keeping the env (an outage)
#
# ARCHIVISTA_PORT picks its port (default: a free one).
# DIR/env holds ARCHIVISTA_URL (http://host:port, for storage.archivista.url).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/lib.sh
. "$here/hack/lib.sh"
cmd=${1:-}
state_dir "${2:-${ARCHIVISTA_DIR:-$here/.archivista}}"

log() { echo "[archivista] $*" >&2; }

sql() { "$maria/usr/bin/mariadb" --no-defaults --socket="$dir/mysql.sock" -uroot "$@"; }

start_mariadb() {
  maria=$("$here/hack/tools.sh" mariadb)
  export LD_LIBRARY_PATH="$maria/usr/lib/x86_64-linux-gnu:$maria/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  if alive mariadb && sql -e 'SELECT 1' >/dev/null 2>&1; then return; fi
  stop_one mariadb
  rm -rf "$dir/mysql-data"
  "$maria/usr/bin/mariadb-install-db" --no-defaults --basedir="$maria/usr" --datadir="$dir/mysql-data" \
    --user="$(id -un)" --auth-root-authentication-method=normal --skip-test-db >"$dir/mariadb-install.log" 2>&1
  db_port=$(free_port)
  "$maria/usr/sbin/mariadbd" --no-defaults --basedir="$maria/usr" --datadir="$dir/mysql-data" \
    --lc-messages-dir="$maria/usr/share/mysql" --user="$(id -un)" \
    --socket="$dir/mysql.sock" --bind-address=127.0.0.1 --port="$db_port" \
    --skip-log-bin --innodb-buffer-pool-size=32M --innodb-flush-log-at-trx-commit=2 >"$dir/mariadb.log" 2>&1 &
  echo $! >"$dir/mariadb.pid"
  wait_ready mariadb 60 sql -e 'SELECT 1' || exit 1
  sql <<SQL
CREATE DATABASE IF NOT EXISTS archivista;
CREATE USER IF NOT EXISTS 'archivista'@'127.0.0.1' IDENTIFIED BY 'archivista-test-pw';
GRANT ALL ON archivista.* TO 'archivista'@'127.0.0.1';
SQL
  echo "$db_port" >"$dir/db-port"
}

up() {
  if alive archivista && [ -f "$dir/env" ]; then
    log "already running: $(cat "$dir/env")"
    return
  fi
  stop_one archivista
  local bin port t0
  t0=$(date +%s%N)
  bin=$("$here/hack/tools.sh" archivista)
  start_mariadb
  port=${ARCHIVISTA_PORT:-$(free_port)}
  mkdir -p "$dir/files"
  log "starting Archivista on http://127.0.0.1:$port (MySQL on MariaDB, files in $dir/files)"
  ARCHIVISTA_LISTEN_ON="tcp://127.0.0.1:$port" ARCHIVISTA_ENABLE_SPIFFE=false \
    ARCHIVISTA_SQL_STORE_BACKEND=MYSQL \
    ARCHIVISTA_SQL_STORE_CONNECTION_STRING="archivista:archivista-test-pw@tcp(127.0.0.1:$(cat "$dir/db-port"))/archivista?parseTime=true" \
    ARCHIVISTA_STORAGE_BACKEND=FILE ARCHIVISTA_FILE_DIR="$dir/files" ARCHIVISTA_FILE_SERVE_ON="127.0.0.1:$(free_port)" \
    ARCHIVISTA_GRAPHQL_WEB_CLIENT_ENABLE=false \
    "$bin" >"$dir/archivista.log" 2>&1 &
  echo $! >"$dir/archivista.pid"
  # Ready once it answers HTTP (an unknown gitoid: 404 or 500, not refused).
  wait_ready archivista 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" || exit 1
  echo "ARCHIVISTA_URL=http://127.0.0.1:$port" >"$dir/env"
  log "ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms: ARCHIVISTA_URL=http://127.0.0.1:$port"
}

case "$cmd" in
  up) up ;;
  stop) stop_one archivista; log "stopped" ;;
  down) stop_one archivista; stop_one mariadb; rm -rf "$dir/env" "$dir/mysql-data" "$dir/files"; log "stopped" ;;
  *) echo "usage: $0 up|down|stop [DIR]" >&2; exit 2 ;;
esac

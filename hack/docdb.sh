#!/usr/bin/env bash
# Real document stores on loopback for docdb storage tests:
#   - FerretDB (the MongoDB wire protocol, SQLite under DIR/sqlite), for mongo://;
#   - moto's server (DynamoDB), with table chains keyed by Name, for dynamodb://.
#
#   hack/docdb.sh up    [DIR]   start both (idempotent), write DIR/env
#   hack/docdb.sh mongo [DIR]   start FerretDB only (a second server), write DIR/env
#   hack/docdb.sh down  [DIR]   stop and remove state
#
# MONGO_PORT and DYNAMODB_PORT pick the ports (default: free ones).
# DIR/env holds MONGO_SERVER_URL (mongodb://127.0.0.1:PORT/), and after
# `up` DYNAMODB_ENDPOINT (http://127.0.0.1:PORT) and DYNAMODB_TABLE.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/lib.sh
. "$here/hack/lib.sh"
cmd=${1:-}
state_dir "${2:-${DOCDB_DIR:-$here/.docdb}}"

log() { echo "[docdb] $*" >&2; }

TABLE=chains

start_mongo() {
  stop_one ferretdb
  local bin port t0
  bin=$("$here/hack/tools.sh" ferretdb)
  port=${MONGO_PORT:-$(free_port)}
  t0=$(date +%s%N)
  rm -rf "$dir/sqlite"; mkdir -p "$dir/sqlite"
  (cd "$dir" && exec "$bin" --handler=sqlite --sqlite-url="file:$dir/sqlite/" --listen-addr="127.0.0.1:$port" \
    --debug-addr=- --telemetry=disable --state-dir="$dir" --log-level=warn) >"$dir/ferretdb.log" 2>&1 &
  echo $! >"$dir/ferretdb.pid"
  wait_ready ferretdb 30 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" || exit 1
  echo "MONGO_SERVER_URL=mongodb://127.0.0.1:$port/" >"$dir/env.mongo"
  log "ferretdb ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms: mongodb://127.0.0.1:$port/ (SQLite in $dir/sqlite)"
}

# A DynamoDB call to moto (it checks no signatures; the region comes from the credential scope).
dynamo() { # TARGET JSON
  curl -sf -X POST "$DYNAMODB_ENDPOINT" -H "X-Amz-Target: DynamoDB_20120810.$1" \
    -H 'Content-Type: application/x-amz-json-1.0' \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0' \
    -d "$2"
}

start_dynamodb() {
  stop_one moto
  local bin port t0
  bin=$("$here/hack/tools.sh" moto)
  port=${DYNAMODB_PORT:-$(free_port)}
  t0=$(date +%s%N)
  "$bin" -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 &
  echo $! >"$dir/moto.pid"
  DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
  wait_ready moto 30 dynamo ListTables '{}' || exit 1
  dynamo CreateTable "{\"TableName\":\"$TABLE\",\"AttributeDefinitions\":[{\"AttributeName\":\"Name\",\"AttributeType\":\"S\"}],\"KeySchema\":[{\"AttributeName\":\"Name\",\"KeyType\":\"HASH\"}],\"BillingMode\":\"PAY_PER_REQUEST\"}" >/dev/null
  printf 'DYNAMODB_ENDPOINT=%s\nDYNAMODB_TABLE=%s\n' "$DYNAMODB_ENDPOINT" "$TABLE" >"$dir/env.dynamodb"
  log "moto (DynamoDB) ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms: $DYNAMODB_ENDPOINT, table $TABLE (partition key Name)"
}

up() {
  if alive ferretdb && alive moto && [ -f "$dir/env" ]; then
    log "already running: $(tr '\n' ' ' <"$dir/env")"
    return
  fi
  start_mongo
  start_dynamodb
  cat "$dir/env.mongo" "$dir/env.dynamodb" >"$dir/env"
}

case "$cmd" in
  up) up ;;
  mongo) start_mongo; cp "$dir/env.mongo" "$dir/env" ;;
  down) stop_one ferretdb; stop_one moto; rm -rf "$dir/env" "$dir/env.mongo" "$dir/env.dynamodb" "$dir/sqlite"; log "stopped" ;;
  *) echo "usage: $0 up|mongo|down [DIR]" >&2; exit 2 ;;
esac

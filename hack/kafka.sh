#!/usr/bin/env bash
# A real Apache Kafka broker on loopback: one KRaft node (broker and
# controller in one JVM, plaintext), for kafka storage tests.
#
#   hack/kafka.sh up   [DIR]   start (idempotent; after `stop`, on the same port with its data), write DIR/env
#   hack/kafka.sh down [DIR]   stop and remove state
#   hack/kafka.sh stop [DIR]   stop the broker only, keeping its data and env (an outage)
#   hack/kafka.sh topic DIR NAME [PARTITIONS]   create topic NAME (default 3 partitions) unless it exists
#
# KAFKA_PORT picks its port (default: a free one, kept across stop/up).
# KAFKA_HEAP sets the JVM heap (default 384m).
# DIR/env holds KAFKA_BOOTSTRAP (host:port, for storage.pubsub.kafka.bootstrap.servers)
# and KAFKA_LIBS (its jars: `java -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.TopicCommand …`
# and org.apache.kafka.tools.consumer.ConsoleConsumer are Kafka's own tools); DIR/log4j2.properties
# logs to stderr (-Dlog4j2.configurationFile=, for the tools too).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/lib.sh
. "$here/hack/lib.sh"
cmd=${1:-}
state_dir "${2:-${KAFKA_DIR:-$here/.kafka}}"

log() { echo "[kafka] $*" >&2; }

config() {
  local port=$1 cport=$2
  cat <<CONF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
share.coordinator.state.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
CONF
}

log_config() {
  cat <<'CONF'
rootLogger.level=WARN
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.target=SYSTEM_ERR
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka.server
logger.kafka.level=INFO
CONF
}

up() {
  if alive kafka && [ -f "$dir/env" ]; then
    log "already running: $(tr '\n' ' ' <"$dir/env")"
    return
  fi
  stop_one kafka
  local libs port cport t0 java_opts
  t0=$(date +%s%N)
  libs=$("$here/hack/tools.sh" kafka)
  if [ -f "$dir/ports" ] && [ -d "$dir/data" ]; then
    read -r port cport <"$dir/ports"
  else
    rm -rf "$dir/data"
    port=${KAFKA_PORT:-$(free_port)}
    cport=$(free_port)
    echo "$port $cport" >"$dir/ports"
  fi
  config "$port" "$cport" >"$dir/server.properties"
  log_config >"$dir/log4j2.properties"
  java_opts=(-Xms128m "-Xmx${KAFKA_HEAP:-384m}" -XX:+UseSerialGC -XX:TieredStopAtLevel=1
    -Dlog4j2.configurationFile="$dir/log4j2.properties")
  if [ ! -f "$dir/data/meta.properties" ]; then
    java "${java_opts[@]}" -cp "$libs/*" kafka.tools.StorageTool format -t "$(java -cp "$libs/*" \
      kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)" -c "$dir/server.properties" >"$dir/format.log" 2>&1 ||
      { tail -20 "$dir/format.log" >&2; exit 1; }
  fi
  log "starting Kafka on 127.0.0.1:$port (KRaft, controller on $cport, data in $dir/data)"
  java "${java_opts[@]}" -cp "$libs/*" kafka.Kafka "$dir/server.properties" >"$dir/kafka.log" 2>&1 &
  echo $! >"$dir/kafka.pid"
  # Ready once the broker says it started (its port opens a little earlier).
  wait_ready kafka 90 grep -q "Kafka Server started" "$dir/kafka.log" || exit 1
  printf 'KAFKA_BOOTSTRAP=127.0.0.1:%s\nKAFKA_LIBS=%s\n' "$port" "$libs" >"$dir/env"
  log "ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms: KAFKA_BOOTSTRAP=127.0.0.1:$port"
}

topic() {
  local name=${1:?topic name} parts=${2:-3}
  [ -f "$dir/env" ] || { log "not running (no $dir/env)"; exit 1; }
  # shellcheck disable=SC1091
  . "$dir/env"
  java -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$dir/log4j2.properties" \
    -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BOOTSTRAP" \
    --create --if-not-exists --topic "$name" --partitions "$parts" >&2
}

case "$cmd" in
  up) up ;;
  topic) shift 2; topic "$@" ;;
  stop) stop_one kafka 100; log "stopped" ;;
  down) stop_one kafka 100; rm -rf "$dir/env" "$dir/data" "$dir/ports" "$dir/kafka.log"; log "stopped" ;;
  *) echo "usage: $0 up|down|stop [DIR] | topic DIR NAME [PARTITIONS]" >&2; exit 2 ;;
esac

# Shared by the hack/ scripts (sourced).
#   state_dir DIR       -> sets $dir to DIR (created, absolute)
#   free_port           -> a free loopback TCP port
#   alive NAME          -> true when $dir/NAME.pid is a running process
#   stop_one NAME [T]   -> SIGTERM it, wait up to T tenths of a second (50), then SIGKILL
#   idle_prefix         -> sets the array $idle to a command prefix of the lowest CPU and I/O priority
#   component VAR SCRIPT NAME FILE [ARGS] -> unless VAR is set (a running one's file),
#                          `hack/SCRIPT.sh up $here/target/$component_prefix-NAME ARGS`, VAR=that/FILE
#   stop_started        -> `hack/SCRIPT.sh down DIR` for each component started, last first
#   wait_ready NAME SECS PROBE... -> polls PROBE every 0.1 s for up to SECS while $dir/NAME.pid
#                          runs; when it exits or time runs out, says so with the tail of
#                          $dir/NAME.log and is false

state_dir() {
  dir=${1}
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

alive() { [ -f "$dir/$1.pid" ] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }

wait_ready() {
  local name=$1 secs=$2 i
  shift 2
  for ((i = 0; i < secs * 10; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if ! alive "$name"; then
      echo "[$name] exited; the end of $dir/$name.log:" >&2
      tail -20 "$dir/$name.log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "[$name] not ready after $secs s; the end of $dir/$name.log:" >&2
  tail -20 "$dir/$name.log" >&2
  return 1
}

stop_one() {
  local p=$1 tenths=${2:-50}
  if alive "$p"; then kill "$(cat "$dir/$p.pid")" 2>/dev/null || true; fi
  for _ in $(seq "$tenths"); do alive "$p" || break; sleep 0.1; done
  if alive "$p"; then kill -9 "$(cat "$dir/$p.pid")" 2>/dev/null || true; fi
  rm -f "$dir/$p.pid"
}

started=() # "SCRIPT DIR" of each component started
component() {
  local var=$1 script=$2 d="$here/target/${component_prefix:?}-$3" file=$4
  shift 4
  [ -z "${!var:-}" ] || return 0
  bash "$here/hack/$script.sh" down "$d" >/dev/null 2>&1 || true
  started+=("$script $d")
  bash "$here/hack/$script.sh" up "$d" "$@" >/dev/null
  export "$var=$d/$file"
}

stop_started() {
  local i c
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do
    c=${started[i]}
    bash "$here/hack/${c%% *}.sh" down "${c#* }" >/dev/null 2>&1 || true
  done
}

idle_prefix() {
  idle=(nice -n 19)
  if ionice -c 3 true 2>/dev/null; then idle+=(ionice -c 3); fi
}

# The image name and tag, in one place: tekton-chains-operator:v<Cargo.toml version>.
# The chart's appVersion, the kustomize image tag and the operator's
# --signer-image default follow it (a unit test fails when they drift).
image_tag() { echo "v$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/Cargo.toml" | head -1)"; }
image_ref() { echo "tekton-chains-operator:$(image_tag)"; }

# loopback_certs DIR NAME [SANS]: once, a self-signed CA (DIR/ca.crt,
# "NAME-test-ca") and a server certificate for 127.0.0.1 and localhost (and
# SANS, as ",DNS:x,IP:y") signed by it (DIR/server.crt, DIR/server.key), all P-256.
loopback_certs() {
  [ -f "$1/server.crt" ] && return
  mkdir -p "$1"
  (
    cd "$1"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
      -keyout ca.key -out ca.crt -subj "/CN=$2-test-ca" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
      -subj "/CN=$2" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost%s\n' "${3:-}" >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile server.ext -out server.crt 2>/dev/null
  )
}

# Shared by the hack/ scripts (sourced).
#   state_dir DIR       -> sets $dir to DIR (created, absolute)
#   free_port           -> a free loopback TCP port
#   alive NAME          -> true when $dir/NAME.pid is a running process
#   stop_one NAME [T]   -> SIGTERM it, wait up to T tenths of a second (50), then SIGKILL
#   idle_prefix         -> sets the array $idle to a command prefix of the lowest CPU and I/O priority

state_dir() {
  dir=${1}
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

alive() { [ -f "$dir/$1.pid" ] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }

stop_one() {
  local p=$1 tenths=${2:-50}
  if alive "$p"; then kill "$(cat "$dir/$p.pid")" 2>/dev/null || true; fi
  for _ in $(seq "$tenths"); do alive "$p" || break; sleep 0.1; done
  if alive "$p"; then kill -9 "$(cat "$dir/$p.pid")" 2>/dev/null || true; fi
  rm -f "$dir/$p.pid"
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

#!/usr/bin/env bash
# make image: the operator's container image, built without a docker daemon,
# the same image the Dockerfile describes:
# - the release binary (stripped), at /usr/local/bin/tekton-chains-operator;
# - a minimal root filesystem from Debian packages (glibc, libgcc, CA
#   certificates; hack/tools.sh image-base), a `nonroot` user (65532);
# - one layer, written and pushed as an OCI image with crane; runs as
#   65532:65532 and needs no writable root filesystem.
#
#   hack/image.sh [REGISTRY]   push to REGISTRY (host:port); default: the
#                              local registry of `make run`, else one
#                              started under target/image-registry
#   IMAGE_BINARY=path          put this binary in instead of building the
#                              release one (the tests use their own build)
# Prints the pushed reference (name:tag@digest) on stdout.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
log() { echo "[image] $*" >&2; }

# The image name and tag: one place (see `image_ref` in hack/lib.sh).
# shellcheck source=hack/lib.sh
. "$here/hack/lib.sh"
registry=${1:-${IMAGE_REGISTRY:-}}
if [ -z "$registry" ]; then
  for env in "$here/.run/registry/env" "$here/target/image-registry/env"; do
    if [ -f "$env" ]; then registry=$(sed -n 's/^REGISTRY_OPEN=//p' "$env"); break; fi
  done
fi
if [ -z "$registry" ]; then
  bash hack/registry.sh up "$here/target/image-registry" >/dev/null
  registry=$(sed -n 's/^REGISTRY_OPEN=//p' "$here/target/image-registry/env")
fi
ref="$registry/$(image_ref)"

crane=$(bash hack/tools.sh crane)
base=$(bash hack/tools.sh image-base)
bin=${IMAGE_BINARY:-}
if [ -z "$bin" ]; then
  log "building the release binary (cargo build --release)"
  cargo build -q --release --bin tekton-chains-operator
  bin="${CARGO_TARGET_DIR:-target}/release/tekton-chains-operator"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -a "$base" "$work/rootfs"
mkdir -p "$work/rootfs/usr/local/bin" "$work/rootfs/home/nonroot"
cp "$bin" "$work/rootfs/usr/local/bin/tekton-chains-operator"
strip "$work/rootfs/usr/local/bin/tekton-chains-operator" 2>/dev/null || true
tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$work/rootfs" -cf "$work/layer.tar" .
log "pushing $ref"
"$crane" append -f "$work/layer.tar" -t "$ref" >/dev/null 2>&1
"$crane" mutate "$ref" -t "$ref" --set-platform linux/amd64 \
  --entrypoint /usr/local/bin/tekton-chains-operator --cmd operator --user 65532:65532 --workdir / \
  -l org.opencontainers.image.title=tekton-chains-operator \
  -l "org.opencontainers.image.version=$(image_tag)" \
  -l org.opencontainers.image.source=https://github.com/tektoncd/chains >/dev/null 2>&1
digest=$("$crane" digest "$ref")
log "pushed $ref@$digest"
echo "$ref@$digest"

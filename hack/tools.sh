#!/usr/bin/env bash
# Builds the real test components from the Go module proxy, once per version,
# into a cache outside the repo. Idempotent: a cached binary is reused.
#
#   hack/tools.sh kube     -> prints the folder holding kube-apiserver and etcd
#   hack/tools.sh cosign   -> prints the path of the cosign binary
#   hack/tools.sh cosign3  -> prints the path of cosign v3 (sigstore bundle format tests)
#   hack/tools.sh registry -> prints the path of an OCI registry (distribution)
#   hack/tools.sh rekor    -> prints the folder holding rekor-server, rekor-cli,
#                             trillian_log_server, trillian_log_signer and
#                             Trillian's MySQL schema (trillian.sql)
#   hack/tools.sh crane    -> prints the path of crane (go-containerregistry)
#   hack/tools.sh kubectl  -> prints the path of kubectl (the system one if any)
#   hack/tools.sh helm     -> prints the path of helm (v3, from the module proxy)
#   hack/tools.sh operator-sdk -> prints the path of operator-sdk
#   hack/tools.sh image-base -> prints a minimal root filesystem from Debian
#                             packages (glibc, libgcc, CA certificates) for the image
#   hack/tools.sh mariadb  -> prints the root of MariaDB unpacked from Debian
#                             (usr/sbin/mariadbd, usr/bin/mariadb, libraries)
#   hack/tools.sh cargo-fuzz -> prints the path of cargo-fuzz (from crates.io)
#   hack/tools.sh vault    -> prints the path of a Vault server with the Transit
#                             engine and JWT/OIDC and Kubernetes auth (hashivault:// KMS tests)
#   hack/tools.sh moto     -> prints the path of moto_server (AWS STS, for the awskms
#                             web identity test; from PyPI into a cached venv)
#   hack/tools.sh fulcio   -> prints the path of a Fulcio server (keyless signing tests)
#   hack/tools.sh local-kms -> prints the path of local-kms (an AWS KMS server, for
#                             awskms:// KMS tests)
#   hack/tools.sh fake-gcs-server -> prints the path of fake-gcs-server (a GCS JSON API
#                             server, for gcs storage tests)
#   hack/tools.sh ferretdb -> prints the path of FerretDB (a MongoDB wire-protocol server on
#                             SQLite, for docdb mongo:// storage tests)
#   hack/tools.sh grafeas  -> prints the path of a Grafeas v1 API server (hack/grafeas around
#                             Grafeas's own go/v1/api, in memory; grafeas storage tests)
#   hack/tools.sh archivista -> prints the path of an Archivista server (archivista storage tests)
#   hack/tools.sh kafka    -> prints the folder of Apache Kafka's broker and tools jars (KRaft; from Maven Central by mvn; kafka storage tests)
#   hack/tools.sh tkn      -> prints the path of tkn, the Tekton CLI (seed commands; its hub
#                             commands left out: the proxy refuses tektoncd/hub's zip)
#   hack/tools.sh gitea    -> prints the path of gitea (its container registry: token-auth
#                             registry tests); its `options` folder (locales) lies beside it
#   hack/tools.sh spire    -> prints the folder holding spire-server, spire-agent and
#                             oidc-discovery-provider (keyless `spiffe` provider tests)
#   hack/tools.sh all      -> all of the above in turn, each one's time on stderr
#
# KUBEBUILDER_ASSETS (a folder with kube-apiserver and etcd) skips the build.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
COSIGN_VERSION="${COSIGN_VERSION:-v2.6.2}"
# The newest cosign the proxy serves, only for the sigstore bundle (v0.3) format:
# its `--new-bundle-format` reads OCI 1.1 referrers. cosign v2 stays for the rest.
COSIGN3_VERSION="${COSIGN3_VERSION:-v3.1.4}"
COSIGN3_GO="${COSIGN3_GO:-go1.27.3}"
REGISTRY_DEB="${REGISTRY_DEB:-docker-registry}"
REKOR_VERSION="${REKOR_VERSION:-v1.5.4}"
TRILLIAN_VERSION="${TRILLIAN_VERSION:-v1.7.3}"
CRANE_VERSION="${CRANE_VERSION:-v0.22.1}"
HELM_VERSION="${HELM_VERSION:-v3.19.0}"
CARGO_FUZZ_VERSION="${CARGO_FUZZ_VERSION:-0.13.2}"
# OpenBao's module is not served by the proxy here (commit and tag queries are
# refused), so HashiCorp Vault, whose tags are. Its go.mod replaces its api/sdk
# with folders that are separate modules (not in the zip): those are pinned to
# the published tags of the release (sdk v0.15.2 was tagged 6 days before
# v1.19.0; newer releases need untagged sdk changes and do not compile).
VAULT_VERSION="${VAULT_VERSION:-v1.19.0}"
VAULT_API_VERSION="${VAULT_API_VERSION:-v1.16.0}"
VAULT_SDK_VERSION="${VAULT_SDK_VERSION:-v0.15.2}"
FULCIO_VERSION="${FULCIO_VERSION:-v1.8.8}"
MOTO_VERSION="${MOTO_VERSION:-5.2.6}"
# SPIRE is served by exact version only (no version list), as a Go tool.
SPIRE_VERSION="${SPIRE_VERSION:-v1.13.3}"
# nsmithuk/local-kms has no tags: the newest commit the proxy serves.
LOCAL_KMS_VERSION="${LOCAL_KMS_VERSION:-v0.0.0-20260228092603-2a5e92d09ab6}"
# fsouza/fake-gcs-server: a real GCS JSON API server (memory backend).
FAKE_GCS_SERVER_VERSION="${FAKE_GCS_SERVER_VERSION:-v1.56.1}"
# Grafeas: its own v1 API implementation, served by hack/grafeas (it ships no v1 server).
GRAFEAS_VERSION="${GRAFEAS_VERSION:-v0.2.3}"
# in-toto/archivista: a real Archivista server (MySQL metadata store, file blobs).
ARCHIVISTA_VERSION="${ARCHIVISTA_VERSION:-v0.10.0}"
# The Tekton CLI (tkn) the seeds use.
TKN_VERSION="${TKN_VERSION:-v0.42.0}"
# Gitea: its container registry is a real token-auth (Bearer) registry
# (cesanta/docker_auth, Harbor and zot are refused by the proxy here).
GITEA_VERSION="${GITEA_VERSION:-v1.27.3}"
# Apache Kafka (broker + tools jars from Maven Central; Java 17+ runs them).
KAFKA_VERSION="${KAFKA_VERSION:-4.4.0}"
KAFKA_LOG4J_VERSION="${KAFKA_LOG4J_VERSION:-2.24.3}"
KAFKA_SLF4J_VERSION="${KAFKA_SLF4J_VERSION:-2.0.17}"
# FerretDB v1 (SQLite backend, no PostgreSQL): a real MongoDB wire-protocol server.
FERRETDB_VERSION="${FERRETDB_VERSION:-v1.24.2}"
# The newest operator-sdk the module proxy serves here; its golang.org/x/tools
# is too old for current Go, so a newer one is required in the wrapper.
OPERATOR_SDK_VERSION="${OPERATOR_SDK_VERSION:-v1.34.1}"
IMAGE_BASE_DEBS="${IMAGE_BASE_DEBS:-libc6 libgcc-s1 ca-certificates}"
MARIADB_DEBS="${MARIADB_DEBS:-mariadb-server-core mariadb-client-core liburing2 libaio1}"
CACHE="${TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tekton-chains-operator/tools}"
# The repository (hack/grafeas is built from it).
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

log() { echo "[tools] $*" >&2; }

# build_wrapped NAME VERSION OUT PKG MODULE@VERSION [LDFLAGS] [REPLACE_FROM_GOMOD]
# Builds PKG inside a throwaway wrapper module that requires MODULE.
build_wrapped() {
  local name=$1 out=$2 pkg=$3 modver=$4 ldflags=${5:-} staging=${6:-}
  local work
  work=$(mktemp -d)
  (
    cd "$work"
    go mod init tools.local/"$name" >/dev/null 2>&1
    printf '//go:build tools\npackage tools\nimport _ "%s"\n' "$pkg" >tools.go
    go mod edit -require "$modver"
    if [ -n "$staging" ]; then
      # k8s.io/kubernetes replaces its staging modules with ./staging/src/...;
      # point each at its published tag instead.
      local gomod minor
      gomod=$(go mod download -json "$modver" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
      minor=$staging
      grep -E '=> \./staging/src/' "$gomod" | awk '{print $1}' | sort -u | while read -r m; do
        go mod edit -replace "$m=$m@$minor"
      done
    fi
    log "$name: resolving modules"
    go mod tidy >/dev/null 2>&1 || go mod tidy
    log "$name: compiling $pkg (first time only; this can take 10-20 minutes)"
    go build -trimpath -ldflags "$ldflags" -o "$out.tmp" "$pkg"
    mv "$out.tmp" "$out"
  ) || { rm -rf "$work"; return 1; }
  rm -rf "$work"
}

ensure_kube() {
  if [ -n "${KUBEBUILDER_ASSETS:-}" ]; then
    [ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ] && [ -x "$KUBEBUILDER_ASSETS/etcd" ] || {
      log "KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks kube-apiserver or etcd"; exit 1; }
    echo "$KUBEBUILDER_ASSETS"; return
  fi
  local dir="$CACHE/kube-$KUBE_VERSION-etcd-$ETCD_VERSION"
  mkdir -p "$dir"
  if [ ! -x "$dir/kube-apiserver" ]; then
    local minor=${KUBE_VERSION#v1.}; minor=${minor%%.*}
    local vpkg=k8s.io/component-base/version
    build_wrapped kube-apiserver "$dir/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver \
      "k8s.io/kubernetes@$KUBE_VERSION" \
      "-s -w -X $vpkg.gitVersion=$KUBE_VERSION -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor" \
      "v0.${KUBE_VERSION#v1.}"
  else
    log "kube-apiserver $KUBE_VERSION: cached in $dir"
  fi
  if [ ! -x "$dir/etcd" ]; then
    build_wrapped etcd "$dir/etcd" go.etcd.io/etcd/server/v3 "go.etcd.io/etcd/server/v3@$ETCD_VERSION" "-s -w"
  else
    log "etcd $ETCD_VERSION: cached in $dir"
  fi
  echo "$dir"
}

ensure_cosign() {
  if command -v cosign >/dev/null 2>&1 && [ -z "${COSIGN_FORCE_BUILD:-}" ]; then
    command -v cosign; return
  fi
  local out="$CACHE/cosign-$COSIGN_VERSION/cosign"
  mkdir -p "$(dirname "$out")"
  if [ ! -x "$out" ]; then
    log "cosign $COSIGN_VERSION: building (first time only, a few minutes)"
    GOBIN="$(dirname "$out")" go install -trimpath -ldflags "-s -w" \
      "github.com/sigstore/cosign/v2/cmd/cosign@$COSIGN_VERSION"
  fi
  echo "$out"
}

# cosign v3: COSIGN3_BIN skips the build (a `cosign` on PATH is v2 or v3, so
# it is not taken for this one).
ensure_cosign3() {
  if [ -n "${COSIGN3_BIN:-}" ]; then echo "$COSIGN3_BIN"; return; fi
  local out="$CACHE/cosign-$COSIGN3_VERSION/cosign"
  mkdir -p "$(dirname "$out")"
  if [ ! -x "$out" ]; then
    log "cosign $COSIGN3_VERSION: building (first time only, a few minutes; it needs Go 1.27,"
    log "  which the go command fetches from the module proxy as GOTOOLCHAIN=$COSIGN3_GO)"
    GOTOOLCHAIN="$COSIGN3_GO" GOBIN="$(dirname "$out")" go install -trimpath -ldflags "-s -w" \
      "github.com/sigstore/cosign/v3/cmd/cosign@$COSIGN3_VERSION"
  fi
  echo "$out"
}

# The distribution registry from Debian's docker-registry package, unpacked
# (never installed: its postinst would start a daemon on :5000).
# REGISTRY_BIN, or docker-registry / registry on PATH, skip the download.
ensure_registry() {
  if [ -n "${REGISTRY_BIN:-}" ]; then echo "$REGISTRY_BIN"; return; fi
  for b in docker-registry registry; do
    if command -v "$b" >/dev/null 2>&1 && "$b" --version 2>/dev/null | grep -qi distribution; then
      command -v "$b"; return
    fi
  done
  local dir="$CACHE/docker-registry"
  if [ ! -x "$dir/docker-registry" ]; then
    log "docker-registry: downloading the Debian package (first time only)"
    local work
    work=$(mktemp -d)
    (
      cd "$work"
      chmod 777 "$work"
      apt-get download "$REGISTRY_DEB" >/dev/null 2>&1 || {
        log "docker-registry: apt-get download failed; refreshing the package lists"
        apt-get update -qq >/dev/null 2>&1 || true
        apt-get download "$REGISTRY_DEB" >/dev/null
      }
      dpkg -x ./*.deb root
      mkdir -p "$dir"
      cp root/usr/bin/docker-registry "$dir/docker-registry.tmp"
      mv "$dir/docker-registry.tmp" "$dir/docker-registry"
    ) || { rm -rf "$work"; log "docker-registry: download failed; set REGISTRY_BIN"; return 1; }
    rm -rf "$work"
  else
    log "docker-registry: cached in $dir"
  fi
  echo "$dir/docker-registry"
}

# apt_unpack DIR PKG...: downloads Debian packages and unpacks them into DIR
# (never installed: no daemon starts, no root needed for the files).
apt_unpack() {
  local dir=$1; shift
  local work
  work=$(mktemp -d)
  (
    cd "$work"
    chmod 777 "$work"
    # shellcheck disable=SC2068
    apt-get download $@ >/dev/null 2>&1 || {
      log "apt-get download failed; refreshing the package lists"
      apt-get update -qq >/dev/null 2>&1 || true
      apt-get download $@ >/dev/null
    }
    mkdir -p root
    for deb in ./*.deb; do dpkg -x "$deb" root; done
    rm -rf "$dir.tmp"
    mv root "$dir.tmp"
    rm -rf "$dir"
    mv "$dir.tmp" "$dir"
  ) || { rm -rf "$work"; return 1; }
  rm -rf "$work"
}

# Rekor v1 and Trillian, go-installed from the module proxy.
ensure_rekor() {
  local dir="$CACHE/rekor-$REKOR_VERSION-trillian-$TRILLIAN_VERSION"
  mkdir -p "$dir"
  local m
  for m in "github.com/sigstore/rekor/cmd/rekor-server@$REKOR_VERSION" \
           "github.com/sigstore/rekor/cmd/rekor-cli@$REKOR_VERSION" \
           "github.com/google/trillian/cmd/trillian_log_server@$TRILLIAN_VERSION" \
           "github.com/google/trillian/cmd/trillian_log_signer@$TRILLIAN_VERSION"; do
    local bin=${m%@*}; bin=${bin##*/}
    if [ ! -x "$dir/$bin" ]; then
      log "$bin: building (first time only, about 1-2 minutes)"
      GOBIN="$dir" go install -trimpath -ldflags "-s -w" "$m"
    fi
  done
  if [ ! -f "$dir/trillian.sql" ]; then
    local src
    src=$(go mod download -json "github.com/google/trillian@$TRILLIAN_VERSION" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
    cp "$src/storage/mysql/schema/storage.sql" "$dir/trillian.sql.tmp"
    mv "$dir/trillian.sql.tmp" "$dir/trillian.sql"
  fi
  log "rekor $REKOR_VERSION, trillian $TRILLIAN_VERSION: in $dir"
  echo "$dir"
}

# MariaDB from Debian (Trillian's storage and Rekor's search index).
# MARIADB_ROOT (a folder with usr/sbin/mariadbd) skips the download.
ensure_mariadb() {
  if [ -n "${MARIADB_ROOT:-}" ]; then echo "$MARIADB_ROOT"; return; fi
  local dir="$CACHE/mariadb"
  if [ ! -x "$dir/usr/sbin/mariadbd" ]; then
    log "mariadb: downloading the Debian packages (first time only)"
    apt_unpack "$dir" $MARIADB_DEBS || { log "mariadb: download failed; set MARIADB_ROOT"; return 1; }
  else
    log "mariadb: cached in $dir"
  fi
  echo "$dir"
}

# crane: pushes images and reads registries for `make run` and `make image`.
ensure_crane() {
  if command -v crane >/dev/null 2>&1; then command -v crane; return; fi
  local out="$CACHE/crane-$CRANE_VERSION/crane"
  mkdir -p "$(dirname "$out")"
  if [ ! -x "$out" ]; then
    log "crane $CRANE_VERSION: building (first time only, about a minute)"
    GOBIN="$(dirname "$out")" go install -trimpath -ldflags "-s -w" \
      "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION"
  fi
  echo "$out"
}

# The image's base: what the binary links (glibc, libgcc_s) and the CA
# bundle, unpacked from Debian packages; docs, locales and tools dropped.
ensure_image_base() {
  local dir="$CACHE/image-base"
  if [ ! -f "$dir/etc/ssl/certs/ca-certificates.crt" ]; then
    log "image base: downloading $IMAGE_BASE_DEBS from Debian (first time only)"
    apt_unpack "$dir.new" $IMAGE_BASE_DEBS
    (
      cd "$dir.new"
      rm -rf usr/share/doc usr/share/lintian usr/share/man usr/sbin usr/bin sbin bin usr/lib/x86_64-linux-gnu/gconv etc/ld.so.conf.d
      mkdir -p etc/ssl/certs tmp
      cat usr/share/ca-certificates/mozilla/*.crt >etc/ssl/certs/ca-certificates.crt
      rm -rf usr/share/ca-certificates
      printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >etc/passwd
      printf 'root:x:0:\nnonroot:x:65532:\n' >etc/group
      chmod 1777 tmp
    )
    rm -rf "$dir"
    mv "$dir.new" "$dir"
  fi
  echo "$dir"
}

# operator-sdk, built in a wrapper module (`go install pkg@v` asks the
# proxy for the version list, which it refuses for this module).
ensure_operator_sdk() {
  if [ -n "${OPERATOR_SDK_BIN:-}" ]; then echo "$OPERATOR_SDK_BIN"; return; fi
  if command -v operator-sdk >/dev/null 2>&1; then command -v operator-sdk; return; fi
  local out="$CACHE/operator-sdk-$OPERATOR_SDK_VERSION/operator-sdk"
  mkdir -p "$(dirname "$out")"
  if [ ! -x "$out" ]; then
    log "operator-sdk $OPERATOR_SDK_VERSION: building (first time only, a few minutes)"
    local work
    work=$(mktemp -d)
    (
      cd "$work"
      export GONOSUMDB=github.com/operator-framework GOFLAGS="$GOFLAGS -mod=mod"
      go mod init tools.local/operator-sdk >/dev/null 2>&1
      printf '//go:build tools\npackage tools\nimport _ "github.com/operator-framework/operator-sdk/cmd/operator-sdk"\n' >tools.go
      go mod edit -require "github.com/operator-framework/operator-sdk@$OPERATOR_SDK_VERSION" -require golang.org/x/tools@v0.30.0
      go mod tidy >/dev/null 2>&1 || go mod tidy
      go build -trimpath -ldflags "-s -w" -o "$out.tmp" github.com/operator-framework/operator-sdk/cmd/operator-sdk
      mv "$out.tmp" "$out"
    ) || { rm -rf "$work"; return 1; }
    rm -rf "$work"
  fi
  echo "$out"
}

# helm v3, go-installed (HELM_BIN, or a helm v3 on PATH, skips the build).
ensure_helm() {
  if [ -n "${HELM_BIN:-}" ]; then echo "$HELM_BIN"; return; fi
  if command -v helm >/dev/null 2>&1 && helm version --short 2>/dev/null | grep -q '^v3'; then command -v helm; return; fi
  local out="$CACHE/helm-$HELM_VERSION/helm"
  mkdir -p "$(dirname "$out")"
  if [ ! -x "$out" ]; then
    log "helm $HELM_VERSION: building (first time only, a few minutes)"
    GOBIN="$(dirname "$out")" go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  fi
  echo "$out"
}

# cargo-fuzz, cargo-installed from crates.io (CARGO_FUZZ_BIN, or a
# cargo-fuzz on PATH, skips the build). It drives `cargo +nightly fuzz`.
ensure_cargo_fuzz() {
  if [ -n "${CARGO_FUZZ_BIN:-}" ]; then echo "$CARGO_FUZZ_BIN"; return; fi
  if command -v cargo-fuzz >/dev/null 2>&1; then command -v cargo-fuzz; return; fi
  local root="$CACHE/cargo-fuzz-$CARGO_FUZZ_VERSION"
  # CI asks for it from two lanes at once (the tools and the fuzz build): one installs.
  mkdir -p "$CACHE"
  exec 9>"$root.lock"
  flock 9
  if [ ! -x "$root/bin/cargo-fuzz" ]; then
    log "cargo-fuzz $CARGO_FUZZ_VERSION: building from crates.io (first time only, a few minutes)"
    rm -rf "$root.tmp"
    nice -n 10 cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$root.tmp" >&2
    rm -rf "$root"
    mv "$root.tmp" "$root"
  else
    log "cargo-fuzz $CARGO_FUZZ_VERSION: cached in $root"
  fi
  exec 9>&-
  echo "$root/bin/cargo-fuzz"
}

# FULCIO_BIN, or fulcio on PATH, skip the build. Built with `go get` (not
# `go mod tidy`): a test-only dependency of Fulcio is not served by the proxy.
ensure_fulcio() {
  if [ -n "${FULCIO_BIN:-}" ]; then echo "$FULCIO_BIN"; return; fi
  if command -v fulcio >/dev/null 2>&1; then command -v fulcio; return; fi
  local out="$CACHE/fulcio-$FULCIO_VERSION/fulcio" t0=$SECONDS work
  if [ ! -x "$out" ]; then
    mkdir -p "$(dirname "$out")"
    log "fulcio $FULCIO_VERSION: building (first time only, a few minutes)"
    work=$(mktemp -d)
    (
      cd "$work"
      go mod init tools.local/fulcio >/dev/null 2>&1
      go get "github.com/sigstore/fulcio@$FULCIO_VERSION" >/dev/null 2>&1 || go get "github.com/sigstore/fulcio@$FULCIO_VERSION"
      go build -trimpath -ldflags "-s -w" -o "$out.tmp" github.com/sigstore/fulcio
      mv "$out.tmp" "$out"
    ) || { rm -rf "$work"; return 1; }
    rm -rf "$work"
    log "fulcio $FULCIO_VERSION: built in $((SECONDS - t0)) s"
  else
    log "fulcio $FULCIO_VERSION: cached in $(dirname "$out")"
  fi
  echo "$out"
}

# trim_spire_catalogs: in a copy of SPIRE's source, drops the built-in plugins
# the tests never load (cloud node attestors, key managers, upstream
# authorities, bundle publishers, SVID stores; docker/k8s workload attestors)
# from the server's and agent's catalogs: less than half the packages to
# compile (the AWS, Azure and GCP SDKs go). Kept: join_token, memory, disk,
# unix, uniqueid.
trim_spire_catalogs() {
  local keep=" jointoken memory disk unix uniqueid " f a b path name alias
  for f in pkg/server/catalog/*.go pkg/agent/catalog/*.go; do
    case "$f" in *_test.go | */catalog.go) continue ;; esac
    grep -E '^\s+([a-z]+ )?"github.com/spiffe/spire/pkg/(server|agent)/plugin/[a-z]+/[a-z0-9]+"$' "$f" |
      while read -r a b; do
        path=${b:-$a}; path=${path//\"/}; name=${path##*/}; alias=$a; [ -n "$b" ] || alias=$name
        case "$keep" in *" $name "*) continue ;; esac
        sed -i -E "\#\"$path\"\$#d; /^\s+$alias\.BuiltIn\(\),\$/d" "$f"
      done
  done
}

# SPIRE_DIR (a folder with the three binaries), or all three on PATH, skip the build.
ensure_spire() {
  local bins="spire-server spire-agent oidc-discovery-provider"
  if [ -n "${SPIRE_DIR:-}" ]; then echo "$SPIRE_DIR"; return; fi
  if command -v spire-server >/dev/null 2>&1 && command -v spire-agent >/dev/null 2>&1 &&
    command -v oidc-discovery-provider >/dev/null 2>&1; then
    dirname "$(command -v spire-server)"
    return
  fi
  local out="$CACHE/spire-$SPIRE_VERSION-min" t0=$SECONDS work
  if [ ! -x "$out/oidc-discovery-provider" ]; then
    mkdir -p "$out"
    log "spire $SPIRE_VERSION: building $bins with the test's plugins only (first time only, about 5 minutes on 2 cores)"
    work=$(mktemp -d)
    (
      local src
      src=$(go mod download -json "github.com/spiffe/spire@$SPIRE_VERSION" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
      cp -r "$src/." "$work" && chmod -R u+w "$work" && cd "$work"
      trim_spire_catalogs
      mkdir bin
      go build -trimpath -ldflags "-s -w" -o bin/ ./cmd/spire-server ./cmd/spire-agent ./support/oidc-discovery-provider
      # The last one marks the folder complete.
      for b in $bins; do mv "bin/$b" "$out/$b"; done
    ) || { rm -rf "$work"; return 1; }
    rm -rf "$work"
    log "spire $SPIRE_VERSION: built in $((SECONDS - t0)) s"
  else
    log "spire $SPIRE_VERSION: cached in $out"
  fi
  echo "$out"
}

# MOTO_BIN, or moto_server on PATH, skip the install.
ensure_moto() {
  if [ -n "${MOTO_BIN:-}" ]; then echo "$MOTO_BIN"; return; fi
  if command -v moto_server >/dev/null 2>&1; then command -v moto_server; return; fi
  local venv="$CACHE/moto-$MOTO_VERSION" t0=$SECONDS
  if [ ! -x "$venv/bin/moto_server" ]; then
    log "moto $MOTO_VERSION: installing from PyPI into $venv (first time only, under a minute)"
    rm -rf "$venv.tmp"
    python3 -m venv "$venv.tmp"
    "$venv.tmp/bin/pip" install -q "moto[server]==$MOTO_VERSION" >&2
    rm -rf "$venv"
    mv "$venv.tmp" "$venv"
    # A moved venv keeps its old path in its scripts: recreate them in place.
    python3 -m venv --upgrade "$venv" >/dev/null
    sed -i "1s|.*|#!$venv/bin/python3|" "$venv/bin/moto_server"
    log "moto $MOTO_VERSION: installed in $((SECONDS - t0)) s"
  else
    log "moto $MOTO_VERSION: cached in $venv"
  fi
  echo "$venv/bin/moto_server"
}

# LOCAL_KMS_BIN, or local-kms on PATH, skip the build.
ensure_local_kms() {
  if [ -n "${LOCAL_KMS_BIN:-}" ]; then echo "$LOCAL_KMS_BIN"; return; fi
  if command -v local-kms >/dev/null 2>&1; then command -v local-kms; return; fi
  local out="$CACHE/local-kms-$LOCAL_KMS_VERSION/local-kms" t0=$SECONDS
  if [ ! -x "$out" ]; then
    mkdir -p "$(dirname "$out")"
    log "local-kms $LOCAL_KMS_VERSION: building (first time only, under a minute)"
    build_wrapped local-kms "$out" github.com/nsmithuk/local-kms "github.com/nsmithuk/local-kms@$LOCAL_KMS_VERSION" "-s -w"
    log "local-kms $LOCAL_KMS_VERSION: built in $((SECONDS - t0)) s"
  else
    log "local-kms $LOCAL_KMS_VERSION: cached in $(dirname "$out")"
  fi
  echo "$out"
}

# FAKE_GCS_SERVER_BIN, or fake-gcs-server on PATH, skip the build.
ensure_fake_gcs_server() {
  if [ -n "${FAKE_GCS_SERVER_BIN:-}" ]; then echo "$FAKE_GCS_SERVER_BIN"; return; fi
  if command -v fake-gcs-server >/dev/null 2>&1; then command -v fake-gcs-server; return; fi
  local out="$CACHE/fake-gcs-server-$FAKE_GCS_SERVER_VERSION/fake-gcs-server" t0=$SECONDS
  if [ ! -x "$out" ]; then
    mkdir -p "$(dirname "$out")"
    log "fake-gcs-server $FAKE_GCS_SERVER_VERSION: building (first time only, a few minutes)"
    build_wrapped fake-gcs-server "$out" github.com/fsouza/fake-gcs-server \
      "github.com/fsouza/fake-gcs-server@$FAKE_GCS_SERVER_VERSION" "-s -w"
    log "fake-gcs-server $FAKE_GCS_SERVER_VERSION: built in $((SECONDS - t0)) s"
  else
    log "fake-gcs-server $FAKE_GCS_SERVER_VERSION: cached in $(dirname "$out")"
  fi
  echo "$out"
}

# build_in_copy MODULE@VERSION OUT PKG PREP [GO BUILD FLAGS]: go build PKG
# into OUT inside a writable copy of the module (its pinned dependencies),
# after PREP (a function) has run in that copy.
build_in_copy() {
  local modver=$1 out=$2 pkg=$3 prep=$4 src work
  shift 4
  src=$(go mod download -json "$modver" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
  work=$(mktemp -d)
  cp -r "$src" "$work/m" && chmod -R u+w "$work/m"
  (cd "$work/m" && "$prep" && go build -trimpath -ldflags "-s -w" "$@" -o "$out.tmp" "$pkg") || { rm -rf "$work"; exit 1; }
  rm -rf "$work"
  mv "$out.tmp" "$out"
}

# FERRETDB_BIN, or ferretdb on PATH, skip the build. Its version is a
# generated file (build/version/version.txt) that the module zip lacks, so
# it is built from a copy with that file written.
ferretdb_prep() { echo "$FERRETDB_VERSION" >build/version/version.txt; }
ensure_ferretdb() {
  if [ -n "${FERRETDB_BIN:-}" ]; then echo "$FERRETDB_BIN"; return; fi
  if command -v ferretdb >/dev/null 2>&1; then command -v ferretdb; return; fi
  local out="$CACHE/ferretdb-$FERRETDB_VERSION/ferretdb" t0=$SECONDS
  if [ ! -x "$out" ]; then
    mkdir -p "$(dirname "$out")"
    log "ferretdb $FERRETDB_VERSION: building (first time only, a few minutes)"
    build_in_copy "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" "$out" ./cmd/ferretdb ferretdb_prep \
      -tags ferretdb_no_postgresql
    log "ferretdb $FERRETDB_VERSION: built in $((SECONDS - t0)) s"
  else
    log "ferretdb $FERRETDB_VERSION: cached in $(dirname "$out")"
  fi
  echo "$out"
}

# GRAFEAS_BIN skips the build. Grafeas v0.2.3 has its v1 API (go/v1/api,
# what Container Analysis serves) but no v1 server: hack/grafeas wires it
# to an in-memory store and its REST gateway, built inside a copy of the
# module; the cache key follows hack/grafeas's sources.
grafeas_prep() { mkdir -p cmd/chains-grafeas && cp "$ROOT"/hack/grafeas/*.go cmd/chains-grafeas/; }
ensure_grafeas() {
  if [ -n "${GRAFEAS_BIN:-}" ]; then echo "$GRAFEAS_BIN"; return; fi
  local sum out t0=$SECONDS
  sum=$(cat "$ROOT"/hack/grafeas/*.go | sha256sum | cut -c1-12)
  out="$CACHE/grafeas-$GRAFEAS_VERSION-$sum/grafeas-server"
  if [ ! -x "$out" ]; then
    mkdir -p "$(dirname "$out")"
    log "grafeas $GRAFEAS_VERSION: building its v1 API server (first time only, about a minute)"
    GOFLAGS="$GOFLAGS -mod=mod" build_in_copy "github.com/grafeas/grafeas@$GRAFEAS_VERSION" "$out" ./cmd/chains-grafeas grafeas_prep
    log "grafeas $GRAFEAS_VERSION: built in $((SECONDS - t0)) s"
  else
    log "grafeas $GRAFEAS_VERSION: cached in $(dirname "$out")"
  fi
  echo "$out"
}

# ARCHIVISTA_BIN skips the build.
ensure_archivista() {
  if [ -n "${ARCHIVISTA_BIN:-}" ]; then echo "$ARCHIVISTA_BIN"; return; fi
  local out="$CACHE/archivista-$ARCHIVISTA_VERSION/archivista" t0=$SECONDS
  if [ ! -x "$out" ]; then
    mkdir -p "$(dirname "$out")"
    log "archivista $ARCHIVISTA_VERSION: building (first time only, a few minutes)"
    build_in_copy "github.com/in-toto/archivista@$ARCHIVISTA_VERSION" "$out" ./cmd/archivista true
    log "archivista $ARCHIVISTA_VERSION: built in $((SECONDS - t0)) s"
  else
    log "archivista $ARCHIVISTA_VERSION: cached in $(dirname "$out")"
  fi
  echo "$out"
}

# TKN_BIN, or tkn on PATH, skip the build. tkn's root command imports the
# Tekton Hub commands, whose module (github.com/tektoncd/hub) the proxy
# refuses (403): the copy it is built in drops them (tkn hub is not used here).
tkn_prep() { sed -i '/tektoncd\/hub\/api\/pkg\/cli/d; /hub\.Root(hubApp\.New()),/d' pkg/cmd/root.go; }
ensure_tkn() {
  if [ -n "${TKN_BIN:-}" ]; then echo "$TKN_BIN"; return; fi
  if command -v tkn >/dev/null 2>&1; then command -v tkn; return; fi
  local out="$CACHE/tkn-$TKN_VERSION/tkn" t0=$SECONDS
  if [ ! -x "$out" ]; then
    mkdir -p "$(dirname "$out")"
    log "tkn $TKN_VERSION: building (first time only, several minutes)"
    build_in_copy "github.com/tektoncd/cli@$TKN_VERSION" "$out" ./cmd/tkn tkn_prep
    log "tkn $TKN_VERSION: built in $((SECONDS - t0)) s"
  else
    log "tkn $TKN_VERSION: cached in $(dirname "$out")"
  fi
  echo "$out"
}

# KAFKA_LIBS (a folder of Kafka's jars) skips the download. Maven Central
# has no Kafka distribution, only its jars: mvn resolves kafka_2.13 (the
# broker, KRaft) and kafka-tools (kafka-topics, the console consumer) with
# their dependencies and a log4j2 binding, into a Maven repository in the cache.
ensure_kafka() {
  if [ -n "${KAFKA_LIBS:-}" ]; then echo "$KAFKA_LIBS"; return; fi
  local out="$CACHE/kafka-$KAFKA_VERSION" t0=$SECONDS work dep
  if [ ! -f "$out/libs/kafka_2.13-$KAFKA_VERSION.jar" ]; then
    command -v mvn >/dev/null && command -v java >/dev/null || { log "kafka: needs java (17+) and mvn"; exit 1; }
    log "kafka $KAFKA_VERSION: resolving its jars from Maven Central (first time only, under a minute)"
    work=$(mktemp -d)
    {
      echo '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
      echo '<groupId>local.chains</groupId><artifactId>kafka-test-broker</artifactId><version>1</version>'
      echo '<packaging>pom</packaging><dependencies>'
      for dep in "org.apache.kafka kafka_2.13 $KAFKA_VERSION" "org.apache.kafka kafka-tools $KAFKA_VERSION" \
        "org.apache.logging.log4j log4j-slf4j2-impl $KAFKA_LOG4J_VERSION" \
        "org.apache.logging.log4j log4j-core $KAFKA_LOG4J_VERSION" "org.slf4j slf4j-api $KAFKA_SLF4J_VERSION"; do
        set -- $dep
        echo "<dependency><groupId>$1</groupId><artifactId>$2</artifactId><version>$3</version></dependency>"
      done
      echo '</dependencies></project>'
    } >"$work/pom.xml"
    rm -rf "$out.tmp"
    (cd "$work" && mvn -B -q -Dstyle.color=never -Dmaven.repo.local="$CACHE/m2" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$out.tmp/libs" >&2) || { rm -rf "$work" "$out.tmp"; exit 1; }
    rm -rf "$work" "$out"
    mv "$out.tmp" "$out"
    log "kafka $KAFKA_VERSION: $(ls "$out/libs" | wc -l) jars in $((SECONDS - t0)) s"
  else
    log "kafka $KAFKA_VERSION: cached in $out"
  fi
  echo "$out/libs"
}

# kubectl: the system one, else built like kube-apiserver (same version).
# VAULT_BIN, or vault / bao on PATH, skip the build.
ensure_vault() {
  if [ -n "${VAULT_BIN:-}" ]; then echo "$VAULT_BIN"; return; fi
  for b in bao vault; do
    if command -v "$b" >/dev/null 2>&1; then command -v "$b"; return; fi
  done
  local out="$CACHE/vault-$VAULT_VERSION-k8s/vault"
  if [ ! -x "$out" ]; then
    mkdir -p "$(dirname "$out")"
    local work src t0=$SECONDS
    work=$(mktemp -d)
    log "vault $VAULT_VERSION: building (first time only, about 5-10 minutes)"
    (
      src=$(go mod download -json "github.com/hashicorp/vault@$VAULT_VERSION" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')
      cp -r "$src/." "$work" && chmod -R u+w "$work" && cd "$work"
      local pins=("github.com/hashicorp/vault/api@$VAULT_API_VERSION" "github.com/hashicorp/vault/sdk@$VAULT_SDK_VERSION")
      for m in $(awk '$1=="replace" && $4 ~ /^\.\// {print $2}' go.mod); do
        go mod edit -dropreplace "$m"
        case "$m" in */api/auth/*) pins+=("$m@$(go list -m -f '{{.Version}}' "$m")") ;; esac
      done
      go get "${pins[@]}" >/dev/null 2>&1 || go get "${pins[@]}"
      # The minimal build (Transit, KV, PKI, SSH; JWT/OIDC, AppRole, cert,
      # userpass auth), plus the Kubernetes auth method, which chains' Vault
      # login (signers.kms.auth.oidc.*) also serves.
      cat >helper/builtinplugins/registry_min.go <<'GO'
//go:build minimal

package builtinplugins

import credKube "github.com/hashicorp/vault-plugin-auth-kubernetes"

func extendAddonPlugins(reg *registry) {
	reg.credentialBackends["kubernetes"] = credentialBackend{Factory: credKube.Factory}
}
GO
      go build -trimpath -tags minimal -ldflags "-s -w" -o "$out.tmp" .
      mv "$out.tmp" "$out"
    ) || { rm -rf "$work"; return 1; }
    rm -rf "$work"
    log "vault $VAULT_VERSION: built in $((SECONDS - t0)) s"
  else
    log "vault $VAULT_VERSION: cached in $(dirname "$out")"
  fi
  echo "$out"
}

ensure_kubectl() {
  if command -v kubectl >/dev/null 2>&1; then command -v kubectl; return; fi
  local dir="$CACHE/kube-$KUBE_VERSION-etcd-$ETCD_VERSION"
  mkdir -p "$dir"
  if [ ! -x "$dir/kubectl" ]; then
    build_wrapped kubectl "$dir/kubectl" k8s.io/kubernetes/cmd/kubectl "k8s.io/kubernetes@$KUBE_VERSION" \
      "-s -w" "v0.${KUBE_VERSION#v1.}"
  fi
  echo "$dir/kubectl"
}

# GITEA_BIN, or gitea on PATH, skip the build (their folder must hold
# `options`, as a release's does). Its go.mod has replace directives, so it is
# built in a copy of the module (SQLite in); the copy's `options` folder (the
# locales it reads at start) is kept beside the binary.
gitea_prep() { cp -r options "$GITEA_OUT_DIR/"; }
ensure_gitea() {
  if [ -n "${GITEA_BIN:-}" ]; then echo "$GITEA_BIN"; return; fi
  if command -v gitea >/dev/null 2>&1; then command -v gitea; return; fi
  local out="$CACHE/gitea-$GITEA_VERSION/gitea" t0=$SECONDS
  if [ ! -x "$out" ]; then
    GITEA_OUT_DIR=$(dirname "$out")
    rm -rf "$GITEA_OUT_DIR" && mkdir -p "$GITEA_OUT_DIR"
    log "gitea $GITEA_VERSION: building (first time only, a few minutes)"
    build_in_copy "code.gitea.io/gitea@$GITEA_VERSION" "$out" . gitea_prep -tags "sqlite sqlite_unlock_notify"
    log "gitea $GITEA_VERSION: built in $((SECONDS - t0)) s"
  else
    log "gitea $GITEA_VERSION: cached in $(dirname "$out")"
  fi
  echo "$out"
}

ALL_TOOLS="kube cosign cosign3 registry rekor mariadb crane kubectl helm image-base operator-sdk vault local-kms fake-gcs-server ferretdb grafeas archivista kafka tkn gitea fulcio spire moto cargo-fuzz"

# ensure_all: every tool, in turn; a line per tool with the seconds it took
# (a build the first time, a cache lookup after).
ensure_all() {
  local t t0 total=$SECONDS
  for t in $ALL_TOOLS; do
    t0=$SECONDS
    "ensure_${t//-/_}" >/dev/null
    log "$t: ready in $((SECONDS - t0)) s"
  done
  log "all tools ready in $((SECONDS - total)) s"
}

case "${1:-}" in
  all) ensure_all ;;
  kube) ensure_kube ;;
  cosign) ensure_cosign ;;
  cosign3) ensure_cosign3 ;;
  registry) ensure_registry ;;
  rekor) ensure_rekor ;;
  mariadb) ensure_mariadb ;;
  crane) ensure_crane ;;
  kubectl) ensure_kubectl ;;
  helm) ensure_helm ;;
  image-base) ensure_image_base ;;
  operator-sdk) ensure_operator_sdk ;;
  cargo-fuzz) ensure_cargo_fuzz ;;
  vault) ensure_vault ;;
  local-kms) ensure_local_kms ;;
  fake-gcs-server) ensure_fake_gcs_server ;;
  ferretdb) ensure_ferretdb ;;
  grafeas) ensure_grafeas ;;
  archivista) ensure_archivista ;;
  kafka) ensure_kafka ;;
  tkn) ensure_tkn ;;
  gitea) ensure_gitea ;;
  fulcio) ensure_fulcio ;;
  moto) ensure_moto ;;
  spire) ensure_spire ;;
  *) echo "usage: $0 all|${ALL_TOOLS// /|}" >&2; exit 2 ;;
esac

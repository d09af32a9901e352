#!/usr/bin/env bash
# Builds the cargo-fuzz targets in fuzz/ (nightly, cargo-fuzz from
# hack/tools.sh), seeds their corpora, runs each for a while and prints a
# table: execs, crashes, corpus size. Exits non-zero when a target crashed.
#
#   FUZZ_SECONDS=600   how long each target runs (libFuzzer -max_total_time)
#   FUZZ_TARGETS="a b" which targets (default: all of fuzz/fuzz_targets)
#   FUZZ_JOBS=1        how many targets run at once
#   FUZZ_VECTORS=dir   seed files (default: ../shared/reference/vectors beside the repo)
#   FUZZ_SANITIZER=none  or address (cargo fuzz build -s)
#   FUZZ_ARGS="..."    more libFuzzer flags
#   FUZZ_NICE=0        nice level of the fuzzing processes
#   FUZZ_BUILD_ONLY=1  build the targets and stop (CI builds them early, in the background)
# The table's cpu-s column is each target's user + system CPU seconds (/usr/bin/time).
#
# Corpora: fuzz/corpus/<target>/; crash, timeout and oom inputs:
# fuzz/artifacts/<target>/; logs: fuzz/target/logs/<target>.log (all ignored by git).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

all_targets=$(cd fuzz/fuzz_targets && ls -- *.rs | sed 's/\.rs$//' | tr '\n' ' ')
FUZZ_SECONDS="${FUZZ_SECONDS:-600}"
FUZZ_TARGETS="${FUZZ_TARGETS:-$all_targets}"
FUZZ_JOBS="${FUZZ_JOBS:-1}"
FUZZ_VECTORS="${FUZZ_VECTORS:-$repo/../shared/reference/vectors}"
FUZZ_SANITIZER="${FUZZ_SANITIZER:-none}"
FUZZ_ARGS="${FUZZ_ARGS:-}"
targets=$(echo "$FUZZ_TARGETS" | tr ',' ' ')
for t in $targets; do
  [ -f "fuzz/fuzz_targets/$t.rs" ] || { echo "[fuzz] no target $t; targets: $all_targets" >&2; exit 2; }
done

log() { echo "[fuzz] $*" >&2; }

cargo +nightly --version >/dev/null 2>&1 || {
  log "the nightly Rust toolchain is needed (cargo fuzz builds with -Z flags): rustup toolchain install nightly"; exit 2; }
cargo_fuzz=$(bash hack/tools.sh cargo-fuzz)
export PATH="$(dirname "$cargo_fuzz"):$PATH"
unset CARGO_TARGET_DIR

# The fuzz crate is its own workspace: build it with the main crate's
# dependency versions (cargo adds the fuzz-only ones).
cp Cargo.lock fuzz/Cargo.lock
log "building the targets (cargo +nightly fuzz build; the first build takes several minutes)"
start=$(date +%s)
nice -n 10 cargo +nightly fuzz build --sanitizer "$FUZZ_SANITIZER" --debug-assertions --target-dir fuzz/target
log "built in $(($(date +%s) - start)) s"
[ "${FUZZ_BUILD_ONLY:-}" != 1 ] || exit 0
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
bindir="fuzz/target/$triple/release"

# seed TARGET NAME < bytes: one corpus file (rewritten on every run).
seed() { mkdir -p "fuzz/corpus/$1"; cat >"fuzz/corpus/$1/seed-$2"; }

seed_corpora() {
  local v=$FUZZ_VECTORS
  local payload_digest
  payload_digest=$(printf 'fuzz payload' | sha256sum | cut -d' ' -f1)
  # layout_merge: first byte picks the media type, the rest is the tag's manifest.
  printf '\0' | seed layout_merge empty-tag
  printf '\0{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}' |
    seed layout_merge oci-empty
  printf '\1{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"digest":"sha256:00"},"layers":[{"mediaType":"application/vnd.dsse.envelope.v1+json","digest":"sha256:%s","size":12,"annotations":{"dev.cosignproject.cosign/signature":"c2ln","dev.sigstore.cosign/bundle":"{}"}}],"annotations":{"a":"b"}}' \
    "$payload_digest" | seed layout_merge docker-with-our-layer
  printf '\0{"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"sha256:%s","size":12,"annotations":{"dev.cosignproject.cosign/signature":"c2ln"}}],"extra":[1,2,3]}' \
    "$payload_digest" | seed layout_merge oci-with-our-layer
  # rekor_entry: the log's answer for one entry.
  printf '{"24296fb2":{"body":"eyJraW5kIjoiaW50b3RvIn0=","integratedTime":1700000000,"logID":"c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d","logIndex":42,"verification":{"signedEntryTimestamp":"MEUCIQD/","inclusionProof":{}}}}' |
    seed rekor_entry entry
  printf '{"u":{"body":"","integratedTime":-1,"logID":"","logIndex":0,"verification":{}}}' | seed rekor_entry minimal
  # signer_replies: Vault Transit, Cloud KMS and Fulcio replies as they document them.
  printf '{"data":{"type":"ecdsa-p256","latest_version":1,"keys":{"1":{"public_key":"-----BEGIN PUBLIC KEY-----\\nMFkw\\n-----END PUBLIC KEY-----\\n"}}}}' |
    seed signer_replies vault-key
  printf '{"data":{"signature":"vault:v2:MEUCIQD/","key_version":2}}' | seed signer_replies vault-signature
  printf '{"auth":{"client_token":"hvs.x","lease_duration":3600}}' | seed signer_replies vault-login
  printf '{"pem":"-----BEGIN PUBLIC KEY-----\\nMFkw\\n-----END PUBLIC KEY-----\\n","algorithm":"EC_SIGN_P256_SHA256","pemCrc32c":"1"}' |
    seed signer_replies gcp-public-key
  printf '{"signature":"MEUCIQD/","signatureCrc32c":"1","verifiedDigestCrc32c":true}' | seed signer_replies gcp-signature
  printf '{"signedCertificateEmbeddedSct":{"chain":{"certificates":["-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"]}}}' |
    seed signer_replies fulcio-chain
  # storage_replies: <object name>\n, then a GCS upload reply naming it (as fake-gcs-server sends them).
  printf 'o\n{"kind":"storage#object","name":"o","bucket":"b","size":"63"}' | seed storage_replies gcs-object
  # key_loaders: <pem>\0<password>.
  printf -- '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n' | seed key_loaders short-pkcs8
  if [ -d "$v" ]; then
    log "seeding from $v"
    local f
    for f in "$v"/runs/*.json "$v"/runs/*/*.json; do
      [ -f "$f" ] || continue
      local name=${f#"$v"/runs/}
      seed artifacts "${name//\//-}" <"$f"
    done
    # A PipelineRun with child TaskRuns: [run, child...].
    if [ -f "$v/runs/slsa-v2alpha4/pipelinerun1.json" ]; then
      { printf '['; cat "$v/runs/slsa-v2alpha4/pipelinerun1.json"; printf ','
        cat "$v/runs/slsa-v2alpha4/taskrun1.json"; printf ','; cat "$v/runs/slsa-v2alpha4/taskrun2.json"; printf ']'; } |
        seed artifacts pipelinerun-with-children
    fi
    if [ -f "$v/keys/cosign.key" ]; then
      { cat "$v/keys/cosign.key"; printf '\0'; tr -d '\n' <"$v/keys/cosign.password"; } | seed key_loaders cosign-key
      { cat "$v/keys/cosign.key"; printf '\0wrong-password'; } | seed key_loaders cosign-key-wrong-password
    fi
    [ -f "$v/keys/x509-ecdsa-p256.pem" ] && seed key_loaders x509-pem <"$v/keys/x509-ecdsa-p256.pem"
    [ -f "$v/keys/cosign.pub" ] && seed key_loaders cosign-pub <"$v/keys/cosign.pub"
  else
    log "no reference vectors at $v; hand-written seeds only"
  fi
  printf '{"metadata":{"name":"r","uid":"u"},"status":{"results":[{"name":"IMAGE_URL","value":"registry.example/a/b:1"},{"name":"IMAGE_DIGEST","value":"sha256:%s"}]}}' \
    "$payload_digest" | seed artifacts image-result
}

seed_corpora
logs=fuzz/target/logs
mkdir -p "$logs"

# cpu_seconds FILE: user + system seconds /usr/bin/time wrote there ("?" without it).
cpu_seconds() { awk '/^cpu / {printf "%.0f", $2 + $3; found=1} END {if (!found) printf "?"}' "$1" 2>/dev/null || echo "?"; }

# run_one TARGET: fuzzes it and writes "target execs crashes corpus rc cpu" to $logs/TARGET.result.
run_one() {
  local t=$1 art="fuzz/artifacts/$1" stamp="$logs/$1.stamp"
  mkdir -p "$art" "fuzz/corpus/$t"
  touch "$stamp"
  log "$t: fuzzing for $FUZZ_SECONDS s (log: $logs/$t.log)"
  local rc=0 timer=()
  [ -x /usr/bin/time ] && timer=(/usr/bin/time -f 'cpu %U %S' -o "$logs/$t.cpu")
  rm -f "$logs/$t.cpu"
  # shellcheck disable=SC2086
  nice -n "${FUZZ_NICE:-0}" "${timer[@]}" "$bindir/$t" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$art/" $FUZZ_ARGS "fuzz/corpus/$t" >"$logs/$t.log" 2>&1 || rc=$?
  local execs crashes corpus
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -1)
  [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$logs/$t.log" | tail -1 | tr -d '#')
  crashes=$(find "$art" -maxdepth 1 -newer "$stamp" \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
  corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
  echo "$t ${execs:-?} $crashes $corpus $rc $(cpu_seconds "$logs/$t.cpu")" >"$logs/$t.result"
  log "$t: done (exit $rc, $crashes crash(es))"
}

for t in $targets; do rm -f "$logs/$t.result"; done
for t in $targets; do
  while [ "$(jobs -rp | wc -l)" -ge "$FUZZ_JOBS" ]; do wait -n || true; done
  run_one "$t" &
done
wait || true

echo
printf '%-14s %12s %8s %8s %8s\n' target execs crashes corpus cpu-s
failed=()
for t in $targets; do
  read -r _ execs crashes corpus rc cpu <"$logs/$t.result"
  printf '%-14s %12s %8s %8s %8s\n' "$t" "$execs" "$crashes" "$corpus" "$cpu"
  if [ "$crashes" -gt 0 ] || [ "$rc" -ne 0 ]; then failed+=("$t"); fi
done
[ ${#failed[@]} -eq 0 ] && { echo "fuzz: no crash in ${FUZZ_SECONDS} s per target"; exit 0; }

for t in "${failed[@]}"; do
  echo
  echo "=== $t FAILED ($logs/$t.log)"
  # The panic (file:line and message) and the input libFuzzer saved.
  grep -A1 -m1 'panicked at' "$logs/$t.log" || grep -m3 -E 'ERROR: libFuzzer|SUMMARY' "$logs/$t.log" || tail -5 "$logs/$t.log"
  grep -m1 -B1 'at \./src/' "$logs/$t.log" | sed 's/^ */  in the crate: /' || true
  find "fuzz/artifacts/$t" -maxdepth 1 -newer "$logs/$t.stamp" -type f | while read -r a; do
    echo "input $a ($(wc -c <"$a") bytes): $(head -c 200 "$a" | od -An -c | tr -s ' ' | head -3 | tr -d '\n')"
    echo "  reproduce: cargo +nightly fuzz run -s $FUZZ_SANITIZER -a $t $a"
    echo "  minimise:  cargo +nightly fuzz tmin -s $FUZZ_SANITIZER -a $t $a"
  done
done
echo
echo "fuzz: FAILED: ${failed[*]} crashed (inputs in fuzz/artifacts/<target>/; each is a bug to fix in src/ with a unit test)"
exit 1

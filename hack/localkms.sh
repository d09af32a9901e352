#!/usr/bin/env bash
# A real AWS KMS API server on loopback (nsmithuk/local-kms, in memory), with
# one signing key per key spec chains signs with, each behind an alias, and
# moto's server as AWS STS (web identity logins), for awskms:// KMS tests.
#
#   hack/localkms.sh up   [DIR]   start (idempotent), write DIR/env
#   hack/localkms.sh down [DIR]   stop and remove state
#   hack/localkms.sh stop [DIR]   stop it, keeping the env (an outage)
#
# DIR/env holds AWS_ENDPOINT_URL_KMS, AWS_REGION, AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY (test values: local-kms does not check them),
# LOCAL_KMS_ACCOUNT and LOCAL_KMS_ALIASES (alias/chains-p256, -p384, -rsa),
# AWS_ENDPOINT_URL_STS (moto) and MOTO_LOG (its request log).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/lib.sh
. "$here/hack/lib.sh"
cmd=${1:-}
state_dir "${2:-${LOCAL_KMS_DIR:-$here/.local-kms}}"

log() { echo "[local-kms] $*" >&2; }

REGION=eu-west-2
ACCOUNT=111122223333
KEYS="chains-p256:ECC_NIST_P256 chains-p384:ECC_NIST_P384 chains-rsa:RSA_2048"

# kms ACTION JSON: one KMS API call (JSON 1.1 protocol), reply on stdout.
kms() {
  curl -sf -X POST "$addr/" -H "X-Amz-Target: TrentService.$1" \
    -H 'Content-Type: application/x-amz-json-1.1' -d "$2"
}

up() {
  if alive local-kms && [ -f "$dir/env" ]; then
    log "already running: $(grep AWS_ENDPOINT_URL_KMS "$dir/env")"
    return
  fi
  stop_one local-kms
  stop_one moto
  local bin port moto sts
  bin=$("$here/hack/tools.sh" local-kms)
  moto=$("$here/hack/tools.sh" moto)
  sts=$(free_port)
  "$moto" -H 127.0.0.1 -p "$sts" >"$dir/moto.log" 2>&1 &
  echo $! >"$dir/moto.pid"
  port=$(free_port)
  addr="http://127.0.0.1:$port"
  log "starting local-kms on $addr (region $REGION, in memory)"
  rm -rf "$dir/data"
  PORT=$port KMS_REGION=$REGION KMS_ACCOUNT_ID=$ACCOUNT KMS_DATA_PATH="$dir/data" \
    "$bin" >"$dir/local-kms.log" 2>&1 &
  echo $! >"$dir/local-kms.pid"
  wait_ready local-kms 10 kms ListKeys '{}' || exit 1
  wait_ready moto 10 curl -s -o /dev/null "http://127.0.0.1:$sts/" || exit 1
  local aliases=()
  for ks in $KEYS; do
    local id
    id=$(kms CreateKey "{\"KeyUsage\":\"SIGN_VERIFY\",\"KeySpec\":\"${ks#*:}\"}" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["KeyMetadata"]["KeyId"])')
    kms CreateAlias "{\"AliasName\":\"alias/${ks%%:*}\",\"TargetKeyId\":\"$id\"}" >/dev/null
    aliases+=("alias/${ks%%:*}")
  done
  cat >"$dir/env" <<ENV
AWS_ENDPOINT_URL_KMS=$addr
AWS_REGION=$REGION
AWS_ACCESS_KEY_ID=chains-test
AWS_SECRET_ACCESS_KEY=chains-test-secret
LOCAL_KMS_ACCOUNT=$ACCOUNT
LOCAL_KMS_ALIASES="${aliases[*]}"
AWS_ENDPOINT_URL_STS=http://127.0.0.1:$sts
MOTO_LOG=$dir/moto.log
ENV
  log "ready: AWS_ENDPOINT_URL_KMS=$addr, keys ${aliases[*]}; STS (moto) on http://127.0.0.1:$sts"
}

case "$cmd" in
  up) up ;;
  stop) stop_one local-kms; stop_one moto; log "stopped" ;;
  down) stop_one local-kms; stop_one moto; rm -f "$dir/env"; rm -rf "$dir/data"; log "stopped" ;;
  *) echo "usage: $0 up|down|stop [DIR]" >&2; exit 2 ;;
esac

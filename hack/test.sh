#!/usr/bin/env bash
# `make test` after the unit tests: the integration tests and the `make run`
# smoke test, with the fuzz smoke run (hack/fuzz.sh, every target for 10 s)
# beside them at the lowest CPU and I/O priority. The fuzz build (nightly,
# instrumented, its own target folder) then uses the cores the integration
# tests leave idle while they wait on the API server, registries and logs,
# instead of adding its 5-10 minutes to the run.
#
#   FUZZ_SMOKE=serial   run the fuzz smoke first, on its own, instead
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
log="$here/target/fuzz-smoke.log"
mkdir -p "$here/target"

fuzz_pid=""
if [ "${FUZZ_SMOKE:-parallel}" = serial ]; then
  FUZZ_SECONDS=10 bash hack/fuzz.sh
else
  echo "[test] fuzz smoke run in the background at nice 19 (log: $log)"
  # shellcheck source=hack/lib.sh
  . "$here/hack/lib.sh"
  idle_prefix
  FUZZ_SECONDS=10 "${idle[@]}" bash hack/fuzz.sh >"$log" 2>&1 &
  fuzz_pid=$!
  trap 'kill "$fuzz_pid" 2>/dev/null || true' EXIT
fi

rc=0
make --no-print-directory test-integration || rc=$?
[ "$rc" -ne 0 ] || make --no-print-directory test-run || rc=$?

if [ -n "$fuzz_pid" ]; then
  echo "[test] waiting for the fuzz smoke run"
  frc=0
  wait "$fuzz_pid" || frc=$?
  # The build's progress lines are long; the table and any failure are what matter.
  grep -v -E '^\s+(Compiling|Downloaded|Downloading|Blocking|Updating|Locking|Adding)' "$log" || true
  [ "$frc" -eq 0 ] || { echo "[test] fuzz smoke run FAILED (exit $frc; $log)"; rc=1; }
fi
exit "$rc"

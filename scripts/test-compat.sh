#!/usr/bin/env bash
# Runs the whole integration suite against each supported Vault version in
# turn (building each Vault first if the cache lacks it, see vault.sh) and
# prints a table: version, pass or fail, wall time, failing tests.
#
# Environment: PLUGIN_BIN, PLUGIN_VERSION and AXE_JS as for the integration
# suite (make test-compat sets them); COMPAT_VERSIONS to run fewer versions
# (default "1.19 1.20 1.21"). Arguments are passed to go test.
# Each version's go test output is kept in $COMPAT_LOGS (default
# ${TMPDIR:-/tmp}/identity-compat).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
versions=${COMPAT_VERSIONS:-1.19 1.20 1.21}
logs=${COMPAT_LOGS:-${TMPDIR:-/tmp}/identity-compat}
mkdir -p "$logs"

fmt_time() { printf '%d min %02d s' $(($1 / 60)) $(($1 % 60)); }

rows=()
failed_any=0
start_all=$(date +%s)
for v in $versions; do
  echo "== Vault $v" >&2
  if ! vault=$(VAULT_VERSION=$v "$root/scripts/vault.sh"); then
    rows+=("$v|-|build failed|-|-|-")
    failed_any=1
    continue
  fi
  full=$("$vault" version | awk '{sub(",", "", $2); print $2; exit}')
  log="$logs/vault-$v.log"
  test_start=$(date +%s)
  (cd "$root" && VAULT_BIN="$vault" go test -tags integration -count=1 -timeout 30m -v "$@" ./integration/...) >"$log" 2>&1
  rc=$?
  wall=$(($(date +%s) - test_start))
  # Top-level tests only: subtests' lines are indented.
  fails=$(grep -E '^--- FAIL: ' "$log" | awk '{print $3}' | paste -sd, -)
  skips=$(grep -cE '^\s*--- SKIP: ' "$log")
  if [ "$rc" -eq 0 ]; then
    result=pass
  else
    result=FAIL
    failed_any=1
    [ -n "$fails" ] || fails="(go test exit $rc; see $log)"
  fi
  echo "   Vault $full: $result in $(fmt_time "$wall"), log $log" >&2
  rows+=("$v|$full|$result|$(fmt_time "$wall")|$skips|${fails:--}")
done

echo
echo "Integration suite by Vault version ($(date -u +%Y-%m-%d), $(nproc) cores, total $(fmt_time $(($(date +%s) - start_all))))"
echo
echo "| Vault | build | result | wall time | skipped (tests and subtests) | failing tests |"
echo "|---|---|---|---:|---:|---|"
for r in "${rows[@]}"; do
  IFS='|' read -r v full result wall skips fails <<<"$r"
  echo "| $v | $full | $result | $wall | $skips | $fails |"
done
exit "$failed_any"

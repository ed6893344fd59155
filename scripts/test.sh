#!/usr/bin/env bash
# The README's test command (make test): starts a throwaway PostgreSQL and Redis unless
# TEST_DATABASE_URL / TEST_REDIS_URL are given, runs every module's tests with -race,
# and stops the servers again. Fails loudly on the first failing module, after running all.
set -euo pipefail
cd "$(dirname "$0")/.."
RACE=${RACE--race}

scripts/ensure-deps.sh
started=""
if [ -z "${TEST_DATABASE_URL:-}" ] || [ -z "${TEST_REDIS_URL:-}" ]; then
  scripts/testenv.sh up
  started=1
  eval "$(scripts/testenv.sh env)"
  export TEST_DATABASE_URL TEST_REDIS_URL
fi
cleanup() { [ -n "$started" ] && scripts/testenv.sh down || true; }
trap cleanup EXIT

failed=()
for m in $(scripts/modules.sh); do
  echo "=== go test $m"
  if ! (cd "$m" && go test $RACE -count=1 -timeout 20m ./...); then
    failed+=("$m")
  fi
done
if [ -f scripts/standalone-modules ]; then
  while read -r m; do
    [ -z "$m" ] && continue
    echo "=== go test $m (GOWORK=off)"
    if ! (cd "$m" && GOWORK=off go test -count=1 -timeout 20m ./...); then
      failed+=("$m")
    fi
  done < scripts/standalone-modules
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED modules: ${failed[*]}"
  exit 1
fi
echo "all modules passed"

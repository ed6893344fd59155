#!/usr/bin/env bash
# The PostgreSQL server shared by test processes (package shared/testenv):
#   scripts/testenv.sh up     start it unless it runs (tests also start it on demand)
#   scripts/testenv.sh env    print TEST_DATABASE_URL='...' for eval (starts it)
#   scripts/testenv.sh down   stop it and remove its files (.local/testenv/)
# Redis needs nothing here: each test starts its own redis-server.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  up|env|down) ;;
  *) echo "usage: $0 up|env|down" >&2; exit 2 ;;
esac
# Build once into .local so that repeated calls do not pay for "go run" linking.
bin=.local/bin/testenv
mkdir -p .local/bin
go build -o "$bin" ./shared/testenv/cmd/testenv
exec "$bin" "$1"

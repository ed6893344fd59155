#!/usr/bin/env bash
# Installs the servers the local stack and the tests run (PostgreSQL, Redis) from
# Debian packages when they are missing. Needs root (or sudo) only when something
# is missing; does nothing otherwise.
set -euo pipefail

need=()
pg_found=""
for d in /usr/lib/postgresql/*/bin; do
  if [ -x "$d/postgres" ] && [ -x "$d/initdb" ]; then pg_found=1; fi
done
if [ -z "$pg_found" ] && ! command -v initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
if ! command -v redis-server >/dev/null 2>&1 && [ ! -x /usr/bin/redis-server ]; then
  need+=(redis-server)
fi
[ ${#need[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-deps: please install ${need[*]} (PostgreSQL >= 14 server and redis-server); no apt-get here" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "ensure-deps: ${need[*]} missing; run as root: apt-get update && apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi
echo "ensure-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# --no-install-recommends: only the server binaries; the packages' own clusters and
# services are not used (the local stack starts its own servers on free ports).
$sudo apt-get install -y -q --no-install-recommends "${need[@]}"

#!/usr/bin/env bash
# gofmt and go vet over every module; fails on the first finding.
set -euo pipefail
cd "$(dirname "$0")/.."
unformatted=$(gofmt -l $(git ls-files '*.go' ; git ls-files --others --exclude-standard '*.go') 2>/dev/null || true)
if [ -n "$unformatted" ]; then
  echo "not gofmt-formatted:"; echo "$unformatted"; exit 1
fi
for m in $(scripts/modules.sh); do
  (cd "$m" && go vet ./...)
done
if [ -f scripts/standalone-modules ]; then
  while read -r m; do
    [ -n "$m" ] && (cd "$m" && GOWORK=off go vet ./...)
  done < scripts/standalone-modules
fi
scripts/check-env-docs.sh
echo "lint: ok"

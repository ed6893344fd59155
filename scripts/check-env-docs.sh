#!/usr/bin/env bash
# Fails when the Go code reads an environment variable (go-envconfig tag) that README.md
# does not document. SIM_* variables are documented in tools/simulator/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=$(git ls-files '*.go' ':!:*_test.go' | xargs grep -hoE 'env:"[A-Z][A-Z0-9_]+' | sed 's/env:"//' | sort -u |
  while read -r v; do
    case "$v" in SIM_*) grep -q "$v" tools/simulator/README.md || echo "$v";; *) grep -q "\`$v\`" README.md || echo "$v";; esac
  done)
if [ -n "$missing" ]; then
  echo "environment variables read by the code but not documented in README.md:"; echo "$missing"; exit 1
fi
echo "env docs: ok"

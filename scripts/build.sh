#!/usr/bin/env bash
# Builds every function binary into bin/<function> the way ko builds the images: static
# (CGO_ENABLED=0), -trimpath, stripped (-s -w). Prints each binary's size.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
for dir in functions/*/; do
  name=$(basename "$dir")
  [ -d "$dir/cmd" ] || continue
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "../../bin/$name" ./cmd)
  awk -v n="$name" -v b="$(stat -c %s "bin/$name")" 'BEGIN { printf "%-14s %6.1f MB\n", n, b / 1e6 }'
done

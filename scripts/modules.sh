#!/usr/bin/env bash
# Prints the directory of every module of the workspace (go.work "use" lines), one per line,
# relative to the repository root. Modules kept out of go.work on purpose (their k8s.io
# pins would leak into the functions) are listed in scripts/standalone-modules.
set -euo pipefail
cd "$(dirname "$0")/.."
go work edit -json | sed -n 's/.*"DiskPath": "\(.*\)".*/\1/p' | sed 's#^\./##'

#!/usr/bin/env bash
# Regenerates the .wasm test modules from their .wat sources (needs wabt's
# wat2wasm: scripts/install-tools.sh --with-wabt). The .wasm files are
# committed so that `go test` needs nothing but Go.
set -euo pipefail
cd "$(dirname "$0")"
for f in *.wat; do wat2wasm "$f" -o "${f%.wat}.wasm"; done

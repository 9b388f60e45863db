#!/bin/sh
# Regenerates the committed test modules from their WAT sources.
set -e
cd "$(dirname "$0")"
wat2wasm hog.wat -o hog.wasm

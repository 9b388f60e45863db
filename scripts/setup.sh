#!/usr/bin/env bash
# setup.sh installs what building the example apps and running the tests
# need beyond Go: wabt's wat2wasm (Debian package wabt) for WAT tasks, and
# the AWS Lambda Runtime Interface Emulator (scripts/install-rie.sh, built
# with go install) that the Lambda emulator's conformance test compares
# against, grpcurl (scripts/install-grpcurl.sh) for the host's test from
# a shell, and the AssemblyScript compiler for AssemblyScript tasks
# (scripts/install-assemblyscript.sh, npm ci), and fills the module cache
# with every module go.mod names (go mod download): the gcp adapter vendors
# a function source's dependencies offline, from that cache. It is
# idempotent. The protobuf generators are separate
# (scripts/install-tools.sh, `make tools`): only `make generate` needs them.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wat2wasm >/dev/null 2>&1; then
	echo "setup: installing wabt (wat2wasm) with apt-get"
	sudo=""
	if [[ "$(id -u)" != 0 ]]; then
		sudo="sudo"
	fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wabt >/dev/null
	wat2wasm --version
fi
scripts/install-rie.sh
scripts/install-grpcurl.sh
scripts/install-assemblyscript.sh
# The gcp adapter's packager vendors offline (GOPROXY=off): every module a
# function source needs must be in the module cache before the first deploy.
go mod download

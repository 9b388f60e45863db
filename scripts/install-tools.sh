#!/usr/bin/env bash
# install-tools.sh installs the pinned code generators that `make generate`
# needs into $(go env GOPATH)/bin. It is idempotent: a tool whose pinned
# version is already installed (per `go version -m`) is skipped.
#
# Everything comes from the Go module proxy; nothing needs the buf registry.
#
# Usage: scripts/install-tools.sh [--with-wabt]
#   --with-wabt  also apt-get install wabt (wat2wasm) if wat2wasm is missing.
set -euo pipefail

# Pinned versions. protoc-gen-go must match google.golang.org/protobuf in go.mod.
BUF_VERSION=v1.75.0
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.5.1
GRPC_GATEWAY_VERSION=v2.33.0

with_wabt=false
for arg in "$@"; do
	case "$arg" in
	--with-wabt) with_wabt=true ;;
	-h | --help)
		sed -n '2,10p' "$0"
		exit 0
		;;
	*)
		echo "install-tools: unknown argument: $arg" >&2
		exit 2
		;;
	esac
done

gobin="$(go env GOBIN)"
if [[ -z "$gobin" ]]; then
	gobin="$(go env GOPATH)/bin"
fi

# install <binary> <package> <version> [<module>]
# The module (for the version check) defaults to the package path.
install() {
	local bin="$1" pkg="$2" version="$3" mod="${4:-$2}"
	local path="$gobin/$bin"
	if [[ -x "$path" ]] &&
		go version -m "$path" 2>/dev/null | awk -v m="$mod" -v v="$version" \
			'$1 == "mod" && $2 == m && $3 == v { found = 1 } END { exit !found }'; then
		echo "install-tools: $bin $version already installed"
		return
	fi
	echo "install-tools: installing $bin $version"
	GOFLAGS=-buildvcs=false go install "$pkg@$version"
}

install buf github.com/bufbuild/buf/cmd/buf "$BUF_VERSION" github.com/bufbuild/buf
install protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION" google.golang.org/protobuf
install protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"
install protoc-gen-grpc-gateway github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway "$GRPC_GATEWAY_VERSION" github.com/grpc-ecosystem/grpc-gateway/v2
install protoc-gen-openapiv2 github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2 "$GRPC_GATEWAY_VERSION" github.com/grpc-ecosystem/grpc-gateway/v2

if $with_wabt; then
	if command -v wat2wasm >/dev/null 2>&1; then
		echo "install-tools: wat2wasm already installed"
	else
		echo "install-tools: installing wabt (apt)"
		sudo=""
		if [[ "$(id -u)" != 0 ]]; then
			sudo="sudo"
		fi
		$sudo apt-get update
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y wabt
	fi
fi

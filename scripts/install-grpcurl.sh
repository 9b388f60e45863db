#!/usr/bin/env bash
# install-grpcurl.sh installs grpcurl into $(go env GOPATH)/bin, for the test
# that drives a host the way a user does from a shell (host/server:
# TestGrpcurlListsDescribesChecksAndDecodesErrorDetails; it skips when
# grpcurl is not on PATH). It is idempotent: the pinned version already
# installed (per `go version -m`) is kept.
#
# Usage: scripts/install-grpcurl.sh
set -euo pipefail

GRPCURL_MODULE=github.com/fullstorydev/grpcurl
GRPCURL_VERSION=v1.9.3

bin="$(go env GOPATH)/bin/grpcurl"
if [ -x "$bin" ] && go version -m "$bin" 2>/dev/null | grep -q "mod[[:space:]]*$GRPCURL_MODULE[[:space:]]*$GRPCURL_VERSION"; then
	echo "grpcurl $GRPCURL_VERSION already installed at $bin"
	exit 0
fi
GOFLAGS=-buildvcs=false go install "$GRPCURL_MODULE/cmd/grpcurl@$GRPCURL_VERSION"
echo "installed grpcurl $GRPCURL_VERSION at $bin (make sure $(go env GOPATH)/bin is on PATH)"

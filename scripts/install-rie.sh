#!/usr/bin/env bash
# install-rie.sh installs the AWS Lambda Runtime Interface Emulator (aws-lambda-rie) into
# $(go env GOPATH)/bin, for the Lambda emulator's conformance test and benchmark
# (emulators/lambda: TestRuntimeAPIAgreesWithRIE, BenchmarkWarmInvoke). Those skip when
# aws-lambda-rie is not on PATH. It is idempotent: the pinned version already installed
# (per `go version -m`) is kept.
#
# The module has only pseudo-versions; building takes about 20 s.
#
# Usage: scripts/install-rie.sh
set -euo pipefail

RIE_MODULE=github.com/aws/aws-lambda-runtime-interface-emulator
RIE_VERSION=v0.0.0-20261030222936-bef5c4ba774d

bin="$(go env GOPATH)/bin/aws-lambda-rie"
if [ -x "$bin" ] && go version -m "$bin" 2>/dev/null | grep -q "mod[[:space:]]*$RIE_MODULE[[:space:]]*$RIE_VERSION"; then
	echo "aws-lambda-rie $RIE_VERSION already installed at $bin"
	exit 0
fi
go install "$RIE_MODULE/cmd/aws-lambda-rie@$RIE_VERSION"
echo "installed aws-lambda-rie $RIE_VERSION at $bin (make sure $(go env GOPATH)/bin is on PATH)"

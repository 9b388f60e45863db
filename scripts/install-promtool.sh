#!/usr/bin/env bash
# install-promtool.sh installs Prometheus's promtool into $(go env GOPATH)/bin,
# built from the Go module proxy (Prometheus's release binaries are not
# fetched). The tests that read a host's and the control plane's /metrics run
# `promtool check metrics` on them when promtool is on PATH (runtime/process:
# TestHostRegistersItsMetricsAddressAndExpositionsLintClean; host/server's
# metrics tests). It is idempotent: the pinned version already installed
# (per `go version -m`) is kept. The first build is long: promtool links
# Prometheus's service discovery, cloud SDKs included (14 min of CPU, 53 min
# on the shared 2-core machine under load; 20 s once the build cache is warm).
#
# Usage: scripts/install-promtool.sh
set -euo pipefail

PROMETHEUS_MODULE=github.com/prometheus/prometheus
PROMETHEUS_VERSION=v0.316.0

bin="$(go env GOPATH)/bin/promtool"
if [ -x "$bin" ] && go version -m "$bin" 2>/dev/null | grep -q "mod[[:space:]]*$PROMETHEUS_MODULE[[:space:]]*$PROMETHEUS_VERSION"; then
	echo "promtool $PROMETHEUS_VERSION already installed at $bin"
	exit 0
fi
GOFLAGS=-buildvcs=false go install "$PROMETHEUS_MODULE/cmd/promtool@$PROMETHEUS_VERSION"
echo "installed promtool $PROMETHEUS_VERSION at $bin (make sure $(go env GOPATH)/bin is on PATH)"

# Fusionize make targets. Each target is self-contained; add new ones (test,
# bench, ...) in their own section below and list them in .PHONY.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c

GOBIN := $(or $(shell go env GOBIN),$(shell go env GOPATH)/bin)
# The pinned local plugins and buf come first on PATH.
export PATH := $(GOBIN):$(PATH)

BUF := buf

.PHONY: help
help: ## list targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

# ---- protobuf ---------------------------------------------------------------

# Generated files under proto/, removed before generating so that a deleted
# .proto leaves nothing stale behind.
PROTO_GENERATED = find proto -type f \( -name '*.pb.go' -o -name '*.pb.gw.go' -o -name '*.swagger.json' -o -name '*.binpb' \)

.PHONY: tools
tools: ## install the pinned code generators (scripts/install-tools.sh)
	scripts/install-tools.sh

.PHONY: generate
generate: tools ## regenerate Go code and the OpenAPI spec from proto/, offline
	$(PROTO_GENERATED) -delete
	$(BUF) generate
	# The descriptor set with comments that server reflection answers from
	# (proto/descriptor).
	$(BUF) build proto --exclude-imports --as-file-descriptor-set -o proto/descriptor/fusionize.binpb

.PHONY: lint
lint: tools ## buf lint the protos
	$(BUF) lint

.PHONY: check-generate
check-generate: tools ## fail if regenerating changes anything under proto/
	scripts/check-generate.sh

# ---- set-up, build, test ----------------------------------------------------

.PHONY: setup
setup: ## install what building the apps and testing need beyond Go (wabt, the AssemblyScript compiler)
	scripts/setup.sh

.PHONY: cli
cli: ## build the fusionize command into bin/
	go build -o bin/fusionize ./cmd/fusionize

.PHONY: demo
demo: setup cli ## the main job: the feedback loop on the IoT app, locally
	bin/fusionize demo examples/iot

.PHONY: test
test: setup ## vet and run every test (go test ./...)
	go vet ./...
	go test -timeout 25m ./...

.PHONY: test-load
test-load: setup ## the emulators' load-independence tests, one package at a time on an otherwise idle machine (build tag loadtest; ~1 min)
	go test -tags loadtest -p 1 -count=1 -run 'DoesNotDependOn|DependOnLoad' -v ./emulators/sandbox ./emulators/lambda ./emulators/gcf

.PHONY: test-emulated
test-emulated: setup ## the long runs on the emulated clouds: watch re-placements, module fusion deployed (build tag emulated; ~15 min)
	go test -tags emulated -run 'TestWatchReplaces|TestDemoDeploysAModuleFused|TestIoTModuleFusedOnLambda' -timeout 60m -v ./cmd/fusionize ./examples

.PHONY: test-race
test-race: setup ## the fast tests under the race detector
	go test -race -short ./...

.PHONY: converge
converge: setup ## the model strategy against sweep's measured best, all five apps on the emulated Lambda (build tag emulated; well over an hour; FUSIONIZE_CONVERGE_APPS=app narrows it)
	go test -tags emulated -run TestModelConvergesToSweepBest -timeout 180m -v ./cmd/fusionize

.PHONY: bench
bench: setup ## the benchmarks of BENCHMARKS.md
	go test ./host/ -run '^$$' -bench . -benchmem -count 1

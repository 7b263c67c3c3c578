# Targets: make help
GO ?= go
GOFLAGS_TEST ?= -timeout 60m
# Packages with concurrency, run under the race detector.
RACE_PKGS ?= $$($(GO) list ./coordinator/... ./worker/... ./internal/... 2>/dev/null)

.PHONY: help test vet fmt unit race fuzz bench compare build image proto check-proto

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

build: ## build the hess binary into bin/
	CGO_ENABLED=0 $(GO) build -o bin/hess ./cmd/hess

test: vet fmt unit race ## everything CI runs: vet, gofmt, unit tests, race tests

vet: ## go vet
	$(GO) vet ./...

fmt: ## fail if gofmt would change a file
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

unit: ## all tests (the full-data reference Newton run included: minutes)
	$(GO) test $(GOFLAGS_TEST) ./...

race: ## tests of the concurrent packages under the race detector
	@pkgs="$(RACE_PKGS)"; if [ -n "$$pkgs" ]; then $(GO) test -race -short $(GOFLAGS_TEST) $$pkgs; fi

bench: ## benchmarks of the single-process path (full data: minutes)
	$(GO) test -run '^$$' -bench . -benchtime 1x ./hessian/

compare: ## one Newton step in hess and in NumPy/SciPy on this machine, with ratios (minutes)
	bench/compare.sh

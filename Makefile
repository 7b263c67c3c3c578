# Targets: make help
GO ?= go
GOFLAGS_TEST ?= -timeout 60m
# Packages with concurrency, run under the race detector.
RACE_PKGS ?= $$($(GO) list ./coordinator/... ./worker/... ./internal/... 2>/dev/null)

# Each fuzz target runs this long in `make fuzz` (CI: briefly; locally: -fuzztime as long as you like).
FUZZTIME ?= 10s
# How long the fuzzer may spend shrinking each new interesting input; Go's default (60s)
# would spend a brief run minimizing instead of fuzzing (a failure is still minimized).
FUZZMINIMIZETIME ?= 1s

.PHONY: help test vet fmt tidy unit race deploy-test fuzz bench compare build image proto check-proto

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

build: ## build the hess binary into bin/
	CGO_ENABLED=0 $(GO) build -o bin/hess ./cmd/hess

image: build ## the Docker image hess:latest (FROM scratch: bin/hess and the MNIST files)
	GO=$(GO) deploy/image.sh bin/hess hess:latest

test: vet fmt tidy check-proto unit race fuzz deploy-test ## everything CI runs: vet, gofmt, go.mod tidy, generated code, unit, race, fuzz and deploy tests

vet: ## go vet
	$(GO) vet ./...

fmt: ## fail if gofmt would change a file
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

tidy: ## fail if go mod tidy would change go.mod or go.sum
	$(GO) mod tidy -diff

proto: ## regenerate the protobuf code (needs protoc 3.21.12: apt-get install protobuf-compiler)
	proto/gen.sh

check-proto: ## fail if regenerating the protobuf code would change it
	scripts/check-proto.sh

fuzz: ## every fuzz target for FUZZTIME (IDX reader, .npy reader, RPC decoders)
	@set -e; for dir in $$(grep -l '^func Fuzz' $$(git ls-files '*_test.go') | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -h -o '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go | sed 's/^func //'); do \
	    echo "== fuzz ./$$dir $$f ($(FUZZTIME))"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./$$dir; \
	  done; \
	done

unit: ## all tests but deploy/'s (the full-data reference Newton run included: minutes)
	$(GO) test $(GOFLAGS_TEST) $$($(GO) list ./... | grep -v '/deploy$$')

# Alone, after the others: its end-to-end tests train on the Docker engine and would share
# the 2 cores with the full-data tests of unit. -v prints what they measure. -count=1: the
# test binary does not import the hess it builds into the image, so go test's cache would
# replay an old result after a change to the code under test.
deploy-test: ## deploy/: manifests, compose.yaml, and the image on the Docker engine (minutes)
	$(GO) test $(GOFLAGS_TEST) -count=1 -v ./deploy/

race: ## tests of the concurrent packages under the race detector
	@pkgs="$(RACE_PKGS)"; if [ -n "$$pkgs" ]; then $(GO) test -race -short $(GOFLAGS_TEST) $$pkgs; fi

bench: ## benchmarks of the single-process path (full data: minutes)
	$(GO) test -run '^$$' -bench . -benchtime 1x ./hessian/

compare: ## one Newton step in hess and in NumPy/SciPy on this machine, with ratios (minutes)
	bench/compare.sh

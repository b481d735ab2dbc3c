# ringmaster: build, local cluster, tests, demo.
#
#   make demo    the main job on the local cluster
#   make test    starts the local cluster if needed, runs every test
#
# The cluster (3 ZooKeeper servers, 2 Cassandra nodes in dc1 and dc2, all on
# loopback) is run by internal/testcluster through cmd/devcluster, from jars
# Maven fetches into $(CLUSTER_DIR)/lib.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

CACHE_DIR   ?= $(CURDIR)/.cache
CLUSTER_DIR ?= $(CACHE_DIR)/cluster
BIN_DIR     := $(CURDIR)/bin
GO          ?= go
GO_TEST     ?= $(GO) test -count=1 -timeout 30m
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
DEVCLUSTER  := $(BIN_DIR)/devcluster -dir $(CLUSTER_DIR) -pom $(CURDIR)/third_party/cluster
# The secure variant (TLS, authentication) runs beside the full cluster from
# its own folder, with the same jars; the security tests use it.
DEVCLUSTER_SECURE := $(BIN_DIR)/devcluster -dir $(CLUSTER_DIR)/secure -lib $(CLUSTER_DIR)/lib -pom $(CURDIR)/third_party/cluster -variant secure

export RINGMASTER_TEST_CLUSTER := $(CLUSTER_DIR)

.PHONY: build test unit-test lint fmt-check vet staticcheck fuzz fuzz-short bench bench-peers tools \
        demo cluster-up cluster-up-single cluster-up-secure cluster-down cluster-status cluster-fetch clean

# Fuzz targets as package:Target; make test runs each briefly, make fuzz longer.
# Budgets are execution counts, not durations: a duration-based -fuzztime can
# fail with a bare "context deadline exceeded" when it ends (a race in Go's
# fuzzing coordinator, golang/go#75804, fixed after go1.26).
FUZZ_TARGETS   := ./render:FuzzLoad ./render:FuzzAliasBudget ./render:FuzzParseCQLType ./internal/state:FuzzPathRule
FUZZ_TIME      ?= 2000000x
FUZZ_TIME_TEST ?= 40000x

build:
	$(GO) build -o $(BIN_DIR)/ringmaster ./cmd/ringmaster
	$(GO) build -o $(BIN_DIR)/devcluster ./cmd/devcluster

## Local cluster ------------------------------------------------------------

cluster-fetch: build
	$(DEVCLUSTER) fetch

cluster-up: build
	$(DEVCLUSTER) up

# One ZooKeeper and one Cassandra node (dc1) for quick local work; make test
# uses the full cluster, so stop this one first.
cluster-up-single: build
	$(DEVCLUSTER) -variant single up

# ZooKeeper with digest authentication enforced and a TLS port (2192) beside
# its plain one (2191), and a Cassandra node (127.0.0.3) that wants a
# password and TLS; passwords and certificates are made at the first start,
# in $(CLUSTER_DIR)/secure.
cluster-up-secure: cluster-fetch
	$(DEVCLUSTER_SECURE) up

cluster-down: build
	$(DEVCLUSTER) down
	$(DEVCLUSTER_SECURE) down

cluster-status: build
	$(DEVCLUSTER) status

## Tests --------------------------------------------------------------------

# Every test, unit and integration, against the full local cluster. No test
# may skip: the run fails if one does.
test: fmt-check vet tools cluster-up cluster-up-secure fuzz-short
	@mkdir -p $(CACHE_DIR)
	$(GO_TEST) -v ./... 2>&1 | tee $(CACHE_DIR)/test.log | grep -E '^(=== RUN|--- |ok |FAIL|panic|PASS)|_test\.go:[0-9]+' || true
	@if grep -qE '^(FAIL|panic:)|^--- FAIL' $(CACHE_DIR)/test.log; then \
		echo "tests failed; full log: $(CACHE_DIR)/test.log"; \
		grep -E -B2 -A20 '^--- FAIL|^panic:' $(CACHE_DIR)/test.log | head -200; exit 1; fi
	@if grep -E -- '--- SKIP' $(CACHE_DIR)/test.log; then \
		echo "tests skipped under make test (see above); every test must run"; exit 1; fi
	@echo "$$(grep -c -- '^--- PASS' $(CACHE_DIR)/test.log) passed, 0 failed"

# Tests of pure logic only: integration tests skip without the cluster.
unit-test: tools
	env -u RINGMASTER_TEST_CLUSTER $(GO_TEST) ./...

fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZ_TIME=$(FUZZ_TIME_TEST)

fuzz:
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name in $$pkg for $(FUZZ_TIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZ_TIME) $$pkg || exit 1; done

# Benchmarks against the running cluster, each compared with its baseline
# from the same run, printed as one table (internal/benchreport). Packages
# run one at a time (-p 1): a benchmark shares the machine with nothing but
# the cluster. BENCH selects benchmarks (make bench BENCH=Command10k). The
# whole-command benchmarks (cmd/ringmaster) run a careful kazoo script
# beside ringmaster, from the virtualenv bench-peers makes.
BENCH_TIME ?= 5x
BENCH      ?= .
bench: cluster-up cluster-up-secure bench-peers
	@mkdir -p $(CACHE_DIR)
	RINGMASTER_BENCH_KAZOO=$(PEERS_PY) $(GO) test -p 1 -run '^$$' -bench '$(BENCH)' -benchmem -benchtime $(BENCH_TIME) -timeout 90m ./... 2>&1 | tee $(CACHE_DIR)/bench.log | grep -E '^(Benchmark|ok|FAIL|---)' || true
	@echo
	$(GO) run ./internal/benchreport < $(CACHE_DIR)/bench.log

# The peers the benchmarks compare with: kazoo and PyPI's PyYAML (with its
# C loader) in a virtualenv of the machine's python3, pinned.
PEERS_DIR := $(CACHE_DIR)/peers
PEERS_PY  := $(PEERS_DIR)/bin/python
KAZOO_VERSION  ?= 2.11.0
PYYAML_VERSION ?= 6.0.4
bench-peers: $(PEERS_DIR)/.installed
$(PEERS_DIR)/.installed:
	python3 -m venv $(PEERS_DIR)
	$(PEERS_DIR)/bin/pip install --quiet --disable-pip-version-check kazoo==$(KAZOO_VERSION) PyYAML==$(PYYAML_VERSION)
	@touch $@

# Tools the tests run: promtool (Debian's prometheus package) checks the
# alert rules in monitoring/ and a real scrape of the controller.
tools:
	@command -v promtool >/dev/null || { \
		echo "installing promtool (Debian package prometheus)"; \
		SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 || \
		{ $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends prometheus; }; }
	@promtool --version | head -1

## Lint ---------------------------------------------------------------------

lint: fmt-check vet staticcheck

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

## Demo ---------------------------------------------------------------------

# The whole loop on the local cluster with examples/' local environment:
# validate, diff against the live cluster, apply, diff again (no changes),
# status; then the controller following a Git repository made from
# examples/ applies a pushed commit; then an example application follows a
# flag change through the OpenFeature provider; then an agent per node
# applies a node setting. Safe to run again.
RM := $(BIN_DIR)/ringmaster
DEMO_ENV := --repo examples --env local

demo: cluster-up
	@echo; echo "== 1. validate every environment of examples/ (manifests and policies)"
	$(RM) validate --repo examples
	@echo; echo "== 2. what would change on the local cluster (exit 2: there are changes)"
	$(RM) diff $(DEMO_ENV) --detailed-exitcode || [ $$? -eq 2 ]
	@echo; echo "== 3. apply under the ZooKeeper lock"
	$(RM) apply $(DEMO_ENV) --auto-approve
	@echo; echo "== 4. diff again: nothing left to change (exit 0)"
	$(RM) diff $(DEMO_ENV) --detailed-exitcode
	@echo; echo "== 5. status"
	$(RM) status $(DEMO_ENV)
	@echo; echo "== 6. the controller: follow a Git branch, apply a pushed commit, reconcile --wait"
	scripts/demo-controller.sh $(RM) $(CACHE_DIR)/demo-controller
	@echo; echo "== 7. an application: flags through the OpenFeature provider, a flag change applied reaches it"
	GO=$(GO) scripts/demo-app.sh $(RM) $(CACHE_DIR)/demo-app
	@echo; echo "== 8. node agents: one per Cassandra node; a dc2 setting applied reaches the dc2 node"
	scripts/demo-agents.sh $(RM) $(BIN_DIR)/devcluster $(CLUSTER_DIR) $(CACHE_DIR)/demo-agents

clean: cluster-down
	rm -rf $(BIN_DIR) $(CLUSTER_DIR)

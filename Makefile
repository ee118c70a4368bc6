# Profiles. `make help` lists the targets; `make run` and `make test` are the two that matter.
# Targets that need the local services or tools run scripts/setup.sh first (idempotent, about a second when all
# is there) and source scripts/env.sh for the PROFILES_* defaults, CHDB_LIB_PATH and buf on PATH.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

ENV := . scripts/env.sh
# Go files we own: everything but generated code and installed tools.
GO_FILES := find . \( -path ./gen -o -path ./.tools -o -path ./.git -o -path ./bin -o -name node_modules \) -prune -o -name '*.go' -print

.PHONY: help setup tools build run test generate verify lint bench benchcmp

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-9s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## Install/start Postgres, NATS, ClickHouse; install buf and libchdb into .tools
	@scripts/setup.sh

tools: ## Install only buf and libchdb into .tools
	@scripts/setup.sh tools

build: ## Build bin/profiles
	go build -o bin/profiles ./cmd/profiles

run: setup build ## Migrate, create a demo project (prints its keys), then serve
	$(ENV) && bin/profiles migrate && bin/profiles projects demo && exec bin/profiles serve

test: setup ## go vet, then all tests against the local services
	$(ENV) && go vet ./... && go test -count=1 -p 2 -timeout 20m ./...

generate: tools ## Regenerate gen/ (Go) and web/gen/ (TypeScript) from proto/ with buf
	$(ENV) && buf generate

lint: tools ## buf lint, go vet, gofmt check
	$(ENV) && buf lint
	go vet ./...
	@out=$$($(GO_FILES) | xargs -r gofmt -l); if [[ -n $$out ]]; then echo "gofmt -w needed:"; echo "$$out"; exit 1; fi

verify: lint ## lint, and check gen/ is exactly what buf generates
	$(ENV) && go test -count=1 -run '^TestGeneratedCodeIsFresh$$' ./proto/

bench: setup ## Run the benchmarks (no tests)
	$(ENV) && go test -run '^$$' -bench . ./...

benchcmp: ## Compare the in-process Go benchmarks of BASE (default HEAD) with the working tree, via benchstat
	@scripts/benchcmp.sh $(or $(BASE),HEAD)

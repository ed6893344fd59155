# SQAL functions — developer entry points. The README lists what each target does.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PORT ?= 8000

.PHONY: help run test test-short lint fmt bench bench-ingest bench-read bench-ml bench-startup migrate build kind-up

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

run: ## start the whole system on http://localhost:$(PORT) (PostgreSQL, Redis, every function, event bus)
	@scripts/ensure-deps.sh
	PORT=$(PORT) go run ./tools/devstack

test: lint ## lint, then every test of every module, with -race, against real PostgreSQL and Redis
	@scripts/test.sh

test-short: ## the same without -race (faster while iterating)
	@RACE= scripts/test.sh

lint: ## gofmt and go vet on every module
	@scripts/lint.sh

fmt: ## format the code
	@gofmt -w $$(git ls-files '*.go')

build: ## build every function binary into bin/ (static, stripped)
	@scripts/build.sh

migrate: ## apply migrations to DATABASE_URL (ARGS="status", "down", ...)
	go run ./tools/migrate $(or $(ARGS),up)

bench: bench-ingest bench-read bench-ml bench-startup ## every benchmark table

bench-ingest: ## ingest throughput/latency vs the COPY ceiling
	@scripts/ensure-deps.sh
	go run ./tools/bench-ingest

bench-read: ## read API latency on 1,000,000 samples, cached and uncached
	@scripts/ensure-deps.sh
	go run ./tools/bench-read

bench-ml: ## predictions/s, p99, training time on 100,000 samples, peak memory
	@scripts/ensure-deps.sh
	go run ./tools/bench-ml

bench-startup: ## per function: binary size, time to ready, idle RSS
	@scripts/ensure-deps.sh
	go run ./tools/bench-startup

kind-up: ## create a kind cluster with Knative and run skaffold dev (needs Docker)
	scripts/kind-up.sh

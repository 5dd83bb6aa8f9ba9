# govx — developer entry points. `make` alone lists them.
#
# Everything local lives in .govx/ (ignored by git): PostgreSQL and Redis data,
# the embedded Kafka broker's data, keys, and the built binary.
# Extra arguments: make run ARGS='...', make test ARGS='-run TestX -v'.

SHELL := /bin/bash
.DEFAULT_GOAL := help

ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
BIN  := $(ROOT)/.govx/bin/govx
ARGS ?=

# Go from the official tarball may not be on PATH (e.g. under CI).
export PATH := $(PATH):/usr/local/go/bin

.PHONY: help run run-federation test bench build services status stop clean

help: ## list the targets
	@echo "govx make targets:"
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z-]*:.*## / { printf "  make %-9s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

run: ## start PostgreSQL and Redis if needed, build, and run `govx up` in the foreground (Ctrl-C stops it)
	@$(ROOT)/scripts/run.sh $(ARGS)

run-federation: ## like run, but a province and two cities: three linked nodes (ports 8080-8082)
	@$(ROOT)/scripts/run.sh --federation $(ARGS)

test: ## go vet and the whole test suite against real PostgreSQL and Redis
	@$(ROOT)/scripts/test.sh $(ARGS)

# `govx bench` drives load against a running system: have `make run` going in
# another terminal first.
bench: build ## load benchmark against a running `make run` (start that in another terminal first)
	@eval "$$($(ROOT)/scripts/services.sh env)" && $(BIN) bench $(ARGS)

build: ## build .govx/bin/govx
	@mkdir -p $(dir $(BIN))
	cd $(ROOT) && go build -o $(BIN) ./cmd/govx

services: ## start PostgreSQL (127.0.0.1:54329) and Redis (127.0.0.1:63799), installing them if missing
	@$(ROOT)/scripts/services.sh start

status: ## show whether PostgreSQL and Redis are running
	@$(ROOT)/scripts/services.sh status

stop: ## stop PostgreSQL and Redis
	@$(ROOT)/scripts/services.sh stop

clean: ## stop PostgreSQL and Redis and delete .govx/ (all local data) and a stray ./govx binary
	@$(ROOT)/scripts/services.sh clean
	@if [ -f $(ROOT)/govx ]; then echo "deleting $(ROOT)/govx"; rm -f $(ROOT)/govx; fi

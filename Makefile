# kubesmith — the two commands a user needs: `make lab` and `make test`.
# Both install their own dependencies (idempotently) before doing anything else.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := .venv
BIN := $(VENV)/bin
LAB_DIR ?= $(CURDIR)/.lab
LAB_PORT ?= 6443
PYTEST_ARGS ?=

.PHONY: deps lab lab-down test lint typecheck layers unit bench help

help:
	@echo "make lab    - install dependencies and start a local cluster (embedded datastore)"
	@echo "make test   - install dependencies and run every check and test"
	@echo "make lab-down - stop the local cluster started by make lab"

deps:
	@scripts/install-deps.sh

lab: deps
	@scripts/lab.sh up "$(LAB_DIR)" "$(LAB_PORT)"

lab-down:
	@scripts/lab.sh down "$(LAB_DIR)" "$(LAB_PORT)"

lint: deps
	$(BIN)/ruff check kubesmith tests bench

typecheck: deps
	$(BIN)/mypy

layers: deps
	$(BIN)/lint-imports

unit: deps
	$(BIN)/pytest $(PYTEST_ARGS)

test: deps lint typecheck layers
	$(BIN)/pytest $(PYTEST_ARGS)

# The one entry point for people and CI. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PACKAGES := -e services/common[train,telemetry,drift] -e services/scoring -e services/feature-engineering \
            -e services/telemetry-forwarder -e services/retrain-controller
PYTEST_ARGS ?=
# Checks that tools/make/*.mk add (chart, pipelines, images): run by `make test` too.
CHECK_TARGETS :=

.PHONY: help setup system venv test checks unit lint format typecheck demo bench clean

help:
	@echo "make demo   - set up and run the whole loop on embedded defaults"
	@echo "make test   - set up and run every test (unit, integration, e2e) plus lint and types"
	@echo "make lint / format / typecheck / bench / clean"

setup: system venv

# System pieces the tests need (PostgreSQL, the Kafka broker jars, helm, ...): one idempotent
# script per piece in tools/setup.d, cached between runs.
system:
	@for script in tools/setup.d/*.sh; do [ -e "$$script" ] || continue; bash "$$script" || exit 1; done

venv: $(VENV)/.installed

$(VENV)/.installed: requirements/dev.txt services/*/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/dev.txt $(PACKAGES)
	touch $@

test: setup lint typecheck checks
	$(BIN)/pytest $(PYTEST_ARGS)

# Declared after the includes below have added to CHECK_TARGETS.
.SECONDEXPANSION:
checks: $$(CHECK_TARGETS)

unit: venv
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: venv
	$(BIN)/mypy services/common/src services/scoring/src services/feature-engineering/src \
	    services/telemetry-forwarder/src services/retrain-controller/src

demo: venv
	$(BIN)/driftloop demo

clean:
	rm -rf $(VENV) .driftloop .pytest_cache .mypy_cache .ruff_cache

-include tools/make/*.mk

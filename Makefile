# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Every install (make, CI, the Dockerfile, deploy/README.md) takes these exact versions.
CONSTRAINTS := constraints.txt
export SFM_CONFIG ?= config/sfm.toml

.PHONY: install constraints demo test lint bench stress clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --constraint $(CONSTRAINTS) -e '.[test]'
	touch $@

# An editable install runs from this tree; with PYTHONDONTWRITEBYTECODE set (this machine,
# CI, the image) nothing would ever compile it, and every `sfm` would compile sfm's modules
# again at start (a wheel's install compiles them once). Only changed modules compile here.
install: $(STAMP)
	@$(BIN)/python -m compileall -q monitor connectors

# After a change to pyproject.toml's dependencies: the newest versions they allow, pinned
# by uv (from PyPI) for Python 3.11, the suite's and the image's.
constraints: | $(BIN)/python
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra test --extra simulator --python-version 3.11 \
		--custom-compile-command "make constraints" --annotation-style line -o $(CONSTRAINTS)

# The daemon on the demo config: SQLite in var/, the built-in simulator, the demo
# factories, a fast schedule, alerts to var/outbox/. Ctrl-C stops it cleanly.
demo: install
	$(BIN)/sfm db upgrade
	@# Run again after a rename or revocation, the import refuses to undo it (exit 3): the
	@# demo goes on with the register as decided.
	-SFM_OPERATOR=bureau $(BIN)/sfm factories import monitor/defaults/demo/factories.csv
	@echo "sfm run: the daemon. In another terminal: .venv/bin/sfm flags list; Ctrl-C stops it."
	$(BIN)/sfm run

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install
	@status=0; for bench in tests/perf/bench_*.py; do \
		echo "== $$bench"; $(BIN)/python "$$bench" || status=1; \
	done; exit $$status

# Faults, crashes, races, identity and fuzzing at full scale: one table of promises.
# Not part of `make test`, which runs the same at a small scale. About three hours, two of
# them the memory soak (SFM_SOAK_MINUTES shortens it).
stress: install
	$(BIN)/python tests/stress/stress.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache *.egg-info

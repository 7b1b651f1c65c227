# The two commands of the README: `make demo` and `make test`.
# Each creates .venv when it is missing and installs the project into it
# (editable, with the dev extra); the stamp makes a second run instant
# unless pyproject.toml changed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/surgegate demo

test: $(STAMP)
	$(BIN)/python -m pytest

# Benchmarks (never part of `make test`; each has a --smoke mode that the tests run).
bench: $(STAMP)
	$(BIN)/python benchmarks/recorder_memory.py
	$(BIN)/python benchmarks/open_model.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

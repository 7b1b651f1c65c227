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
# About 40 minutes on a 2-core machine; each script takes --rounds and --duration.
# nginx and wrk come from apt: apt-get install -y nginx wrk
BENCHMARKS := generator_efficiency percentile_accuracy open_model stub_ratio scale_out analysis_cost recorder_memory
bench: $(STAMP)
	@status=0; for b in $(BENCHMARKS); do \
		echo "== benchmarks/$$b.py"; $(BIN)/python benchmarks/$$b.py || status=1; \
	done; exit $$status

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

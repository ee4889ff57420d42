# Two commands on a fresh clone:  `make demo` (the main job) and `make test` (the tests).
# Each creates the virtual environments it needs on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PHOENIX_VENV := .venv-phoenix

.PHONY: demo test lint bench venv phoenix clean

$(BIN)/.installed: pyproject.toml setup.py collector/otelml_collector/otlp/_fastscan.c
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(BIN)/.installed

# A real third-party OTLP receiver (Arize Phoenix) for the forwarding tests, in its own environment
# so its pins never touch ours.
$(PHOENIX_VENV)/bin/phoenix:
	$(PY) -m venv $(PHOENIX_VENV)
	$(PHOENIX_VENV)/bin/pip install -q 'arize-phoenix>=8'

phoenix: $(PHOENIX_VENV)/bin/phoenix

demo: venv
	$(BIN)/python -m examples.demo

test: venv phoenix
	OTELML_PHOENIX=$(CURDIR)/$(PHOENIX_VENV)/bin/phoenix $(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check .

# The benchmarks of docs/benchmarks.md, with the commands recorded there (about 20 minutes on 2 cores;
# bench_drift.py creates .venv-evidently on first use, Evidently 0.7 does not import under pandas 3).
bench: venv
	$(BIN)/python benchmarks/bench_overhead.py --runs 100 --calls 200
	$(BIN)/python benchmarks/bench_overhead_instructions.py --calls 1000 --manual  # needs valgrind
	$(BIN)/python benchmarks/bench_core.py --runs 11
	$(BIN)/python benchmarks/bench_sidecar.py --runs 5 --requests 200 --rss-spans 1000000 --breakdown
	$(BIN)/python benchmarks/bench_sidecar.py --runs 5 --requests 60 --rss-spans 0 --only forward --only extract --only drift
	$(BIN)/python benchmarks/bench_drift_processor.py --runs 5 --requests 100 --breakdown
	$(BIN)/python benchmarks/bench_ingest.py --runs 5 --requests 60
	$(BIN)/python benchmarks/bench_drift.py --rows 100000 --runs 5
	$(BIN)/python benchmarks/bench_validate.py --runs 7 --ge-runs 7

clean:
	rm -rf $(VENV) $(PHOENIX_VENV) build *.egg-info

# Two commands on a fresh clone:  `make demo` (the main job) and `make test` (the tests).
# Each creates the virtual environments it needs on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PHOENIX_VENV := .venv-phoenix
FEAST_VENV := .venv-feast

.PHONY: demo test lint sanitize bench venv phoenix feast clean

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

# Feast pins pandas < 3, which would change the main environment: the Feast instrumentor's tests
# (tests/feast_venv) run in their own, started by tests/integrations/test_feast_venv.py.
$(FEAST_VENV)/bin/.installed: pyproject.toml
	$(PY) -m venv $(FEAST_VENV)
	$(FEAST_VENV)/bin/pip install -q --upgrade pip
	$(FEAST_VENV)/bin/pip install -q -e '.[feast,xgboost,sklearn,examples]' 'pytest>=8' 'pytest-asyncio>=0.23' 'oteltap>=1.0'
	touch $@

feast: $(FEAST_VENV)/bin/.installed

# The gateway runs on the Feast environment's Python (Feast pins pandas < 3), the rest on .venv.
demo: venv feast
	OTELML_FEAST_PYTHON=$(CURDIR)/$(FEAST_VENV)/bin/python $(BIN)/python -m examples.demo

test: venv phoenix feast
	OTELML_PHOENIX=$(CURDIR)/$(PHOENIX_VENV)/bin/phoenix OTELML_FEAST_PYTHON=$(CURDIR)/$(FEAST_VENV)/bin/python \
		$(BIN)/python -m pytest -q

# The C scanner built with ASan+UBSan, running its parity/fuzz tests (about 30 s of CPU).
sanitize: venv
	.ci/sanitize-fastscan

lint: venv
	$(BIN)/ruff check .

# The benchmarks of docs/benchmarks.md, with the commands recorded there (about 20 minutes on 2 cores;
# bench_drift.py creates .venv-evidently on first use, Evidently 0.7 does not import under pandas 3).
bench: venv feast
	$(BIN)/python benchmarks/bench_overhead.py --runs 100 --calls 200
	$(BIN)/python benchmarks/bench_overhead_instructions.py --calls 1000 --manual --repeat 3  # needs valgrind
	$(FEAST_VENV)/bin/python benchmarks/bench_overhead_instructions.py --calls 1000 --feast-calls 200 --only-integrations --repeat 2
	$(BIN)/python benchmarks/bench_core.py --runs 11
	$(BIN)/python benchmarks/bench_sidecar.py --runs 5 --requests 200 --rss-spans 1000000 --breakdown
	$(BIN)/python benchmarks/bench_sidecar.py --runs 5 --requests 60 --rss-spans 0 --only forward --only extract --only drift
	$(BIN)/python benchmarks/bench_drift_processor.py --runs 5 --requests 100 --breakdown
	$(BIN)/python benchmarks/bench_ingest.py --runs 5 --requests 60
	$(BIN)/python benchmarks/bench_tls.py --runs 7 --requests 200
	$(BIN)/python benchmarks/bench_drift.py --rows 100000 --runs 5
	$(BIN)/python benchmarks/bench_validate.py --runs 7 --ge-runs 7

clean:
	rm -rf $(VENV) $(PHOENIX_VENV) $(FEAST_VENV) build *.egg-info

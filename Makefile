# Two commands on a fresh clone:  `make demo` (the main job) and `make test` (the tests).
# Each creates the virtual environments it needs on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PHOENIX_VENV := .venv-phoenix

.PHONY: demo test lint bench venv phoenix clean

$(BIN)/.installed: pyproject.toml
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

bench: venv
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(PHOENIX_VENV) build *.egg-info

# Two commands do all setup: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The dev/CI environment pins torch (a CPU wheel on these machines); pyproject states a range.
TORCH  ?= torch==2.13.0
# `make test` compiles no bytecode at install (pip would compile all of torch, transformers, scipy, ... one file
# at a time: about a minute) and lets Python write it on first import instead, for what the tests import: the
# tests run with PYTHONDONTWRITEBYTECODE unset (where it is set, as on these machines, every process would
# compile torch again). `make demo` keeps pip's default: one process, compiled at install.

.PHONY: demo test install dev clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check $(TORCH)
	$(PY) -m pip install -q --disable-pip-version-check -e .
	touch $@

# one pip call for torch, fromzero and the dev extras (a second call would resolve and build again)
$(VENV)/.dev: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --no-compile $(TORCH) -e ".[dev]"
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
dev: $(VENV)/.dev

# runs/demo is the demo's own: running it again replaces it (--overwrite)
demo: $(VENV)/.installed
	$(VENV)/bin/fromzero train mnist-cnn --demo --out runs/demo --overwrite
	@echo "next: source $(VENV)/bin/activate, then: fromzero predict runs/demo examples/digit-7.png"

test: $(VENV)/.dev
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest -n auto --dist loadfile tests   # a file's tests share a worker (and its fixtures)

clean:
	rm -rf $(VENV) runs .pytest_cache

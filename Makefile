# Two commands do all setup: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The dev/CI environment pins torch (a CPU wheel on these machines); pyproject states a range.
TORCH  ?= torch==2.13.0
# Not --no-compile: where PYTHONDONTWRITEBYTECODE is set (as on these machines) no .pyc is ever written, and each
# process would compile torch from source again (+3 s per command; the test suite runs hundreds).

.PHONY: demo test install dev clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check $(TORCH)
	$(PY) -m pip install -q --disable-pip-version-check -e .
	touch $@

# one pip call for torch, fromzero and the dev extras (a second call would resolve and build again)
$(VENV)/.dev: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check $(TORCH) -e ".[dev]"
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
dev: $(VENV)/.dev

# runs/demo is the demo's own: running it again replaces it (--overwrite)
demo: $(VENV)/.installed
	$(VENV)/bin/fromzero train mnist-cnn --demo --out runs/demo --overwrite
	@echo "next: source $(VENV)/bin/activate, then: fromzero predict runs/demo examples/digit-7.png"

test: $(VENV)/.dev
	$(PY) -m pytest -n auto --dist loadfile tests   # a file's tests share a worker (and its fixtures)

clean:
	rm -rf $(VENV) runs .pytest_cache

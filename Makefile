# The README's two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --disable-pip-version-check -c constraints.txt
ARGS   ?=

.PHONY: demo test bench venv clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Core dependencies only (numpy, scipy, numba, matplotlib).
$(VENV)/.core: pyproject.toml constraints.txt | $(PY)
	$(PIP) -e .
	touch $@

# Every test dependency.
$(VENV)/.test: pyproject.toml constraints.txt | $(PY)
	$(PIP) -e '.[test]'
	touch $@

$(VENV)/.bench: pyproject.toml constraints.txt | $(PY)
	$(PIP) -e '.[test,bench]'
	touch $@

venv: $(VENV)/.core

demo: $(VENV)/.core
	$(VENV)/bin/nadaraya demo $(ARGS)

test: $(VENV)/.test
	$(PY) -m pytest

bench: $(VENV)/.bench
	$(PY) benchmarks/run.py $(ARGS)

clean:
	rm -rf $(VENV) nadaraya-demo .pytest_cache .hypothesis

# The README's two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --disable-pip-version-check -c constraints.txt
# MXNet 1.9.1 needs numpy < 1.24: it gets an environment of its own.
MXVENV := .venv-mxnet
MXPY   := $(MXVENV)/bin/python
ARGS   ?=

.PHONY: demo test test-main test-mxnet bench venv clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(MXPY):
	$(PYTHON) -m venv $(MXVENV)

# Core dependencies only (numpy, scipy, numba, matplotlib).
$(VENV)/.core: pyproject.toml constraints.txt | $(PY)
	$(PIP) -e .
	touch $@

# Every test dependency (PyTorch CPU, TensorFlow CPU, scikit-learn, statsmodels, nbmake, ...).
$(VENV)/.test: pyproject.toml constraints.txt | $(PY)
	$(PIP) -e '.[test]'
	touch $@

$(MXVENV)/.test: pyproject.toml constraints-mxnet.txt | $(MXPY)
	$(MXPY) -m pip install --disable-pip-version-check -c constraints-mxnet.txt -e '.[mxnet]' pytest hypothesis pytest-randomly
	touch $@

$(VENV)/.bench: pyproject.toml constraints.txt | $(PY)
	$(PIP) -e '.[test,bench]'
	touch $@

venv: $(VENV)/.core

demo: $(VENV)/.core
	$(VENV)/bin/nadaraya demo $(ARGS)

test: test-main test-mxnet

# Both suites run in a random order (pytest-randomly), the seed printed in the header
# ("Using --randomly-seed=N"); replay that order with `make test ARGS=--randomly-seed=N`.
test-main: $(VENV)/.test
	$(PY) -m pytest -p randomly --nbmake $(ARGS)

test-mxnet: $(MXVENV)/.test
	$(MXPY) -m pytest tests/test_mxnet.py -o addopts="-ra --strict-markers" -p no:cacheprovider -p randomly $(ARGS)

bench: $(VENV)/.bench
	$(PY) benchmarks/run.py $(ARGS)

clean:
	rm -rf $(VENV) $(MXVENV) nadaraya-demo .pytest_cache .hypothesis

# The README's two commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --disable-pip-version-check -c constraints.txt
# MXNet 1.9.1 needs numpy < 1.24: it gets an environment of its own.
MXVENV := .venv-mxnet
MXPY   := $(MXVENV)/bin/python
ARGS   ?=

.PHONY: demo test test-main test-mxnet bench docs venv clean chromium r-reference

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

# The documentation's tools, and every test dependency (the pages run the frameworks, Dask, scikit-learn).
$(VENV)/.docs: pyproject.toml constraints.txt | $(PY)
	$(PIP) -e '.[test,docs]'
	touch $@

$(VENV)/.bench: pyproject.toml constraints.txt | $(PY)
	$(PIP) -e '.[test,bench]'
	touch $@

venv: $(VENV)/.core

demo: $(VENV)/.core
	$(VENV)/bin/nadaraya demo $(ARGS)

test: test-main test-mxnet

# The browser tests of `nadaraya explore` drive Debian's chromium through its chromedriver (Selenium).
chromium:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver; }

# R with KernSmooth, locfit, MASS and quantreg: the references of tests/test_r_reference.py
# (the committed fixtures in tests/r/fixtures/ need no R; the live check re-runs tests/r/fixtures.R).
R_PACKAGES := r-base-core r-cran-kernsmooth r-cran-locfit r-cran-mass r-cran-quantreg
r-reference:
	@command -v Rscript >/dev/null 2>&1 && Rscript -e 'for (p in c("KernSmooth","locfit","MASS","quantreg")) if (!requireNamespace(p, quietly=TRUE)) quit(status=1)' >/dev/null 2>&1 \
	  || { SUDO=$$(command -v sudo >/dev/null 2>&1 && [ "$$(id -u)" != 0 ] && echo sudo); \
	       $$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends $(R_PACKAGES); }

# Both suites run in a random order (pytest-randomly), the seed printed in the header
# ("Using --randomly-seed=N"); replay that order with `make test ARGS=--randomly-seed=N`.
test-main: $(VENV)/.test chromium r-reference
	$(PY) -m pytest -p randomly --nbmake $(ARGS)

test-mxnet: $(MXVENV)/.test
	$(MXPY) -m pytest tests/test_frameworks.py -m mxnet -o addopts="-ra --strict-markers" -p no:cacheprovider -p randomly $(ARGS)

# The documentation site, offline HTML in docs/_build/html/: every notebook, page and gallery
# example is executed (one that raises fails the build) and every warning is an error.
docs: $(VENV)/.docs
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

bench: $(VENV)/.bench
	$(PY) benchmarks/run.py $(ARGS)

clean:
	rm -rf $(VENV) $(MXVENV) nadaraya-demo .pytest_cache .hypothesis docs/_build docs/api docs/auto_examples

"""Collection rules for the whole suite (tests, doctests in src/, the notebook)."""

import importlib.util

# Framework modules are doctested only where their framework is installed: MXNet
# lives in its own virtual environment (.venv-mxnet), which runs tests/test_mxnet.py.
collect_ignore = [
    f"src/nadaraya/{name}.py"
    for name, module in (("torch", "torch"), ("tensorflow", "tensorflow"), ("mxnet", "mxnet"), ("dask", "dask"))
    if importlib.util.find_spec(module) is None
]
# tests/test_mxnet.py runs in .venv-mxnet (`make test` runs it there), not beside current numpy
if importlib.util.find_spec("mxnet") is None:
    collect_ignore.append("tests/test_mxnet.py")

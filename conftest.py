"""Collection rules for the whole suite (tests, doctests in src/, the notebook)."""

import importlib.util

# Framework modules are doctested only where their framework is installed: MXNet
# lives in its own virtual environment (.venv-mxnet), which runs its cases of tests/test_frameworks.py.
collect_ignore = [
    f"src/nadaraya/{name}.py"
    for name, module in (("torch", "torch"), ("tensorflow", "tensorflow"), ("mxnet", "mxnet"), ("jax", "flax"), ("dask", "dask"))
    if importlib.util.find_spec(module) is None
]


def pytest_collection_modifyitems(config, items):
    """The MXNet cases (marker ``mxnet``) run in .venv-mxnet (`make test-mxnet`): deselected where MXNet is absent."""
    if importlib.util.find_spec("mxnet") is None:
        mxnet = [item for item in items if item.get_closest_marker("mxnet") is not None]
        if mxnet:
            config.hook.pytest_deselected(items=mxnet)
            items[:] = [item for item in items if item.get_closest_marker("mxnet") is None]

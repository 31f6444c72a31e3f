"""Collection rules for the whole suite (tests, doctests in src/, the notebook)."""

import importlib.util

pytest_plugins = ["pytester"]  # tests/test_global_state_guard.py runs the guard below on tests that misbehave

# Framework modules are doctested only where their framework is installed: MXNet
# lives in its own virtual environment (.venv-mxnet), which runs its cases of tests/test_frameworks.py.
collect_ignore = [
    f"src/nadaraya/{name}"
    for name, module in (("torch.py", "torch"), ("tensorflow.py", "tensorflow"), ("mxnet.py", "mxnet"), ("jax.py", "flax"),
                         ("dask", "dask"), ("explore", "bokeh"))
    if importlib.util.find_spec(module) is None
]


def pytest_collection_modifyitems(config, items):
    """The MXNet cases (marker ``mxnet``) run in .venv-mxnet (`make test-mxnet`): deselected where MXNet is absent."""
    if importlib.util.find_spec("mxnet") is None:
        mxnet = [item for item in items if item.get_closest_marker("mxnet") is not None]
        if mxnet:
            config.hook.pytest_deselected(items=mxnet)
            items[:] = [item for item in items if item.get_closest_marker("mxnet") is None]


# ---------------------------------------------------------------- no test leaves global state behind
import copy  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402

import pytest  # noqa: E402

_START_CWD = os.getcwd()
_between_tests = {}  # the state as the previous test left it: wider-scoped fixtures must not change it either


def _default_dask_client():
    """The client dask would use by default (a default or current distributed.Client), or None."""
    client_module = sys.modules.get("distributed.client")
    return None if client_module is None else client_module._get_global_client()


def _numba_threads():
    """numba's thread count if its threading layer has started (only then can it have been changed), else None."""
    parallel = sys.modules.get("numba.np.ufunc.parallel")
    if parallel is None or not parallel._is_initialized:
        return None
    return parallel.get_num_threads()


def _dask_config():
    config = sys.modules.get("dask.config")
    if config is None:
        return None
    try:
        return copy.deepcopy(config.config)
    except Exception:  # an uncopyable value (a live object): compare its text
        return repr(config.config)


def _modules():
    """How many modules are imported: a library imported for the first time may legitimately add config
    defaults, warnings filters or environment variables (torch's inductor does, distributed does)."""
    return len(sys.modules)


def _state():
    return {
        "cwd": os.getcwd(),
        "os.environ": {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"},  # pytest's own
        "dask config": _dask_config(),
        "default Dask client": _default_dask_client(),
        "numba thread count": _numba_threads(),
    }


def _problems(before, after, imported):
    problems = []
    if after["cwd"] != _START_CWD:
        problems.append(f"cwd is {after['cwd']!r}, not {_START_CWD!r} (use monkeypatch.chdir)")
    if after["default Dask client"] is not None:
        problems.append(f"a default Dask client is set ({after['default Dask client']!r}); create clients with "
                        "set_as_default=False and pass them explicitly, or use `with client.as_current():`")
    threads = after["numba thread count"]
    if threads is not None:
        import numba

        if threads != numba.config.NUMBA_NUM_THREADS:
            problems.append(f"numba.get_num_threads() is {threads}, not {numba.config.NUMBA_NUM_THREADS} "
                            "(restore it with numba.set_num_threads in a finally block)")
    if before is not None and not imported:
        env_before, env_after = before["os.environ"], after["os.environ"]
        changed = sorted(k for k in env_before.keys() | env_after.keys() if env_before.get(k) != env_after.get(k))
        if changed:
            problems.append(f"os.environ changed: {', '.join(changed)} (use monkeypatch.setenv)")
        if before["dask config"] is not None and before["dask config"] != after["dask config"]:
            problems.append("dask.config changed (use `with dask.config.set(...):`)")
    return problems


@pytest.fixture(autouse=True)
def _no_global_state_left_behind(request):
    """Fail a test that leaves global state behind, or that runs after a fixture which left some.

    Checked before and after every test: the working directory, the
    environment, dask's config, the default Dask client (none may exist
    outside a ``with client.as_current():`` block), numba's thread count and
    the warnings filters. The environment, dask's config and the warnings
    filters are not compared across a step that imported new modules (their
    import-time side effects are the library's, not the test's).
    """
    modules = _modules()
    before = _state()
    problems = _problems(_between_tests.get("state"), before, _between_tests.get("modules") != modules)
    if problems:
        where = _between_tests.get("test", "the test session's start")
        pytest.fail(f"global state changed between {where} and this test (by a module- or session-scoped fixture, "
                    "or by that test's teardown): " + "; ".join(problems), pytrace=False)
    filters = list(warnings.filters)
    yield
    after = _state()
    imported = _modules() != modules
    problems = _problems(before, after, imported)
    if not imported and list(warnings.filters) != filters:
        problems.append("warnings filters changed (use `with warnings.catch_warnings():` or "
                        "@pytest.mark.filterwarnings)")
    if problems:  # report the culprit only: undo what can be undone, so the next test starts clean
        os.chdir(_START_CWD)
        for key in set(os.environ) - set(before["os.environ"]) - {"PYTEST_CURRENT_TEST"}:
            del os.environ[key]
        os.environ.update(before["os.environ"])
        if after["numba thread count"] is not None:
            import numba

            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        after = _state()
    _between_tests.update(state=after, modules=_modules(), test=request.node.nodeid)
    if problems:
        pytest.fail(f"{request.node.nodeid} left global state behind: " + "; ".join(problems), pytrace=False)

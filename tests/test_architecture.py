"""The package's shape (issue 10): small modules, no import cycle, imports going down the layers.

The rules and the layer table live in ``tools/check_architecture.py``, which
also runs on its own (``python tools/check_architecture.py``).
"""

import importlib.util
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "check_architecture.py"


@pytest.fixture(scope="module")
def arch():
    spec = importlib.util.spec_from_file_location("check_architecture", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_package_keeps_its_shape(arch):
    problems = arch.problems()
    assert problems == [], "\n".join(problems)


def test_every_module_is_in_a_layer(arch):
    for name in arch.modules():
        arch.layer_of(name)  # raises KeyError naming the module otherwise


def test_a_cycle_is_found(arch):
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert arch.cycles(graph) == [["a", "b", "c"]]
    assert arch.cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_sees_function_level_and_relative_imports(arch):
    graph = arch.import_graph()
    assert "pooling" in graph["estimator._localpoly"] or "pooling" in graph["estimator._diagnostics"]
    assert "engines" in graph["pooling"]
    # the engines never reach up into the shells
    for name, deps in graph.items():
        if name.startswith("engines"):
            assert not {d for d in deps if d.split(".")[0] in ("estimator", "dask", "cli", "demo")}, name


def test_an_upward_import_is_reported(arch, monkeypatch):
    graph = arch.import_graph()
    graph["kernels"] = graph["kernels"] | {"cli"}
    monkeypatch.setattr(arch, "import_graph", lambda: graph)
    assert any("nadaraya.kernels (foundation) imports nadaraya.cli (cli)" in p for p in arch.problems())

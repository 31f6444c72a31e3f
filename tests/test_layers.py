"""The import graph of the estimator, bandwidth and Dask layers: data flows one way, no circles (issue 10)."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set:
    """Every nadaraya module ``path`` imports, at the top or inside a function."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("nadaraya")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("nadaraya"):
                if node.module:  # `from . import x` imports module x, not (for this graph) the package itself
                    out.add(target)
                out |= {f"{target}.{a.name}" for a in node.names}
    return out


@pytest.fixture(scope="module")
def graph():
    files = {_module_name(p): p for p in (SRC / "nadaraya").rglob("*.py")}
    return {m: {t for t in _imports(p) if t in files and t != m} for m, p in files.items()}


def _reaches(graph, start, goal):
    seen, stack = set(), [start]
    while stack:
        m = stack.pop()
        for t in graph.get(m, ()):
            if t == goal:
                return True
            if t not in seen:
                seen.add(t)
                stack.append(t)
    return False


OURS = ("nadaraya.bandwidth", "nadaraya._selection", "nadaraya._softmax", "nadaraya.dask", "nadaraya.estimator")


def test_no_import_circle_through_the_estimator_bandwidth_or_dask(graph):
    for m in graph:
        if m.startswith(OURS):
            assert not _reaches(graph, m, m), f"{m} imports itself through a circle"


def test_the_shared_pieces_sit_below_both_paths(graph):
    for m in ("nadaraya._selection", "nadaraya._softmax"):
        assert graph[m] == set(), f"{m} must import no other nadaraya module; imports {graph[m]}"
    for m, targets in graph.items():
        if m.startswith("nadaraya.dask"):
            assert not {t for t in targets if t.startswith(("nadaraya.bandwidth", "nadaraya.estimator"))}, m
        if m.startswith(("nadaraya.pooling", "nadaraya.engines", "nadaraya.kernels", "nadaraya._checks")):
            assert not {t for t in targets if t.startswith(("nadaraya.estimator", "nadaraya.dask",
                                                             "nadaraya.bandwidth"))}, m


def test_estimator_pieces_do_not_import_the_estimator_classes(graph):
    pure = ("_categorical", "_localpoly", "_diagnostics", "_params", "_select", "_npzfile")
    for piece in pure:
        targets = graph[f"nadaraya.estimator.{piece}"]
        assert not targets & {"nadaraya.estimator._base", "nadaraya.estimator._regressor",
                              "nadaraya.estimator._classifier", "nadaraya.estimator"}, piece


def test_every_module_of_these_layers_is_small():
    for pattern in ("bandwidth.py", "_selection.py", "_softmax.py", "dask/*.py", "estimator/*.py"):
        for path in (SRC / "nadaraya").glob(pattern):
            assert len(path.read_text().splitlines()) <= 400, path

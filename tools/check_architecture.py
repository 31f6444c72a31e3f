"""Check the package's shape: module sizes, no import cycle, data flowing one way.

Run ``python tools/check_architecture.py`` (exit 1 and a list of problems when a
rule is broken); ``tests/test_architecture.py`` runs the same checks.

Rules (README, "Architecture"):

* every module under ``src/nadaraya`` has at most ``MAX_LINES`` lines, a
  framework module at most ``MAX_FRAMEWORK_LINES``;
* the graph of imports between nadaraya's modules (module-level and
  function-level imports alike) has no cycle;
* imports go one way, down the layers of ``LAYERS``: a module may import a
  module of its own layer or a lower one, never a higher one.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "nadaraya"
MAX_LINES = 400
MAX_FRAMEWORK_LINES = 250
FRAMEWORKS = ("torch", "tensorflow", "mxnet", "jax")

#: Layers from the bottom up; a module belongs to the first layer with a matching prefix.
LAYERS = (
    ("foundation", ("_limits", "_optional", "_softmax", "kernels", "_checks")),
    ("engines", ("engines",)),
    ("pooling", ("pooling",)),
    ("statistics", ("_selection", "stats", "parametric", "data")),
    ("shells", ("bandwidth", "estimator", "_framework", "torch", "tensorflow", "mxnet", "jax", "dask", "plotting", "_svgplot", "_fitplot", "report", "_output")),
    ("applications", ("demo", "_backends", "_similarity", "explore", "_scheduler")),
    ("cli", ("cli", "_cliargs", "__main__", "__init__")),
)


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def layer_of(name: str) -> int:
    first = name.split(".")[0]
    for rank, (_, prefixes) in enumerate(LAYERS):
        if first in prefixes:
            return rank
    raise KeyError(f"module nadaraya.{name} is in no layer of tools/check_architecture.py: add it")


def _resolve(name: str, path: Path, node: ast.ImportFrom | ast.Import, known: set[str]) -> set[str]:
    out = set()
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.startswith("nadaraya."):
                out.add(alias.name[len("nadaraya."):])
        return {t for t in out if t in known}
    if node.level == 0:
        if not (node.module or "").startswith("nadaraya"):
            return set()
        base = (node.module or "")[len("nadaraya"):].lstrip(".")
    else:
        pkg = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        if name == "__init__":
            pkg = []
        up = node.level - 1
        pkg = pkg[: len(pkg) - up] if up else pkg
        base = ".".join(pkg + ([node.module] if node.module else []))
    for alias in node.names:
        cand = f"{base}.{alias.name}" if base else alias.name
        if cand in known:
            out.add(cand)
        elif base in known or base == "":
            if base:
                out.add(base)
    return {t for t in out if t in known and t != name}


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    graph = {}
    for name, path in mods.items():
        tree = ast.parse(path.read_text(), str(path))
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                deps |= _resolve(name, path, node, known)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def problems() -> list[str]:
    found = []
    for name, path in modules().items():
        lines = len(path.read_text().splitlines())
        limit = MAX_FRAMEWORK_LINES if name in FRAMEWORKS else MAX_LINES
        if lines > limit:
            found.append(f"nadaraya.{name}: {lines} lines, above {limit}")
    graph = import_graph()
    for comp in cycles(graph):
        found.append("import cycle: " + " <-> ".join(f"nadaraya.{c}" for c in comp))
    for name, deps in sorted(graph.items()):
        try:
            mine = layer_of(name)
        except KeyError as exc:
            found.append(str(exc))
            continue
        for dep in sorted(deps):
            try:
                theirs = layer_of(dep)
            except KeyError:
                continue
            if theirs > mine:
                found.append(
                    f"nadaraya.{name} ({LAYERS[mine][0]}) imports nadaraya.{dep} ({LAYERS[theirs][0]}): "
                    "imports must go down the layers"
                )
    return found


def main() -> int:
    found = problems()
    for line in found:
        print(line)
    print(f"{len(modules())} modules, {len(found)} problems")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())

"""The documentation's moving parts that can be checked without building it (``make docs`` builds it).

- The API reference is generated from ``__all__``: every public name of every
  importable public module gets a page, and a name or module added later
  appears without editing the docs.
- Every gallery script runs (the build runs them too, and fails on an error).
"""

import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module")
def api_pages():
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        yield importlib.import_module("api_pages")
    finally:
        sys.path.remove(str(DOCS / "_ext"))
        sys.modules.pop("api_pages", None)


def test_every_public_name_gets_a_page(api_pages):
    import nadaraya

    pages, unavailable = api_pages.collect()
    by_module = {m: (own, shared) for m, own, shared in pages}
    assert by_module["nadaraya"][0] == list(nadaraya.__all__)
    assert {"nadaraya.pooling", "nadaraya.kernels", "nadaraya.plotting", "nadaraya.demo"} <= set(by_module)
    assert not any(part.startswith("_") for m in by_module for part in m.split(".")[1:])  # private modules stay out
    for modname, (own, shared) in by_module.items():
        mod = importlib.import_module(modname)
        assert sorted(own + shared) == sorted(getattr(mod, "__all__", [])), modname
        for name in shared:  # documented once, at the top level, as the same object
            assert getattr(nadaraya, name) is getattr(mod, name)
        page = api_pages.module_page(modname, own, shared)
        assert all(f"\n   {name}\n" in page for name in own), modname
    assert by_module["nadaraya.pooling"][1] and "attention_pool" in by_module["nadaraya.pooling"][1]
    assert all(reason for _, reason in unavailable)


def test_a_name_or_module_added_later_appears(api_pages, tmp_path, monkeypatch):
    pkg = tmp_path / "fakepkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .core import top\n__all__ = ['top']\n")
    (pkg / "core.py").write_text("__all__ = ['top', 'extra']\ndef top():\n    pass\ndef extra():\n    pass\n")
    (pkg / "_private.py").write_text("__all__ = ['hidden']\nhidden = 1\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "tree.py").write_text("__all__ = ['TreeEngine']\nclass TreeEngine:\n    pass\n")
    (pkg / "needs_missing.py").write_text("import a_module_that_is_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        pages, unavailable = api_pages.collect("fakepkg")
    finally:
        for name in [m for m in sys.modules if m == "fakepkg" or m.startswith("fakepkg.")]:
            del sys.modules[name]
    assert [(m, own, shared) for m, own, shared in pages] == [
        ("fakepkg", ["top"], []),
        ("fakepkg.core", ["extra"], ["top"]),
        ("fakepkg.sub", [], []),
        ("fakepkg.sub.tree", ["TreeEngine"], []),
    ]
    assert [m for m, _ in unavailable] == ["fakepkg.needs_missing"]
    assert "ModuleNotFoundError" in unavailable[0][1]


def test_docstring_absolute_values_are_escaped_outside_literals(api_pages):
    lines = ["error |f(q) - g(q)| <= tol, and ``|u| > 1`` stays literal", "a | b"]
    api_pages.escape_bars(None, "module", "m", None, {}, lines)
    assert lines == [r"error \|f(q) - g(q)\| <= tol, and ``|u| > 1`` stays literal", "a | b"]


@pytest.mark.parametrize("script", sorted((DOCS / "examples").glob("plot_*.py")), ids=lambda p: p.name)
def test_gallery_example_runs(script, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, textwrap.shorten(proc.stderr, 2000)

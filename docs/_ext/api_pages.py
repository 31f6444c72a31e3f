"""Write the API reference's pages from ``nadaraya.__all__`` and each public submodule's ``__all__``.

Nothing is hard-coded: every importable module of the package whose dotted
path has no component starting with ``_`` gets a page listing its ``__all__``
(names that are the same object as a top-level ``nadaraya`` name are
documented once, on the top-level page, and linked from the module's page).
A name another engineer adds to an ``__all__``, or a module that moves or
becomes a package, appears at the next build. Modules that cannot be imported
here (a framework that is not installed) are listed with the reason.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

PACKAGE = "nadaraya"


def public_modules(package=PACKAGE) -> list[str]:
    """Dotted names of the package's public modules, the package itself first."""
    pkg = importlib.import_module(package)
    names = [
        info.name
        for info in pkgutil.walk_packages(pkg.__path__, f"{package}.", onerror=lambda name: None)
        if not any(part.startswith("_") for part in info.name.split(".")[1:])
    ]
    return [package] + sorted(names)


def module_names(module) -> list[str]:
    """The module's ``__all__`` (the names it declares public), in its order."""
    return list(getattr(module, "__all__", ()))


def collect(package=PACKAGE):
    """``(pages, unavailable)``: pages is ``[(module name, own names, names shown at the top level)]``."""
    top = importlib.import_module(package)
    top_objects = {}
    for name in module_names(top):
        try:
            top_objects[id(getattr(top, name))] = name
        except (AttributeError, ImportError):
            pass
    pages, unavailable = [], []
    for modname in public_modules(package):
        try:
            mod = importlib.import_module(modname)
        except Exception as exc:  # an optional framework that is not installed here
            unavailable.append((modname, f"{type(exc).__name__}: {exc}".splitlines()[0]))
            continue
        names = module_names(mod)
        if modname == package:
            pages.append((modname, names, []))
            continue
        own = [n for n in names if top_objects.get(id(getattr(mod, n, None))) != n]
        shared = [n for n in names if n not in own]
        pages.append((modname, own, shared))
    return pages, unavailable


def _title(text: str, char: str) -> str:
    return f"{text}\n{char * len(text)}\n"


def module_page(modname: str, own: list[str], shared: list[str], package=PACKAGE) -> str:
    lines = [
        _title(f"``{modname}``", "="),
        f".. automodule:: {modname}\n   :no-members:\n",
        f".. currentmodule:: {modname}\n",
    ]
    if own:
        lines += [".. autosummary::", "   :toctree: generated/", "   :nosignatures:", ""]
        lines += [f"   {n}" for n in own] + [""]
    if shared:
        refs = ", ".join(f":obj:`{package}.{n}`" for n in shared)
        lines += [f"Also public here, documented at the top level: {refs}.", ""]
    if not own and not shared:
        lines += ["This module declares no public names (no ``__all__``); see its description above.", ""]
    return "\n".join(lines)


def index_page(pages, unavailable) -> str:
    lines = [
        _title("API reference", "="),
        "Every public name: the top-level ``nadaraya`` namespace, then each public module.",
        "This reference is generated at build time from each module's ``__all__``.",
        "",
        ".. toctree::",
        "   :maxdepth: 1",
        "",
    ]
    lines += [f"   {modname}" for modname, _, _ in pages] + [""]
    if unavailable:
        lines += ["Modules that could not be imported where these pages were built:", ""]
        lines += [f"- ``{m}`` — {reason}" for m, reason in unavailable] + [""]
    return "\n".join(lines)


def stub_page(modname: str, name: str, obj) -> str:
    """One name's page (what autosummary would generate, written here so a fresh build finds it)."""
    if inspect.isclass(obj):
        body = f".. autoclass:: {name}\n   :members:\n   :show-inheritance:\n"
    elif callable(obj):
        body = f".. autofunction:: {name}\n"
    else:
        body = f".. autodata:: {name}\n   :no-value:\n"
    return f"{_title(f'{modname}.{name}', '=')}\n.. currentmodule:: {modname}\n\n{body}"


def _write(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


_LITERAL_OR_BARS = re.compile(r"(``.+?``|`[^`]+`)|\|([^|\s][^|]*?)\|(?=[\s.,;:)\]]|$)")


def escape_bars(app, what, name, obj, options, lines) -> None:
    """Docstrings write absolute values and norms as ``|x|``, which reST reads as substitutions: escape them."""

    def fix(m):
        return m.group(1) if m.group(1) else rf"\|{m.group(2)}\|"

    lines[:] = [_LITERAL_OR_BARS.sub(fix, line) for line in lines]


def generate(app, config=None) -> None:
    out = Path(app.srcdir) / "api"
    (out / "generated").mkdir(parents=True, exist_ok=True)
    pages, unavailable = collect()
    wanted = {out / "index.rst"}
    _write(out / "index.rst", index_page(pages, unavailable))
    for modname, own, shared in pages:
        wanted.add(out / f"{modname}.rst")
        _write(out / f"{modname}.rst", module_page(modname, own, shared))
        mod = importlib.import_module(modname)
        for name in own:
            path = out / "generated" / f"{modname}.{name}.rst"
            wanted.add(path)
            _write(path, stub_page(modname, name, getattr(mod, name)))
    for stale in list(out.glob("*.rst")) + list(out.glob("generated/*.rst")):  # a name or module that moved away
        if stale not in wanted:
            stale.unlink()


def skip_member(app, what, name, obj, skip, options):
    """Leave out scikit-learn's metadata-routing methods (``set_fit_request``, ...) and NumPy ufuncs held as attributes."""
    if (name.startswith("set_") and name.endswith("_request")) or type(obj).__name__ == "ufunc":
        return True
    return None


def setup(app):
    app.setup_extension("sphinx.ext.autodoc")
    app.connect("config-inited", generate)  # before the sources are discovered and autosummary reads them
    app.connect("autodoc-process-docstring", escape_bars)
    app.connect("autodoc-skip-member", skip_member)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

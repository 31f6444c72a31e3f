"""The engine registry: which engines exist, in which order "auto" tries them.

Engines compute attention pooling on validated, bandwidth-scaled arrays.
They know nothing of estimators, plots or files, and do no validation.

Engine module contract
----------------------
An engine is one module of this package (or a package) that declares, at
module level:

``NAME`` : str
    Its registry name, the ``method=`` value that selects it.
``supports(kernel, d, options) -> bool``
    Whether it can pool with ``kernel`` (a :class:`nadaraya.kernels.Kernel`)
    for ``d``-dimensional keys; ``options`` is the dict of the options below
    (``num_threads``, ``tol``) as the caller passed them (may be empty).
``pool(queries, keys, values, kernel, exclude_self, **options) -> ndarray``
    On the canonical layout of :func:`nadaraya._checks.prepare`:
    C-contiguous ``queries`` (b, m, d) and ``keys`` (b, n, d), already divided
    by the bandwidth, ``values`` (b, n, k), all of one float dtype. Returns
    (b, m, k) in that dtype, with NaN rows for queries that have no key inside
    a compact kernel's support. ``exclude_self``: query i ignores key i
    (m == n). It must accept (and may ignore) every option in ``OPTIONS``.

Optional:

``partials(queries, keys, values, kernel, exclude_self, **options) -> Partials``
    The mergeable online-softmax state (:class:`nadaraya.engines.state.Partials`:
    max score (b, m), denominator (b, m), weighted sums (b, m, k)), for the
    same inputs as ``pool``. Engines without it get partials from
    :func:`partials` here, which falls back to the stream (or dense) engine.
``OPTIONS`` : tuple of str, default ()
    Which of ``num_threads`` (int >= 1) and ``tol`` (float > 0) it takes;
    :mod:`nadaraya.pooling` validates those and passes only those.
``REQUIRES`` : str
    What ``supports`` needs, for the error when ``method=NAME`` cannot run.
``EXACT`` : bool, default True
    False for engines that are accurate to ``tol`` rather than to rounding.
``prefer(kernel, shape) -> bool``
    The "auto" cost rule, ``shape = (b, m, n, d, k)``: whether "auto" should
    take this engine when it supports the problem. An engine without
    ``prefer`` is used only when asked for by name.

"auto" walks :data:`ENGINES` in order and takes the first engine that
supports the problem and prefers it. Adding an engine is one new module and
one line in :data:`ENGINES`.
"""

from __future__ import annotations

import importlib

import numpy as np

from .._softmax import log_normaliser

#: (name, module) of every engine, in the order "auto" considers them. Today's
#: rule: dense below 2**16 pairs or for kernels built by the caller; sorted for
#: d = 1 from 2**23 pairs or for the exponential kernels; tree for d >= 2 from
#: 2**28 pairs (compact kernels), 2**32 (Gaussian, d <= 3) or the constant kernel;
#: stream otherwise.
ENGINES = (
    ("dense", "dense"),
    ("sorted", "sorted1d"),
    ("tree", "tree"),
    ("stream", "stream"),
)

#: The reference engine: supports every kernel, builds the weight matrix when asked for it.
REFERENCE = "dense"

#: Names ``method=`` accepts besides "auto".
NAMES = tuple(name for name, _ in ENGINES)

_MODULES = dict(ENGINES)


def get(name: str):
    """The engine module registered as ``name`` (imported on first use: Numba loads only when needed)."""
    module = importlib.import_module(f"{__name__}.{_MODULES[name]}")
    if module.NAME != name:  # pragma: no cover - a registry typo
        raise RuntimeError(f"engine module {module.__name__} declares NAME={module.NAME!r}, registered as {name!r}")
    return module


def options_of(engine) -> tuple:
    """The options an engine takes (its ``OPTIONS``, default none)."""
    return tuple(getattr(engine, "OPTIONS", ()))


def choose(method: str, kernel, shape, options: dict, *, strict: bool = True) -> str:
    """The engine's name for ``method`` ("auto" or a registered name) on a problem of ``shape`` (b, m, n, d, k).

    With ``strict=False`` a named engine is returned even where it does not
    support the kernel (for :func:`partials`, which then falls back).

    Raises
    ------
    ValueError
        For an unknown method, or (``strict``) a named engine that does not
        support the kernel or d (the message says what it needs).
    """
    if not isinstance(method, str) or method not in ("auto",) + NAMES:
        raise ValueError(f"method must be one of auto, {', '.join(NAMES)}; got {method!r}")
    d = shape[3]
    if method != "auto" and not strict:
        return method
    if method != "auto":
        engine = get(method)
        if not engine.supports(kernel, d, options):
            need = getattr(engine, "REQUIRES", "a different kernel or d")
            raise ValueError(
                f"method={method!r} needs {need}; got d={d} and kernel {kernel.name!r}. "
                "Use method='auto' or another engine"
            )
        return method
    for name in NAMES:
        engine = get(name)
        prefer = getattr(engine, "prefer", None)
        if prefer is not None and engine.supports(kernel, d, options) and prefer(kernel, shape):
            return name
    return REFERENCE  # pragma: no cover - the reference engine supports and prefers what nothing else takes


def weights(queries, keys, kernel, exclude_self=False) -> np.ndarray:
    """The full (b, m, n) attention-weight array, from the reference engine (the caller asked for the matrix)."""
    return get(REFERENCE).weights(queries, keys, kernel, exclude_self)


def partials(name: str, queries, keys, values, kernel, exclude_self=False, *, exact=True, **options):
    """Mergeable partials from the engine ``name``, or from the first engine after it that has them.

    An engine without ``partials`` that support the kernel (or, with
    ``exact``, one accurate only to ``tol``) hands over to the next one in
    :data:`ENGINES`, ending with the reference (dense) engine, which supports
    every kernel. ``exact=False`` takes the fastest engine's partials (for
    Dask shards, say). ``options`` the engine does not take are dropped.
    """
    names = NAMES[NAMES.index(name) :] + (REFERENCE,)
    d = queries.shape[2]
    for candidate in names:
        engine = get(candidate)
        if not hasattr(engine, "partials") or (exact and not getattr(engine, "EXACT", True)):
            continue
        if engine.supports(kernel, d, options):
            mine = {key: val for key, val in options.items() if key in options_of(engine)}
            return engine.partials(queries, keys, values, kernel, exclude_self, **mine)
    raise AssertionError("the dense engine has partials for every kernel")  # pragma: no cover


def log_sums(name: str, queries, keys, kernel, exclude_self=False, **options) -> np.ndarray:
    """``log sum_j K(q_i, k_j)`` (b, m) through :func:`partials` of the engine ``name``; -inf for an empty support."""
    values = np.zeros(keys.shape[:2] + (1,), dtype=keys.dtype)
    p = partials(name, queries, keys, values, kernel, exclude_self, **options)
    return log_normaliser(p.max_score, p.denominator)

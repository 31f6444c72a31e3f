"""Sorted 1-D engine: exact window and recursion sums over sorted keys (d = 1).

The keys of each batch element are sorted once (O(n log n)) and the queries
are processed in sorted order (neighbouring queries touch the same keys);
every query then costs O(log n), so m = n = 10^6 takes about a second in
memory O(n + m). Inputs are the engines' canonical arrays (see
:mod:`nadaraya.engines`): queries (b, m, 1) and keys (b, n, 1) already divided
by the bandwidth, values (b, n, k). Sums are done in float64; the result has
the input dtype. Three paths, chosen by the kernel:

* compact polynomial kernels, cosine and its square: support windows summed
  with a segment tree of centred moments (:mod:`.compact`), exact to rounding;
* exponential kernels ``poly(|u|) exp(-|u|)`` (laplace): Hofmeyr's exact
  recursions (:mod:`.exponential`);
* Gaussian: a tree code with Taylor expansions within ``tol``
  (:mod:`.gaussian`).

The constant kernel (average pooling) is the mean of the values, or of the
others for ``exclude_self``.

All loops are Numba functions compiled on first use (``cache=True``, nothing
at import). They release the GIL, and chunks of queries run concurrently on a
thread pool of ``num_threads`` threads (default: Numba's setting); Numba's
own thread count is never changed.
"""

from __future__ import annotations

import numpy as np

from ...kernels import KERNELS as _REGISTRY
from ...kernels import Kernel
from ..state import Partials
from .._parallel import thread_count
from .compact import pool_compact
from .exponential import pool_exp
from .gaussian import pool_gauss

__all__ = ["NAME", "OPTIONS", "supports", "prefer", "pool", "partials", "KERNELS"]

#: Registry name (``method="sorted"``).
NAME = "sorted"

#: Options :func:`pool` takes (validated by :mod:`nadaraya.pooling`).
OPTIONS = ("num_threads", "tol")

#: Exact to rounding except the Gaussian path, which is within ``tol``.
EXACT = False

#: From this many query-key pairs (m * n) "auto" takes this engine for 1-D keys.
SORTED_MIN_PAIRS = 1 << 23


def _path(kernel: Kernel) -> str | None:
    if kernel.name == "gaussian" and not kernel.compact:
        return "gaussian"
    if kernel.name == "constant" and not kernel.compact:
        return "constant"
    if kernel.name == "cosine" and kernel.support == 1.0:
        return "cosine"
    if kernel.name == "cosine^2" and kernel.square_of == "cosine" and kernel.support == 1.0:
        return "cosine^2"
    if kernel.poly is not None and kernel.compact and kernel.support > 0:
        return "poly"
    if kernel.exp_abs is not None and not kernel.compact:
        return "exp"
    return None


def supports(kernel: Kernel, d: int, options=None) -> bool:
    """Whether this engine handles ``kernel`` for ``d``-dimensional keys (only d = 1)."""
    return d == 1 and _path(kernel) is not None


#: Names of the registry's kernels this engine handles (for error messages).
KERNELS = tuple(name for name, kern in _REGISTRY.items() if supports(kern, 1))

#: What :func:`supports` needs, for the error when ``method="sorted"`` cannot run.
REQUIRES = f"1-D keys (d=1) and one of the kernels {', '.join(KERNELS)}"


def prefer(kernel: Kernel, shape) -> bool:
    """The "auto" rule: from :data:`SORTED_MIN_PAIRS` pairs, and at any size for the exponential kernels.

    The set-up (sorting, trees) pays off above ~10**7 pairs (measured
    crossover on 2 cores); the exponential kernels' recursions are O(m + n).
    """
    _, m, n, _, _ = shape
    return m * n >= SORTED_MIN_PAIRS or kernel.exp_abs is not None


def _pool_one(queries, keys, values, kernel, exclude_self, tol, threads=1):
    """One batch element: (m,) queries, (n,) keys, (n, k) values → ((m, k + 1) float64, stats).

    Columns ``:k`` hold the pooled values (NaN where no key is in the
    support), column ``k`` the log-normaliser ``log sum_j exp(score_j)``
    (-inf there).
    """
    n, k = values.shape
    m = queries.shape[0]
    path = _path(kernel)
    if path == "constant":
        total = values.sum(axis=0, dtype=np.float64)
        out = np.empty((m, k + 1))
        if exclude_self:
            out[:, :k] = (total[None, :] - values.astype(np.float64)) / (n - 1)
        else:
            out[:, :k] = total / n
        out[:, k] = np.log(n - 1 if exclude_self else n)
        return out, {}
    order = np.argsort(keys, kind="stable")
    ks_in = keys[order]
    V = np.empty((n, k + 1))
    V[:, :k] = values[order]
    V[:, k] = 1.0
    # Queries are processed in sorted order: neighbouring queries touch the same keys and nodes.
    qorder = np.argsort(queries, kind="stable")
    qs_in = queries[qorder]
    if exclude_self:
        pos = np.empty(n, np.int64)
        pos[order] = np.arange(n, dtype=np.int64)  # sorted position of key i
        excl = pos[qorder]  # ... of the key that sorted query j leaves out
    else:
        excl = np.empty(0, np.int64)
    if path in ("poly", "cosine", "cosine^2"):
        res, stats = pool_compact(qs_in, ks_in, V, excl, kernel, path, threads)
    else:
        qs = qs_in.astype(np.float64, copy=False)
        ks = ks_in.astype(np.float64, copy=False)
        if path == "exp":
            res, stats = pool_exp(qs, ks, V, excl, kernel, threads)
        else:
            res, stats = pool_gauss(qs, ks, V, excl, tol, threads)
    out = np.empty_like(res)
    out[qorder] = res
    return out, stats


def _run(queries, keys, values, kernel, exclude_self=False, *, num_threads=None, tol=1e-10):
    """(b, m, k + 1) float64 results of :func:`_pool_one`, and per batch element diagnostics."""
    if not supports(kernel, queries.shape[2]):
        raise ValueError(
            f"the sorted engine needs d=1 and one of the kernels {', '.join(KERNELS)}; "
            f"got d={queries.shape[2]} and kernel {kernel.name!r}"
        )
    threads = thread_count(num_threads)
    runs = [
        _pool_one(queries[i, :, 0], keys[i, :, 0], values[i], kernel, bool(exclude_self), float(tol), threads)
        for i in range(queries.shape[0])
    ]
    return np.stack([r[0] for r in runs]), [r[1] for r in runs]


def _pool_stats(queries, keys, values, kernel, exclude_self=False, *, num_threads=None, tol=1e-10):
    """:func:`pool`, also returning per-batch-element diagnostics (fallback counts, series order)."""
    res, stats = _run(queries, keys, values, kernel, exclude_self, num_threads=num_threads, tol=tol)
    return res[..., :-1].astype(values.dtype), stats


def pool(queries, keys, values, kernel, exclude_self=False, *, num_threads=None, tol=1e-10):
    """Attention pooling of (b, m, 1) queries over (b, n, 1) keys and (b, n, k) values → (b, m, k).

    Queries and keys are already divided by the bandwidth. Exact (to rounding)
    for every supported kernel except the Gaussian, which is within ``tol``
    relative to ``max|values|`` (see the module docstring for the bound).
    Queries with no key inside a compact kernel's support get NaN.

    Parameters
    ----------
    queries : ndarray, shape (b, m, 1)
    keys : ndarray, shape (b, n, 1)
    values : ndarray, shape (b, n, k)
        C-contiguous, one float dtype; the result has the same dtype.
    kernel : Kernel
        One this engine :func:`supports`.
    exclude_self : bool, default False
        Query i ignores key i (m == n).
    num_threads : int, optional
        Threads for this call (at most ``NUMBA_NUM_THREADS``); default:
        ``numba.get_num_threads()``. Numba's own setting is left alone.
    tol : float, default 1e-10
        Error bound of the Gaussian path, relative to ``max|values|``.

    Returns
    -------
    ndarray, shape (b, m, k)
    """
    return _pool_stats(queries, keys, values, kernel, exclude_self, num_threads=num_threads, tol=tol)[0]


def partials(queries, keys, values, kernel, exclude_self=False, *, num_threads=None, tol=1e-10) -> Partials:
    """Mergeable online-softmax state (:class:`~nadaraya.engines.state.Partials`), for the inputs of :func:`pool`.

    Relative to the log-normaliser: ``max_score = log sum_j exp(score_j)``
    (at least the largest score), ``denominator = 1`` and ``weighted_sum`` =
    the pooled values; ``-inf``, 0 and 0 where no key is in the support.
    Merging with :func:`~nadaraya.engines.state.merge` is exact up to
    rounding (the Gaussian within ``tol``), whatever engine gave the other
    part. In the inputs' dtype.
    """
    res = _run(queries, keys, values, kernel, exclude_self, num_threads=num_threads, tol=tol)[0]
    lse = res[..., -1]
    some = np.isfinite(lse)
    sums = np.where(some[..., None], res[..., :-1], 0.0)
    dtype = values.dtype
    return Partials(lse.astype(dtype), some.astype(dtype), sums.astype(dtype))

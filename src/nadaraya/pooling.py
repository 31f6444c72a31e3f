"""Attention pooling: validate, pick an engine, return.

Shape legend, used in every docstring of the package:

* ``m`` queries, ``n`` keys, ``d`` input dimensions, ``k`` outputs per value,
  ``b`` batch size (a leading axis where every batch element has its own
  queries, keys and values: the book's batch matrix multiplication).
"""

from __future__ import annotations

import warnings

import numpy as np

from ._checks import Problem, as_float_array, check_on_empty, check_positive_float, check_positive_int, prepare
from ._softmax import empty_support_message, log_normaliser
from .engines import dense
from .kernels import KERNELS as KERNELS_BY_NAME
from .kernels import get_kernel

__all__ = ["attention_pool", "attention_weights", "average_pool", "log_kernel_sums", "EmptySupportWarning", "METHODS"]

#: Engines ``method=`` accepts (besides "auto").
METHODS = ("dense", "stream", "sorted")

#: Below this many query-key pairs "auto" uses the dense engine (no compilation, no set-up).
DENSE_MAX_PAIRS = 1 << 16

#: From this many query-key pairs "auto" uses the sorted engine for 1-D keys.
SORTED_MIN_PAIRS = 1 << 23


class EmptySupportWarning(RuntimeWarning):
    """Some queries have no key inside a compact kernel's support; their estimate is NaN."""


def _report_empty(empty: np.ndarray, kernel, on_empty: str) -> None:
    count = int(np.count_nonzero(empty))
    if count == 0 or on_empty == "ignore":
        return
    msg = empty_support_message(count, f"{empty.size} queries", kernel.name)
    if on_empty == "raise":
        raise ValueError(msg.replace("their estimate is NaN", "no estimate is defined there"))
    warnings.warn(msg, EmptySupportWarning, stacklevel=3)


def _select_method(method: str, problem: Problem, kernel) -> str:
    if not isinstance(method, str) or method not in ("auto",) + METHODS:
        raise ValueError(f"method must be one of auto, {', '.join(METHODS)}; got {method!r}")
    b, m, n, d, _ = problem.shape
    if method == "sorted" and not _sorted1d().supports(kernel, d):
        raise ValueError(
            f"method='sorted' needs 1-D keys (d=1) and one of the kernels {', '.join(_sorted1d().KERNELS)}; "
            f"got d={d} and kernel {kernel.name!r}. Use method='stream' or 'auto'"
        )
    if method != "auto":
        return method
    if m * n <= DENSE_MAX_PAIRS or KERNELS_BY_NAME.get(kernel.name) is not kernel:
        return "dense"  # small problems, and kernels built by the caller (the fast engines know the registry's)
    # the sorted engine's set-up pays off above ~10^7 pairs (measured crossover on 2 cores),
    # at any size for the exponential kernels, whose recursions are O(m + n)
    if _sorted1d().supports(kernel, d) and (m * n >= SORTED_MIN_PAIRS or kernel.exp_abs is not None):
        return "sorted"
    return "stream"


def _sorted1d():
    from .engines import sorted1d

    return sorted1d


def _engine(name: str):
    if name == "dense":
        return dense.pool
    if name == "stream":
        from .engines import stream

        return stream.pool
    return _sorted1d().pool


def attention_pool(
    queries,
    keys,
    values,
    *,
    kernel="gaussian",
    bandwidth=1.0,
    exclude_self=False,
    method="auto",
    batched=None,
    on_empty="warn",
    num_threads=None,
    tol=1e-10,
):
    """Nadaraya–Watson attention pooling of ``values`` at ``queries``.

    ``f(q) = sum_i softmax_i(score(q, k_i)) v_i`` with ``score = log K(|q - k_i| / h)``.

    Parameters
    ----------
    queries : array_like, shape (m,) or (m, d); batched (b, m) or (b, m, d)
        Where predictions are wanted.
    keys : array_like, shape (n,) or (n, d); batched (b, n) or (b, n, d)
        Training inputs.
    values : array_like, shape (n,) or (n, k); batched (b, n) or (b, n, k)
        Training outputs.
    kernel : str or Kernel, default "gaussian"
        A name from :data:`nadaraya.KERNELS`.
    bandwidth : float or array_like of shape (d,), default 1.0
        Kernel width ``h`` (the book's ``w`` is ``1 / h``); one per dimension allowed.
    exclude_self : bool, default False
        Leave-one-out: query ``i`` ignores key ``i`` (needs ``m == n``).
    method : {"auto", "dense", "stream", "sorted"}, default "auto"
        Engine. "dense" is the NumPy reference (blocks of queries against all
        keys); "stream" is a multi-threaded Numba online softmax in memory
        O(m + n); "sorted" (d = 1) sorts the keys once and sums windows or
        recursions exactly. Every engine returns the same numbers (the
        Gaussian "sorted" path within ``tol``); "auto" picks the fastest.
    batched : bool or None, default None
        Whether the inputs carry a leading batch axis. ``None`` means batched
        exactly when ``queries`` is 3-D; pass ``True`` for (b, m) queries.
    on_empty : {"warn", "ignore", "raise"}, default "warn"
        What to do when a query has no key inside a compact kernel's support:
        its estimate is NaN, with an :class:`EmptySupportWarning` counting such
        queries ("warn"), silently ("ignore"), or a ``ValueError`` ("raise").
    num_threads : int, optional
        Threads for the "stream" and "sorted" engines; default: Numba's
        current setting (``NUMBA_NUM_THREADS``).
    tol : float, default 1e-10
        Error bound of the Gaussian "sorted" path, relative to ``max|values|``.

    Returns
    -------
    ndarray, shape (m,) or (m, k); batched (b, m) or (b, m, k)
        In the inputs' floating dtype (float32 stays float32).

    Notes
    -----
    Reference implementation (for one batch element, the spec the engines are
    tested against)::

        t = (((q[:, None, :] - k[None, :, :]) / h) ** 2).sum(-1)   # (m, n)
        s = kernel.score(t)                                          # log K
        if exclude_self: s[arange(m), arange(m)] = -inf
        w = exp(s - s.max(1, keepdims=True)); w /= w.sum(1, keepdims=True)
        return w @ v

    Examples
    --------
    >>> import numpy as np, nadaraya as nw
    >>> x = np.array([0.0, 1.0, 2.0]); y = np.array([0.0, 1.0, 4.0])
    >>> nw.attention_pool(np.array([1.0]), x, y, bandwidth=1.0).round(4)
    array([1.5481])
    """
    kern = get_kernel(kernel)
    on_empty = check_on_empty(on_empty)
    problem = prepare(queries, keys, values, bandwidth, exclude_self=exclude_self, batched=batched)
    name = _select_method(method, problem, kern)
    options = {}
    if name != "dense":
        options["num_threads"] = None if num_threads is None else check_positive_int(num_threads, "num_threads")
    if name == "sorted":
        options["tol"] = check_positive_float(tol, "tol")
    out = _engine(name)(problem.queries, problem.keys, problem.values, kern, bool(exclude_self), **options)
    if kern.compact:
        _report_empty(np.isnan(out[..., 0]), kern, on_empty)
    return problem.unpack(out)


def log_kernel_sums(queries, keys, *, kernel="gaussian", bandwidth=1.0, exclude_self=False, method="auto"):
    """``log sum_j K((q_i - k_j) / h)`` for each query: the softmax's log-normaliser (m,).

    The kernel is scaled so that K(0) = 1 (the score at zero distance is 0).
    ``-inf`` where no key is inside a compact kernel's support. Computed by
    the streaming engine's partial sums or the dense engine, never an m × n array.
    Used for effective numbers of neighbours, hat-matrix diagonals and standard errors.
    """
    kern = get_kernel(kernel)
    problem = prepare(queries, keys, None, bandwidth, exclude_self=exclude_self, need_values=False)
    name = _select_method(method, problem, kern)
    from .engines import stream

    if name != "dense" and kern.name in stream.KERNEL_CODES and KERNELS_BY_NAME.get(kern.name) is kern:
        p = stream.partials(problem.queries, problem.keys, problem.values, kern, bool(exclude_self))
        out = log_normaliser(p.max_score, p.denominator)
    else:
        out = dense.log_sums(problem.queries, problem.keys, kern, bool(exclude_self))
    return out[0]


def attention_weights(queries, keys, *, kernel="gaussian", bandwidth=1.0, exclude_self=False, batched=None, on_empty="warn"):
    """The attention-weight matrix: softmax over keys of the scores of each query.

    Builds the full (m, n) array, so use it for inspection and plots; use
    :func:`attention_pool` to pool values. Arguments are those of
    :func:`attention_pool`.

    Returns
    -------
    ndarray, shape (m, n); batched (b, m, n)
        Non-negative, each row sums to 1 (rows of queries with no key inside
        a compact kernel's support are NaN).

    Examples
    --------
    >>> import nadaraya as nw
    >>> nw.attention_weights([0.0], [0.0, 1.0], kernel="gaussian").round(4)
    array([[0.6225, 0.3775]])
    """
    kern = get_kernel(kernel)
    on_empty = check_on_empty(on_empty)
    problem = prepare(queries, keys, None, bandwidth, exclude_self=exclude_self, batched=batched, need_values=False)
    w = dense.weights(problem.queries, problem.keys, kern, bool(exclude_self))
    if kern.compact:
        _report_empty(np.isnan(w[..., 0]), kern, on_empty)
    return w if problem.batched else w[0]


def average_pool(values, n_queries):
    """Average pooling: the mean of the values, repeated for each of ``n_queries`` queries.

    This is attention pooling with the constant kernel (every weight ``1/n``).

    Parameters
    ----------
    values : array_like, shape (n,) or (n, k)
    n_queries : int

    Returns
    -------
    ndarray, shape (n_queries,) or (n_queries, k)

    Examples
    --------
    >>> import nadaraya as nw
    >>> nw.average_pool([1.0, 2.0, 6.0], 2)
    array([3., 3.])
    """
    v = as_float_array(values, "values")
    if v.ndim not in (1, 2):
        raise ValueError(f"values must have shape (n,) or (n, k); got a {v.ndim}-D array of shape {v.shape}")
    n_queries = check_positive_int(n_queries, "n_queries")
    mean = v.mean(axis=0)
    return np.broadcast_to(mean, (n_queries,) + mean.shape).copy()

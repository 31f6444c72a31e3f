"""Attention pooling: validate, pick an engine, return.

Shape legend, used in every docstring of the package:

* ``m`` queries, ``n`` keys, ``d`` input dimensions, ``k`` outputs per value,
  ``b`` batch size (a leading axis where every batch element has its own
  queries, keys and values: the book's batch matrix multiplication).
"""

from __future__ import annotations

import warnings

import numpy as np

from . import engines
from .engines.state import finalize
from ._checks import Problem, as_float_array, check_on_empty, check_positive_float, check_positive_int, prepare
from ._limits import check_weights_size
from ._softmax import empty_support_message, log_normaliser
from .kernels import get_kernel

__all__ = ["attention_pool", "attention_weights", "average_pool", "log_kernel_sums", "pool_and_log_sums",
           "EmptySupportWarning", "METHODS"]

#: Engines ``method=`` accepts (besides "auto"): the registry's names.
METHODS = engines.NAMES

#: How each engine option is validated (engines declare which they take).
_OPTION_CHECKS = {
    "num_threads": lambda v: None if v is None else check_positive_int(v, "num_threads"),
    "tol": lambda v: check_positive_float(v, "tol"),
}


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


def _engine_options(name: str, given: dict) -> dict:
    """The validated options the engine ``name`` takes, from those the caller gave."""
    return {key: _OPTION_CHECKS[key](given[key]) for key in engines.options_of(engines.get(name))}


def _choose(method, problem: Problem, kernel, given: dict) -> tuple[str, dict]:
    name = engines.choose(method, kernel, problem.shape, given)
    return name, _engine_options(name, given)


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
    method : {"auto", "dense", "stream", "sorted", "tree"}, default "auto"
        Engine. "dense" is the NumPy reference (blocks of queries against all
        keys); "stream" is a multi-threaded Numba online softmax in memory
        O(m + n); "sorted" (d = 1) sorts the keys once and sums windows or
        recursions exactly; "tree" (d = 2 ... ~8) walks a k-d tree over the
        keys, exact for compact kernels. Every engine returns the same numbers
        (the Gaussian "sorted" path and the Gaussian and Laplace "tree" paths
        within ``tol``); "auto" picks the fastest.
    batched : bool or None, default None
        Whether the inputs carry a leading batch axis. ``None`` means batched
        exactly when ``queries`` is 3-D; pass ``True`` for (b, m) queries.
    on_empty : {"warn", "ignore", "raise"}, default "warn"
        What to do when a query has no key inside a compact kernel's support:
        its estimate is NaN, with an :class:`EmptySupportWarning` counting such
        queries ("warn"), silently ("ignore"), or a ``ValueError`` ("raise").
    num_threads : int, optional
        Threads for the "stream", "sorted" and "tree" engines; default: Numba's
        current setting (``NUMBA_NUM_THREADS``).
    tol : float, default 1e-10
        Error bound of the Gaussian "sorted" and the Gaussian and Laplace "tree" paths, relative to ``max|values|``.

    Returns
    -------
    ndarray, shape (m,) or (m, k); batched (b, m) or (b, m, k)
        In the inputs' floating dtype (float32 stays float32).

    Raises
    ------
    ValueError
        For non-finite or empty inputs, mismatched shapes, a bandwidth that is
        not positive and finite (``True`` included), or inputs outside the
        accepted range below.
    TypeError
        For non-numeric input and numpy masked arrays (their mask would be
        ignored: pass the unmasked entries or ``.filled(value)``).

    Notes
    -----
    Accepted range: every coordinate, divided by its bandwidth, must satisfy
    ``|x_j| / h_j <= sqrt(finfo.max / d) / 2`` (6.7e153 in float64 and 9.2e18
    in float32 for d = 1), so that no squared scaled distance can overflow.
    Within it every kernel returns finite numbers (far queries get their
    nearest keys' values, not NaN); outside it the call is refused. Any
    positive finite bandwidth is accepted subject to that.

    Support edge: for boxcar, whose support includes its edge, a key with
    ``|q - k| <= h`` in exact arithmetic (for the inputs as given) is always
    counted, in every engine: the scaled arrays are divided by ``h (1 +
    delta)``, ``delta = 4 eps (M + d + 1)`` (``M`` the largest scaled
    coordinate norm; see :func:`nadaraya._checks.closed_support_widening`),
    which covers the rounding of ``q / h - k / h``. Integer data with an
    integer bandwidth are exact. The other compact kernels vanish at the edge,
    so their edge keys weigh nothing either way.

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
    problem = prepare(
        queries, keys, values, bandwidth, exclude_self=exclude_self, batched=batched, closed_support=kern.closed_support
    )
    name, options = _choose(method, problem, kern, {"num_threads": num_threads, "tol": tol})
    out = engines.get(name).pool(problem.queries, problem.keys, problem.values, kern, bool(exclude_self), **options)
    if kern.compact:
        _report_empty(np.isnan(out[..., 0]), kern, on_empty)
    return problem.unpack(out)


def log_kernel_sums(queries, keys, *, kernel="gaussian", bandwidth=1.0, exclude_self=False, method="auto"):
    """``log sum_j K((q_i - k_j) / h)`` for each query: the softmax's log-normaliser (m,).

    The kernel is scaled so that K(0) = 1 (the score at zero distance is 0).
    ``-inf`` where no key is inside a compact kernel's support. Computed by
    the chosen engine's mergeable partials (falling back to an exact engine
    that has them: see :func:`nadaraya.engines.partials`), never an m × n array.
    Used for effective numbers of neighbours, hat-matrix diagonals and standard errors.
    """
    kern = get_kernel(kernel)
    problem = prepare(
        queries, keys, None, bandwidth, exclude_self=exclude_self, need_values=False, closed_support=kern.closed_support
    )
    name = engines.choose(method, kern, problem.shape, {}, strict=False)  # falls back to an exact engine
    return engines.log_sums(name, problem.queries, problem.keys, kern, bool(exclude_self))[0]


def pool_and_log_sums(queries, keys, values, *, kernel="gaussian", bandwidth=1.0, exclude_self=False, method="auto",
                      num_threads=None, tol=1e-10):
    """:func:`attention_pool` and :func:`log_kernel_sums` from one pass of one engine: ((m, k), (m,)).

    Unbatched inputs, ``values`` (n, k). The engine is the one ``method``
    names or "auto" picks, as for :func:`attention_pool` (an engine accurate
    to ``tol`` gives both to ``tol``); its mergeable partials carry both
    results. Queries with no key inside a compact kernel's support get NaN
    values and a log-sum of ``-inf``, silently. The local fits' moments and
    their log-normalisers (hat diagonals, smoother norms) come from here.
    """
    kern = get_kernel(kernel)
    problem = prepare(queries, keys, values, bandwidth, exclude_self=exclude_self, batched=False,
                      closed_support=kern.closed_support)
    name, options = _choose(method, problem, kern, {"num_threads": num_threads, "tol": tol})
    p = engines.partials(name, problem.queries, problem.keys, problem.values, kern, bool(exclude_self), exact=False,
                         **options)
    return problem.unpack(finalize(p)), log_normaliser(p.max_score, p.denominator)[0]


def attention_weights(
    queries,
    keys,
    *,
    kernel="gaussian",
    bandwidth=1.0,
    exclude_self=False,
    batched=None,
    on_empty="warn",
    max_bytes=None,
):
    """The attention-weight matrix: softmax over keys of the scores of each query.

    Builds the full (m, n) array, so use it for inspection and plots; use
    :func:`attention_pool` to pool values. Arguments are those of
    :func:`attention_pool`, and:

    Parameters
    ----------
    max_bytes : int, optional
        Largest matrix (all batch elements together, in bytes) this call may
        build; default :data:`nadaraya._limits.MAX_WEIGHTS_BYTES` (256 MiB).
        The size is checked before anything of that size is allocated; a
        larger matrix raises a ``ValueError`` naming its size and the
        alternatives.

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
    problem = prepare(
        queries,
        keys,
        None,
        bandwidth,
        exclude_self=exclude_self,
        batched=batched,
        need_values=False,
        closed_support=kern.closed_support,
    )
    b, m, n, _, _ = problem.shape
    check_weights_size((b, m, n) if problem.batched else (m, n), problem.dtype.itemsize, max_bytes)
    w = engines.weights(problem.queries, problem.keys, kern, bool(exclude_self))
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

"""Attention pooling on Dask arrays: the same numbers, computed across a cluster.

Queries are independent, and keys can be sharded because the streaming
engine's online-softmax state (:class:`nadaraya.engines.stream.Partials`:
maximum score, denominator, weighted sum) of two disjoint key sets merges
exactly and associatively. So :func:`attention_pool` builds a task graph of

* one *partials* task per (query block, key block): ``stream.partials`` on
  the bandwidth-scaled blocks (``exclude_self`` through ``key_offset``),
  holding one query block, one key block and one value block;
* per query block, a pairwise tree of *merge* tasks (``stream.merge``) of
  depth ``ceil(log2(key blocks))``, each holding two partials;
* one *finalize* task per query block (``stream.finalize``), the output chunk.

Every task holds its chunks and nothing else: (2 + k) floats per query of its
block cross the network per partial, never an m × n array. The graph runs on
whatever scheduler is active: a ``distributed.Client`` (lost workers are
recomputed by the scheduler), or Dask's threads.

The scikit-learn estimator routes here when it is given dask arrays
(:func:`predict_regressor`, :func:`fit_regressor`), and so does
:func:`nadaraya.select_bandwidth` (:func:`search_bandwidth`).

Needs the ``dask`` extra: ``pip install 'nadaraya[dask]'``.

Shape legend: ``m`` queries, ``n`` keys, ``d`` input dimensions, ``k``
outputs per value.
"""

from __future__ import annotations

import logging
import math
import numbers
import warnings

import numpy as np

from ._checks import check_bandwidth, check_finite, check_lengths, check_positive_int, is_dask_collection
from ._optional import require
from .engines import stream
from .kernels import KERNELS, get_kernel

dask = require("dask", "dask")
da = require("dask.array", "dask")
from dask.base import tokenize  # noqa: E402  (after the check that dask is installed)
from dask.highlevelgraph import HighLevelGraph  # noqa: E402

__all__ = ["attention_pool", "search_bandwidth", "predict_regressor", "fit_regressor"]

log = logging.getLogger(__name__)

#: Thresholds per pass of the exact order-statistic search (:func:`_order_statistics`).
_SELECT_BINS = 1024


# ---------------------------------------------------------------------- input checks (no computing)


def _float_dtype(dtype: np.dtype) -> np.dtype:
    """The floating dtype an input computes in: as :func:`nadaraya._checks.as_float_array`."""
    if dtype == np.float16:
        return np.dtype(np.float32)
    return dtype if dtype.kind == "f" and dtype.itemsize >= 4 else np.dtype(np.float64)


def _check_rows(chunks, name):
    """``query_chunks`` / ``key_chunks``: None, "auto", a positive int or a tuple of ints."""
    if chunks is None or (isinstance(chunks, str) and chunks == "auto"):
        return chunks
    if isinstance(chunks, numbers.Integral):
        return check_positive_int(chunks, name)
    if isinstance(chunks, (tuple, list)) and all(isinstance(c, numbers.Integral) and c >= 0 for c in chunks):
        return tuple(int(c) for c in chunks)
    raise TypeError(f"{name} must be a positive number of rows per chunk, a tuple of chunk sizes or 'auto'; got {chunks!r}")


def _as_dask(x, name: str, rows=None, *, shapes=("(m,)", "(m, d)"), object_ok=False):
    """A 1-D or 2-D dask array, rows chunked by ``rows`` (if given), one chunk across columns.

    NumPy input (anything ``numpy.asarray`` takes) becomes a dask array with
    those row chunks ("auto" if None); dask input keeps its chunks unless
    ``rows`` asks for others.
    """
    if is_dask_collection(x):
        if not isinstance(x, da.Array):
            raise TypeError(
                f"{name} must be a dask array or an array-like; got a {type(x).__name__} "
                "(convert a dask DataFrame with .to_dask_array(lengths=True))"
            )
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except Exception as exc:  # ragged lists and the like
            raise TypeError(f"{name} must be an array of numbers; could not convert it ({exc})") from None
    if arr.dtype.kind not in "biuf" and not (object_ok and arr.dtype.kind in "OUS"):
        raise TypeError(f"{name} must be an array of real numbers; got dtype {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise ValueError(
            f"{name} must have shape {' or '.join(shapes)}; got a {arr.ndim}-D array of shape {arr.shape} "
            "(nadaraya.dask takes no batch axis)"
        )
    if any(isinstance(s, float) and math.isnan(s) for s in arr.shape):
        raise ValueError(
            f"{name} has unknown chunk sizes (shape {arr.shape}); call {name}.compute_chunk_sizes() first"
        )
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty; got shape {arr.shape}")
    if isinstance(arr, np.ndarray):
        return da.from_array(arr, chunks=("auto" if rows is None else rows,) + (-1,) * (arr.ndim - 1))
    if rows is not None:
        arr = arr.rechunk({0: rows})
    if arr.ndim == 2 and arr.numblocks[1] > 1:
        arr = arr.rechunk({1: -1})
    return arr


def _stream_kernel(kernel):
    kern = get_kernel(kernel)
    if kern.name not in stream.KERNEL_CODES or KERNELS.get(kern.name) is not kern:
        raise ValueError(
            f"nadaraya.dask supports the kernels {', '.join(stream.KERNEL_CODES)}; got {kern.name!r}"
        )
    return kern


def _prepare(queries, keys, values, bandwidth, exclude_self, query_chunks, key_chunks):
    """Validate shapes, dtypes and the bandwidth from metadata only; align the value chunks with the keys'."""
    if not isinstance(exclude_self, (bool, np.bool_)):
        raise TypeError(f"exclude_self must be True or False, got {exclude_self!r}")
    q = _as_dask(queries, "queries", _check_rows(query_chunks, "query_chunks"))
    k = _as_dask(keys, "keys", _check_rows(key_chunks, "key_chunks"), shapes=("(n,)", "(n, d)"))
    v = _as_dask(values, "values", shapes=("(n,)", "(n, k)"))
    dq = 1 if q.ndim == 1 else q.shape[1]
    dk = 1 if k.ndim == 1 else k.shape[1]
    if dq != dk:
        raise ValueError(
            f"queries and keys must have the same number of features d; got d={dq} for queries and d={dk} for keys"
        )
    check_lengths(q.shape[0], k.shape[0], v.shape[0], exclude_self)
    if v.chunks[0] != k.chunks[0]:
        v = v.rechunk({0: k.chunks[0]})  # a task holds one key block and the values of the same rows
    dtype = np.result_type(*(_float_dtype(a.dtype) for a in (q, k, v)))
    h = check_bandwidth(bandwidth, dq, dtype)
    return q, k, v, dtype, h


# ---------------------------------------------------------------------- tasks (run on the workers)


def _block(arr, name, row0, dtype, h=None):
    """A chunk checked for NaN / inf (index in the whole array) in the engine's (1, rows, cols) layout."""
    arr = np.asarray(arr)
    check_finite(arr, name, row0)
    arr = arr.astype(dtype, copy=False).reshape(arr.shape[0], -1)
    if h is not None:
        arr = arr / h  # the same division as nadaraya._checks.prepare: bit-identical scaled inputs
    return np.ascontiguousarray(arr[None], dtype=dtype)


def _partials_task(q, k, v, h, kernel_name, exclude_self, q_start, k_start, dtype, num_threads):
    """One (query block, key block) pair: the online-softmax state of the block's queries over the block's keys."""
    return stream.partials(
        _block(q, "queries", q_start, dtype, h),
        _block(k, "keys", k_start, dtype, h),
        _block(v, "values", k_start, dtype),
        KERNELS[kernel_name],
        exclude_self,
        key_offset=k_start - q_start,
        num_threads=num_threads,
    )


def _pool_task(p, q_start, vector_values, on_empty, kernel_name):
    """Pooled values of one query block from its merged partials: (rows, k) or (rows,)."""
    out = stream.finalize(p)[0]
    if on_empty == "raise":
        empty = int(np.count_nonzero(np.isnan(out[:, 0])))
        if empty:
            raise ValueError(
                f"{empty} of the {out.shape[0]} queries in rows [{q_start}, {q_start + out.shape[0]}) have no key "
                f"inside the support of the {kernel_name} kernel (|q - k| < bandwidth); no estimate is defined "
                "there. Use a larger bandwidth or an unbounded kernel such as 'gaussian'"
            )
    return out if vector_values else out[:, 0]


def _log_sum_task(p, q_start):
    """``log sum_j K`` of one query block (``-inf`` where no key is in the support), as log_kernel_sums."""
    den, top = p.denominator[0], p.max_score[0]
    with np.errstate(divide="ignore"):
        return np.where(den > 0, top + np.log(np.where(den > 0, den, 1)), -np.inf)


# ---------------------------------------------------------------------- the graph


def _row_keys(arr):
    keys = arr.__dask_keys__()
    return list(keys) if arr.ndim == 1 else [row[0] for row in keys]


def _starts(chunks):
    return [int(s) for s in np.cumsum((0,) + tuple(chunks))[:-1]]


def _reduce(q, k, v, h, kern, exclude_self, num_threads, dtype, finish, finish_args, tail, label):
    """The partials / tree-merge / finish graph; the result has chunks (q.chunks[0],) + tail.

    ``finish(merged_partials, first_query_row, *finish_args)`` makes each output chunk.
    """
    token = tokenize(q, k, v, h, kern.name, bool(exclude_self), num_threads, finish.__name__, finish_args)
    name = f"{label}-{token}"
    pname, mname = f"nw-partials-{token}", f"nw-merge-{token}"
    qkeys, kkeys, vkeys = _row_keys(q), _row_keys(k), _row_keys(v)
    qstarts, kstarts = _starts(q.chunks[0]), _starts(k.chunks[0])
    dsk = {}
    for i, qkey in enumerate(qkeys):
        level = []
        for j, (kkey, vkey) in enumerate(zip(kkeys, vkeys)):
            dsk[(pname, i, j)] = (_partials_task, qkey, kkey, vkey, h, kern.name, bool(exclude_self),
                                  qstarts[i], kstarts[j], dtype, num_threads)
            level.append((pname, i, j))
        depth = 0
        while len(level) > 1:  # pairwise: depth ceil(log2(key blocks)); an odd one out goes up a level as it is
            depth += 1
            merged = []
            for t in range(0, len(level) - 1, 2):
                dsk[(mname, i, depth, t // 2)] = (stream.merge, level[t], level[t + 1])
                merged.append((mname, i, depth, t // 2))
            level = merged + level[len(level) - len(level) % 2 :]
        dsk[(name, i) + (0,) * len(tail)] = (finish, level[0], qstarts[i]) + tuple(finish_args)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[q, k, v])
    chunks = (q.chunks[0],) + tuple((s,) for s in tail)
    return da.Array(graph, name, chunks, meta=np.empty((0,) * len(chunks), dtype=dtype))


def attention_pool(queries, keys, values, *, kernel="gaussian", bandwidth=1.0, exclude_self=False,
                   query_chunks=None, key_chunks=None, num_threads=None, on_empty="ignore"):
    """Nadaraya–Watson attention pooling as a lazy dask array, chunked along queries and keys.

    The same estimator as :func:`nadaraya.attention_pool` (which see), equal
    to it within 1e-12 relative in float64: each (query block, key block)
    pair is a task running the streaming engine's :func:`~nadaraya.engines.stream.partials`,
    the key blocks of a query block are merged pairwise in a tree of depth
    ``ceil(log2(key blocks))``, then finalized.

    Parameters
    ----------
    queries : dask array or array_like, shape (m,) or (m, d)
    keys : dask array or array_like, shape (n,) or (n, d)
    values : dask array or array_like, shape (n,) or (n, k)
        Rechunked to the keys' row chunks if they differ.
    kernel, bandwidth, exclude_self
        As for :func:`nadaraya.attention_pool`; the kernels of the streaming
        engine (all of :data:`nadaraya.KERNELS`).
    query_chunks, key_chunks : int, tuple of int or "auto", optional
        Rows per chunk. NumPy inputs become dask arrays with these chunks
        ("auto" when not given); dask inputs keep theirs unless one is given.
        Columns (d, k) are always one chunk. A task holds one block of each:
        about ``(query_chunk * d + key_chunk * (d + k)) * 8`` bytes, plus
        (2 + k) floats per query of state.
    num_threads : int, optional
        Numba threads per task (default: Numba's setting). With several Dask
        threads per worker, pass 1 so that they do not oversubscribe the cores.
    on_empty : {"ignore", "raise"}, default "ignore"
        Queries with no key inside a compact kernel's support get NaN
        ("ignore"), or make the computation raise ``ValueError`` ("raise").
        A lazy result cannot warn; count them with ``dask.array.isnan(out).sum()``.

    Returns
    -------
    dask.array.Array, shape (m,) or (m, k)
        Lazy, chunked like the queries; in the inputs' floating dtype.
        Shapes, dtypes, the kernel and the bandwidth are checked now; NaN or
        infinite inputs raise ``ValueError`` when the chunk that holds them is
        computed.

    Examples
    --------
    >>> import numpy as np, nadaraya as nw
    >>> from nadaraya import dask as nwd
    >>> x = np.linspace(0, 5, 1000); y = np.sin(x)
    >>> out = nwd.attention_pool(x, x, y, bandwidth=0.1, query_chunks=250, key_chunks=400)
    >>> out.numblocks
    (4,)
    >>> bool(np.allclose(out.compute(), nw.attention_pool(x, x, y, bandwidth=0.1), rtol=1e-12))
    True
    """
    kern = _stream_kernel(kernel)
    if on_empty not in ("ignore", "raise"):
        raise ValueError(f"on_empty must be 'ignore' or 'raise' for dask arrays (a lazy result cannot warn); got {on_empty!r}")
    if num_threads is not None:
        num_threads = check_positive_int(num_threads, "num_threads")
    q, k, v, dtype, h = _prepare(queries, keys, values, bandwidth, exclude_self, query_chunks, key_chunks)
    vector_values = v.ndim == 2
    return _reduce(q, k, v, h, kern, exclude_self, num_threads, dtype, _pool_task,
                   (vector_values, on_empty, kern.name),
                   (v.shape[1],) if vector_values else (), "nw-pool")


def _log_kernel_sums(queries, keys, *, kernel="gaussian", bandwidth=1.0, exclude_self=False, num_threads=None):
    """``log sum_j K((q_i - k_j) / h)`` (m,) as a lazy dask array (see :func:`nadaraya.log_kernel_sums`)."""
    kern = _stream_kernel(kernel)
    k = _as_dask(keys, "keys", shapes=("(n,)", "(n, d)"))
    ones = da.ones((k.shape[0], 1), chunks=(k.chunks[0], 1), dtype=_float_dtype(k.dtype))
    q, k, v, dtype, h = _prepare(queries, k, ones, bandwidth, exclude_self, None, None)
    return _reduce(q, k, v, h, kern, exclude_self, num_threads, dtype, _log_sum_task, (), (), "nw-logsum")


# ---------------------------------------------------------------------- bandwidth selection


def _align(x, y, x_name="X", y_name="y"):
    """Dask arrays x (n, d) and y (n, k) with the same row chunks (a NumPy one takes the dask one's)."""
    rows = y.chunks[0] if is_dask_collection(y) and not is_dask_collection(x) else None
    x = _as_dask(x, x_name, rows, shapes=("(n,)", "(n, d)"))
    y = _as_dask(y, y_name, shapes=("(n,)", "(n, k)"))
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{x_name} and {y_name} must have the same number of samples; got {x.shape[0]} and {y.shape[0]}")
    if y.chunks[0] != x.chunks[0]:
        y = y.rechunk({0: x.chunks[0]})
    x = x.astype(np.float64) if x.ndim == 2 else x.astype(np.float64)[:, None]
    y = y.astype(np.float64) if y.ndim == 2 else y.astype(np.float64)[:, None]
    return x, y


def _order_key(a):
    """int64 keys whose order is the order of the float64 values (-0.0 counts as 0.0); an involution."""
    bits = (np.asarray(a, dtype=np.float64) + 0.0).view(np.int64)
    return np.where(bits < 0, bits ^ np.int64(0x7FFFFFFFFFFFFFFF), bits)


def _from_order_key(key: int) -> float:
    bits = np.int64(key)
    return float((bits ^ np.int64(0x7FFFFFFFFFFFFFFF) if bits < 0 else bits).view(np.float64))


def _count_at_most(block, columns, thresholds):
    """Per target t: how many keys of column ``columns[t]`` in this block are <= each threshold: (1, T, B)."""
    keys = _order_key(block)
    out = np.empty((1,) + thresholds.shape, dtype=np.int64)
    ordered = {}
    for t, c in enumerate(columns):
        if c not in ordered:
            ordered[c] = np.sort(keys[:, c])
        out[0, t] = np.searchsorted(ordered[c], thresholds[t], side="right")
    return out


def _order_statistics(x, targets, lo, hi):
    """Exact order statistics ``x[:, c]`` sorted, at 0-based rank r, for each target (c, r).

    A search over the ordered int64 keys of the floats: each pass counts, on
    the cluster, the keys below ``_SELECT_BINS`` thresholds per target and
    keeps the bin holding rank r (about 7 passes for float64). ``lo`` / ``hi``
    are each target column's min / max. Nothing of size n leaves the workers.
    """
    columns = [c for c, _ in targets]
    lo = [int(_order_key(lo[c])) for c in columns]
    hi = [int(_order_key(hi[c])) for c in columns]
    steps = np.arange(_SELECT_BINS)
    while any(a < b for a, b in zip(lo, hi)):
        thr = np.array([[a + (b - a) * int(s) // _SELECT_BINS for s in steps] for a, b in zip(lo, hi)], dtype=np.int64)
        counts = x.map_blocks(
            _count_at_most, columns, thr, dtype=np.int64, new_axis=2,
            chunks=((1,) * x.numblocks[0], (len(targets),), (_SELECT_BINS,)),
            meta=np.empty((0, 0, 0), dtype=np.int64),
        ).sum(axis=0).compute()
        for t, (_, rank) in enumerate(targets):
            if lo[t] == hi[t]:
                continue
            reached = np.flatnonzero(counts[t] >= rank + 1)  # count(key <= thr) >= rank + 1
            if reached.size == 0:
                lo[t] = int(thr[t, -1]) + 1
            else:
                i = int(reached[0])
                hi[t] = int(thr[t, i])
                if i > 0:
                    lo[t] = int(thr[t, i - 1]) + 1
                else:
                    lo[t] = hi[t]
    return [_from_order_key(a) for a in lo]


def _percentile_linear(order_stat, n, q):
    """numpy.percentile(..., method="linear") of one column from its order statistics (same floating steps)."""
    quantile = np.true_divide(q, 100)
    virtual = n * quantile + (1 + quantile * (1 - 1 - 1)) - 1
    prev = np.floor(virtual)
    if virtual >= n - 1:
        return order_stat(n - 1)
    if virtual < 0:
        return order_stat(0)
    a, b = np.float64(order_stat(int(prev))), np.float64(order_stat(int(prev) + 1))
    gamma = np.float64(virtual - prev)
    diff = b - a
    return float(b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma)


def _moments(x):
    """Column min, max, standard deviation (ddof=1), and whether every entry is finite: one pass."""
    mn, mx, sd, finite = dask.compute(x.min(axis=0), x.max(axis=0), x.std(axis=0, ddof=1), da.isfinite(x).all())
    if not finite:
        bad = np.unravel_index(int(da.argmin(da.isfinite(x).ravel()).compute()), x.shape)
        where = bad[0] if x.shape[1] == 1 else tuple(int(i) for i in bad)
        raise ValueError(f"X contains NaN or infinite values (first at index {where}); remove or impute them")
    return mn, mx, sd


def _spread(x):
    """:func:`nadaraya.bandwidth._spread` on the cluster: min(sd, IQR / 1.349) per column, IQR exact."""
    from .bandwidth import _refuse_constant

    n, d = x.shape
    mn, mx, sd = _moments(x)
    if n < 2:
        sd = np.zeros(d)
    ranks = {}
    for q in (75, 25):
        virtual = n * (q / 100) + (1 + (q / 100) * -1) - 1
        prev = int(np.clip(np.floor(virtual), 0, n - 1))
        ranks[prev] = ranks[min(prev + 1, n - 1)] = None
    targets = [(c, r) for c in range(d) for r in sorted(ranks)]
    values = dict(zip(targets, _order_statistics(x, targets, mn, mx)))
    iqr = np.array([
        _percentile_linear(lambda r: values[(c, r)], n, 75) - _percentile_linear(lambda r: values[(c, r)], n, 25)
        for c in range(d)
    ]) / 1.349
    s = np.where(iqr > 0, np.minimum(sd, iqr), sd)
    _refuse_constant(s)
    return s


def _rule(x, method):
    """Scott's or Silverman's rule (:mod:`nadaraya.bandwidth`) with the moments computed on the cluster."""
    from .bandwidth import _refuse_constant

    n, d = x.shape
    if method == "scott":
        sd = _moments(x)[2] if n > 1 else np.zeros(d)
        _refuse_constant(sd)
        return 1.059 * sd * n ** (-1.0 / (d + 4))
    factor = 0.9 * n ** (-0.2) if d == 1 else (4.0 / (d + 2)) ** (1.0 / (d + 4)) * n ** (-1.0 / (d + 4))
    return factor * _spread(x)


def _loo_value(x, y, h, kern, objective, num_threads=None):
    """The leave-one-out objective at ``h``: pooled on the cluster, reduced to one float there."""
    pred = attention_pool(x, x, y, kernel=kern.name, bandwidth=h, exclude_self=True, num_threads=num_threads)
    if objective == "logloss":
        loss = -da.log(da.clip((pred * y).sum(axis=1), 1e-15, None))
    else:
        loss = ((pred - y) ** 2).sum(axis=1)
    finite, total = dask.compute(da.isfinite(loss).all(), loss.sum())
    return float(total) / x.shape[0] if finite else np.inf


def _persisted(*arrays):
    """Keep the inputs in the workers' memory when a distributed client is active (the search reads them ~30 times)."""
    try:
        from distributed import default_client

        default_client()
    except (ImportError, ValueError):
        return arrays
    return dask.persist(*arrays)


def search_bandwidth(x, y, method="loo", kernel="gaussian", *, per_feature=None, sample_weight=None,
                     engine="auto", n_grid=24, progress=None, scale=None, groups=None, objective="squared",
                     loss=None, num_threads=None):
    """:func:`nadaraya.bandwidth.search_bandwidth` for dask arrays: the scalar leave-one-out search on a cluster.

    The search (a log-spaced grid, then Brent's method, over one factor that
    multiplies each feature's spread) is the in-memory one; every objective
    evaluation is :func:`attention_pool` with ``exclude_self=True`` and a lazy
    mean, computed where the data live, so the training data are never
    gathered onto one process. The spread's interquartile range is exact (an
    order-statistic search on the cluster), so the result equals the
    in-memory search's. Per-feature refinement, sample weights, a custom
    ``loss`` and grouped columns are not available for dask arrays; ``engine``
    is ignored (the streaming engine's partials run in every task).
    """
    from .bandwidth import METHODS, BandwidthSearch, _grid_then_refine

    kern = _stream_kernel(kernel)
    if method not in METHODS:
        raise ValueError(f"bandwidth method must be one of {', '.join(METHODS)}; got {method!r}")
    if sample_weight is not None:
        raise ValueError("sample_weight is not supported with dask arrays; compute the data or drop the weights")
    if loss is not None:
        raise ValueError("a custom leave-one-out loss (order=1) is not supported with dask arrays")
    if objective not in ("squared", "logloss"):
        raise ValueError(f"objective must be 'squared' or 'logloss'; got {objective!r}")
    x, y = _align(x, y)
    n, d = x.shape
    if groups is not None and len(set(np.asarray(groups).tolist())) != d:
        raise ValueError("grouped columns (categorical features) are not supported with dask arrays")
    if method != "loo":
        return BandwidthSearch(_rule(x, method), np.nan, 0, method)
    if per_feature and d > 1:
        raise ValueError(
            "per-feature leave-one-out search is not available for dask arrays; use per_feature=False "
            "(the scalar search scales every feature's spread by one factor)"
        )
    if n < 3:
        raise ValueError(f"leave-one-out bandwidth selection needs at least 3 samples; got {n}")
    x, y = _persisted(x, y)
    base = _spread(x) if scale is None else np.asarray(scale, dtype=np.float64)
    calls = [0]

    def scalar_objective(log_c):
        calls[0] += 1
        return _loo_value(x, y, base * np.exp(log_c), kern, objective, num_threads)

    log_c, value, _ = _grid_then_refine(scalar_objective, np.log(0.5 / n), np.log(10.0), n_grid, progress)
    h = base * np.exp(log_c)
    log.info("bandwidth %s, leave-one-out objective %.6g after %d evaluations (dask)", h, value, calls[0])
    return BandwidthSearch(h, float(value), calls[0], method)


# ---------------------------------------------------------------------- the estimator


def _predict_task(xb, model, return_std):
    from .pooling import EmptySupportWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptySupportWarning)
        if not return_std:
            return model.predict(xb)
        pred, std = model.predict(xb, return_std=True)
    rows = xb.shape[0]
    return np.stack([pred.reshape(rows, -1), std.reshape(rows, -1)], axis=1)  # (rows, 2, k)


def predict_regressor(est, X, *, return_std=False):
    """``est.predict(X)`` for a dask array X: one task per query chunk, the fitted model shipped to each.

    The model is one key of the graph (sent to each worker once, not per
    task); each task calls ``est.predict`` on its chunk of rows. Returns a
    lazy (m,) or (m, k) array, or (prediction, std) sharing their tasks
    (compute them together: ``dask.compute(pred, std)``). Queries without an
    estimate get NaN without the in-memory warning.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est, "h_")
    if is_dask_collection(X) and not isinstance(X, da.Array):
        raise TypeError(f"X must be a dask array; got a {type(X).__name__} (use .to_dask_array(lengths=True))")
    if X.ndim != 2:
        raise ValueError(
            f"X must have shape (m, n_features); got a {X.ndim}-D dask array of shape {X.shape}"
            + (": reshape with X.reshape(-1, 1) for a single feature" if X.ndim == 1 else "")
        )
    x = _as_dask(X, "X", shapes=("(m, n_features)",), object_ok=bool(getattr(est, "categorical_indices_", None)))
    if x.shape[1] != est.n_features_in_:
        raise ValueError(
            f"X has {x.shape[1]} features, but {type(est).__name__} is expecting {est.n_features_in_} features as input."
        )
    model = dask.delayed(est, pure=True, traverse=False)
    k = est.y_.shape[1]
    if not return_std:
        if est._y_1d:
            return x.map_blocks(_predict_task, model, False, drop_axis=1, dtype=np.float64, meta=np.empty((0,)))
        return x.map_blocks(_predict_task, model, False, chunks=(x.chunks[0], (k,)), dtype=np.float64,
                            meta=np.empty((0, 0)))
    both = x.map_blocks(_predict_task, model, True, new_axis=2, chunks=(x.chunks[0], (2,), (k,)),
                        dtype=np.float64, meta=np.empty((0, 0, 0)))
    pred, std = both[:, 0, :], both[:, 1, :]
    return (pred[:, 0], std[:, 0]) if est._y_1d else (pred, std)


def fit_regressor(est, X, y, *, sample_weight=None, progress=None):
    """``est.fit(X, y)`` for dask arrays: order 0, continuous features, no sample weights.

    The bandwidth (``"loo"``: :func:`search_bandwidth`, the scalar search, so
    with several features it can differ from the in-memory fit, which then
    refines each feature; a rule; or given) and the diagnostics
    (``loo_mse_``, ``residuals_``, ``edf_``) are computed on the cluster. The fitted model then holds the training data as NumPy
    arrays (``X_``, ``y_``, ``residuals_``), like any fitted
    :class:`~nadaraya.NadarayaWatsonRegressor`: predicting needs them, and
    they are gathered once, after the search.
    """
    kern = est._check_params()
    if est.order != 0:
        raise ValueError("with dask arrays NadarayaWatsonRegressor fits order=0 only; compute the data for order=1")
    if est.categorical is not None:
        raise ValueError("categorical features are not supported with dask arrays; compute the data or drop them")
    if sample_weight is not None:
        raise ValueError("sample_weight is not supported with dask arrays; compute the data or drop the weights")
    if y is None:
        raise ValueError(f"{type(est).__name__} requires y to be passed, but the target y is None")
    if getattr(X, "ndim", 2) != 2:
        raise ValueError(f"X must have shape (n, n_features); got shape {X.shape}: reshape with X.reshape(-1, 1)")
    y_1d = getattr(y, "ndim", np.ndim(y)) == 1
    x, Y = _align(X, y)
    n, d = x.shape
    if n < 2:
        raise ValueError(f"Found array with {n} sample(s) while a minimum of 2 is required by {type(est).__name__}.")
    x, Y = _persisted(x, Y)
    bwp = est.bandwidth
    if isinstance(bwp, str):
        search = search_bandwidth(x, Y, bwp, kern, progress=progress)
        h = np.asarray(search.bandwidth, dtype=np.float64)
    else:
        if np.size(bwp) not in (1, d):
            raise ValueError(f"bandwidth has {np.size(bwp)} values but X has {d} features")
        h = np.broadcast_to(np.asarray(bwp, dtype=np.float64).reshape(-1), (d,)).copy()
    loo = attention_pool(x, x, Y, kernel=kern.name, bandwidth=h, exclude_self=True)
    fitted = attention_pool(x, x, Y, kernel=kern.name, bandwidth=h)
    self_weight = da.exp(-_log_kernel_sums(x, x, kernel=kern.name, bandwidth=h))  # K(0) = 1 over the kernel sum
    resid = ((loo - Y) ** 2).sum(axis=1)
    ok = da.isfinite(resid)
    X_, y_, fitted_, loo_sum, loo_count, edf = dask.compute(
        x, Y, fitted, da.where(ok, resid, 0).sum(), ok.sum(), da.nansum(self_weight)
    )
    for attr in ("feature_names_in_", "categorical_indices_", "categories_", "_center"):
        if hasattr(est, attr):
            delattr(est, attr)
    est.n_features_in_ = d
    est.n_continuous_ = d
    est.X_, est.y_ = X_, y_
    est.groups_ = np.arange(d)
    est.sample_weight_ = None
    est._Y_shape_1d = None
    est._y_1d = bool(y_1d)
    est.h_ = h
    est.bandwidth_ = h.copy()
    est.loo_mse_ = float(loo_sum / loo_count) if loo_count else np.nan
    est.residuals_ = y_ - fitted_
    est.edf_ = float(edf)
    return est

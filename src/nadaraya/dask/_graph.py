"""The task graph of :func:`attention_pool`: extents and a divisor, partials per shard, a merge tree, a finish.

The tasks run on the workers (:mod:`._shards`); each shard's engine is chosen
here, from the chunk sizes, by the engine registry. The graph is built from
dask's :class:`~dask.highlevelgraph.HighLevelGraph`.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_positive_float, check_positive_int
from .._optional import require
from .._softmax import empty_support_message, log_normaliser
from ..engines.state import finalize, merge
from ._inputs import _as_dask, _float_dtype, _prepare, _registry_kernel
from ._shards import divisor_task, extent_task, partials_task, shard_engine

da = require("dask.array", "dask")
from dask.base import tokenize  # noqa: E402  (after the check that dask is installed)
from dask.highlevelgraph import HighLevelGraph  # noqa: E402

__all__ = ["attention_pool", "log_kernel_sums"]


# ---------------------------------------------------------------------- tasks (run on the workers)


def _pool_task(p, q_start, vector_values, on_empty, kernel_name):
    """Pooled values of one query block from its merged partials: (rows, k) or (rows,)."""
    out = finalize(p)[0]
    if on_empty == "raise":
        empty = int(np.count_nonzero(np.isnan(out[:, 0])))
        if empty:
            rows = f"the {out.shape[0]} queries in rows [{q_start}, {q_start + out.shape[0]})"
            raise ValueError(empty_support_message(empty, rows, kernel_name, outcome="no estimate is defined there"))
    return out if vector_values else out[:, 0]


def _log_sum_task(p, q_start):
    """``log sum_j K`` of one query block (``-inf`` where no key is in the support), as log_kernel_sums."""
    return log_normaliser(p.max_score[0], p.denominator[0])


# ---------------------------------------------------------------------- the graph


def _row_keys(arr):
    keys = arr.__dask_keys__()
    return list(keys) if arr.ndim == 1 else [row[0] for row in keys]


def _starts(chunks):
    return [int(s) for s in np.cumsum((0,) + tuple(chunks))[:-1]]


def _width(arr) -> int:
    return 1 if arr.ndim == 1 else int(arr.shape[1])


def _divisor(dsk, token, q, k, h, dtype, closed_support):
    """Add one extent task per query and key block and the divisor task they feed; return the divisor's key.

    The divisor (:func:`._shards.divisor_task`) needs every block's largest
    ``|x|``: one pass over queries and keys (over the keys once when they are
    the queries, as in leave-one-out), d floats per block to the divisor task.
    """
    ename, dname = f"nw-extent-{token}", f"nw-divisor-{token}"
    extents = []
    blocks = ((0, q, "queries"),) if q.name == k.name else ((0, q, "queries"), (1, k, "keys"))
    for role, arr, what in blocks:
        for i, (key, start) in enumerate(zip(_row_keys(arr), _starts(arr.chunks[0]))):
            dsk[(ename, role, i)] = (extent_task, key, what, start, dtype)
            extents.append((ename, role, i))
    dsk[(dname, 0)] = (divisor_task, h, dtype, bool(closed_support)) + tuple(extents)
    return (dname, 0)


def _reduce(q, k, v, h, kern, exclude_self, dtype, shards, finish, finish_args, tail, label):
    """The extents / divisor / partials / tree-merge / finish graph; the result has chunks (q.chunks[0],) + tail.

    ``shards = (method, exact, options, strict)``: each shard's engine is
    :func:`._shards.shard_engine` of its shape, its partials
    :func:`nadaraya.engines.partials` with ``exact`` and ``options``.
    ``finish(merged_partials, first_query_row, *finish_args)`` makes each output chunk.
    """
    method, exact, options, strict = shards
    options = tuple(sorted(options.items()))  # a literal in the task, not a dict dask would traverse
    token = tokenize(q, k, v, h, kern.name, bool(exclude_self), method, exact, options, finish.__name__, finish_args)
    name = f"{label}-{token}"
    pname, mname = f"nw-partials-{token}", f"nw-merge-{token}"
    qkeys, kkeys, vkeys = _row_keys(q), _row_keys(k), _row_keys(v)
    qstarts, kstarts = _starts(q.chunks[0]), _starts(k.chunks[0])
    d, width = _width(q), _width(v)
    dsk = {}
    divisor = _divisor(dsk, token, q, k, h, dtype, kern.closed_support)
    for i, qkey in enumerate(qkeys):
        level = []
        for j, (kkey, vkey) in enumerate(zip(kkeys, vkeys)):
            engine = shard_engine(method, kern, q.chunks[0][i], k.chunks[0][j], d, width, dict(options), strict=strict)
            dsk[(pname, i, j)] = (partials_task, qkey, kkey, vkey, divisor, kern.name, bool(exclude_self),
                                  qstarts[i], kstarts[j], dtype, engine, exact, options)
            level.append((pname, i, j))
        depth = 0
        while len(level) > 1:  # pairwise: depth ceil(log2(key blocks)); an odd one out goes up a level as it is
            depth += 1
            merged = []
            for t in range(0, len(level) - 1, 2):
                dsk[(mname, i, depth, t // 2)] = (merge, level[t], level[t + 1])
                merged.append((mname, i, depth, t // 2))
            level = merged + level[len(level) - len(level) % 2 :]
        dsk[(name, i) + (0,) * len(tail)] = (finish, level[0], qstarts[i]) + tuple(finish_args)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[q, k, v])
    chunks = (q.chunks[0],) + tuple((s,) for s in tail)
    return da.Array(graph, name, chunks, meta=np.empty((0,) * len(chunks), dtype=dtype))


def _options(num_threads, tol) -> dict:
    """The engine options, validated as :func:`nadaraya.attention_pool` validates them."""
    return {"num_threads": None if num_threads is None else check_positive_int(num_threads, "num_threads"),
            "tol": check_positive_float(tol, "tol")}


def _full_shape(q, k, v):
    return (1, int(q.shape[0]), int(k.shape[0]), _width(q), _width(v))


def attention_pool(queries, keys, values, *, kernel="gaussian", bandwidth=1.0, exclude_self=False, method="auto",
                   tol=1e-10, query_chunks=None, key_chunks=None, num_threads=None, on_empty="ignore"):
    """Nadaraya–Watson attention pooling as a lazy dask array, chunked along queries and keys.

    The same estimator as :func:`nadaraya.attention_pool` (which see). Each
    (query block, key block) pair, a *shard*, is a task computing the
    mergeable partials (:class:`nadaraya.engines.state.Partials`) of its
    queries over its keys by the engine ``method`` chooses for that shard's
    shape; the key blocks of a query block are merged pairwise in a tree of
    depth ``ceil(log2(key blocks))``, then finalized.

    Parameters
    ----------
    queries : dask array or array_like, shape (m,) or (m, d)
    keys : dask array or array_like, shape (n,) or (n, d)
    values : dask array or array_like, shape (n,) or (n, k)
        Rechunked to the keys' row chunks if they differ.
    kernel, bandwidth, exclude_self
        As for :func:`nadaraya.attention_pool`; any kernel of
        :data:`nadaraya.KERNELS` (by name: the tasks look it up on the workers).
    method : str, default "auto"
        The engine of every shard, as :func:`nadaraya.attention_pool`'s
        ``method``: "auto" takes, for each shard, the engine that "auto" takes
        for an in-memory problem of the shard's shape (b = 1, query rows, key
        rows, d, k) and kernel (:func:`nadaraya.engines.choose`: e.g. the
        sorted engine for large 1-D shards, the dense one for small shards);
        an engine added to :mod:`nadaraya.engines` takes part with no change
        here. A named engine runs every shard (checked now).
    tol : float, default 1e-10
        Error bound of the engines accurate to ``tol`` rather than to
        rounding (the sorted engine's Gaussian path, the tree engine's
        Gaussian and Laplace), relative to ``max|values|``; see Notes. The
        exact engines ignore it.
    query_chunks, key_chunks : int, tuple of int or "auto", optional
        Rows per chunk. NumPy inputs become dask arrays with these chunks
        ("auto" when not given); dask inputs keep theirs unless one is given.
        Columns (d, k) are always one chunk. A task holds one block of each:
        about ``(query_chunk * d + key_chunk * (d + k)) * 8`` bytes, plus
        (2 + k) floats per query of state, and what its engine needs (O(block
        rows) for every engine). Shards of at least ``2**23`` pairs run on the
        sorted engine in 1-D, so larger key chunks make 1-D pooling faster.
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
        Shapes, dtypes, the kernel, the bandwidth, ``method`` and ``tol`` are
        checked now; NaN or infinite inputs, and inputs outside the accepted
        range of :func:`nadaraya.attention_pool`, raise ``ValueError`` when
        the result is computed.

    Notes
    -----
    *Scaling.* Queries and keys are divided by
    :func:`nadaraya._checks.bandwidth_divisor` of the whole arrays, as in
    memory (the boxcar's support edge included): one extra task per block
    finds its largest ``|x|`` per column, and one task turns them into the
    divisor, so every shard sees the bit-identical scaled inputs of
    :func:`nadaraya.attention_pool`. Every partials task waits for that
    divisor, so all query and key blocks are read before pooling starts.

    *Accuracy.* The merge of partials is exact up to rounding, so where
    every shard ran an exact engine the result equals
    :func:`nadaraya.attention_pool` within 1e-12 relative in float64. The
    engines accurate to ``tol`` (see :mod:`nadaraya.engines.sorted1d.gaussian`
    and :mod:`nadaraya.engines.tree`) bound their error per key: each key a
    shard keeps has a weight within a factor ``1 +- tau`` of its exact weight
    (``tau <= tol / 8``), and the keys it drops weigh ``W_s <= (tol / 8) D_s``
    together, ``D_s`` the shard's sum of kept weights; its partials are that
    weighted sum over its kept keys. Merging multiplies each shard's partials
    by one common factor and adds them, so the merged state is the same kind
    of weighted sum over the union of the kept keys: every weight still within
    ``1 +- tau``, the dropped weight ``sum_s W_s <= (tol / 8) sum_s D_s``. The
    engines' in-memory bound therefore holds for the merged result unchanged:

        |f_dask(q) - f(q)| <= (2 tau / (1 - tau) + 2 W / D + rounding) max|v|
                           <= (tol / 2 + ~1e-14) max|v|,

    with a rounding term a few ulps larger per merge level. (The shortcut
    "each shard's pooled value is within the bound and the merge is a
    convex combination" alone would not do: the combination's coefficients
    are the shards' approximate normalisers, also off by up to ``tau``
    relative; the per-key form covers both.) So the result is within ``tol``
    (plus rounding, ~2e-14) of :func:`nadaraya.attention_pool`'s relative to
    ``max|values|``, whichever shards ran on which engine.

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
    kern = _registry_kernel(kernel)
    if on_empty not in ("ignore", "raise"):
        raise ValueError(f"on_empty must be 'ignore' or 'raise' for dask arrays (a lazy result cannot warn); got {on_empty!r}")
    options = _options(num_threads, tol)
    q, k, v, dtype, h = _prepare(queries, keys, values, bandwidth, exclude_self, query_chunks, key_chunks)
    shard_engine(method, kern, *_full_shape(q, k, v)[1:], options, strict=True)  # a named engine that cannot run: now
    vector_values = v.ndim == 2
    return _reduce(q, k, v, h, kern, exclude_self, dtype, (method, False, options, True), _pool_task,
                   (vector_values, on_empty, kern.name), (v.shape[1],) if vector_values else (), "nw-pool")


def log_kernel_sums(queries, keys, *, kernel="gaussian", bandwidth=1.0, exclude_self=False, method="auto",
                    num_threads=None):
    """``log sum_j K((q_i - k_j) / h)`` (m,) as a lazy dask array (see :func:`nadaraya.log_kernel_sums`).

    As in memory, each shard's partials come from an exact engine: the one
    ``method`` chooses for the shard's shape, or the first exact engine after
    it that has partials (:func:`nadaraya.engines.partials`).
    """
    kern = _registry_kernel(kernel)
    k = _as_dask(keys, "keys", shapes=("(n,)", "(n, d)"))
    ones = da.ones((k.shape[0], 1), chunks=(k.chunks[0], 1), dtype=_float_dtype(k.dtype))
    options = _options(num_threads, 1e-10)
    q, k, v, dtype, h = _prepare(queries, k, ones, bandwidth, exclude_self, None, None)
    shard_engine(method, kern, *_full_shape(q, k, v)[1:], options, strict=False)  # an unknown method: now
    return _reduce(q, k, v, h, kern, exclude_self, dtype, (method, True, options, False), _log_sum_task, (), (),
                   "nw-logsum")

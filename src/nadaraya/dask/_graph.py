"""The task graph of :func:`attention_pool`: partials per block pair, a merge tree, a finish per query block.

The tasks run on the workers and call only the streaming engine
(:func:`~nadaraya.engines.stream.partials`, ``merge``, ``finalize``); the graph
is built from dask's :class:`~dask.highlevelgraph.HighLevelGraph`.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_finite, check_positive_int
from .._optional import require
from .._softmax import empty_support_message, log_normaliser
from ..engines import stream
from ..kernels import KERNELS
from ._inputs import _as_dask, _float_dtype, _prepare, _stream_kernel

da = require("dask.array", "dask")
from dask.base import tokenize  # noqa: E402  (after the check that dask is installed)
from dask.highlevelgraph import HighLevelGraph  # noqa: E402

__all__ = ["attention_pool", "log_kernel_sums"]


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


def log_kernel_sums(queries, keys, *, kernel="gaussian", bandwidth=1.0, exclude_self=False, num_threads=None):
    """``log sum_j K((q_i - k_j) / h)`` (m,) as a lazy dask array (see :func:`nadaraya.log_kernel_sums`)."""
    kern = _stream_kernel(kernel)
    k = _as_dask(keys, "keys", shapes=("(n,)", "(n, d)"))
    ones = da.ones((k.shape[0], 1), chunks=(k.chunks[0], 1), dtype=_float_dtype(k.dtype))
    q, k, v, dtype, h = _prepare(queries, k, ones, bandwidth, exclude_self, None, None)
    return _reduce(q, k, v, h, kern, exclude_self, num_threads, dtype, _log_sum_task, (), (), "nw-logsum")



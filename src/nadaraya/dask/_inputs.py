"""Input checks for :mod:`nadaraya.dask`, from metadata only (nothing is computed here).

Imports :mod:`nadaraya._checks` and the kernels.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._checks import check_bandwidth, check_lengths, check_positive_int, is_dask_collection
from .._optional import require
from ..kernels import KERNELS, get_kernel, registered

da = require("dask.array", "dask")


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


def _registry_kernel(kernel):
    """A kernel of :data:`nadaraya.KERNELS` or its square (the tasks name it; the workers look it up), or a
    ValueError."""
    kern = get_kernel(kernel)
    if not registered(kern):
        raise ValueError(
            f"nadaraya.dask supports the kernels {', '.join(KERNELS)} (by name or as nadaraya.KERNELS[name]); "
            f"got a kernel built by the caller, {kern.name!r}: use attention_pool in memory for it"
        )
    return kern


def _prepare(queries, keys, values, bandwidth, exclude_self, query_chunks, key_chunks):
    """Validate shapes, dtypes and the bandwidth from metadata only; align the value chunks with the keys'.

    Returns ``(q, k, v, dtype, h)``, ``h`` the checked (d,) bandwidth. What the
    blocks are divided by needs the data (the largest ``|x|``), so the graph
    computes it lazily (``_graph._divisor``) with
    :func:`nadaraya._checks.bandwidth_divisor`, the in-memory rule.
    """
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



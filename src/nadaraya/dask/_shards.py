"""What the workers run: the bandwidth divisor from the blocks' extents, and each shard's partials.

A *shard* is one (query block, key block) pair. Its partials come from the
engine the registry (:mod:`nadaraya.engines`) picks for the shard's own shape
(b = 1, rows, cols, d, k), the choice :func:`nadaraya.attention_pool`'s
"auto" makes for an in-memory problem of that shape; an engine registered
later is used without any change here. Engines take ``exclude_self`` only for
a square problem whose query i is key i, so :func:`shard_partials` cuts a
shard into the rows whose own key lies in the key block (pooled with
``exclude_self`` over those keys, merged with the rest of the block) and the
other rows.

NumPy and the registry only: nothing here imports dask.
"""

from __future__ import annotations

import numpy as np

from .. import engines
from .._checks import bandwidth_divisor, check_finite
from ..engines.state import Partials, merge
from ..kernels import get_kernel

__all__ = ["shard_engine", "extent_task", "divisor_task", "partials_task", "shard_partials"]


def shard_engine(method: str, kernel, rows: int, cols: int, d: int, k: int, options: dict, *, strict: bool) -> str:
    """The engine for a shard of ``rows`` queries and ``cols`` keys: :func:`nadaraya.engines.choose` on its shape."""
    return engines.choose(method, kernel, (1, rows, cols, d, k), options, strict=strict)


# ---------------------------------------------------------------------- the bandwidth divisor


def extent_task(block, name, row0, dtype):
    """``max_i |x_ij|`` (d,) of one query or key block, in float64; NaN / inf refused (index in the whole array)."""
    arr = np.asarray(block)
    check_finite(arr, name, row0)
    arr = arr.astype(dtype, copy=False).reshape(arr.shape[0], -1)
    return np.abs(arr).max(axis=0).astype(np.float64)


def divisor_task(h, dtype, closed_support, *extents):
    """What every block is divided by: :func:`nadaraya._checks.bandwidth_divisor` of the blocks' extents.

    The largest ``|x_ij|`` per column over all query and key blocks is the
    one :func:`~nadaraya._checks.bandwidth_divisor` finds on the whole arrays,
    so the divisor (and its refusal of inputs outside the accepted range) is
    the in-memory one, bit for bit.
    """
    top = np.max(np.stack(extents), axis=0)
    return bandwidth_divisor([top[None]], h, dtype, closed_support)


# ---------------------------------------------------------------------- partials of one shard


def _scaled(arr, dtype, divisor):
    """A chunk in the engines' (1, rows, cols) layout, divided by ``divisor`` as :func:`nadaraya._checks.prepare` does."""
    arr = np.asarray(arr).astype(dtype, copy=False)
    arr = arr.reshape(arr.shape[0], -1)
    if divisor is not None:
        arr = arr / divisor  # the same division as the in-memory path: bit-identical scaled inputs
    return np.ascontiguousarray(arr[None], dtype=dtype)


def partials_task(q, k, v, divisor, kernel_name, exclude_self, q_start, k_start, dtype, engine, exact, options):
    """One shard: the partials of the block's queries over the block's keys, from the engine ``engine``.

    ``options``: (name, value) pairs of the engine options.
    """
    check_finite(np.asarray(v), "values", k_start)  # queries and keys were checked by extent_task
    return shard_partials(
        engine,
        _scaled(q, dtype, divisor),
        _scaled(k, dtype, divisor),
        _scaled(v, dtype, None),
        get_kernel(kernel_name),
        exclude_self,
        k_start - q_start,
        exact=exact,
        options=dict(options),
    )


def _empty(rows: int, k: int, dtype) -> Partials:
    """The partials of no keys: the identity of :func:`~nadaraya.engines.state.merge`."""
    return Partials(np.full((1, rows), -np.inf, dtype), np.zeros((1, rows), dtype), np.zeros((1, rows, k), dtype))


def _rows(x, index):
    return np.ascontiguousarray(x[:, index])


def shard_partials(engine, queries, keys, values, kernel, exclude_self, key_offset, *, exact=False, options=None):
    """Partials of (1, m, d) queries over (1, n, d) keys by ``engine``, query row r leaving out key row r - key_offset.

    ``key_offset`` = (first key's row) - (first query's row) in the whole
    arrays; with ``exclude_self`` only the query rows whose own key is in this
    block leave one out. Those rows (``lo <= r < hi``) are pooled over their own
    keys with the engine's ``exclude_self`` (a square problem, query i = key
    i) and merged with their pooling over the block's other keys; the other
    rows are pooled over the whole block. ``exact`` and ``options`` go to
    :func:`nadaraya.engines.partials`.
    """
    options = options or {}

    def run(q, kk, vv, excl):
        return engines.partials(engine, q, kk, vv, kernel, excl, exact=exact, **options)

    m, n, k = queries.shape[1], keys.shape[1], values.shape[2]
    lo, hi = max(0, key_offset), min(m, n + key_offset)
    if not exclude_self or lo >= hi:
        return run(queries, keys, values, False)
    own = slice(lo - key_offset, hi - key_offset)  # the keys of query rows lo..hi-1, in order
    mine = run(_rows(queries, slice(lo, hi)), _rows(keys, own), _rows(values, own), True) if hi - lo > 1 \
        else _empty(1, k, values.dtype)  # a single query whose only key is itself
    rest = np.r_[0 : own.start, own.stop : n]
    if rest.size:
        mine = merge(mine, run(_rows(queries, slice(lo, hi)), _rows(keys, rest), _rows(values, rest), False))
    if hi - lo == m:
        return mine
    others = np.r_[0:lo, hi:m]
    theirs = run(_rows(queries, others), keys, values, False)
    out = _empty(m, k, values.dtype)
    for part, index in ((mine, slice(lo, hi)), (theirs, others)):
        out.max_score[:, index] = part.max_score
        out.denominator[:, index] = part.denominator
        out.weighted_sum[:, index] = part.weighted_sum
    return out

"""Summary statistics on the cluster: moments, exact order statistics and percentiles, the rules' spread.

Nothing of size n leaves the workers. The rule-of-thumb formulas themselves are
:mod:`nadaraya._selection`'s, shared with the in-memory path; this module only
computes their :class:`~nadaraya._selection.Summary`.
"""

from __future__ import annotations

import numpy as np

from .._optional import require
from .._selection import RULES, Summary, rule_of_thumb, spread

dask = require("dask", "dask")
da = require("dask.array", "dask")

__all__ = ["summarise", "rule", "_spread", "_order_statistics", "_percentile_linear"]

#: Thresholds per pass of the exact order-statistic search (:func:`_order_statistics`).
_SELECT_BINS = 1024


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


def _iqr(x, n, d, mn, mx):
    """The exact interquartile range q75 - q25 of each column (numpy.percentile's "linear" method)."""
    ranks = {}
    for q in (75, 25):
        virtual = n * (q / 100) + (1 + (q / 100) * -1) - 1
        prev = int(np.clip(np.floor(virtual), 0, n - 1))
        ranks[prev] = ranks[min(prev + 1, n - 1)] = None
    targets = [(c, r) for c in range(d) for r in sorted(ranks)]
    values = dict(zip(targets, _order_statistics(x, targets, mn, mx)))
    return np.array([
        _percentile_linear(lambda r: values[(c, r)], n, 75) - _percentile_linear(lambda r: values[(c, r)], n, 25)
        for c in range(d)
    ])


def summarise(x, need_iqr: bool = True) -> Summary:
    """:func:`nadaraya.bandwidth.summarise` on the cluster: n, sd (ddof=1) and the exact IQR per column."""
    n, d = x.shape
    mn, mx, sd = _moments(x)
    if n < 2:
        sd = np.zeros(d)
    return Summary(n, d, sd, _iqr(x, n, d, mn, mx) if need_iqr else None)


def _spread(x):
    """:func:`nadaraya.bandwidth._spread` on the cluster: min(sd, IQR / 1.349) per column, IQR exact."""
    s = summarise(x)
    return spread(s.sd, s.iqr)


def rule(x, method):
    """Scott's or Silverman's rule (:mod:`nadaraya._selection`) with the statistics computed on the cluster."""
    return rule_of_thumb(method, summarise(x, RULES[method].needs_iqr))

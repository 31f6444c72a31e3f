"""Adaptive nearest-neighbour bandwidths, exactly as R locfit's ``lp(x, nn = a, h = h0)``.

At a query ``q`` the bandwidth is ``max(h0, d_k(q) / c)``: ``d_k`` is the k-th
smallest Euclidean distance from ``q`` to the keys (a key at ``q`` itself and
duplicates included), ``k = floor(n a)`` for a fraction ``a`` (or ``k`` given
as an int), and ``c`` converts locfit's kernel radius to nadaraya's scale:
locfit's Gaussian is ``exp(-(2.5 u)**2 / 2)`` and its exponential ``exp(-3 u)``,
so ``c`` is 2.5 for the Gaussian, 3 for the Laplace kernel and 1 for compact
kernels. When ``k > n`` (a fraction above 1) locfit extrapolates,
``d_k = max_i |q - x_i| * (k / n)**(1 / d)``, and so does this module.

The pooling then has one bandwidth per query, which :func:`varying_pooler`
computes with the dense engine's blocks (softmax of scores with the row
maximum subtracted, never an m × n array beyond one block).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from scipy.spatial import cKDTree

from ..engines.dense import BLOCK_ELEMENTS, softmax_rows
from ..kernels import get_kernel

__all__ = ["KERNEL_SCALE", "neighbour_count", "kth_distance", "nn_bandwidths", "varying_pooler"]

#: locfit's kernel radius in units of nadaraya's bandwidth (compact kernels: 1).
KERNEL_SCALE = {"gaussian": 2.5, "laplace": 3.0}


def neighbour_count(neighbours, n: int) -> int:
    """k from ``neighbours``: a fraction ``a > 0`` of n (``floor(n a)``, as locfit) or an int k >= 1."""
    if isinstance(neighbours, bool) or not isinstance(neighbours, numbers.Real):
        raise TypeError(f"neighbours must be a fraction of the data (float > 0) or a count (int >= 1); got {neighbours!r}")
    if isinstance(neighbours, numbers.Integral):
        if neighbours < 1:
            raise ValueError(f"neighbours as a count must be >= 1; got {neighbours}")
        return int(neighbours)
    a = float(neighbours)
    if not (np.isfinite(a) and a > 0):
        raise ValueError(f"neighbours as a fraction must be positive and finite; got {a}")
    k = int(math.floor(n * a + 1e-12))
    if k < 1:
        raise ValueError(f"neighbours={a} of n={n} points is fewer than one neighbour; use at least {1 / n:.3g}")
    return k


def kth_distance(queries, keys, k: int) -> np.ndarray:
    """The k-th smallest Euclidean distance from each query to the keys (m,); locfit's extrapolation if k > n."""
    queries = np.asarray(queries, dtype=np.float64)
    keys = np.asarray(keys, dtype=np.float64)
    n, d = keys.shape
    tree = cKDTree(keys)
    if k <= n:
        dist, _ = tree.query(queries, k=[k])
        return dist[:, 0]
    far, _ = tree.query(queries, k=[n])  # the farthest key
    return far[:, 0] * (k / n) ** (1.0 / d)


def nn_bandwidths(queries, keys, neighbours, bandwidth=None, kernel="gaussian") -> np.ndarray:
    """Per-query bandwidths ``max(bandwidth, d_k / c)`` (m,); ``bandwidth=None`` is the pure nearest-neighbour rule."""
    kern = get_kernel(kernel)
    keys = np.asarray(keys, dtype=np.float64)
    k = neighbour_count(neighbours, keys.shape[0])
    c = KERNEL_SCALE.get(kern.name, 1.0) if not kern.compact else 1.0 / kern.support
    h = kth_distance(queries, keys, k) / c
    if bandwidth is not None:
        h = np.maximum(h, float(bandwidth))
    return h


def varying_pooler(queries, keys, h_rows, *, kernel="gaussian"):
    """A pooler (see :func:`nadaraya.stats.localpoly.attention_pooler`) with bandwidth ``h_rows[i]`` at query i.

    ``h_rows`` is (m,) (one bandwidth per query) or (m, d) (one per query and dimension).

    Leave-one-out works for any subset of rows (query i leaves key i out).
    """
    kern = get_kernel(kernel)
    queries = np.asarray(queries, dtype=np.float64)
    keys = np.asarray(keys, dtype=np.float64)
    h_rows = np.asarray(h_rows, dtype=np.float64)
    h_rows = h_rows[:, None] if h_rows.ndim == 1 else h_rows

    def pool(rows, values, exclude_self=False):
        rows = np.asarray(rows).reshape(-1)
        out = np.empty((len(rows), values.shape[1]))
        ls = np.empty(len(rows))
        step = max(1, BLOCK_ELEMENTS // max(len(keys), 1))
        for r0 in range(0, len(rows), step):
            r = rows[r0 : r0 + step]
            diff = (queries[r, None, :] - keys[None, :, :]) / h_rows[r, None, :]
            s = kern.score(np.einsum("mnd,mnd->mn", diff, diff))
            if exclude_self:
                s[np.arange(len(r)), r] = -np.inf
            w = softmax_rows(s)
            out[r0 : r0 + len(r)] = w @ values
            mx = s.max(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                ls[r0 : r0 + len(r)] = mx + np.log(np.exp(s - np.where(np.isfinite(mx), mx, 0)[:, None]).sum(axis=1))
        return out, ls

    pool.any_rows_exclusion = True
    return pool
